//! API v2's request rules (`meshy-api-v2.md`, "Creating a task"), as one pure function
//! the SDK client calls before sending and the simulator calls before creating: the
//! parameters each endpoint defines (anything else is a 400), the removed v1 names
//! (a 400 even when sent as `null` or `false`, with the name that replaces them), the
//! required ones, the mutually exclusive pairs (`parameters_conflict`), animation's
//! inputs and text-to-motion's limits; the `X-Meshy-Metadata` header
//! ([`check_metadata`]) and the retired models ([`check_model`], dated by a parameter
//! so that a replay never fails by the calendar).
//!
//! Sources of each endpoint's defined fields ([`defined_fields`]): the v2 reference
//! pages (`docs.meshy.ai/api/v2/<endpoint>.md`, as far as readable), the v1 pages they
//! amend (with the removals above applied), and `meshy::request`. Where a page could
//! not be read in full the list is a choice, recorded in `docs/unconfirmed.md`.

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use serde_json::{Map, Value};

use super::{ErrorCode, TaskType};

/// Why a v2 request is refused: the field at fault, the v2 error `code` (its `type` is
/// `invalid_input`) and a message naming what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub field: String,
    pub code: ErrorCode,
    pub message: String,
}

/// The error `type` of every refusal.
pub const REFUSAL_TYPE: &str = "invalid_input";

/// Code of a parameter the endpoint does not define (unconfirmed).
pub const UNKNOWN_PARAMETER: &str = "unknown_parameter";
/// Code of a v1 parameter v2 removed (unconfirmed).
pub const REMOVED_PARAMETER: &str = "removed_parameter";
/// Code of a required parameter that is missing (unconfirmed).
pub const MISSING_PARAMETER: &str = "missing_parameter";
/// Code of a parameter whose value is out of range or of the wrong kind (unconfirmed).
pub const INVALID_PARAMETER: &str = "invalid_parameter";
/// Code of a request naming a retired model (unconfirmed).
pub const MODEL_RETIRED: &str = "model_retired";

/// The texture models v2 takes.
pub const TEXTURE_MODELS: [&str; 3] = ["meshy-7", "meshy-n1", "meshy-6-lite"];

/// When `lowpoly` stops working.
pub const LOWPOLY_RETIRED: &str = "2026-10-30";
/// When `meshy-7` stops working as a 3D-generation model (it stays a texture model).
pub const MESHY_7_RETIRED: &str = "2026-12-31";

/// The most `X-Meshy-Metadata` pairs.
pub const MAX_METADATA_PAIRS: usize = 64;
/// The most `X-Meshy-Metadata` bytes.
pub const MAX_METADATA_BYTES: usize = 8192;

/// The longest text-to-motion prompt.
pub const MAX_MOTION_PROMPT_CHARS: usize = 400;

const MODEL_INPUT: [&str; 2] = ["input_task_id", "model_url"];

/// The parameters a v2 endpoint defines; every other name is refused.
pub fn defined_fields(task_type: TaskType) -> &'static [&'static str] {
    match task_type {
        TaskType::Text3d | TaskType::Text3dRefine => &TEXT3D_FIELDS,
        TaskType::Image3d => &IMAGE3D_FIELDS,
        TaskType::MultiImage3d => &MULTI_IMAGE3D_FIELDS,
        other => endpoint_fields(other),
    }
}

/// The fields every 3D generation (text, image, multi-image) shares.
const GENERATION: [&str; 16] = [
    "ai_model",
    "should_texture",
    "texture_model",
    "texture_prompt",
    "texture_image_url",
    "enable_pbr",
    "texture_resolution",
    "remove_lighting",
    "should_remesh",
    "topology",
    "target_polycount",
    "symmetry_mode",
    "pose_mode",
    "moderation",
    "target_formats",
    "save_pre_remeshed_model",
];
const TEXT3D_FIELDS: [&str; 21] = concat(
    GENERATION,
    [
        "prompt",
        "negative_prompt",
        "model_type",
        "art_style",
        "seed",
    ],
);
const IMAGE3D_FIELDS: [&str; 19] = concat(
    GENERATION,
    ["image_url", "input_task_id", "image_enhancement"],
);
const MULTI_IMAGE3D_FIELDS: [&str; 18] = concat(GENERATION, ["image_urls", "image_enhancement"]);

