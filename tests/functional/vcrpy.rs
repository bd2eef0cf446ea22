//! Compatibility with the real VCR.py, both ways: we replay cassettes VCR.py recorded
//! (through `requests` and `httpx`), and VCR.py replays a cassette we recorded against
//! the simulator, binary GLB included. Runs the venv that `scripts/test-tools`
//! provisions (`<target dir>/mesh-toolkit/tools/venv`), else `python3` on PATH.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use mesh_toolkit::cassette::{
    Cassette, CassetteOptions, CassetteTransport, MatchRules, RecordMode, RecordedAgainst, Scrub,
};
use mesh_toolkit::meshy::{Client, ClientConfig, TaskStatus, TaskType};
use mesh_toolkit::sim::{SimConfig, Simulator};
use mesh_toolkit::transport::{LiveConfig, LiveTransport, Transport};
use serde_json::{Value, json};

const KEY: &str = "msy_vcrpy_compat_key_24680";

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "replays_cassettes_recorded_by_real_vcrpy_through_requests_and_httpx",
            replay_theirs,
        ),
        Trial::test(
            "real_vcrpy_replays_a_cassette_we_recorded_with_a_binary_glb",
            vcrpy_replays_ours,
        ),
    ]
}

fn python(script: &str, args: &[&Path]) -> Result<String, Failed> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vcrpy")
        .join(script);
    let mut command = crate::support::vcrpy_python();
    command.arg(&script).args(args);
    let output = crate::support::output_within(&mut command, Duration::from_secs(120));
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}); is VCR.py installed? {}\n{}",
            script.display(),
            output.status,
            mesh_toolkit::workdir::TEST_TOOLS_HINT,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn replay_theirs() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    python("record.py", &[dir.path()])?;
    let runtime = tokio::runtime::Runtime::new()?;
    for name in ["requests", "httpx"] {
        let path = dir.path().join(format!("{name}.yaml"));
        let recorded = Cassette::parse(&std::fs::read_to_string(&path)?)
            .map_err(|e| format!("{name}: {e:?}"))?;
        let first = &recorded.interactions[0].request.uri;
        let base = first
            .split("/openapi")
            .next()
            .unwrap_or_default()
            .to_owned();
        let options = CassetteOptions {
            rules: MatchRules::with_json_body(),
            ..CassetteOptions::new(&path)
        };
        let transport: Arc<dyn Transport> = Arc::new(CassetteTransport::open(options, None)?);
        let config = ClientConfig {
            base_url: base.clone(),
            api_key: Some(KEY.into()),
            generation: mesh_toolkit::meshy::ApiGeneration::V1,
            ..ClientConfig::default()
        };
        let client = Client::new(config, transport)?;
        runtime.block_on(async {
            let id = client
                .create_task(
                    TaskType::Text3d,
                    &json!({"prompt": "Cute otter", "mode": "preview"}),
                )
                .await?;
            assert_eq!(id, "019a97e6-58dc-7430-85a1-9bf2d9e97430", "{name}");
            let mut statuses = Vec::new();
            for _ in 0..3 {
                statuses.push(client.get_task(TaskType::Text3d, &id).await?.status);
            }
            assert_eq!(
                statuses,
                [
                    TaskStatus::InProgress,
                    TaskStatus::InProgress,
                    TaskStatus::Succeeded
                ],
                "{name}"
            );
            let glb = client
                .download(&format!(
                    "{base}/assets/tasks/019a97e6/output/model.glb?Expires=1&Signature=abc"
                ))
                .await?;
            assert_eq!(glb.len(), 8 + 256 * 5600, "{name}");
            assert_eq!(&glb[..4], b"glTF", "{name}");
            Ok::<_, Failed>(())
        })?;
    }
    Ok(())
}

fn vcrpy_replays_ours() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ours.yaml");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let sim = Simulator::start(SimConfig {
            task_time: Duration::ZERO,
            ..SimConfig::unlimited()
        })
        .await?;
        let options = CassetteOptions {
            mode: RecordMode::Once,
            rules: MatchRules::with_json_body(),
            scrub: Scrub::default()
                .secret(KEY, "<MESHY_API_KEY>")
                .host(sim.assets_url(), "https://assets.meshy.ai")
                .host(sim.base_url(), "https://api.meshy.ai"),
            recorded_against: Some(RecordedAgainst::Simulator),
            ..CassetteOptions::new(&path)
        };
        let live: Arc<dyn Transport> = Arc::new(LiveTransport::new(LiveConfig::default())?);
        let cassette = Arc::new(CassetteTransport::open(options, Some(live))?);
        let config = ClientConfig {
            base_url: sim.base_url().into(),
            api_key: Some(KEY.into()),
            generation: mesh_toolkit::meshy::ApiGeneration::V1,
            ..ClientConfig::default()
        };
        let client = Client::new(config, cassette.clone())?;
        let id = client
            .create_task(
                TaskType::Text3d,
                &json!({"mode": "preview", "prompt": "Cute otter"}),
            )
            .await?;
        let events = client.stream_task(TaskType::Text3d, &id).await?;
        let done = events.last().ok_or("empty stream")?;
        client.get_task(TaskType::Text3d, &id).await?;
        client
            .download(done.model_url("glb").ok_or("no glb")?)
            .await?;
        cassette.finish(true)?;
        sim.shutdown().await;
        Ok::<_, Failed>(())
    })?;

    let text = std::fs::read_to_string(&path)?;
    assert!(text.contains("!!binary |"), "the GLB is stored as !!binary");
    assert!(
        !text.contains(KEY) && !text.contains("127.0.0.1"),
        "no key, no simulator port"
    );
    let written = Cassette::parse(&text).map_err(|e| format!("{e:?}"))?;
    let expected: Vec<Value> = written
        .interactions
        .iter()
        .map(|i| {
            let mut step = json!({
                "method": i.request.method,
                "uri": i.request.uri,
                "status": i.response.status,
                "sha256": mesh_toolkit::sha256_hex(i.response.body.as_bytes()),
            });
            if let Some(body) = &i.request.body {
                step["body"] = serde_json::from_slice(body.as_bytes()).unwrap_or(Value::Null);
            }
            step
        })
        .collect();
    assert_eq!(expected.len(), 4);
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, serde_json::to_vec_pretty(&expected)?)?;
    let out = python("replay.py", &[&path, &expected_path])?;
    assert!(out.contains("VCR.py replayed 4 interactions"), "{out}");
    Ok(())
}
