//! What a replay miss shows: the fields in which a recorded request differs from the
//! one the code made, as the matchers compare them (query pairs decoded, JSON bodies
//! as values without the ignored fields such as `callback_url`).
//!
//! Every line is `recorded → this request`. Values are rendered as JSON, scrubbed of
//! the configured secrets and cut to [`VALUE_CHARS`] characters; values of fields
//! whose name says they are credentials (`token`, `api_key`, `signature`, …) are
//! never shown. Headers are not compared by any matcher, so they never appear.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Scrub;
use super::matching::{BodyShape, Matcher, RequestShape};

/// Characters of a value shown before it is cut (its full length is then given).
pub const VALUE_CHARS: usize = 60;
/// Difference lines shown per recorded request; the rest are counted.
pub const MAX_LINES: usize = 12;

/// Where a difference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Query,
    Body,
}

impl Place {
    fn name(self) -> &'static str {
        match self {
            Place::Query => "query",
            Place::Body => "body",
        }
    }
}

/// One field in which two requests differ.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldDiff {
    Changed {
        place: Place,
        path: String,
        recorded: Value,
        now: Value,
    },
    OnlyRecorded {
        place: Place,
        path: String,
        value: Value,
    },
    OnlyNow {
        place: Place,
        path: String,
        value: Value,
    },
    /// Bodies that are not both JSON: sizes and the first differing byte.
    Bytes {
        recorded_len: usize,
        now_len: usize,
        /// `None` only when the bytes are equal.
        first_difference: Option<usize>,
        recorded_json: bool,
        now_json: bool,
    },
}

/// The differences between a recorded request and this one, under the matchers that
/// differ (`differs`): query parameters first, then body fields, in key order. Only for
/// a recording of the same endpoint (method, scheme, host, port, path): the fields of
/// another endpoint's request are noise.
pub fn field_diffs(
    recorded: &RequestShape,
    now: &RequestShape,
    differs: &[Matcher],
) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    if differs
        .iter()
        .any(|m| !matches!(m, Matcher::Query | Matcher::JsonBody))
    {
        return out;
    }
    if differs.contains(&Matcher::Query) {
        query_diffs(recorded.query(), now.query(), &mut out);
    }
    if differs.contains(&Matcher::JsonBody) {
        match (recorded.body(), now.body()) {
            (BodyShape::Json(a), BodyShape::Json(b)) => {
                value_diffs(Place::Body, String::new(), a, b, &mut out)
            }
            (a, b) => {
                let (a_bytes, a_json) = bytes_of(a);
                let (b_bytes, b_json) = bytes_of(b);
                out.push(FieldDiff::Bytes {
                    recorded_len: a_bytes.len(),
                    now_len: b_bytes.len(),
                    first_difference: a_bytes
                        .iter()
                        .zip(&b_bytes)
                        .position(|(x, y)| x != y)
                        .or_else(|| {
                            (a_bytes.len() != b_bytes.len())
                                .then_some(a_bytes.len().min(b_bytes.len()))
                        }),
                    recorded_json: a_json,
                    now_json: b_json,
                });
            }
        }
    }
    out
}

/// The lines a replay miss prints for these differences (at most [`MAX_LINES`]).
pub fn render(diffs: &[FieldDiff], scrub: &Scrub) -> Vec<String> {
    let mut lines: Vec<String> = diffs
        .iter()
        .take(MAX_LINES)
        .map(|diff| render_one(diff, scrub))
        .collect();
    if diffs.len() > MAX_LINES {
        lines.push(format!(
            "… and {} more differences",
            diffs.len() - MAX_LINES
        ));
    }
    lines
}

fn render_one(diff: &FieldDiff, scrub: &Scrub) -> String {
    let label = |place: Place, path: &str| {
        if path.is_empty() {
            place.name().to_owned()
        } else {
            format!("{} {path}", place.name())
        }
    };
    match diff {
        FieldDiff::Changed {
            place,
            path,
            recorded,
            now,
        } => {
            if crate::secrets::is_secret_name(path) {
                format!(
                    "{}: <hidden> → <hidden> (the values differ)",
                    label(*place, path)
                )
            } else {
                let (recorded, now) = shown_pair(recorded, now, scrub);
                format!("{}: {recorded} → {now}", label(*place, path))
            }
        }
        FieldDiff::OnlyRecorded { place, path, value } => format!(
            "{}: only in recording ({})",
            label(*place, path),
            shown_field(path, value, scrub)
        ),
        FieldDiff::OnlyNow { place, path, value } => format!(
            "{}: only in this request ({})",
            label(*place, path),
            shown_field(path, value, scrub)
        ),
        FieldDiff::Bytes {
            recorded_len,
            now_len,
            first_difference,
            recorded_json,
            now_json,
        } => {
            let kind = |json: bool| if json { "JSON" } else { "not JSON" };
            let mut line = format!(
                "body: recorded {recorded_len} bytes ({}) → {now_len} bytes ({})",
                kind(*recorded_json),
                kind(*now_json)
            );
            if let Some(offset) = first_difference {
                line.push_str(&format!(", first difference at byte {offset}"));
            }
            line
        }
    }
}