fn endpoint_fields(task_type: TaskType) -> &'static [&'static str] {
    match task_type {
        TaskType::Text3d | TaskType::Text3dRefine | TaskType::Image3d | TaskType::MultiImage3d => {
            &[]
        }
        TaskType::Remesh => &[
            "input_task_id",
            "model_url",
            "target_formats",
            "topology",
            "target_polycount",
        ],
        TaskType::Retexture => &[
            "input_task_id",
            "model_url",
            "texture_model",
            "texture_prompt",
            "texture_image_url",
            "uv_mode",
            "enable_pbr",
            "texture_resolution",
            "remove_lighting",
            "target_formats",
        ],
        TaskType::Rigging => &[
            "input_task_id",
            "model_url",
            "height_meters",
            "texture_image_url",
        ],
        TaskType::RigCheck => &MODEL_INPUT,
        TaskType::Animation => &[
            "rig_task_id",
            "action_id",
            "action_ids",
            "motion_task_id",
            "post_process",
        ],
        TaskType::TextToMotion => &["prompt", "duration", "mode"],
        TaskType::TextToImage => &[
            "ai_model",
            "prompt",
            "aspect_ratio",
            "generate_multi_view",
            "background",
        ],
        TaskType::ImageToImage => &[
            "ai_model",
            "prompt",
            "reference_image_urls",
            "generate_multi_view",
            "background",
        ],
        TaskType::Convert | TaskType::UvUnwrap => &["input_task_id", "model_url", "target_formats"],
        TaskType::Resize => &[
            "input_task_id",
            "model_url",
            "resize_height",
            "resize_longest_side",
            "auto_size",
            "origin_at",
            "target_formats",
        ],
        TaskType::PrintAnalyze => &[
            "input_task_id",
            "model_url",
            "printer_type",
            "intended_print_height_mm",
        ],
        TaskType::PrintRepair => &[
            "input_task_id",
            "model_url",
            "printer_type",
            "intended_print_height_mm",
            "target_formats",
        ],
        TaskType::PrintMultiColor => &[
            "input_task_id",
            "model_url",
            "max_colors",
            "max_depth",
            "target_formats",
        ],
    }
}

const fn concat<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// The v1 names v2 removed from an endpoint, each with what replaces it.
pub fn removed_fields(task_type: TaskType) -> &'static [(&'static str, &'static str)] {
    match task_type {
        TaskType::Text3d | TaskType::Text3dRefine => &[
            (
                "mode",
                "one call without mode (should_texture, texture_model); preview and refine are v1",
            ),
            (
                "preview_task_id",
                "one call without mode: there is no refine step in v2",
            ),
            ("hd_texture", "texture_resolution: \"4k\""),
        ],
        TaskType::Image3d | TaskType::MultiImage3d => &[
            ("model_type", "ai_model, the only model setting"),
            ("hd_texture", "texture_resolution: \"4k\""),
        ],
        TaskType::Retexture => &[
            ("text_style_prompt", "texture_prompt"),
            ("image_style_url", "texture_image_url"),
            ("enable_original_uv", "uv_mode"),
            ("hd_texture", "texture_resolution: \"4k\""),
            (
                "ai_model",
                "texture_model (meshy-7, meshy-n1 or meshy-6-lite)",
            ),
        ],
        TaskType::Remesh => &[
            ("resize_height", "a resize task (POST /openapi/v2/resize)"),
            (
                "resize_longest_side",
                "a resize task (POST /openapi/v2/resize)",
            ),
            ("origin_at", "a resize task (POST /openapi/v2/resize)"),
            ("auto_size", "a resize task (POST /openapi/v2/resize)"),
            (
                "convert_format_only",
                "a convert task (POST /openapi/v2/convert)",
            ),
        ],
        TaskType::TextToImage | TaskType::ImageToImage => &[(
            "remove_background",
            "background (transparent by default; \"opaque\" keeps it)",
        )],
        _ => &[],
    }
}

