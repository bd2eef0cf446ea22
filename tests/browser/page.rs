//! The self-test's pages, built like the report: one self-contained HTML file with the
//! vendored model-viewer inlined, each model embedded as base64 and handed to its viewer
//! as a `blob:` URL when the viewer scrolls into view (IntersectionObserver). Viewers are
//! spaced a viewport apart, so all but the first start below the fold.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The vendored model-viewer, as the report embeds it.
const MODEL_VIEWER: &str = include_str!("../../vendor/model-viewer/model-viewer-umd.min.js");

/// A viewer on a self-test page: its `id` and the bytes it is given as its model.
pub struct Model {
    pub id: &'static str,
    pub bytes: Vec<u8>,
}

impl Model {
    /// The simulator's low-poly creature for `seed`.
    pub fn creature(id: &'static str, seed: &str) -> Model {
        Model {
            id,
            bytes: mesh_toolkit::sim::glb(seed),
        }
    }
}

/// Writes `index.html` into `dir` with `models` in order and `script` (if any) run at the
/// end of the body; returns its path.
pub fn write(dir: &Path, models: &[Model], script: &str) -> PathBuf {
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut viewers = String::new();
    let mut glbs = serde_json::Map::new();
    for model in models {
        viewers.push_str(&format!(
            "<section><h2>{id}</h2><model-viewer id=\"{id}\" data-model=\"{id}.glb\" \
             alt=\"{id}\"></model-viewer></section>\n",
            id = model.id,
        ));
        glbs.insert(model.id.into(), base64.encode(&model.bytes).into());
    }
    let glbs = serde_json::Value::Object(glbs);
    // `<\/script` keeps the inlined library from closing its own element (it holds none
    // today; the report must do the same).
    let library = MODEL_VIEWER.replace("</script", "<\\/script");
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>browser check self-test</title>
<style>
  body {{ margin: 0; font-family: sans-serif; background: #fafafa; }}
  section {{ height: 900px; padding: 20px; }}
  model-viewer {{ width: 480px; height: 360px; background-color: rgb(236, 238, 242); }}
</style>
<script>{library}</script>
</head>
<body>
{viewers}
<script>
  const glbs = {glbs};
  const show = new IntersectionObserver((entries) => {{
    for (const entry of entries) {{
      if (!entry.isIntersecting) continue;
      const viewer = entry.target;
      show.unobserve(viewer);
      const bytes = Uint8Array.from(atob(glbs[viewer.id]), (c) => c.charCodeAt(0));
      viewer.src = URL.createObjectURL(new Blob([bytes], {{ type: 'model/gltf-binary' }}));
    }}
  }});
  document.querySelectorAll('model-viewer').forEach((viewer) => show.observe(viewer));
</script>
<script>{script}</script>
</body>
</html>
"#
    );
    let path = dir.join("index.html");
    std::fs::write(&path, html).unwrap_or_else(|e| panic!("write '{}': {e}", path.display()));
    path
}

/// The simulator's creature for `seed` with every material fully transparent (alpha 0,
/// blended): a valid model that loads, frames the camera, and draws nothing.
pub fn invisible_creature(seed: &str) -> Vec<u8> {
    let glb = mesh_toolkit::sim::glb(seed);
    let u32_at = |at: usize| u32::from_le_bytes(glb[at..at + 4].try_into().expect("4 bytes"));
    let json_end = 20 + usize::try_from(u32_at(12)).expect("a small chunk");
    let mut json: serde_json::Value =
        serde_json::from_slice(&glb[20..json_end]).expect("the simulator's GLB holds JSON");
    for material in json["materials"].as_array_mut().expect("materials") {
        material["pbrMetallicRoughness"]["baseColorFactor"][3] = 0.0.into();
        material["alphaMode"] = "BLEND".into();
    }
    let mut chunk = serde_json::to_vec(&json).expect("JSON serialises");
    while !chunk.len().is_multiple_of(4) {
        chunk.push(b' ');
    }
    let rest = &glb[json_end..]; // the BIN chunk, header and all
    let length = u32::try_from(20 + chunk.len() + rest.len()).expect("a small GLB");
    let mut out = Vec::new();
    out.extend_from_slice(&glb[..8]); // magic and version
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&u32::try_from(chunk.len()).expect("small").to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&chunk);
    out.extend_from_slice(rest);
    out
}