fn shown_field(path: &str, value: &Value, scrub: &Scrub) -> String {
    if crate::secrets::is_secret_name(path) {
        "<hidden>".into()
    } else {
        shown(value, scrub)
    }
}

/// A value as compact JSON, scrubbed, cut to [`VALUE_CHARS`] characters.
fn shown(value: &Value, scrub: &Scrub) -> String {
    let text: Vec<char> = clean(value, scrub).chars().collect();
    window(&text, 0)
}

/// Two values that differ, each cut to the same window around their first
/// difference, so a word changed at the end of a long prompt is still visible.
fn shown_pair(recorded: &Value, now: &Value, scrub: &Scrub) -> (String, String) {
    let a: Vec<char> = clean(recorded, scrub).chars().collect();
    let b: Vec<char> = clean(now, scrub).chars().collect();
    let first = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    // Keep some context before the difference, but only move when it would be cut off.
    let start = if first + CONTEXT_AFTER < VALUE_CHARS {
        0
    } else {
        // The same start for both, as late as still fills the window of the longer.
        first
            .saturating_sub(CONTEXT_BEFORE)
            .min(a.len().max(b.len()).saturating_sub(VALUE_CHARS))
    };
    (window(&a, start), window(&b, start))
}

/// Characters kept before the first difference when the window moves.
const CONTEXT_BEFORE: usize = 20;
/// Characters wanted after the first difference before the window moves.
const CONTEXT_AFTER: usize = 10;

/// `VALUE_CHARS` characters of `text` from `start`, `…` where cut, with the length.
fn window(text: &[char], start: usize) -> String {
    if text.len() <= VALUE_CHARS {
        return text.iter().collect();
    }
    let start = start.min(text.len());
    let end = (start + VALUE_CHARS).min(text.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&text[start..end]);
    if end < text.len() {
        out.push('…');
    }
    out.push_str(&format!(" ({} chars)", text.len()));
    out
}

/// A value as compact JSON with the configured secrets replaced and the values of
/// credential query parameters inside it (a URL's `?token=…`) hidden.
fn clean(value: &Value, scrub: &Scrub) -> String {
    hide_query_secrets(&scrub.text(&hide_secret_fields(value).to_string()))
}

/// The value with the values of credential-named fields inside it replaced.
fn hide_secret_fields(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    let v = if crate::secrets::is_secret_name(k) {
                        Value::from("<hidden>")
                    } else {
                        hide_secret_fields(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(hide_secret_fields).collect()),
        other => other.clone(),
    }
}

