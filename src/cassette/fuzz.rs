//! Fuzz-style tests (proptest, bounded cases): whatever a cassette file holds, reading
//! it gives a cassette or a typed error naming the place, never a panic; and what a
//! read cassette holds can be indexed, matched against and written back.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::format::{Body, Cassette, Intent, Interaction, RecordedRequest, RecordedResponse};
use super::matching::{Index, MatchRules, RequestShape};
use super::{CassetteOptions, CassetteTransport, RecordMode};
use crate::transport::{HttpRequest, Transport};

const CASES: u32 = 256;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A cassette with every construct the reader knows: text and `!!binary` bodies,
/// headers, a query, a pending intent, the top-level extras.
fn valid() -> String {
    Cassette {
        interactions: vec![
            Interaction {
                request: RecordedRequest {
                    method: "POST".into(),
                    uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
                    headers: vec![("Content-Type".into(), vec!["application/json".into()])],
                    body: Some(Body::Text(
                        r#"{"mode":"preview","prompt":"otter","texture":{"seed":1}}"#.into(),
                    )),
                },
                response: RecordedResponse {
                    status: 202,
                    message: "Accepted".into(),
                    headers: vec![("content-type".into(), vec!["application/json".into()])],
                    body: Body::Text(r#"{"result":"t-1"}"#.into()),
                },
            },
            Interaction {
                request: RecordedRequest {
                    method: "GET".into(),
                    uri: "https://assets.meshy.ai/t-1/model.glb?Expires=1&Signature=abc".into(),
                    headers: vec![],
                    body: None,
                },
                response: RecordedResponse {
                    status: 200,
                    message: "OK".into(),
                    headers: vec![],
                    body: Body::Binary(b"glTF\x02\x00\x00\x00\xff\x80".to_vec()),
                },
            },
        ],
        recorded_against: Some(crate::cassette::RecordedAgainst::Simulator),
        incomplete: true,
        pending: vec![Intent {
            method: "POST".into(),
            uri: "https://api.meshy.ai/openapi/v1/rigging".into(),
            body: r#"{"input_task_id":"t-1"}"#.into(),
            recorded_at: "2026-12-01T16:00:00Z".into(),
            outcome: Some("502 Bad Gateway".into()),
        }],
        recorded_at: Some("2026-12-01T16:00:00Z".into()),
    }
    .to_yaml()
}

/// Reads `text` as the transport would use it: parse, index, match, write back.
fn read(text: &str) {
    // The scan taken from the parse's lifting is the scan of the whole text.
    let (parsed, scanned) = Cassette::parse_scanned(text);
    assert_eq!(scanned, super::scanned(text), "{text:?}");
    assert_eq!(parsed, Cassette::parse(text));
    let Ok(cassette) = parsed else {
        return;
    };
    for rules in [MatchRules::default(), MatchRules::with_json_body()] {
        let mut index = Index::new(cassette.interactions.iter().map(|i| &i.request), &rules);
        let probe = RequestShape::new(
            "POST",
            "https://api.meshy.ai/openapi/v2/text-to-3d",
            br#"{"prompt":"beaver"}"#,
            &rules,
        );
        let _ = index.take(&probe);
        for (i, differs) in index.closest(&probe, 3) {
            let recorded = RequestShape::of_recorded(&cassette.interactions[i].request, &rules);
            let diffs = super::diff::field_diffs(&recorded, &probe, &differs);
            let _ = super::diff::render(&diffs, &super::Scrub::default());
        }
    }
    let again = Cassette::parse(&cassette.to_yaml());
    assert!(
        again.is_ok(),
        "what was read is written back readable: {again:?}"
    );
}

#[test]
fn the_valid_cassette_reads() {
    let cassette = Cassette::parse(&valid()).unwrap();
    assert_eq!(cassette.interactions.len(), 2);
    assert_eq!(cassette.pending.len(), 1);
}

#[test]
fn arbitrary_bytes_never_panic() {
    TestRunner::new(config())
        .run(&proptest::collection::vec(any::<u8>(), 0..512), |bytes| {
            read(&String::from_utf8_lossy(&bytes));
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_yaml_like_text_never_panics() {
    let token = prop_oneof![
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("- ".to_owned()),
        Just(": ".to_owned()),
        Just("interactions".to_owned()),
        Just("request".to_owned()),
        Just("response".to_owned()),
        Just("status".to_owned()),
        Just("code".to_owned()),
        Just("body".to_owned()),
        Just("string".to_owned()),
        Just("headers".to_owned()),
        Just("!!binary |".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("null".to_owned()),
        "[ -~]{0,8}",
    ];
    TestRunner::new(config())
        .run(&proptest::collection::vec(token, 0..64), |tokens| {
            read(&tokens.concat());
            Ok(())
        })
        .unwrap();
}

/// Lines around `!!binary |` blocks: headers and base64 at several indentations, empty
/// and blank lines, look-alikes of the lifting's marker.
#[test]
fn binary_blocks_of_any_layout_scan_alike_lifted_or_whole() {
    let line = prop_oneof![
        Just("interactions:".to_owned()),
        Just("- response:".to_owned()),
        Just("    body:".to_owned()),
        Just("      string: !!binary |".to_owned()),
        Just("      string: !!binary |  ".to_owned()),
        Just("  key: !!binary |".to_owned()),
        Just("string: 'x !!binary |".to_owned()),
        Just("        Z2xURgIA".to_owned()),
        Just("        bXN5X2Fi==".to_owned()),
        Just("          Z2xU".to_owned()),
        Just("      Z2xU".to_owned()),
        Just("Z2xU".to_owned()),
        Just("        Authorization: Bearer msy_leakedrealkey0123".to_owned()),
        Just("        meshtoolkitliftedbinary0".to_owned()),
        Just(String::new()),
        Just("   ".to_owned()),
        Just("    status:".to_owned()),
        "[ -~]{0,12}",
    ];
    TestRunner::new(config())
        .run(&proptest::collection::vec(line, 0..40), |lines| {
            let mut text = lines.join("\n");
            text.push('\n');
            read(&text);
            read(text.trim_end_matches('\n'));
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_truncation_of_a_valid_cassette_reads_or_says_why() {
    let text = valid();
    for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        read(&text[..end]);
    }
}

#[test]
fn byte_flips_in_a_valid_cassette_never_panic() {
    let text = valid().into_bytes();
    let len = text.len();
    TestRunner::new(config())
        .run(
            &proptest::collection::vec((0..len, any::<u8>()), 1..6),
            |flips| {
                let mut bytes = text.clone();
                for (at, byte) in flips {
                    bytes[at] = byte;
                }
                read(&String::from_utf8_lossy(&bytes));
                Ok(())
            },
        )
        .unwrap();
}

/// Outside values put where the cassette holds numbers, strings or base64.
fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e300".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("65536".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just(".inf".to_owned()),
        Just("-.inf".to_owned()),
        Just(".nan".to_owned()),
        Just("inf".to_owned()),
        Just("NaN".to_owned()),
        Just("0x1F".to_owned()),
        Just("~".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[1, [2]]".to_owned()),
        Just("\"\"".to_owned()),
        Just("!!binary |\n        ====\n".to_owned()),
        Just("!!binary ZZZ".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "[ -~]{0,12}",
    ]
}

#[test]
fn odd_values_in_place_of_status_codes_bodies_and_headers_never_panic() {
    let text = valid();
    let places = [
        "code: 202",
        "code: 200",
        "string: \"{\\\"result\\\":\\\"t-1\\\"}\"",
        "string: !!binary |",
        "method: POST",
        "uri: \"https://api.meshy.ai/openapi/v2/text-to-3d\"",
        "version: 1",
        "incomplete: true",
        "- application/json",
        "recorded_at: \"2026-12-01T16:00:00Z\"",
    ];
    for place in places {
        assert!(text.contains(place), "{place} not in\n{text}");
    }
    TestRunner::new(config())
        .run(&(0..places.len(), odd_value()), |(i, value)| {
            let (key, _) = places[i].split_once(": ").unwrap_or((places[i], ""));
            let mutated = text.replacen(places[i], &format!("{key}: {value}"), 1);
            read(&mutated);
            Ok(())
        })
        .unwrap();
}

#[test]
fn bad_base64_in_a_binary_body_is_an_error_naming_the_line() {
    TestRunner::new(config())
        .run(&"[ -~]{1,40}", |junk| {
            let text = format!(
                "interactions:\n- request:\n    body: null\n    headers: {{}}\n    method: GET\n    uri: https://x/\n  response:\n    body:\n      string: !!binary |\n        {junk}\n    headers: {{}}\n    status:\n      code: 200\n      message: OK\nversion: 1\n"
            );
            read(&text);
            Ok(())
        })
        .unwrap();
    let err = Cassette::parse(
        "interactions:\n- request:\n    body: null\n    method: GET\n    uri: https://x/\n  response:\n    body:\n      string: !!binary |\n        Z2x*URg==\n    status:\n      code: 200\nversion: 1\n",
    )
    .unwrap_err();
    assert!(err.message.starts_with("invalid !!binary data"), "{err:?}");
    assert_eq!(err.line, 8);
}

/// A cassette file the transport opens and replays from: mutated files either fail to
/// open with a typed error or answer (or refuse) the request, never panic.
#[test]
fn the_transport_opens_mutated_files_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.yaml");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let text = valid().into_bytes();
    let len = text.len();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..config()
    });
    runner
        .run(
            &proptest::collection::vec((0..len, any::<u8>()), 0..4),
            |flips| {
                let mut bytes = text.clone();
                for (at, byte) in flips {
                    bytes[at] = byte;
                }
                std::fs::write(&path, &bytes).unwrap();
                let options = CassetteOptions {
                    mode: RecordMode::None,
                    rules: MatchRules::with_json_body(),
                    ..CassetteOptions::new(&path)
                };
                match CassetteTransport::open(options, None) {
                    Err(e) => {
                        let message = e.to_string();
                        prop_assert!(message.contains("fuzz.yaml"), "{message}");
                    }
                    Ok(cassette) => {
                        let cassette = Arc::new(cassette);
                        let request =
                            HttpRequest::new("POST", "https://api.meshy.ai/openapi/v2/text-to-3d")
                                .with_json(
                                    &serde_json::json!({"mode": "preview", "prompt": "beaver"}),
                                );
                        let _ = runtime.block_on(cassette.send(request));
                        let _ = cassette.finish(true);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn deeply_nested_yaml_is_an_error_not_a_stack_overflow() {
    for text in [
        "[".repeat(200_000),
        format!("interactions: {}", "[".repeat(200_000)),
        "- ".repeat(100_000),
        "{a: ".repeat(100_000),
    ] {
        read(&text);
    }
}
