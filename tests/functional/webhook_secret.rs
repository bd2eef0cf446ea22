//! Meshy's webhook secret as users meet it (issue 21): `mesh-toolkit receive` with and
//! without a secret to check, `mesh-toolkit sim` sending it, a harness recording through
//! the simulator that leaves the value nowhere, `cassettes check` finding what older
//! receivers stored and `cassettes scrub` mending it, and `webhooks replay` putting the
//! real secret back for an endpoint that checks it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use mesh_toolkit::transport::http_client;
use mesh_toolkit::webhooks::Recording;
use serde_json::{Value, json};

use crate::support::{Catcher, Guarded, binary, output_within};

const SECRET: &str = "whsec-functional-0123456789abcdef";
const WRONG: &str = "whsec-wrong-0123456789abcdef0000";
const TOKEN: &str = "functional-token";
const PLACEHOLDER: &str = "<MESHY_WEBHOOK_SECRET>";
const HEADER: &str = "x-meshy-api-webhook-secret-key";
/// How long one command or harness run may take.
const DEADLINE: Duration = Duration::from_secs(300);

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "receive_stores_the_webhook_secret_as_a_placeholder_in_every_spelling",
            receive_without_check,
        ),
        Trial::test(
            "receive_with_a_secret_file_takes_only_deliveries_carrying_it",
            receive_with_check,
        ),
        Trial::test(
            "sim_and_receive_share_a_secret_end_to_end_and_nothing_holds_it",
            sim_to_receive,
        ),
        Trial::test(
            "a_recording_through_the_simulator_with_a_secret_leaves_its_value_nowhere",
            harness_recording,
        ),
        Trial::test(
            "cassettes_check_finds_stored_secrets_and_its_scrub_command_mends_them",
            check_and_scrub,
        ),
        Trial::test(
            "webhooks_replay_puts_the_real_secret_back_from_the_environment",
            replay_with_secret,
        ),
    ]
}

/// A command with no webhook secret from the outer environment.
fn clean(mut command: Command) -> Command {
    for name in [
        "MESHY_WEBHOOK_SECRET",
        "MESHY_WEBHOOK_SECRET_FILE",
        "MESHY_WEBHOOK_TOKEN",
    ] {
        command.env_remove(name);
    }
    command
}

/// The target dir a receiver started for `cassettes` keeps its spool in: inside them,
/// so it stays in the test's temp dir.
fn spool_target(cassettes: &Path) -> PathBuf {
    cassettes.join("target")
}

/// Starts `mesh-toolkit receive` on `cassettes`, checking `secret_file` if given; its base URL.
fn receive(cassettes: &Path, secret_file: Option<&Path>) -> (Guarded, String) {
    let mut command = clean(binary());
    command
        .args(["receive", "--port", "0", "--token", TOKEN])
        .arg("--cassettes")
        .arg(cassettes)
        // Its spool (dashboard deliveries) goes under this test's own target dir.
        .env("CARGO_TARGET_DIR", spool_target(cassettes));
    if let Some(file) = secret_file {
        command.arg("--webhook-secret-file").arg(file);
    }
    let mut receiver = Guarded::spawn(command);
    let base = receiver
        .line()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    assert_eq!(
        receiver.line(),
        format!("webhook URL: {base}/webhook?token={TOKEN}")
    );
    (receiver, base)
}

