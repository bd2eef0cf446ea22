//! Recording never pays twice, tried as a user would: the `scenarios` harness records
//! with `--target=meshy` against a `mesh-toolkit sim` child standing in for
//! api.meshy.ai (`MESHY_BASE_URL`, a fixed webhook token and port, the simulator's
//! dashboard webhook pointing at the harness), and is killed, interrupted, lied to by a
//! gateway and left without webhooks. After each fault the simulator's balance must show
//! exactly one charge per scenario. Fixtures are generated here (six text3d scenarios),
//! never the shipped suite.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};
use mesh_toolkit::meshy::{Client, ClientConfig, ListPage, TaskType};
use mesh_toolkit::transport::{LiveConfig, LiveTransport, http_client};

use crate::support::Guarded;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "resume_after_sigkill_at_three_points_charges_exactly_once_per_scenario",
            sigkill_points,
        ),
        Trial::test(
            "resume_after_sigint_exits_130_lists_running_tasks_and_vcrpy_loads_every_cassette",
            sigint,
        ),
        Trial::test(
            "resume_a_create_answered_502_is_reconciled_from_the_task_list_with_one_charge_under_v1_and_v2",
            ambiguous_create,
        ),
        Trial::test(
            "resume_two_matching_tasks_in_the_window_are_named_and_nothing_is_bought_under_v1_and_v2",
            two_matches,
        ),
        Trial::test(
            "resume_no_webhook_fails_within_the_grace_and_accept_api_payload_completes_it",
            no_webhook,
        ),
        Trial::test(
            "resume_the_project_webhook_token_is_kept_0600_and_reused_across_runs",
            token_file,
        ),
        Trial::test(
            "resume_a_killed_rewrite_keeps_the_complete_cassette_until_the_new_one_is_complete",
            killed_rewrite,
        ),
        Trial::test(
            "resume_an_intent_that_created_nothing_is_sent_once_the_task_list_proves_it",
            intent_without_task,
        ),
    ]
}

pub(crate) const KEY: &str = "msy_functional_resume_key_1234";
pub(crate) const TOKEN: &str = "functionalresumetoken0123456789";
const TEXT3D_CREDITS: u64 = 20;
const START_BALANCE: u64 = 10_000;
/// Every wait in these tests ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(60);
/// A harness run that takes longer is killed and fails its test.
pub(crate) const RUN_DEADLINE: Duration = Duration::from_secs(180);

/// A temporary project with `n` text3d webhook scenarios and its own target dir.
pub(crate) struct Project {
    dir: tempfile::TempDir,
    webhook_port: u16,
}

impl Project {
    /// A project with these scenario files (`name`, TOML).
    pub(crate) fn with_files(files: &[(&str, &str)]) -> Project {
        let project = Project::new(0, "webhook");
        for (name, toml) in files {
            std::fs::write(project.path(&format!("scenarios/{name}.toml")), toml).unwrap();
        }
        project
    }

    pub(crate) fn new(n: usize, delivery: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        for i in 1..=n {
            std::fs::write(
                scenarios.join(format!("otter_{i}.toml")),
                format!(
                    "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Resumable otter number {i}\"\ndelivery = \"{delivery}\"\n"
                ),
            )
            .unwrap();
        }
        let webhook_port = crate::support::free_port();
        Project { dir, webhook_port }
    }

    pub(crate) fn webhook_port(&self) -> u16 {
        self.webhook_port
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Pins every scenario of the project to Meshy API `api` (`v1`, `v2`).
    pub(crate) fn pin_api(&self, api: &str) {
        for entry in std::fs::read_dir(self.path("scenarios")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, format!("api = \"{api}\"\n{text}")).unwrap();
        }
    }

    /// The harness recording against `sim` (the Rust trial of the shipped harness skipped).
    pub(crate) fn command(&self, sim: &Sim, extra: &[&str]) -> Command {
        let mut command = self.command_with_rust_trial(sim, extra);
        command.args(["--skip", "otter_pipeline_in_rust"]);
        command
    }