/// `name=value` pairs after `?` or `&` whose name is a credential's get `<hidden>` as
/// their value (up to the next `&`, `#`, quote, backslash or white space).
pub(super) fn hide_query_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['?', '&']) {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        if let Some(value) = after.strip_prefix('=')
            && crate::secrets::is_secret_name(name)
        {
            let value_end = value
                .find(|c: char| matches!(c, '&' | '#' | '"' | '\\') || c.is_whitespace())
                .unwrap_or(value.len());
            out.push_str(name);
            out.push_str("=<hidden>");
            rest = &value[value_end..];
        } else {
            out.push_str(name);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn bytes_of(body: &BodyShape) -> (Vec<u8>, bool) {
    match body {
        BodyShape::Json(value) => (value.to_string().into_bytes(), true),
        BodyShape::Raw(bytes) => (bytes.clone(), false),
    }
}

fn query_diffs(recorded: &[(String, String)], now: &[(String, String)], out: &mut Vec<FieldDiff>) {
    let group = |pairs: &[(String, String)]| {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k.clone()).or_default().push(v.clone());
        }
        map
    };
    let as_value = |values: &[String]| match values {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    };
    let (a, b) = (group(recorded), group(now));
    for (key, values) in &a {
        match b.get(key) {
            None => out.push(FieldDiff::OnlyRecorded {
                place: Place::Query,
                path: key.clone(),
                value: as_value(values),
            }),
            Some(other) if other != values => out.push(FieldDiff::Changed {
                place: Place::Query,
                path: key.clone(),
                recorded: as_value(values),
                now: as_value(other),
            }),
            Some(_) => {}
        }
    }
    for (key, values) in &b {
        if !a.contains_key(key) {
            out.push(FieldDiff::OnlyNow {
                place: Place::Query,
                path: key.clone(),
                value: as_value(values),
            });
        }
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn value_diffs(place: Place, path: String, a: &Value, b: &Value, out: &mut Vec<FieldDiff>) {
    match (a, b) {
        _ if a == b => {}
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                member_diffs(place, child(&path, key), a.get(key), b.get(key), out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                member_diffs(place, format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        _ => out.push(FieldDiff::Changed {
            place,
            path,
            recorded: a.clone(),
            now: b.clone(),
        }),
    }
}

/// One member of an object or array on either side: compared, or only on one side.
fn member_diffs(
    place: Place,
    path: String,
    recorded: Option<&Value>,
    now: Option<&Value>,
    out: &mut Vec<FieldDiff>,
) {
    match (recorded, now) {
        (Some(x), Some(y)) => value_diffs(place, path, x, y, out),
        (Some(x), None) => out.push(FieldDiff::OnlyRecorded {
            place,
            path,
            value: x.clone(),
        }),
        (None, Some(y)) => out.push(FieldDiff::OnlyNow {
            place,
            path,
            value: y.clone(),
        }),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::MatchRules;

    fn lines(recorded: (&str, &str), now: (&str, &str)) -> Vec<String> {
        lines_scrubbed(recorded, now, &Scrub::default())
    }

    fn lines_scrubbed(recorded: (&str, &str), now: (&str, &str), scrub: &Scrub) -> Vec<String> {
        let rules = MatchRules::with_json_body();
        let a = RequestShape::new("POST", recorded.0, recorded.1.as_bytes(), &rules);
        let b = RequestShape::new("POST", now.0, now.1.as_bytes(), &rules);
        let differs = a.differences(&b, &rules);
        render(&field_diffs(&a, &b, &differs), scrub)
    }

    const URI: &str = "https://api.meshy.ai/openapi/v2/text-to-3d";

    #[test]
    fn a_changed_key_shows_recorded_then_now() {
        assert_eq!(
            lines(
                (URI, r#"{"mode":"preview","prompt":"otter"}"#),
                (URI, r#"{"prompt":"beaver","mode":"preview"}"#)
            ),
            [r#"body prompt: "otter" → "beaver""#]
        );
    }

    #[test]
    fn a_nested_key_is_named_by_its_dotted_path() {
        assert_eq!(
            lines(
                (
                    URI,
                    r#"{"texture":{"prompt":"wooden","seed":1},"tags":["a","b"]}"#
                ),
                (
                    URI,
                    r#"{"texture":{"prompt":"stone","seed":1},"tags":["a","c"]}"#
                )
            ),
            [
                r#"body tags[1]: "b" → "c""#,
                r#"body texture.prompt: "wooden" → "stone""#
            ]
        );
    }

    #[test]
    fn keys_on_one_side_say_which() {
        assert_eq!(
            lines(
                (URI, r#"{"prompt":"otter","seed":42}"#),
                (URI, r#"{"prompt":"otter","art_style":"realistic"}"#)
            ),
            [
                r#"body art_style: only in this request ("realistic")"#,
                "body seed: only in recording (42)"
            ]
        );
    }

    #[test]
    fn query_parameters_are_compared_decoded_and_by_name() {
        assert_eq!(
            lines(
                (
                    "https://api.meshy.ai/t?page_size=10&sort_by=%2Bcreated_at&x=1",
                    ""
                ),
                (
                    "https://api.meshy.ai/t?sort_by=-created_at&page_size=10&y=2",
                    ""
                )
            ),
            [
                r#"query sort_by: "+created_at" → "-created_at""#,
                r#"query x: only in recording ("1")"#,
                r#"query y: only in this request ("2")"#
            ]
        );
    }

    #[test]
    fn what_the_matcher_ignores_is_not_a_difference() {
        assert_eq!(
            lines(
                (
                    URI,
                    r#"{"prompt":"otter","callback_url":"http://127.0.0.1:1/webhook?token=a"}"#
                ),
                (
                    URI,
                    r#"{"prompt":"beaver","callback_url":"http://127.0.0.1:2/webhook?token=b"}"#
                )
            ),
            [r#"body prompt: "otter" → "beaver""#]
        );
    }

    #[test]
    fn another_endpoint_gets_no_field_lines() {
        assert!(
            lines(
                ("https://api.meshy.ai/openapi/v1/rigging?x=1", r#"{"a":1}"#),
                (URI, r#"{"a":2}"#)
            )
            .is_empty()
        );
    }

    #[test]
    fn credentials_are_never_shown() {
        let scrub = Scrub::default().secret("msy_live_123456", "<MESHY_API_KEY>");
        let shown = lines_scrubbed(
            (
                "https://api.meshy.ai/t?token=tok-old&api_key=k1",
                r#"{"auth":{"password":"hunter2"},"note":"x"}"#,
            ),
            (
                "https://api.meshy.ai/t?token=tok-new",
                r#"{"auth":{"password":"hunter3"},"note":"uses msy_live_123456"}"#,
            ),
            &scrub,
        );
        assert_eq!(
            shown,
            [
                "query api_key: only in recording (<hidden>)",
                "query token: <hidden> → <hidden> (the values differ)",
                "body auth.password: <hidden> → <hidden> (the values differ)",
                r#"body note: "x" → "uses <MESHY_API_KEY>""#,
            ]
        );
        let all = shown.join("\n");
        for secret in ["tok-old", "tok-new", "k1", "hunter", "msy_live"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
    }

    #[test]
    fn token_query_parameters_inside_values_are_hidden() {
        let shown = lines(
            (
                URI,
                r#"{"image_url":"https://x.test/a.png?token=tok-old&w=1"}"#,
            ),
            (
                URI,
                r#"{"image_url":"https://x.test/b.png?w=1&api_key=k-new#f"}"#,
            ),
        );
        assert_eq!(
            shown,
            [
                r#"body image_url: "https://x.test/a.png?token=<hidden>&w=1" → "https://x.test/b.png?w=1&api_key=<hidden>#f""#
            ]
        );
        assert_eq!(hide_query_secrets("a?b&c=&token="), "a?b&c=&token=<hidden>");
        let shown = lines(
            (URI, r#"{"config":1}"#),
            (
                URI,
                r#"{"config":{"api_key":"k-new","nested":[{"token":"t-new"}]}}"#,
            ),
        );
        assert_eq!(
            shown,
            [r#"body config: 1 → {"api_key":"<hidden>","nested":[{"token":"<hidden>"}]}"#]
        );
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = "a".repeat(200);
        let shown = lines(
            (URI, &format!(r#"{{"prompt":"{long}"}}"#)),
            (URI, r#"{"prompt":"b"}"#),
        );
        assert_eq!(
            shown,
            [format!(
                r#"body prompt: "{}… (202 chars) → "b""#,
                "a".repeat(59)
            )]
        );
    }

    #[test]
    fn a_word_changed_late_in_a_long_value_stays_in_view() {
        let base = "Cute otter character, sculpture style, standing on a rock by a river at dawn";
        let shown = lines(
            (URI, &format!(r#"{{"prompt":"{base}, wooden"}}"#)),
            (URI, &format!(r#"{{"prompt":"{base}, stone"}}"#)),
        );
        assert_eq!(
            shown,
            [
                r#"body prompt: …lpture style, standing on a rock by a river at dawn, wooden" (86 chars) → …lpture style, standing on a rock by a river at dawn, stone" (85 chars)"#
            ]
        );
    }

    #[test]
    fn bodies_that_are_not_json_get_sizes_and_the_first_differing_byte() {
        assert_eq!(
            lines((URI, "name=otter&x=1"), (URI, "name=otters&x=1")),
            [
                "body: recorded 14 bytes (not JSON) → 15 bytes (not JSON), first difference at byte 10"
            ]
        );
        assert_eq!(
            lines((URI, r#"{"a":1}"#), (URI, "a=1")),
            ["body: recorded 7 bytes (JSON) → 3 bytes (not JSON), first difference at byte 0"]
        );
    }

    #[test]
    fn many_differences_are_counted_past_the_limit() {
        let a: serde_json::Map<String, Value> = (0..20)
            .map(|i| (format!("k{i:02}"), Value::from(i)))
            .collect();
        let shown = lines((URI, &Value::Object(a).to_string()), (URI, "{}"));
        assert_eq!(shown.len(), MAX_LINES + 1);
        assert_eq!(shown[MAX_LINES], "… and 8 more differences");
    }

    /// Property (proptest): the diff shows something exactly when the body matcher
    /// says the bodies differ, whatever the JSON; rendering never panics.
    #[test]
    fn the_diff_is_empty_exactly_when_the_matcher_matches() {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,80}".prop_map(Value::from),
        ];
        let json = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("prompt".to_owned()),
                        Just("callback_url".to_owned()),
                        Just("token".to_owned()),
                        "[a-z]{1,3}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 256,
            failure_persistence: None,
            ..Default::default()
        });
        runner
            .run(&(json.clone(), json), |(a, b)| {
                let rules = MatchRules::with_json_body();
                let a = RequestShape::new("POST", URI, a.to_string().as_bytes(), &rules);
                let b = RequestShape::new("POST", URI, b.to_string().as_bytes(), &rules);
                let differs = a.differences(&b, &rules);
                let shown = render(&field_diffs(&a, &b, &differs), &Scrub::default());
                prop_assert_eq!(shown.is_empty(), differs.is_empty(), "{:?}", shown);
                Ok(())
            })
            .unwrap();
    }
}