/// A POST on a raw connection, so the header names go on the wire spelt as given; the
/// answer's status (0: none within 30 s).
fn raw_post(base: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> u16 {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let body = body.to_string();
    let mut request = format!(
        "POST {path}?token={TOKEN} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The spellings a real delivery's header may take on the way (proxies, tunnels), and
/// a repetition.
fn spellings(value: &'static str) -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        ("t-lower", vec![(HEADER, value)]),
        ("t-title", vec![("X-Meshy-Api-Webhook-Secret-Key", value)]),
        ("t-upper", vec![("X-MESHY-API-WEBHOOK-SECRET-KEY", value)]),
        (
            "t-repeated",
            vec![(HEADER, value), ("X-Meshy-Api-Webhook-Secret-Key", value)],
        ),
    ]
}

/// Every file under `dir` with its text (binary files lossily).
fn files_with_text(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                found.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    found.sort();
    found
}

/// No file under `dir` holds `value`.
fn assert_nowhere(dir: &Path, value: &str) {
    for (path, text) in files_with_text(dir) {
        assert!(
            !text.contains(value),
            "{} holds the secret:\n{text}",
            path.display()
        );
    }
}

/// Every header map of every recording under `dir` names the secret header with the
/// placeholder; how many recordings there are.
fn assert_placeholders(dir: &Path) -> usize {
    let recordings = mesh_toolkit::webhooks::recording_files(dir);
    for path in &recordings {
        let recording = Recording::read(path, "").unwrap();
        for headers in std::iter::once(&recording.headers)
            .chain(recording.deliveries.iter().map(|d| &d.headers))
        {
            assert_eq!(
                headers.get(HEADER).map(String::as_str),
                Some(PLACEHOLDER),
                "{}",
                path.display()
            );
        }
    }
    recordings.len()
}

fn receive_without_check() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (receiver, base) = receive(dir.path(), None);
    for (id, headers) in spellings(SECRET) {
        let body = json!({"id": id, "status": "SUCCEEDED", "progress": 100});
        assert_eq!(
            raw_post(&base, "/webhook/otter/text3d", &headers, &body),
            200,
            "{id}"
        );
        let dashboard =
            json!({"id": format!("{id}-dash"), "status": "IN_PROGRESS", "progress": 10});
        assert_eq!(
            raw_post(&base, "/webhook", &headers, &dashboard),
            200,
            "{id}"
        );
    }
    let (code, stderr) = receiver.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "not checking the webhook secret (set MESHY_WEBHOOK_SECRET or --webhook-secret-file"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("receiver stopped: 8 deliveries recorded, 0 refused"),
        "{stderr}"
    );
    let webhooks = dir.path().join("webhooks");
    let spool = spool_target(dir.path()).join("mesh-toolkit/spool");
    assert!(spool.starts_with(dir.path()));
    assert_eq!(assert_placeholders(&webhooks), 4, "the routed deliveries");
    assert_eq!(
        assert_placeholders(&spool),
        4,
        "the dashboard deliveries wait in the spool"
    );
    assert_nowhere(dir.path(), SECRET);
    assert!(!stderr.contains(SECRET));
    Ok(())
}

