//! Cassette benchmarks (`cargo bench --bench cassette`): prints medians over several
//! runs, each beside a baseline measured in the same run, because this machine is
//! shared and noisy.
//!
//! - load: parse a 2 MB cassette holding a 1.5 MB binary body (target ≤ 15 ms median);
//!   baseline: reading the same file and base64-decoding the body alone.
//! - match: replay 1000 requests against a 1000-interaction cassette (target ≤ 5 ms
//!   total); baseline: a linear scan comparing method and URI strings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mesh_toolkit::cassette::{
    Body, Cassette, CassetteOptions, CassetteTransport, Interaction, MatchRules, RecordedRequest,
    RecordedResponse,
};
use mesh_toolkit::transport::{HttpRequest, Transport};

const RUNS: usize = 15;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");

    // load
    let big = dir.path().join("big.yaml");
    let glb: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut interactions = vec![interaction(
        "GET",
        "https://assets.meshy.ai/tasks/t/output/model.glb",
        Body::Binary(glb),
    )];
    let filler = "x".repeat(2_000);
    for i in 0..50 {
        interactions.push(interaction(
            "GET",
            &format!("https://api.meshy.ai/openapi/v2/text-to-3d/t{i}"),
            Body::Text(filler.clone()),
        ));
    }
    let text = Cassette {
        interactions,
        ..Cassette::default()
    }
    .to_yaml();
    std::fs::write(&big, &text).expect("write cassette");
    let load = median(|| {
        let text = std::fs::read_to_string(&big).unwrap();
        let cassette = Cassette::parse(&text).unwrap();
        assert_eq!(cassette.interactions.len(), 51);
    });
    let load_baseline = median(|| {
        let text = std::fs::read_to_string(&big).unwrap();
        let start = text.find("!!binary |").unwrap();
        let b64: String = text[start + 10..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("        "))
            .map(str::trim)
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(bytes.len(), 1_500_000);
    });
    println!(
        "load  {:.1} MB cassette with a 1.5 MB binary body: median {:.2} ms over {RUNS} runs (target <= 15 ms); \
         baseline read + base64 decode {:.2} ms; ratio {:.1}x",
        text.len() as f64 / 1e6,
        ms(load),
        ms(load_baseline),
        load.as_secs_f64() / load_baseline.as_secs_f64()
    );

    // match
    let many = dir.path().join("many.yaml");
    let uris: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                "https://api.meshy.ai/openapi/v2/text-to-3d/019a97e6-{i:04}?page_num={}",
                i % 7
            )
        })
        .collect();
    let interactions = uris
        .iter()
        .map(|u| interaction("GET", u, Body::Text("{}".into())))
        .collect();
    std::fs::write(
        &many,
        Cassette {
            interactions,
            ..Cassette::default()
        }
        .to_yaml(),
    )
    .expect("write cassette");
    let requests: Vec<HttpRequest> = uris
        .iter()
        .rev()
        .map(|u| HttpRequest::new("GET", u.clone()))
        .collect();
    let matching = median_with_setup(
        || {
            CassetteTransport::open(
                CassetteOptions {
                    rules: MatchRules::with_json_body(),
                    ..CassetteOptions::new(&many)
                },
                None,
            )
            .unwrap()
        },
        |cassette| {
            for request in &requests {
                let answer = runtime.block_on(cassette.send(request.clone())).unwrap();
                assert!(answer.replayed);
            }
        },
    );
    let loaded = Arc::new(Cassette::parse(&std::fs::read_to_string(&many).unwrap()).unwrap());
    let matching_baseline = median(|| {
        for request in &requests {
            let found = loaded
                .interactions
                .iter()
                .position(|i| i.request.method == request.method && i.request.uri == request.url);
            assert!(found.is_some());
        }
    });
    println!(
        "match 1000 requests against 1000 interactions: median {:.2} ms total over {RUNS} runs (target <= 5 ms); \
         baseline linear string scan {:.2} ms; ratio {:.2}x",
        ms(matching),
        ms(matching_baseline),
        matching.as_secs_f64() / matching_baseline.as_secs_f64()
    );
}

fn interaction(method: &str, uri: &str, body: Body) -> Interaction {
    Interaction {
        request: RecordedRequest {
            method: method.into(),
            uri: uri.into(),
            headers: vec![],
            body: None,
        },
        response: RecordedResponse {
            status: 200,
            message: "OK".into(),
            headers: vec![("content-type".into(), vec!["application/json".into()])],
            body,
        },
    }
}

fn median(mut run: impl FnMut()) -> Duration {
    median_with_setup(|| (), |_| run())
}

/// Median of `RUNS` timed calls of `run`, each on a fresh value from the untimed `setup`.
fn median_with_setup<T>(mut setup: impl FnMut() -> T, mut run: impl FnMut(&T)) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let value = setup();
            let start = Instant::now();
            run(&value);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