/// The exclusive pairs of an endpoint.
fn exclusive_pairs(task_type: TaskType) -> &'static [(&'static str, &'static str)] {
    const TEXTURE: (&str, &str) = ("texture_prompt", "texture_image_url");
    const MODEL: (&str, &str) = ("input_task_id", "model_url");
    match task_type {
        TaskType::Text3d | TaskType::Text3dRefine | TaskType::Image3d | TaskType::MultiImage3d => {
            &[TEXTURE]
        }
        TaskType::Retexture => &[MODEL, TEXTURE],
        TaskType::Remesh
        | TaskType::Rigging
        | TaskType::RigCheck
        | TaskType::UvUnwrap
        | TaskType::PrintAnalyze
        | TaskType::PrintRepair
        | TaskType::PrintMultiColor => &[MODEL],
        _ => &[],
    }
}

fn refusal(field: &str, code: ErrorCode, message: String) -> Refusal {
    Refusal {
        field: field.to_owned(),
        code,
        message,
    }
}

fn other(code: &str) -> ErrorCode {
    ErrorCode::Other(code.to_owned())
}

/// Whether `field` carries a value (present and not `null`, `""` or `[]`).
fn given(body: &Map<String, Value>, field: &str) -> bool {
    match body.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
    }
}

/// Checks a v2 create request for `task_type` (its body as sent): the first rule it
/// breaks, in this order: removed names, undefined names, conflicts, required fields,
/// value limits.
pub fn check(task_type: TaskType, body: &Map<String, Value>) -> Result<(), Refusal> {
    let endpoint = task_type.v2_endpoint().unwrap_or("text-to-3d");
    // Removed names answer 400 whatever their value, `null` and `false` included.
    for (name, replacement) in removed_fields(task_type) {
        if body.contains_key(*name) {
            return Err(refusal(
                name,
                other(REMOVED_PARAMETER),
                format!("{name} is not a v2 parameter of {endpoint}: use {replacement}"),
            ));
        }
    }
    let defined = defined_fields(task_type);
    let mut unknown: Vec<&String> = body
        .keys()
        .filter(|k| !defined.contains(&k.as_str()))
        .collect();
    unknown.sort();
    if let Some(name) = unknown.first() {
        return Err(refusal(
            name,
            other(UNKNOWN_PARAMETER),
            format!(
                "{name} is not a parameter of {endpoint}; it takes: {}",
                defined.join(", ")
            ),
        ));
    }
    for (a, b) in exclusive_pairs(task_type) {
        if given(body, a) && given(body, b) {
            return Err(refusal(
                b,
                ErrorCode::ParametersConflict,
                format!("{a} and {b} are mutually exclusive: send one of them"),
            ));
        }
    }
    required(task_type, body)?;
    limits(task_type, body)
}

fn missing(field: &str, message: String) -> Refusal {
    refusal(field, other(MISSING_PARAMETER), message)
}

fn invalid(field: &str, message: String) -> Refusal {
    refusal(field, other(INVALID_PARAMETER), message)
}

fn one_of(body: &Map<String, Value>, fields: &[&str]) -> Result<(), Refusal> {
    if fields.iter().any(|f| given(body, f)) {
        return Ok(());
    }
    Err(missing(
        fields[0],
        format!("{} is required", fields.join(" or ")),
    ))
}