fn receive_with_check() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n"))?;
    let cassettes = dir.path().join("cassettes");
    let (receiver, base) = receive(&cassettes, Some(&secret_file));
    for (id, headers) in spellings(SECRET) {
        let body = json!({"id": id, "status": "SUCCEEDED", "progress": 100});
        assert_eq!(
            raw_post(&base, "/webhook/otter/text3d", &headers, &body),
            200,
            "{id}"
        );
    }
    let refused: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("t-missing", vec![]),
        ("t-wrong", vec![(HEADER, WRONG)]),
        (
            "t-one-wrong",
            vec![(HEADER, SECRET), ("X-Meshy-Api-Webhook-Secret-Key", WRONG)],
        ),
    ];
    for (id, headers) in &refused {
        let body = json!({"id": id, "status": "SUCCEEDED", "progress": 100});
        assert_eq!(
            raw_post(&base, "/webhook/otter/text3d", headers, &body),
            401,
            "{id}"
        );
        assert_eq!(raw_post(&base, "/webhook", headers, &body), 401, "{id}");
    }
    let (code, stderr) = receiver.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "checking the webhook secret from the file '{}': deliveries without",
            secret_file.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("receiver stopped: 4 deliveries recorded, 6 refused"),
        "{stderr}"
    );
    assert!(
        stderr.contains("with 401: missing or wrong webhook secret"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(SECRET) && !stderr.contains(WRONG),
        "{stderr}"
    );
    let webhooks = cassettes.join("webhooks");
    assert_eq!(
        assert_placeholders(&webhooks),
        4,
        "nothing refused is stored"
    );
    assert_nowhere(&cassettes, SECRET);

    // A secret file that cannot be read is a usage error naming it, before listening.
    let missing = dir.path().join("no-such-secret");
    let output = output_within(
        clean(binary())
            .args(["receive", "--port", "0", "--webhook-secret-file"])
            .arg(&missing)
            .arg("--cassettes")
            .arg(&cassettes),
        DEADLINE,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot read the webhook secret from the file '{}'",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).is_empty());
    Ok(())
}

fn sim_to_receive() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET)?;
    let cassettes = dir.path().join("cassettes");
    let (mut receiver, base) = receive(&cassettes, Some(&secret_file));
    // The simulator reads the same secret from the environment; the receiver its file.
    let mut command = clean(binary());
    command
        .args(["sim", "--port", "0", "--task-seconds", "0", "--webhook-url"])
        .arg(format!("{base}/webhook/otter/text3d?token={TOKEN}"))
        .env("MESHY_WEBHOOK_SECRET", SECRET);
    let mut sim = Guarded::spawn(command);
    let sim_base = sim
        .line()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    let runtime = tokio::runtime::Runtime::new()?;
    let id = runtime.block_on(async {
        let response = http_client(None)
            .unwrap()
            .post(format!("{sim_base}/openapi/v2/text-to-3d"))
            .bearer_auth("msy_functional_test_key_1234")
            .header("Content-Type", "application/json")
            .body(json!({"mode": "preview", "prompt": "Cute otter"}).to_string())
            .send()
            .await?;
        let created: Value = serde_json::from_slice(&response.bytes().await?)?;
        Ok::<_, Failed>(created["result"].as_str().ok_or("no task id")?.to_owned())
    })?;
    // The receiver prints a line per delivery: wait for the terminal one.
    loop {
        let line = receiver.line();
        if line.starts_with(&format!("{id} SUCCEEDED")) {
            break;
        }
    }
    let (code, sim_stderr) = sim.interrupt();
    assert_eq!(code, Some(0), "{sim_stderr}");
    assert!(
        sim_stderr.contains("0 retried, 0 abandoned"),
        "{sim_stderr}"
    );
    let (code, stderr) = receiver.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains(" 0 refused"), "{stderr}");
    assert!(!stderr.contains(SECRET) && !sim_stderr.contains(SECRET));
    assert_eq!(assert_placeholders(&cassettes.join("webhooks")), 1);
    let recording = Recording::read(
        &mesh_toolkit::webhooks::recording_path(
            &cassettes.join("webhooks"),
            "otter",
            "text3d",
            &id,
        ),
        "",
    )?;
    assert_eq!(
        recording.headers["x-meshy-api-webhook-user-id"],
        mesh_toolkit::sim::SIM_USER_ID
    );
    assert_nowhere(&cassettes, SECRET);
    Ok(())
}

/// A temporary project with the fixture suite's scenarios.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/suite");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for entry in std::fs::read_dir(suite).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&path, scenarios.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Runs the harness in `dir` (its own target dir) with `env`.
fn harness(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = clean(Command::new(crate::harness::harness_binary()));
    command
        .current_dir(dir)
        .args(args)
        .env("MESHY_SIM_TASK_SECONDS", "0")
        .env("CARGO_TARGET_DIR", dir.join("target"));
    for name in [
        "CI",
        "NEXTEST",
        "MESHY_API_KEY",
        "MESHY_RECORD_MODE",
        "MESHY_RECORD_WEBHOOKS",
        "MESHY_TARGET",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    output_within(&mut command, DEADLINE)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn harness_recording() -> Result<(), Failed> {
    let work = workspace();
    let dir = work.path();
    // The secret from the environment: the in-process simulator sends it, the receiver
    // checks it, nothing keeps it.
    let recorded = harness(
        dir,
        &["--record-webhooks", "--target=sim"],
        &[("MESHY_WEBHOOK_SECRET", SECRET)],
    );
    let log = text(&recorded);
    assert!(recorded.status.success(), "{log}");
    assert!(
        !log.contains(SECRET),
        "the run's output holds the secret:\n{log}"
    );
    assert!(assert_placeholders(&dir.join("cassettes/webhooks")) >= 1);
    assert!(
        dir.join("target/mesh-toolkit/report/index.html").is_file()
            && dir.join("target/mesh-toolkit/results").is_dir(),
        "the results and the report were written"
    );
    // The cassettes, the target dir's results and report, the token file: nowhere.
    assert_nowhere(dir, SECRET);
    // The recordings replay as before.
    let replayed = harness(dir, &[], &[]);
    assert!(replayed.status.success(), "{}", text(&replayed));

    // A secret file that cannot be read stops the recording before anything is sent.
    let missing = dir.join("no-such-secret");
    let refused = harness(
        dir,
        &[
            "--record-webhooks",
            "--record-mode=all",
            "--target=sim",
            &format!("--webhook-secret-file={}", missing.display()),
        ],
        &[],
    );
    let log = text(&refused);
    assert!(!refused.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "cannot read the webhook secret from the file '{}'",
            missing.display()
        )),
        "{log}"
    );
    Ok(())
}