    /// Like [`Project::command`], with the shipped harness's Rust trial.
    pub(crate) fn command_with_rust_trial(&self, sim: &Sim, extra: &[&str]) -> Command {
        let mut command = Command::new(crate::harness::harness_binary());
        command
            .current_dir(self.dir.path())
            .args([
                "--record-webhooks",
                "--tunnel=none",
                &format!("--webhook-port={}", self.webhook_port),
            ])
            .args(extra)
            .env("MESHY_BASE_URL", &sim.base)
            .env("MESHY_API_KEY", KEY)
            .env("MESHY_WEBHOOK_TOKEN", TOKEN)
            .env("CARGO_TARGET_DIR", self.path("target"));
        for name in [
            "CI",
            "NEXTEST",
            "MESHY_RECORD_MODE",
            "MESHY_RECORD_WEBHOOKS",
            "MESHY_TARGET",
            "MESHY_WEBHOOK_GRACE",
            "MESHY_ACCEPT_API_PAYLOAD",
        ] {
            command.env_remove(name);
        }
        command
    }

    pub(crate) fn run(&self, sim: &Sim, extra: &[&str]) -> Output {
        crate::support::output_within(&mut self.command(sim, extra), RUN_DEADLINE)
    }

    /// Replays with nothing running.
    pub(crate) fn replay(&self) -> Output {
        let mut command = Command::new(crate::harness::harness_binary());
        command
            .current_dir(self.dir.path())
            .args(["--skip", "otter_pipeline_in_rust"])
            .env("CARGO_TARGET_DIR", self.path("target"))
            .env_remove("MESHY_RECORD_MODE")
            .env_remove("MESHY_RECORD_WEBHOOKS");
        crate::support::output_within(&mut command, RUN_DEADLINE)
    }