/// Whether a textured model is asked for (`should_texture` defaults to true).
fn textured(body: &Map<String, Value>) -> bool {
    body.get("should_texture")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn required(task_type: TaskType, body: &Map<String, Value>) -> Result<(), Refusal> {
    match task_type {
        TaskType::Text3d | TaskType::Text3dRefine => one_of(body, &["prompt"])?,
        TaskType::Image3d => one_of(body, &["image_url", "input_task_id"])?,
        TaskType::MultiImage3d => one_of(body, &["image_urls"])?,
        TaskType::TextToImage | TaskType::ImageToImage | TaskType::TextToMotion => {
            one_of(body, &["prompt"])?
        }
        TaskType::Animation => one_of(body, &["rig_task_id"])?,
        _ => {}
    }
    if task_type.input_field() == Some("input_task_id") && task_type != TaskType::Image3d {
        one_of(body, &MODEL_INPUT)?;
    }
    let needs_texture_model = match task_type {
        TaskType::Retexture => true,
        TaskType::Text3d | TaskType::Text3dRefine | TaskType::Image3d | TaskType::MultiImage3d => {
            textured(body)
        }
        _ => false,
    };
    if needs_texture_model && !given(body, "texture_model") {
        let why = if task_type == TaskType::Retexture {
            "every retexture request"
        } else {
            "a textured model (should_texture defaults to true; send should_texture: false for none)"
        };
        return Err(missing(
            "texture_model",
            format!(
                "texture_model is required for {why}: one of {}",
                TEXTURE_MODELS.join(", ")
            ),
        ));
    }
    if task_type == TaskType::Retexture {
        one_of(body, &["texture_prompt", "texture_image_url"])?;
    }
    if matches!(task_type, TaskType::TextToImage | TaskType::ImageToImage)
        && !given(body, "ai_model")
    {
        return Err(missing(
            "ai_model",
            "ai_model is required (nano-banana, nano-banana-2, nano-banana-pro, …)".into(),
        ));
    }
    if task_type == TaskType::Animation {
        let actions: Vec<&str> = ["action_id", "action_ids", "motion_task_id"]
            .into_iter()
            .filter(|f| body.get(*f).is_some_and(|v| !v.is_null()))
            .collect();
        match actions[..] {
            [] => {
                return Err(missing(
                    "action_id",
                    "one of action_id, action_ids or motion_task_id is required".into(),
                ));
            }
            [_] => {}
            [_, second, ..] => {
                return Err(refusal(
                    second,
                    ErrorCode::ParametersConflict,
                    format!(
                        "{} are mutually exclusive: send exactly one of action_id, action_ids or motion_task_id",
                        actions.join(" and ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn limits(task_type: TaskType, body: &Map<String, Value>) -> Result<(), Refusal> {
    if let Some(model) = body.get("texture_model").filter(|v| !v.is_null())
        && !model.as_str().is_some_and(|m| TEXTURE_MODELS.contains(&m))
    {
        return Err(invalid(
            "texture_model",
            format!(
                "texture_model {model} is not one of {}",
                TEXTURE_MODELS.join(", ")
            ),
        ));
    }
    match task_type {
        TaskType::TextToMotion => {
            let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or("");
            let chars = prompt.chars().count();
            if chars > MAX_MOTION_PROMPT_CHARS {
                return Err(invalid(
                    "prompt",
                    format!(
                        "prompt has {chars} characters; at most {MAX_MOTION_PROMPT_CHARS} are allowed"
                    ),
                ));
            }
            if let Some(duration) = body.get("duration").filter(|v| !v.is_null()) {
                let ok = duration
                    .as_f64()
                    .is_some_and(|d| (2.0..=10.0).contains(&d) && (d * 2.0).fract() == 0.0);
                if !ok {
                    return Err(invalid(
                        "duration",
                        format!("duration {duration} must be 2 to 10 seconds in steps of 0.5"),
                    ));
                }
            }
            if let Some(mode) = body.get("mode").filter(|v| !v.is_null())
                && !matches!(mode.as_str(), Some("prime" | "swift"))
            {
                return Err(invalid(
                    "mode",
                    format!("mode {mode} must be prime (FBX, the default) or swift (BVH)"),
                ));
            }
        }
        TaskType::Animation => {
            if let Some(ids) = body.get("action_ids")
                && !ids
                    .as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_u64))
            {
                return Err(invalid(
                    "action_ids",
                    "action_ids must be a non-empty list of action ids (integers)".into(),
                ));
            }
            if let Some(id) = body.get("action_id")
                && !id.is_u64()
            {
                return Err(invalid(
                    "action_id",
                    "action_id must be an action id (an integer)".into(),
                ));
            }
        }
        TaskType::MultiImage3d => {
            let n = body
                .get("image_urls")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if !(1..=4).contains(&n) {
                return Err(invalid(
                    "image_urls",
                    format!("image_urls must hold 1 to 4 images, not {n}"),
                ));
            }
        }
        TaskType::ImageToImage => {
            let n = body
                .get("reference_image_urls")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if !(1..=5).contains(&n) {
                return Err(invalid(
                    "reference_image_urls",
                    format!("reference_image_urls must hold 1 to 5 images, not {n}"),
                ));
            }
        }
        TaskType::Convert if !given(body, "target_formats") => {
            return Err(missing(
                "target_formats",
                "target_formats is required (glb, fbx, obj, usdz, blend, stl, 3mf)".into(),
            ));
        }
        TaskType::Text3d | TaskType::Text3dRefine => {
            let chars = body
                .get("prompt")
                .and_then(Value::as_str)
                .map_or(0, |p| p.chars().count());
            if chars > super::MAX_PROMPT_CHARS {
                return Err(invalid(
                    "prompt",
                    format!(
                        "prompt has {chars} characters; at most {} are allowed",
                        super::MAX_PROMPT_CHARS
                    ),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks an `X-Meshy-Metadata` header (W3C Baggage: `k=v,k2=v2`, properties after `;`
/// allowed, values percent-encoded) and returns its pairs, values decoded. At most
/// [`MAX_METADATA_PAIRS`] pairs and [`MAX_METADATA_BYTES`] bytes; anything else is a
/// `metadata_invalid` refusal.
pub fn check_metadata(header: &str) -> Result<Vec<(String, String)>, Refusal> {
    let bad = |message: String| {
        Err(refusal(
            "X-Meshy-Metadata",
            ErrorCode::MetadataInvalid,
            format!("X-Meshy-Metadata {message} (W3C Baggage: key=value,key2=value2)"),
        ))
    };
    if header.len() > MAX_METADATA_BYTES {
        return bad(format!(
            "has {} bytes; at most {MAX_METADATA_BYTES} are allowed",
            header.len()
        ));
    }
    let mut pairs = Vec::new();
    for member in header.split(',') {
        let pair = member.split(';').next().unwrap_or("");
        let Some((key, value)) = pair.split_once('=') else {
            return bad(format!("has a member without '=': {:?}", member.trim()));
        };
        let (key, value) = (
            key.trim_matches([' ', '\t']),
            value.trim_matches([' ', '\t']),
        );
        if key.is_empty() || !key.bytes().all(is_token_byte) {
            return bad(format!("has an invalid key: {key:?}"));
        }
        if !value.bytes().all(is_baggage_octet) {
            return bad(format!("has an invalid value for {key}"));
        }
        let Some(decoded) = percent_decode(value) else {
            return bad(format!(
                "has a value for {key} that is not percent-encoded UTF-8"
            ));
        };
        pairs.push((key.to_owned(), decoded));
    }
    if pairs.len() > MAX_METADATA_PAIRS {
        return bad(format!(
            "has {} pairs; at most {MAX_METADATA_PAIRS} are allowed",
            pairs.len()
        ));
    }
    Ok(pairs)
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// RFC 7230 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// W3C Baggage `baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
/// The `X-Meshy-Metadata` header for `pairs` (W3C Baggage: `key=value,…`, each value
/// percent-encoded where Baggage does not allow its bytes); check it with
/// [`check_metadata`].
pub fn metadata_header<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut header = String::new();
    for (key, value) in pairs {
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str(key);
        header.push('=');
        for byte in value.bytes() {
            if is_baggage_octet(byte) && byte != b'%' {
                header.push(char::from(byte));
            } else {
                header.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    header
}

fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Refuses a request that names a model retired on `today` (`YYYY-MM-DD`): `lowpoly`
/// (as `model_type` or `ai_model`) from [`LOWPOLY_RETIRED`], `meshy-7` as the
/// `ai_model` of a 3D generation (text, image, multi-image to 3D) from
/// [`MESHY_7_RETIRED`]. `meshy-7` as a `texture_model` stays.
pub fn check_model(
    task_type: TaskType,
    body: &Map<String, Value>,
    today: &str,
) -> Result<(), Refusal> {
    let text = |field: &str| body.get(field).and_then(Value::as_str);
    for field in ["model_type", "ai_model"] {
        if text(field) == Some("lowpoly") && today >= LOWPOLY_RETIRED {
            return Err(refusal(
                field,
                other(MODEL_RETIRED),
                format!(
                    "lowpoly was retired on {LOWPOLY_RETIRED}: leave {field} out for the standard model"
                ),
            ));
        }
    }
    let generation = matches!(
        task_type,
        TaskType::Text3d | TaskType::Text3dRefine | TaskType::Image3d | TaskType::MultiImage3d
    );
    if generation && text("ai_model") == Some("meshy-7") && today >= MESHY_7_RETIRED {
        return Err(refusal(
            "ai_model",
            other(MODEL_RETIRED),
            format!(
                "meshy-7 was retired as a 3D-generation model on {MESHY_7_RETIRED}: use ai_model latest \
                 (meshy-7 stays available as a texture_model)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn refused(task_type: TaskType, value: Value) -> Refusal {
        check(task_type, &body(value.clone()))
            .expect_err(&format!("{task_type} {value} should be refused"))
    }

    fn code(c: &str) -> ErrorCode {
        ErrorCode::parse(c)
    }

    /// One valid v2 request per endpoint.
    fn minimal(task_type: TaskType) -> Value {
        match task_type {
            TaskType::Text3d | TaskType::Text3dRefine => {
                json!({"prompt": "otter", "texture_model": "meshy-7"})
            }
            TaskType::Image3d => {
                json!({"image_url": "https://a/i.png", "texture_model": "meshy-n1"})
            }
            TaskType::MultiImage3d => {
                json!({"image_urls": ["https://a/i.png"], "should_texture": false})
            }
            TaskType::Retexture => json!({"input_task_id": "t", "texture_prompt": "wood",
                "texture_model": "meshy-7"}),
            TaskType::Animation => json!({"rig_task_id": "r", "action_id": 30}),
            TaskType::TextToImage => json!({"ai_model": "nano-banana", "prompt": "otter"}),
            TaskType::ImageToImage => json!({"ai_model": "nano-banana", "prompt": "otter",
                "reference_image_urls": ["https://a/i.png"]}),
            TaskType::TextToMotion => json!({"prompt": "walk", "duration": 4.5, "mode": "swift"}),
            TaskType::Convert => json!({"input_task_id": "t", "target_formats": ["fbx"]}),
            _ => json!({"model_url": "https://a/m.glb"}),
        }
    }

    #[test]
    fn every_endpoint_accepts_its_minimal_request() {
        for task_type in TaskType::ALL {
            assert_eq!(
                check(task_type, &body(minimal(task_type))),
                Ok(()),
                "{task_type}"
            );
        }
    }

    #[test]
    fn a_parameter_the_endpoint_does_not_define_is_refused_with_the_list() {
        let r = refused(
            TaskType::Rigging,
            json!({"input_task_id": "t", "callback_url": "x"}),
        );
        assert_eq!(r.field, "callback_url");
        assert_eq!(r.code, code(UNKNOWN_PARAMETER));
        assert!(
            r.message
                .contains("it takes: input_task_id, model_url, height_meters"),
            "{}",
            r.message
        );
        for task_type in TaskType::ALL {
            let mut sent = body(minimal(task_type));
            sent.insert("colour".into(), json!(1));
            assert_eq!(
                check(task_type, &sent).unwrap_err().field,
                "colour",
                "{task_type}"
            );
        }
    }

    #[test]
    fn removed_names_are_refused_even_null_or_false_naming_the_replacement() {
        let cases: [(TaskType, &str, &str); 14] = [
            (TaskType::Retexture, "text_style_prompt", "texture_prompt"),
            (TaskType::Retexture, "image_style_url", "texture_image_url"),
            (TaskType::Retexture, "enable_original_uv", "uv_mode"),
            (
                TaskType::Retexture,
                "hd_texture",
                "texture_resolution: \"4k\"",
            ),
            (TaskType::Retexture, "ai_model", "texture_model"),
            (TaskType::Image3d, "model_type", "ai_model"),
            (TaskType::Remesh, "resize_height", "resize"),
            (TaskType::Remesh, "resize_longest_side", "resize"),
            (TaskType::Remesh, "origin_at", "resize"),
            (TaskType::Remesh, "auto_size", "resize"),
            (TaskType::Remesh, "convert_format_only", "convert"),
            (TaskType::TextToImage, "remove_background", "background"),
            (TaskType::ImageToImage, "remove_background", "background"),
            (TaskType::Text3d, "mode", "without mode"),
        ];
        for (task_type, name, replacement) in cases {
            for value in [json!(null), json!(false), json!("x")] {
                let mut sent = body(minimal(task_type));
                sent.insert(name.into(), value.clone());
                let r = check(task_type, &sent).unwrap_err();
                assert_eq!(
                    (r.field.as_str(), &r.code),
                    (name, &code(REMOVED_PARAMETER)),
                    "{task_type} {name}={value}"
                );
                assert!(
                    r.message.contains(replacement),
                    "{task_type} {name}: {}",
                    r.message
                );
            }
        }
    }

    #[test]
    fn texture_model_is_required_for_retexture_and_textured_generation() {
        for task_type in [TaskType::Text3d, TaskType::Image3d, TaskType::MultiImage3d] {
            let mut sent = body(minimal(task_type));
            sent.remove("texture_model");
            sent.remove("should_texture");
            let r = check(task_type, &sent).unwrap_err();
            assert_eq!(
                (r.field.as_str(), &r.code),
                ("texture_model", &code(MISSING_PARAMETER)),
                "{task_type}"
            );
            assert!(r.message.contains("meshy-7, meshy-n1, meshy-6-lite"));
            sent.insert("should_texture".into(), json!(false));
            assert_eq!(check(task_type, &sent), Ok(()), "{task_type} untextured");
        }
        let r = refused(
            TaskType::Retexture,
            json!({"input_task_id": "t", "texture_prompt": "wood"}),
        );
        assert_eq!(r.field, "texture_model");
        let r = refused(
            TaskType::Retexture,
            json!({"input_task_id": "t", "texture_model": "meshy-8"}),
        );
        assert_eq!(r.field, "texture_prompt");
        let r = refused(
            TaskType::Image3d,
            json!({"image_url": "u", "texture_model": "meshy-8"}),
        );
        assert_eq!(
            (r.field.as_str(), r.code),
            ("texture_model", code(INVALID_PARAMETER))
        );
    }

    #[test]
    fn ai_model_is_required_for_text_to_image() {
        let r = refused(TaskType::TextToImage, json!({"prompt": "otter"}));
        assert_eq!(
            (r.field.as_str(), r.code),
            ("ai_model", code(MISSING_PARAMETER))
        );
    }

    #[test]
    fn exclusive_pairs_are_parameters_conflict() {
        let r = refused(
            TaskType::Text3d,
            json!({"prompt": "p", "texture_model": "meshy-7",
            "texture_prompt": "a", "texture_image_url": "b"}),
        );
        assert_eq!(r.code, ErrorCode::ParametersConflict);
        assert!(r.message.contains("texture_prompt and texture_image_url"));
        for task_type in [
            TaskType::Remesh,
            TaskType::Rigging,
            TaskType::UvUnwrap,
            TaskType::PrintAnalyze,
            TaskType::PrintRepair,
            TaskType::PrintMultiColor,
            TaskType::Retexture,
        ] {
            let mut sent = body(minimal(task_type));
            sent.insert("input_task_id".into(), json!("t"));
            sent.insert("model_url".into(), json!("https://a/m.glb"));
            let r = check(task_type, &sent).unwrap_err();
            assert_eq!(
                (r.field.as_str(), r.code),
                ("model_url", ErrorCode::ParametersConflict),
                "{task_type}"
            );
        }
    }

    #[test]
    fn animation_needs_a_rig_and_exactly_one_action_source() {
        assert_eq!(
            refused(TaskType::Animation, json!({"action_id": 1})).field,
            "rig_task_id"
        );
        let r = refused(TaskType::Animation, json!({"rig_task_id": "r"}));
        assert_eq!(
            (r.field.as_str(), r.code),
            ("action_id", code(MISSING_PARAMETER))
        );
        let r = refused(
            TaskType::Animation,
            json!({"rig_task_id": "r", "action_id": 1, "motion_task_id": "m"}),
        );
        assert_eq!(r.code, ErrorCode::ParametersConflict);
        for ok in [
            json!({"action_ids": [1, 2]}),
            json!({"motion_task_id": "m"}),
        ] {
            let mut sent = body(ok);
            sent.insert("rig_task_id".into(), json!("r"));
            assert_eq!(check(TaskType::Animation, &sent), Ok(()));
        }
        assert_eq!(
            refused(
                TaskType::Animation,
                json!({"rig_task_id": "r", "action_ids": []})
            )
            .field,
            "action_ids"
        );
    }

    #[test]
    fn text_to_motion_limits_prompt_duration_and_mode() {
        let long = "x".repeat(401);
        assert_eq!(
            refused(TaskType::TextToMotion, json!({"prompt": long})).field,
            "prompt"
        );
        assert_eq!(
            check(
                TaskType::TextToMotion,
                &body(json!({"prompt": "x".repeat(400)}))
            ),
            Ok(())
        );
        for bad in [1.5, 10.5, 4.25] {
            let r = refused(
                TaskType::TextToMotion,
                json!({"prompt": "walk", "duration": bad}),
            );
            assert_eq!(
                (r.field.as_str(), r.code),
                ("duration", code(INVALID_PARAMETER)),
                "{bad}"
            );
        }
        for good in [2.0, 2.5, 10.0] {
            assert_eq!(
                check(
                    TaskType::TextToMotion,
                    &body(json!({"prompt": "w", "duration": good}))
                ),
                Ok(())
            );
        }
        assert_eq!(
            refused(
                TaskType::TextToMotion,
                json!({"prompt": "w", "mode": "fast"})
            )
            .field,
            "mode"
        );
    }

    #[test]
    fn metadata_is_w3c_baggage_within_its_limits() {
        assert_eq!(
            check_metadata("team=otters, run = 42;prop=1,path=a%2Fb").unwrap(),
            [
                ("team".into(), "otters".into()),
                ("run".into(), "42".into()),
                ("path".into(), "a/b".into())
            ]
        );
        for bad in [
            "",
            "novalue",
            "=v",
            "k=v,,k2=v",
            "k=a b",
            "k=\"q\"",
            "bad key=v",
        ] {
            let r = check_metadata(bad).unwrap_err();
            assert_eq!(
                (r.field.as_str(), r.code),
                ("X-Meshy-Metadata", ErrorCode::MetadataInvalid),
                "{bad:?}"
            );
        }
        let many: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        assert!(check_metadata(&many[..64].join(",")).is_ok());
        assert!(
            check_metadata(&many.join(","))
                .unwrap_err()
                .message
                .contains("65 pairs")
        );
        let big = format!("k={}", "v".repeat(8191));
        assert!(check_metadata(&big).unwrap_err().message.contains("8192"));
    }

    #[test]
    fn retired_models_fail_from_their_date_never_before() {
        let lowpoly = body(json!({"prompt": "p", "model_type": "lowpoly"}));
        assert_eq!(
            check_model(TaskType::Text3d, &lowpoly, "2026-10-29"),
            Ok(())
        );
        let r = check_model(TaskType::Text3d, &lowpoly, "2026-10-30").unwrap_err();
        assert_eq!(
            (r.field.as_str(), r.code),
            ("model_type", code(MODEL_RETIRED))
        );
        let meshy7 = body(json!({"image_url": "u", "ai_model": "meshy-7"}));
        assert_eq!(
            check_model(TaskType::Image3d, &meshy7, "2026-12-30"),
            Ok(())
        );
        for task_type in [TaskType::Text3d, TaskType::Image3d, TaskType::MultiImage3d] {
            let r = check_model(task_type, &meshy7, "2026-12-31").unwrap_err();
            assert!(r.message.contains("texture_model"), "{}", r.message);
        }
        let texture = body(json!({"input_task_id": "t", "texture_model": "meshy-7"}));
        assert_eq!(
            check_model(TaskType::Retexture, &texture, "2027-06-01"),
            Ok(())
        );
        let texture = body(json!({"image_url": "u", "texture_model": "meshy-7"}));
        assert_eq!(
            check_model(TaskType::Image3d, &texture, "2027-06-01"),
            Ok(())
        );
    }
}