/// Writes into `recording` what receivers before this change stored: the secret header's
/// value itself, at the top and in every delivery.
fn leak_into(path: &Path) {
    let mut recording: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    recording["headers"][HEADER] = json!(SECRET);
    for delivery in recording["deliveries"].as_array_mut().unwrap() {
        delivery["headers"][HEADER] = json!(SECRET);
    }
    std::fs::write(path, serde_json::to_vec_pretty(&recording).unwrap()).unwrap();
}

fn check(dir: &Path) -> Output {
    output_within(
        binary().current_dir(dir).args([
            "cassettes",
            "check",
            "--cassettes=cassettes",
            "--scenarios=scenarios",
        ]),
        DEADLINE,
    )
}

fn check_and_scrub() -> Result<(), Failed> {
    let work = workspace();
    let dir = work.path();
    let recorded = harness(dir, &["--record-webhooks", "--target=sim"], &[]);
    assert!(recorded.status.success(), "{}", text(&recorded));
    let clean_check = check(dir);
    assert!(clean_check.status.success(), "{}", text(&clean_check));

    // One routed recording and one of the standalone receiver's unrouted ones, as
    // receivers before this change wrote them.
    let webhooks = dir.join("cassettes/webhooks");
    let routed = mesh_toolkit::webhooks::recording_files(&webhooks)
        .into_iter()
        .next()
        .expect("a recording");
    leak_into(&routed);
    let unrouted = webhooks.join("unrouted/t-dash.json");
    std::fs::create_dir_all(unrouted.parent().unwrap())?;
    std::fs::copy(&routed, &unrouted)?;
    let before: Vec<Value> = [&routed, &unrouted]
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();

    let leaked = check(dir);
    let out = text(&leaked);
    assert_eq!(leaked.status.code(), Some(1), "{out}");
    for path in [&routed, &unrouted] {
        let relative = path.strip_prefix(dir)?.display().to_string();
        assert!(
            out.contains(&format!(
                "problem: {relative}: holds the value of the secret header '{HEADER}'"
            )),
            "{out}"
        );
    }
    assert!(!out.contains(SECRET), "the check shows the secret:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    for pair in lines.windows(2) {
        if pair[0].contains("holds the value of the secret header") {
            assert!(
                !pair[1].contains("delete") && !pair[1].contains("re-record"),
                "never advice that loses a recording: {}",
                pair[1]
            );
        }
    }
    assert!(
        out.contains("rotate the webhook secret in the Meshy dashboard"),
        "{out}"
    );
    // The fix, as printed, run as printed (with this build's binary).
    let fix = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("fix: `mesh-toolkit cassettes scrub"))
        .and_then(|rest| rest.split('`').next())
        .ok_or(format!("no scrub command in:\n{out}"))?
        .to_owned();
    assert_eq!(fix, "", "the default cassettes dir needs no flag");
    // (`mesh-toolkit`, outside any package, is the installed binary: this build's.)
    let scrubbed = output_within(
        binary().current_dir(dir).args(["cassettes", "scrub"]),
        DEADLINE,
    );
    let scrub_out = text(&scrubbed);
    assert!(scrubbed.status.success(), "{scrub_out}");
    assert!(scrub_out.contains("2 recording(s) mended"), "{scrub_out}");
    assert!(
        scrub_out.contains("rotate the webhook secret"),
        "{scrub_out}"
    );
    assert!(!scrub_out.contains(SECRET), "{scrub_out}");
    assert_nowhere(dir, SECRET);
    // Mended, not lost: every delivery is still there.
    for (path, before) in [&routed, &unrouted].iter().zip(&before) {
        let after: Value = serde_json::from_slice(&std::fs::read(path)?)?;
        assert_eq!(
            after["deliveries"].as_array().map(Vec::len),
            before["deliveries"].as_array().map(Vec::len)
        );
        assert_eq!(after["payload"], before["payload"]);
        assert_eq!(after["headers"][HEADER], PLACEHOLDER);
    }
    let mended = check(dir);
    assert!(mended.status.success(), "{}", text(&mended));
    let replayed = harness(dir, &[], &[]);
    assert!(replayed.status.success(), "{}", text(&replayed));
    // Once mended, a second scrub has nothing to do.
    let again = output_within(
        binary().current_dir(dir).args(["cassettes", "scrub"]),
        DEADLINE,
    );
    assert!(
        text(&again).contains("nothing to scrub"),
        "{}",
        text(&again)
    );
    Ok(())
}

