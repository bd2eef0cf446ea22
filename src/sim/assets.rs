//! The files the simulator serves for result URLs: a valid glTF 2.0 binary (GLB) of a
//! small low-poly creature, and a valid PNG thumbnail. Both are small and
//! deterministic per task id, so a re-recording produces the same bytes.

use crate::digest::sha256_hex;

/// A box: its centre and size (x across, y up, z forward).
struct Part {
    centre: [f32; 3],
    size: [f32; 3],
}

/// The creature's materials, each drawn as one primitive of its boxes.
const MATERIALS: [&str; 3] = ["fur", "muzzle", "eyes"];

/// A GLB holding a low-poly four-legged creature assembled from boxes (body, head,
/// muzzle, ears, tail, legs, eyes): one mesh, one primitive per material, its
/// proportions and fur colour derived from `seed` (a task id), so every task's model
/// is recognisably the same animal and visibly its own. Header, JSON chunk and BIN
/// chunk as glTF 2.0 specifies; normals are left to the viewer (flat, as the spec
/// says).
pub fn glb(seed: &str) -> Vec<u8> {
    let h = seed_bytes(seed);
    let vary = |i: usize, spread: f32| 1.0 + spread * (f32::from(h[i]) / 255.0 - 0.5);
    let (long, tall, head) = (vary(0, 0.4), vary(1, 0.3), vary(2, 0.3));
    let part = |centre: [f32; 3], size: [f32; 3]| Part { centre, size };
    let body_z = 0.5 * long;
    let fur = vec![
        part([0.0, 0.45 * tall, 0.0], [0.5, 0.4 * tall, long]),
        part(
            [0.0, 0.7 * tall, body_z + 0.15 * head],
            [0.4 * head, 0.35 * head, 0.35 * head],
        ),
        part(
            [-0.12 * head, 0.7 * tall + 0.2 * head, body_z + 0.1 * head],
            [0.08, 0.08, 0.05],
        ),
        part(
            [0.12 * head, 0.7 * tall + 0.2 * head, body_z + 0.1 * head],
            [0.08, 0.08, 0.05],
        ),
        part([0.0, 0.4 * tall, -body_z - 0.25], [0.14, 0.12, 0.5]),
        part(
            [-0.17, 0.125 * tall, 0.35 * long],
            [0.13, 0.25 * tall, 0.13],
        ),
        part([0.17, 0.125 * tall, 0.35 * long], [0.13, 0.25 * tall, 0.13]),
        part(
            [-0.17, 0.125 * tall, -0.35 * long],
            [0.13, 0.25 * tall, 0.13],
        ),
        part(
            [0.17, 0.125 * tall, -0.35 * long],
            [0.13, 0.25 * tall, 0.13],
        ),
    ];
    let face_z = body_z + 0.325 * head;
    let muzzle = vec![part(
        [0.0, 0.64 * tall, face_z + 0.05],
        [0.2 * head, 0.14 * head, 0.1],
    )];
    let eyes = vec![
        part([-0.09 * head, 0.76 * tall, face_z], [0.05, 0.05, 0.02]),
        part([0.09 * head, 0.76 * tall, face_z], [0.05, 0.05, 0.02]),
        part([0.0, 0.67 * tall, face_z + 0.105], [0.06, 0.04, 0.02]),
    ];
    let fur_colour = hsv(
        f32::from(h[3]) / 255.0 * 360.0,
        0.55,
        0.45 + f32::from(h[4]) / 255.0 * 0.3,
    );
    let colours = [fur_colour, [0.93, 0.86, 0.74], [0.05, 0.04, 0.04]];

    let mut bin = Vec::new();
    let mut views = Vec::new();
    let mut accessors = Vec::new();
    let mut primitives = Vec::new();
    for (material, parts) in [fur, muzzle, eyes].iter().enumerate() {
        let (positions, indices) = boxes(parts);
        let (min, max) = bounds(&positions);
        let start = bin.len();
        for p in positions.iter().flatten() {
            bin.extend_from_slice(&p.to_le_bytes());
        }
        views.push(serde_json::json!({"buffer": 0, "byteOffset": start, "byteLength": bin.len() - start, "target": 34962}));
        accessors.push(
            serde_json::json!({"bufferView": views.len() - 1, "componentType": 5126,
            "count": positions.len(), "type": "VEC3", "min": min, "max": max}),
        );
        let start = bin.len();
        for i in &indices {
            bin.extend_from_slice(&i.to_le_bytes());
        }
        views.push(serde_json::json!({"buffer": 0, "byteOffset": start, "byteLength": bin.len() - start, "target": 34963}));
        accessors.push(
            serde_json::json!({"bufferView": views.len() - 1, "componentType": 5123,
            "count": indices.len(), "type": "SCALAR"}),
        );
        pad(&mut bin, 0);
        primitives.push(
            serde_json::json!({"attributes": {"POSITION": accessors.len() - 2},
            "indices": accessors.len() - 1, "material": material}),
        );
    }
    let materials: Vec<serde_json::Value> = MATERIALS
        .iter()
        .zip(colours)
        .map(|(name, [r, g, b])| {
            serde_json::json!({"name": name, "pbrMetallicRoughness":
                {"baseColorFactor": [r, g, b, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.9}})
        })
        .collect();
    let json = serde_json::json!({
        "asset": {"version": "2.0", "generator": "mesh-toolkit simulator"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": seed}],
        "meshes": [{"name": "creature", "primitives": primitives}],
        "materials": materials,
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": views,
        "accessors": accessors,
    });
    let mut json = json.to_string().into_bytes();
    pad(&mut json, b' ');

    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    for (kind, data) in [(b"JSON", &json), (b"BIN\0", &bin)] {
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
    }
    out
}

/// The corners and triangles (counter-clockwise seen from outside) of `parts`.
fn boxes(parts: &[Part]) -> (Vec<[f32; 3]>, Vec<u16>) {
    // Corner i has x, y, z at the high side where bit 0, 1, 2 of i is set.
    const FACES: [[u16; 4]; 6] = [
        [0, 2, 3, 1], // z low (back)
        [4, 5, 7, 6], // z high (front)
        [0, 4, 6, 2], // x low
        [1, 3, 7, 5], // x high
        [0, 1, 5, 4], // y low
        [2, 6, 7, 3], // y high
    ];
    let mut positions = Vec::new();
    let mut indices = Vec::new();
    for part in parts {
        let base = u16::try_from(positions.len()).unwrap_or(u16::MAX);
        for corner in 0..8u8 {
            let at = |axis: usize| {
                let high = corner & (1 << axis) != 0;
                let half = part.size[axis] / 2.0;
                part.centre[axis] + if high { half } else { -half }
            };
            positions.push([at(0), at(1), at(2)]);
        }
        for [a, b, c, d] in FACES {
            indices.extend_from_slice(&[
                base + a,
                base + b,
                base + c,
                base + a,
                base + c,
                base + d,
            ]);
        }
    }
    (positions, indices)
}

fn bounds(positions: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    let mut min = [f32::MAX; 3];
    let mut max = [f32::MIN; 3];
    for p in positions {
        for axis in 0..3 {
            min[axis] = min[axis].min(p[axis]);
            max[axis] = max[axis].max(p[axis]);
        }
    }
    (min, max)
}

/// An RGB colour (0..1) from hue (degrees), saturation and value.
fn hsv(hue: f32, saturation: f32, value: f32) -> [f32; 3] {
    let c = value * saturation;
    let x = c * (1.0 - ((hue / 60.0) % 2.0 - 1.0).abs());
    let m = value - c;
    let (r, g, b) = match hue {
        h if h < 60.0 => (c, x, 0.0),
        h if h < 120.0 => (x, c, 0.0),
        h if h < 180.0 => (0.0, c, x),
        h if h < 240.0 => (0.0, x, c),
        h if h < 300.0 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [r + m, g + m, b + m]
}

/// A 16×16 RGB PNG in one colour derived from `seed`, with a stored (uncompressed)
/// deflate stream so no compression library is needed.
pub fn png(seed: &str) -> Vec<u8> {
    const SIDE: u32 = 16;
    let h = seed_bytes(seed);
    // Each scanline: filter type 0 (none), then SIDE pixels of one colour.
    let row: Vec<u8> = std::iter::once(0)
        .chain(h[..3].iter().copied().cycle().take(3 * SIDE as usize))
        .collect();
    let raw = row.repeat(SIDE as usize);
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit depth, RGB, deflate, no filter, no interlace

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn seed_bytes(seed: &str) -> Vec<u8> {
    let hex = sha256_hex(seed.as_bytes());
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect()
}

fn pad(bytes: &mut Vec<u8>, with: u8) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(with);
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored deflate blocks (at most 65535 bytes each).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// The public animation catalog (`GET /web/public/animations/resources`), shaped as
/// Meshy's CLI reads it: `{result: {total, list: [{id, key, name, category,
/// subCategory, previewUrl, rigType, isDefault, isFree}]}}`. 157 actions, as Meshy's
/// library has; `id` is the `action_id` an animation request sends.
pub fn animation_catalog() -> serde_json::Value {
    const CATEGORIES: [(&str, &[&str]); 5] = [
        ("WalkAndRun", &["Walk", "Run", "Sneak", "Jog"]),
        ("BodyMovements", &["Jump", "Crouch", "Turn", "Stretch"]),
        ("DailyActions", &["Wave", "Sit", "Drink", "Clap"]),
        ("Fighting", &["Punch", "Kick", "Block", "Dodge"]),
        ("Dancing", &["Spin", "Sway", "Shuffle", "Bounce"]),
    ];
    let list: Vec<serde_json::Value> = (0..157u32)
        .map(|id| {
            let (category, moves) = CATEGORIES[id as usize % CATEGORIES.len()];
            let name = format!("{} {}", moves[(id as usize / 5) % moves.len()], id / 20 + 1);
            serde_json::json!({
                "id": id,
                "key": name.to_ascii_lowercase().replace(' ', "_"),
                "name": name,
                "category": category,
                "subCategory": moves[(id as usize / 5) % moves.len()],
                "previewUrl": "",
                "rigType": "humanoid",
                "isDefault": id < 2,
                "isFree": true,
            })
        })
        .collect();
    serde_json::json!({"result": {"total": list.len(), "list": list}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glb_loads_in_a_gltf_parser_as_a_creature_of_boxes() {
        let bytes = glb("019a97e6-58dc-7430-85a1-9bf2d9e97430");
        let gltf = gltf::Gltf::from_slice(&bytes).expect("valid GLB");
        assert_eq!(gltf.meshes().count(), 1);
        let blob = gltf.blob.as_deref().expect("BIN chunk");
        let mesh = gltf.meshes().next().unwrap();
        let counts: Vec<(usize, usize)> = mesh
            .primitives()
            .map(|primitive| {
                let reader = primitive.reader(|_| Some(blob));
                let positions = reader.read_positions().unwrap().count();
                let indices = reader
                    .read_indices()
                    .unwrap()
                    .into_u32()
                    .collect::<Vec<_>>();
                assert!(indices.iter().all(|i| (*i as usize) < positions));
                (positions, indices.len())
            })
            .collect();
        // 9 fur boxes, 1 muzzle, 3 for the eyes and nose: 8 corners, 12 triangles each.
        assert_eq!(counts, [(72, 324), (8, 36), (24, 108)]);
        assert_eq!(gltf.materials().count(), MATERIALS.len());
        let eyes = gltf
            .materials()
            .nth(2)
            .unwrap()
            .pbr_metallic_roughness()
            .base_color_factor();
        assert!(eyes[..3].iter().all(|c| *c < 0.1), "dark eyes: {eyes:?}");
        // Stands on the ground, longer than it is wide.
        let (min, max) = mesh.primitives().map(|p| p.bounding_box()).fold(
            ([f32::MAX; 3], [f32::MIN; 3]),
            |(lo, hi), b| {
                (
                    [
                        lo[0].min(b.min[0]),
                        lo[1].min(b.min[1]),
                        lo[2].min(b.min[2]),
                    ],
                    [
                        hi[0].max(b.max[0]),
                        hi[1].max(b.max[1]),
                        hi[2].max(b.max[2]),
                    ],
                )
            },
        );
        assert!(min[1].abs() < 1e-6, "{min:?}");
        assert!(max[2] - min[2] > max[0] - min[0], "{min:?} {max:?}");
    }

    /// Viewers cull back faces: every triangle faces away from its box's centre.
    #[test]
    fn box_faces_wind_outwards() {
        let part = Part {
            centre: [1.0, 2.0, 3.0],
            size: [0.5, 1.0, 2.0],
        };
        let (positions, indices) = boxes(&[part]);
        for triangle in indices.chunks(3) {
            let [a, b, c] = [0, 1, 2].map(|k| positions[usize::from(triangle[k])]);
            let (u, v) = (
                [0, 1, 2].map(|i| b[i] - a[i]),
                [0, 1, 2].map(|i| c[i] - a[i]),
            );
            let normal = [
                u[1] * v[2] - u[2] * v[1],
                u[2] * v[0] - u[0] * v[2],
                u[0] * v[1] - u[1] * v[0],
            ];
            let centroid = [0, 1, 2].map(|i| (a[i] + b[i] + c[i]) / 3.0 - [1.0, 2.0, 3.0][i]);
            let outwards: f32 = (0..3).map(|i| normal[i] * centroid[i]).sum();
            assert!(outwards > 0.0, "{triangle:?}");
        }
    }

    #[test]
    fn every_task_gets_its_own_fur_colour() {
        let colour = |seed: &str| {
            let bytes = glb(seed);
            let gltf = gltf::Gltf::from_slice(&bytes).unwrap();
            let fur = gltf.materials().next().unwrap();
            fur.pbr_metallic_roughness().base_color_factor()
        };
        assert_ne!(colour("task-a"), colour("task-b"));
        assert!(colour("task-a").iter().all(|c| (0.0..=1.0).contains(c)));
    }

    #[test]
    fn glb_is_deterministic_per_task_id() {
        assert_eq!(glb("a"), glb("a"));
        assert_ne!(glb("a"), glb("b"));
        assert_eq!(
            u32::from_le_bytes(glb("a")[8..12].try_into().unwrap()) as usize,
            glb("a").len()
        );
    }

    #[test]
    fn png_decodes_to_a_16_pixel_square() {
        let bytes = png("019a97e6");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes.clone()));
        let mut reader = decoder.read_info().expect("valid PNG header");
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).expect("valid PNG data");
        assert_eq!((frame.width, frame.height), (16, 16));
        assert_eq!(png("019a97e6"), bytes);
    }
}
