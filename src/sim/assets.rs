//! The files the simulator serves for result URLs: a valid glTF 2.0 binary (GLB) with
//! one mesh, and a valid PNG thumbnail. Both are small and deterministic per task id,
//! so a re-recording produces the same bytes.

use crate::digest::sha256_hex;

/// A GLB holding one tetrahedron mesh whose size and proportions derive from `seed`
/// (a task id): header, JSON chunk, BIN chunk, as glTF 2.0 specifies.
pub fn glb(seed: &str) -> Vec<u8> {
    let h = seed_bytes(seed);
    let scale = |i: usize| 0.5 + f32::from(h[i]) / 255.0;
    let (sx, sy, sz) = (scale(0), scale(1), scale(2));
    let positions: [[f32; 3]; 4] = [
        [0.0, 0.0, 0.0],
        [sx, 0.0, 0.0],
        [0.0, sy, 0.0],
        [0.0, 0.0, sz],
    ];
    let indices: [u16; 12] = [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3];

    let mut bin = Vec::new();
    for p in positions.iter().flatten() {
        bin.extend_from_slice(&p.to_le_bytes());
    }
    let positions_len = bin.len();
    for i in indices {
        bin.extend_from_slice(&i.to_le_bytes());
    }
    let indices_len = bin.len() - positions_len;
    pad(&mut bin, 0);

    let json = serde_json::json!({
        "asset": {"version": "2.0", "generator": "mesh-toolkit simulator"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": seed}],
        "meshes": [{"name": "creature", "primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": positions_len, "target": 34962},
            {"buffer": 0, "byteOffset": positions_len, "byteLength": indices_len, "target": 34963}
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3",
             "min": [0.0, 0.0, 0.0], "max": [sx, sy, sz]},
            {"bufferView": 1, "componentType": 5123, "count": 12, "type": "SCALAR"}
        ]
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
    fn glb_loads_in_a_gltf_parser_with_one_mesh() {
        let bytes = glb("019a97e6-58dc-7430-85a1-9bf2d9e97430");
        let gltf = gltf::Gltf::from_slice(&bytes).expect("valid GLB");
        assert_eq!(gltf.meshes().count(), 1);
        let blob = gltf.blob.as_deref().expect("BIN chunk");
        let primitive = gltf.meshes().next().unwrap().primitives().next().unwrap();
        let reader = primitive.reader(|_| Some(blob));
        assert_eq!(reader.read_positions().unwrap().count(), 4);
        assert_eq!(reader.read_indices().unwrap().into_u32().count(), 12);
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