    pub(crate) fn cassettes(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.path("cassettes/http"))
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        paths
    }

    pub(crate) fn webhook_recordings(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path("cassettes/webhooks"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A `mesh-toolkit sim` child delivering every update to the project's dashboard URL.
pub(crate) struct Sim {
    pub(crate) base: String,
    _child: Guarded,
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Sim {
    pub(crate) fn start(project: &Project, task_seconds: &str, rules: Option<&str>) -> Sim {
        Sim::start_delivering(
            project,
            task_seconds,
            rules,
            Some(format!(
                "http://127.0.0.1:{}/webhook?token={TOKEN}",
                project.webhook_port
            )),
        )
    }

    pub(crate) fn start_delivering(
        project: &Project,
        task_seconds: &str,
        rules: Option<&str>,
        webhook_url: Option<String>,
    ) -> Sim {
        Sim::start_full(project, task_seconds, rules, webhook_url, &[])
    }

    /// With further `mesh-toolkit sim` options (`--max-queued-tasks 10`).
    pub(crate) fn start_full(
        project: &Project,
        task_seconds: &str,
        rules: Option<&str>,
        webhook_url: Option<String>,
        extra: &[&str],
    ) -> Sim {
        let mut command = crate::support::binary();
        command.args(["sim", "--port", "0", "--task-seconds", task_seconds]);
        command.args(extra);
        if let Some(url) = webhook_url {
            command.args(["--webhook-url", &url]);
        }
        if let Some(rules) = rules {
            let path = project.path("rules.json");
            std::fs::write(&path, rules).unwrap();
            command.arg("--rules").arg(path);
        }
        let mut child = Guarded::spawn(command);
        let base = child
            .line()
            .strip_prefix("listening on ")
            .expect("the simulator prints its URL")
            .to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = Client::new(
            ClientConfig {
                base_url: base.clone(),
                api_key: Some(KEY.into()),
                generation: mesh_toolkit::meshy::ApiGeneration::V1,
                ..ClientConfig::default()
            },
            Arc::new(LiveTransport::new(LiveConfig::default()).unwrap()),
        )
        .unwrap();
        Sim {
            base,
            _child: child,
            runtime,
            client,
        }
    }

    /// The simulator's `GET /_sim/stats`: `peak_queued`, `queue_refusals`.
    pub(crate) fn queue_stats(&self) -> serde_json::Value {
        let url = format!("{}/_sim/stats", self.base);
        self.runtime.block_on(async {
            http_client(None)
                .unwrap()
                .get(url)
                .header("Authorization", format!("Bearer {KEY}"))
                .send()
                .await
                .expect("the simulator answers its stats")
                .bytes()
                .await
                .map(|body| serde_json::from_slice(&body).expect("stats are JSON"))
                .expect("read the stats")
        })
    }

    /// The webhook URL a simulator should deliver to for `project`.
    pub(crate) fn dashboard_url(project: &Project) -> String {
        format!(
            "http://127.0.0.1:{}/webhook?token={TOKEN}",
            project.webhook_port
        )
    }

    pub(crate) fn balance(&self) -> u64 {
        self.runtime
            .block_on(self.client.balance())
            .expect("the simulator answers its balance")
    }

    /// Credits charged since the start, in text3d tasks.
    pub(crate) fn charges(&self) -> u64 {
        (START_BALANCE - self.balance()) / TEXT3D_CREDITS
    }

    /// Sends the create call a `text3d` scenario sends under Meshy API `api` (`v1`,
    /// `v2`), as another client would; its answer does not matter.
    fn create(&self, api: &str, prompt: &str) {
        let (generation, body) = match api {
            "v1" => (
                mesh_toolkit::meshy::ApiGeneration::V1,
                serde_json::json!({"mode": "preview", "prompt": prompt}),
            ),
            _ => (
                mesh_toolkit::meshy::ApiGeneration::V2,
                serde_json::json!({"prompt": prompt, "should_texture": false}),
            ),
        };
        let client = self.client.clone().with_generation(generation);
        drop(
            self.runtime
                .block_on(client.create_task(TaskType::Text3d, &body)),
        );
    }

    /// The ids of the account's text3d tasks, newest first.
    fn task_ids(&self) -> Vec<String> {
        let tasks = self
            .runtime
            .block_on(
                self.client
                    .list_tasks(TaskType::Text3d, &ListPage::default()),
            )
            .expect("the simulator lists tasks");
        tasks.into_iter().map(|t| t.id).collect()
    }
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub(crate) fn assert_success(output: &Output) {
    assert!(output.status.success(), "harness failed:\n{}", text(output));
}

/// Waits (polling the files, with a deadline) until `done` holds for the project.
pub(crate) fn wait_until(project: &Project, what: &str, done: impl Fn(&Project) -> bool) {
    let started = Instant::now();
    while !done(project) {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not reached within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cassette_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Every cassette holds its create call's answer.
pub(crate) fn all_created(project: &Project, n: usize) -> bool {
    let cassettes = project.cassettes();
    cassettes.len() == n && cassettes.iter().all(|p| create_answered(&cassette_text(p)))
}

/// Whether a journal holds a create call's answer: v1's `{"result": id}` or v2's task
/// object (its request echoed in `input`).
pub(crate) fn create_answered(cassette: &str) -> bool {
    cassette.contains("{\\\"result\\\":") || cassette.contains("\\\"input\\\":{")
}

/// Every task's webhook journal is on disk.
pub(crate) fn all_delivering(project: &Project, n: usize) -> bool {
    project.webhook_recordings().len() == n
}

/// Some trial passed (its cassette is complete), not all.
pub(crate) fn some_passed(project: &Project, n: usize) -> bool {
    let complete = project
        .cassettes()
        .iter()
        .filter(|p| {
            let text = cassette_text(p);
            !text.is_empty() && !text.starts_with("incomplete: true")
        })
        .count();
    complete >= 1 && complete < n
}

/// A child killed when dropped (a failing test leaves nothing behind).
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigkill_points() -> Result<(), Failed> {
    const N: usize = 6;
    type Point = fn(&Project, usize) -> bool;
    let points: [(&str, Point); 3] = [
        ("after every create call was answered", all_created),
        ("while webhooks arrive", all_delivering),
        ("after some trials passed", some_passed),
    ];
    let mut total_charges = 0;
    // Each point under both API generations: the journals and the reconcile differ.
    let points = ["v1", "v2"]
        .into_iter()
        .flat_map(|api| points.map(|(name, reached)| (api, name, reached)));
    for (api, name, reached) in points {
        let name = &format!("{name} (API {api})");
        let project = Project::new(N, "webhook");
        project.pin_api(api);
        // Staggered task times, so that some trials pass before others.
        let rules = r#"[{"prompt_contains": "number 1", "then": {"task_seconds": 0.5}}]"#;
        let sim = Sim::start(&project, "4", Some(rules));
        let child = project
            .command(&sim, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut child = Killed(child);
        wait_until(&project, name, |p| reached(p, N));
        child.0.kill()?;
        crate::support::wait_within(
            &mut child.0,
            crate::support::EXIT_DEADLINE,
            "the harness to end after SIGKILL",
        );
        assert_eq!(
            sim.charges(),
            N as u64,
            "{name}: one charge per scenario so far"
        );
        let replay = project.replay();
        assert!(!replay.status.success());
        assert!(
            // Recorded through MESHY_BASE_URL: resumed at that rehearsal.
            text(&replay).contains(&format!(
                "--record-webhooks --record-mode=once  # the rehearsal at {} it was recorded against, not the real \
                 Meshy API`",
                sim.base
            )),
            "{name}: replay refuses the journals and names the command that resumes them: {}",
            text(&replay)
        );
        let rerun = project.run(&sim, &[]);
        assert_success(&rerun);
        let log = text(&rerun);
        assert!(
            log.contains(&format!("test result: ok. {N} passed")),
            "{name}: {log}"
        );
        assert_eq!(
            sim.charges(),
            N as u64,
            "{name}: the rerun resumed every task instead of paying again:\n{log}"
        );
        total_charges += sim.charges();
        for cassette in project.cassettes() {
            let text = cassette_text(&cassette);
            assert!(
                !text.contains("uri: \"https://api.meshy.ai/openapi/v2/text-to-3d/"),
                "{name}: status checks are not written into {}",
                cassette.display()
            );
            assert!(
                !text.contains("incomplete") && !text.contains("pending:"),
                "{name}: {} is complete",
                cassette.display()
            );
        }
        drop(sim);
        assert_success(&project.replay());
    }
    eprintln!(
        "credits spent per recorded scenario across the SIGKILL points: {:.2}",
        total_charges as f64 / (6 * N) as f64
    );
    Ok(())
}

fn sigint() -> Result<(), Failed> {
    const N: usize = 6;
    let project = Project::new(N, "webhook");
    let sim = Sim::start(&project, "8", None);
    let child = project
        .command(&sim, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = Killed(child);
    let stderr = child.0.stderr.take().ok_or("no stderr")?;
    let (sender, stderr_text) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect();
        let _ = sender.send(lines);
    });
    wait_until(&project, "every task delivering", |p| all_delivering(p, N));
    Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the harness did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = stderr_text
        .recv_timeout(DEADLINE)
        .map_err(|_| format!("the harness's stderr did not close within {DEADLINE:?} of its exit"))?
        .join("\n");
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        log.contains(&format!(
            "interrupted: these tasks may still be running at Meshy; `MESHY_BASE_URL={} cargo test --test scenarios -- \
             --record-webhooks --tunnel=none --webhook-port={} --skip otter_pipeline_in_rust` resumes them without \
             paying again:",
            sim.base,
            project.webhook_port
        )),
        "{log}"
    );
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("  otter_") && l.ends_with("text3d  20 credits"))
            .count(),
        N,
        "one line per running task, with its credits: {log}"
    );
    assert_eq!(sim.charges(), N as u64);
    // Real VCR.py loads every file we wrote, journal or not.
    for cassette in project.cassettes() {
        let mut command = crate::support::vcrpy_python();
        command.args([
                "-c",
                "import sys\nfrom vcr.persisters.filesystem import FilesystemPersister\nfrom vcr.serializers import yamlserializer\nrequests, responses = FilesystemPersister.load_cassette(sys.argv[1], yamlserializer)\nassert requests[0].method == 'POST', requests\nprint(len(requests))",
            ]);
        command.arg(&cassette);
        let loaded = crate::support::output_within(&mut command, Duration::from_secs(60));
        assert!(
            loaded.status.success(),
            "VCR.py cannot load {} ({}): {}",
            cassette.display(),
            mesh_toolkit::workdir::TEST_TOOLS_HINT,
            text(&loaded)
        );
    }
    // The rerun resumes: the same tasks finish, without a second charge.
    let rerun = project.run(&sim, &[]);
    assert_success(&rerun);
    assert_eq!(sim.charges(), N as u64, "{}", text(&rerun));
    Ok(())
}

fn ambiguous_create() -> Result<(), Failed> {
    // The journal, the list and the reconcile differ by API generation.
    for api in ["v1", "v2"] {
        ambiguous_create_under(api);
    }
    Ok(())
}

fn ambiguous_create_under(api: &str) {
    let project = Project::new(1, "webhook");
    project.pin_api(api);
    let rules = r#"[{"prompt_contains": "otter", "then": {"create_status": 502}}]"#;
    let sim = Sim::start(&project, "1", Some(rules));
    // Settled in the one run: the task list shows the task the 502 hid, adopted.
    let first = project.run(&sim, &[]);
    assert_success(&first);
    let log = text(&first);
    assert!(
        log.contains("may have made a task (502 Bad Gateway): waiting until the task list has settled (30 s after the answer was lost)"),
        "API {api}: a rehearsal URL gets the real API's window, never the simulator's: {log}"
    );
    assert!(
        log.contains("otter_1: the create call whose answer was lost made task "),
        "API {api}: {log}"
    );
    assert_eq!(sim.charges(), 1, "API {api}: one task, one charge: {log}");
    let cassette = cassette_text(&project.path("cassettes/http/otter_1.yaml"));
    assert!(
        cassette.contains("X-Mesh-Toolkit-Reconciled") && !cassette.contains("pending:"),
        "API {api}: {cassette}"
    );
    // The create answer the harness writes for the adopted task speaks the call's
    // generation: v1's `{"result": id}`, v2's task object as the list showed it.
    let v1_answer = cassette.contains(r#"string: "{\"result\":\""#);
    let v2_answer = cassette.contains(r#"\"id\":\""#) && cassette.contains(r#"\"status\":\""#);
    assert_eq!(
        (v1_answer, v2_answer),
        (api == "v1", api == "v2"),
        "API {api}: the adopted task's create answer is in the call's generation: {cassette}"
    );
    drop(sim);
    assert_success(&project.replay());
}

fn two_matches() -> Result<(), Failed> {
    for api in ["v1", "v2"] {
        two_matches_under(api);
    }
    Ok(())
}

fn two_matches_under(api: &str) {
    let project = Project::new(1, "webhook");
    project.pin_api(api);
    let rules = r#"[{"prompt_contains": "otter", "then": {"create_status": 502}}]"#;
    let sim = Sim::start(&project, "1", Some(rules));
    // Someone sent the same request just before (the harness built first: a task
    // older than the call by more than the clock skew allowed is not a candidate).
    crate::harness::harness_binary();
    sim.create(api, "Resumable otter number 1");
    let first = project.run(&sim, &[]);
    let ids = sim.task_ids();
    assert!(
        !first.status.success(),
        "API {api}: {ids:?} {}",
        text(&first)
    );
    let log = text(&first);
    assert_eq!(ids.len(), 2, "API {api}: {ids:?} {log}");
    assert!(
        log.contains(&format!(
            "and 2 tasks created since then match it: {}, {}; nothing was sent",
            ids[0], ids[1]
        )),
        "API {api}: both ids are named: {log}"
    );
    assert_eq!(
        sim.charges(),
        2,
        "API {api}: nothing was bought after the 502: {log}"
    );
    let journal = cassette_text(&project.path("cassettes/http/otter_1.yaml"));
    assert!(
        journal.contains("pending:\n- body: ") && journal.contains("outcome: \"502 Bad Gateway\""),
        "API {api}: the intent stays on disk for the rerun: {journal}"
    );
}

fn no_webhook() -> Result<(), Failed> {
    let project = Project::new(1, "webhook");
    // The simulator delivers nowhere: the dashboard webhook is misconfigured.
    let sim = Sim::start_delivering(&project, "1", None, None);
    let grace = ["--webhook-grace=1", "--webhook-timeout=120"];
    let first = project.run(&sim, &grace);
    assert!(!first.status.success());
    let log = text(&first);
    assert!(
        log.contains("ended SUCCEEDED per the API (")
            && log.contains(
                "but no terminal webhook arrived within 1 s (no delivery arrived at all)"
            )
            && log.contains("check that the Meshy dashboard webhook is http://127.0.0.1:"),
        "{log}"
    );
    assert!(
        !log.contains("within 120 s"),
        "failed within the grace, not the timeout: {log}"
    );
    let failure = log
        .lines()
        .find(|l| l.contains("no terminal webhook arrived"))
        .unwrap_or_default();
    assert!(
        !failure.contains(TOKEN) && failure.contains("/webhook?token=…"),
        "the token never reaches an error message: {failure}"
    );
    assert_eq!(sim.charges(), 1);
    let again = project.run(&sim, &grace);
    assert!(!again.status.success());
    assert_eq!(sim.charges(), 1, "the rerun does not pay: {}", text(&again));
    let accepted = project.run(&sim, &["--webhook-grace=1", "--accept-api-payload"]);
    assert_success(&accepted);
    let log = text(&accepted);
    assert!(
        log.contains("terminal payload from the API, not a webhook (--accept-api-payload; payload_source: api): otter_1"),
        "{log}"
    );
    assert_eq!(sim.charges(), 1);
    let recordings = project.webhook_recordings();
    assert_eq!(recordings.len(), 1);
    let recording: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&recordings[0])?)?;
    assert_eq!(recording["payload_source"], "api");
    assert_eq!(recording["payload"]["status"], "SUCCEEDED");
    assert!(recording.get("incomplete").is_none(), "{recording}");
    drop(sim);
    assert_success(&project.replay());
    Ok(())
}

fn token_file() -> Result<(), Failed> {
    let project = Project::new(1, "webhook");
    let sim = Sim::start_delivering(&project, "0", None, None);
    let token_path = project.path("target/mesh-toolkit/webhook-token");
    let mut tokens = Vec::new();
    for run in 0..2 {
        // The in-process simulator: its webhooks carry the token in their callback URL.
        let output = crate::support::output_within(
            project
                .command(&sim, &["--record-mode=rewrite", "--target=sim"])
                .env_remove("MESHY_WEBHOOK_TOKEN"),
            RUN_DEADLINE,
        );
        assert_success(&output);
        let token = std::fs::read_to_string(&token_path)?.trim().to_owned();
        assert_eq!(token.len(), 32, "run {run}");
        assert!(
            !text(&output).contains(&token),
            "run {run}: the token is never printed for the simulator"
        );
        tokens.push(token);
    }
    assert_eq!(tokens[0], tokens[1], "the token is reused across runs");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_path)?.permissions().mode() & 0o777,
            0o600
        );
    }
    let cassette = cassette_text(&project.path("cassettes/http/otter_1.yaml"));
    assert!(
        cassette.contains("?token=<WEBHOOK_TOKEN>") && !cassette.contains(&tokens[0]),
        "the callback URL's token is scrubbed from the cassette: {cassette}"
    );
    for recording in project.webhook_recordings() {
        assert!(!std::fs::read_to_string(recording)?.contains(&tokens[0]));
    }
    // Against the (stand-in) real API, the dashboard URL to paste carries it.
    let output = crate::support::output_within(
        project
            .command(&sim, &["--record-mode=rewrite", "--webhook-grace=1"])
            .env_remove("MESHY_WEBHOOK_TOKEN"),
        RUN_DEADLINE,
    );
    assert!(
        text(&output).contains(&format!("/webhook?token={}\n", tokens[0])),
        "{}",
        text(&output)
    );
    let other_port = crate::support::free_port();
    let output = crate::support::output_within(
        project
            .command(
                &sim,
                &[
                    "--record-mode=rewrite",
                    "--webhook-grace=1",
                    &format!("--webhook-port={other_port}"),
                ],
            )
            .env_remove("MESHY_WEBHOOK_TOKEN"),
        RUN_DEADLINE,
    );
    assert!(
        text(&output).contains(&format!(
            "note: the webhook URL differs from the last run's (the public URL changed from http://127.0.0.1:{} to \
             http://127.0.0.1:{other_port}): update it in the Meshy dashboard",
            project.webhook_port
        )),
        "{}",
        text(&output)
    );
    Ok(())
}