fn replay_with_secret() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("otter_text3d_t1.json");
    let delivery = |status: &str| {
        json!({"received_at": "2026-11-28T15:00:00.000Z",
               "headers": {"content-type": "application/json", HEADER: PLACEHOLDER,
                           "x-meshy-api-webhook-user-id": "user-7"},
               "payload": {"id": "t1", "status": status}})
    };
    let mut deliveries = vec![delivery("IN_PROGRESS"), delivery("SUCCEEDED")];
    // A payload that repeated the secret holds its placeholder: the real one goes back.
    deliveries[1]["payload"]["echo"] = json!(format!("signed with {PLACEHOLDER}"));
    let recording = json!({"species": "otter", "task_type": "text3d", "task_id": "t1",
        "received_at": "2026-11-28T15:00:00.000Z", "headers": deliveries[1]["headers"],
        "payload": deliveries[1]["payload"], "deliveries": deliveries});
    std::fs::write(&path, serde_json::to_vec_pretty(&recording)?)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let catcher = runtime.block_on(Catcher::start());
    let replay = |env: Option<&str>, to: &str| {
        let mut command = clean(binary());
        command
            .args(["webhooks", "replay"])
            .arg(&path)
            .args(["--to", to]);
        if let Some(secret) = env {
            command.env("MESHY_WEBHOOK_SECRET", secret);
        }
        output_within(&mut command, DEADLINE)
    };
    let with = replay(Some(SECRET), &catcher.url);
    assert!(with.status.success(), "{}", text(&with));
    assert!(!text(&with).contains(SECRET));
    let bodies = runtime.block_on(catcher.wait_until(|b| b.len() == 2));
    assert_eq!(bodies[1]["echo"], format!("signed with {SECRET}"));
    assert_eq!(bodies[0], json!({"id": "t1", "status": "IN_PROGRESS"}));
    for headers in catcher.headers() {
        let values: Vec<&[u8]> = headers
            .get_all(HEADER)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(values, [SECRET.as_bytes()], "the real secret, once");
        assert_eq!(headers["x-meshy-api-webhook-user-id"], "user-7");
    }
    // Without it, the placeholder travels as recorded; an endpoint that checks the
    // secret answers 401, and the command says what to set.
    let checking = runtime.block_on(Catcher::answering(401));
    let without = replay(None, &checking.url);
    let out = text(&without);
    assert_eq!(without.status.code(), Some(1), "{out}");
    assert!(
        out.contains("the endpoint answered 401: if it checks Meshy's webhook secret, set MESHY_WEBHOOK_SECRET"),
        "{out}"
    );
    let bodies = runtime.block_on(checking.wait_until(|b| b.len() == 2));
    assert_eq!(checking.headers()[0][HEADER], PLACEHOLDER);
    assert_eq!(bodies[1]["echo"], format!("signed with {PLACEHOLDER}"));
    // With a secret the endpoint still refuses, the hint names where it came from.
    let wrong = replay(Some(WRONG), &checking.url);
    let out = text(&wrong);
    assert_eq!(wrong.status.code(), Some(1), "{out}");
    assert!(
        out.contains("the endpoint answered 401: the deliveries carried the webhook secret from MESHY_WEBHOOK_SECRET; check it"),
        "{out}"
    );
    assert!(!out.contains(WRONG), "{out}");
    // Plain HTTP beyond this machine would show the secret to the network: refused
    // before anything is sent (`.invalid` never resolves, so nothing could leave).
    let far = replay(
        Some(SECRET),
        "http://meshy-endpoint.invalid/webhook?token=tok123",
    );
    let out = text(&far);
    assert_eq!(far.status.code(), Some(2), "{out}");
    assert!(
        out.contains("refusing to send the webhook secret over plain HTTP to 'http://meshy-endpoint.invalid/webhook?token="),
        "{out}"
    );
    assert!(!out.contains("tok123") && !out.contains(SECRET), "{out}");
    Ok(())
}