fn killed_rewrite() -> Result<(), Failed> {
    let project = Project::new(1, "webhook");
    let sim = Sim::start(&project, "4", None);
    let first = project.run(&sim, &[]);
    assert_success(&first);
    let main = project.path("cassettes/http/otter_1.yaml");
    let complete = std::fs::read_to_string(&main)?;
    let side = project.path("cassettes/http/otter_1.rerecording.yaml");
    let child = project
        .command(&sim, &["--record-mode=rewrite"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut child = Killed(child);
    wait_until(&project, "the re-recording's create call answered", |_| {
        create_answered(&cassette_text(&side))
    });
    child.0.kill()?;
    crate::support::wait_within(
        &mut child.0,
        crate::support::EXIT_DEADLINE,
        "the harness to end after SIGKILL",
    );
    assert_eq!(
        std::fs::read_to_string(&main)?,
        complete,
        "the complete cassette is untouched"
    );
    assert_eq!(sim.charges(), 2, "the re-recording paid once");
    let rerun = project.run(&sim, &["--record-mode=rewrite"]);
    assert_success(&rerun);
    assert_eq!(
        sim.charges(),
        2,
        "the rerun resumed the re-recording: {}",
        text(&rerun)
    );
    assert!(!side.exists(), "the journal replaced the cassette");
    assert_ne!(std::fs::read_to_string(&main)?, complete);
    drop(sim);
    assert_success(&project.replay());
    Ok(())
}

fn intent_without_task() -> Result<(), Failed> {
    let project = Project::new(1, "webhook");
    let sim = Sim::start(&project, "0.5", None);
    // A crash after the intent was written and before the request left, 31 s ago.
    let sent = std::time::SystemTime::now() - Duration::from_secs(31);
    let journal = format!(
        "incomplete: true\ninteractions: []\npending:\n- body: \"{{\\\"mode\\\":\\\"preview\\\",\\\"prompt\\\":\\\"Resumable otter number 1\\\"}}\"\n  method: POST\n  recorded_at: \"{}\"\n  uri: \"https://api.meshy.ai/openapi/v2/text-to-3d\"\nrecorded_against: meshy\nversion: 1\n",
        mesh_toolkit::rfc3339(sent)
    );
    std::fs::create_dir_all(project.path("cassettes/http"))?;
    std::fs::write(project.path("cassettes/http/otter_1.yaml"), journal)?;
    let run = project.run(&sim, &[]);
    assert_success(&run);
    assert!(
        text(&run).contains("otter_1: the create call without an answer on file created no task (the task list shows none 30 s later): sending it again"),
        "{}",
        text(&run)
    );
    assert_eq!(sim.charges(), 1);
    Ok(())
}
