//! Harness benchmarks (`cargo bench --bench harness`), on the `scenarios` test binary
//! as `cargo test` builds it, in temporary directories. Medians of 5 runs, each beside
//! a baseline measured in the same run.
//!
//! - replay: 1000 generated text3d webhook scenarios, each with its own cassette (the
//!   create call and a GLB of 1 KB, 20 KB or 100 KB) and its own webhook recording of
//!   4 deliveries. Wall time, cassette throughput and peak memory; targets: 20 KB in
//!   0.4 s, 100 KB in 0.8 s (190 MB/s of cassette), 50 MB peak. Beside each: reading,
//!   base64-decoding and hashing the same GLBs in one thread, as a ratio, and `--list`
//!   (start-up and loading the scenario files, no trial). Run with the trial
//!   repositories in the normal temp dir, then in /dev/shm when there is one, beside
//!   what the repositories' file operations alone cost in the temp dir.
//! - record: 50 scenarios against the in-process simulator under Meshy's limits (a
//!   10-task queue, 20 requests per second) with 2 s tasks (target <= 12 s wall);
//!   baseline: 5 waves of the 2 s task time, 10 s.
//!
//!   Each replay also runs with the HTML report (results and `report/index.html`), from
//!   nothing on disk and again, as ratios to the replay without it (`MESHY_NO_REPORT=1`);
//!   target <= 1.2x.
//!
//! - chaos: the same 50 scenarios recorded in one run against the simulator under
//!   chaos (`MESHY_SIM_CHAOS`, a fixed seed, about one request and one webhook update
//!   in ten failing): every scenario passes, credits per scenario (target 1.00),
//!   faults injected by kind, and the wall time beside the same run without chaos
//!   (target: at most 1.5x plus the reconcile windows it had to wait, 1 s each).
//!
//! `cargo bench --bench harness -- replay`, `-- record` or `-- chaos` runs one of them; `--keep`
//! keeps the generated replay directories (printed) to profile a run by hand.

#[path = "../tests/common/harness_binary.rs"]
mod binaries;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mesh_toolkit::cassette::{Body, Cassette};

const RUNS: usize = 5;
const SCENARIOS: usize = 1000;
/// GLB sizes, with the wall-time target of replaying 1000 of them.
const SIZES: [(usize, Option<f64>); 3] = [
    (1024, None),
    (20 * 1024, Some(0.4)),
    (100 * 1024, Some(0.8)),
];
const PEAK_TARGET_MB: f64 = 50.0;

fn main() {
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let keep = std::env::args().any(|a| a == "--keep");
    let binary = binaries::build_harness(|c| c.output().expect("run cargo"));
    if wanted("replay") {
        let template = Template::record(&binary);
        let floor = repository_files_baseline(&std::env::temp_dir());
        println!(
            "baseline: the file operations of {SCENARIOS} trial repositories alone (2 directories, 3 manifest writes, \
             a 20 KB GLB, removed) in {}: {:.2} s",
            std::env::temp_dir().display(),
            floor.as_secs_f64()
        );
        for (size, target) in SIZES {
            replay(&binary, &template, size, target, keep, None);
        }
        // The same on a RAM file system, when there is one: what the disk costs.
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            for (size, target) in SIZES {
                replay(&binary, &template, size, target, keep, Some(shm));
            }
        }
    }
    if wanted("record") {
        record(&binary);
    }
    if wanted("chaos") {
        chaos(&binary);
        chaos_with_kills(&binary);
    }
}

/// A child process killed when dropped (a failing bench leaves nothing running).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Child {
    /// The first line of its stdout; the rest is read on (and dropped) by a thread, so
    /// the child never blocks on, or dies of, a full or closed pipe.
    fn first_line(&mut self) -> String {
        use std::io::BufRead;
        let stdout = self.0.stdout.take().expect("piped stdout");
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("read the child's first line");
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        line.trim().to_owned()
    }

    /// Its stderr, read by a thread as it comes (a full pipe would block the child).
    fn stderr(&mut self) -> std::thread::JoinHandle<String> {
        use std::io::Read;
        let mut stderr = self.0.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
    }
}

/// The 50 scenarios through the same chaos, in a `mesh-toolkit sim` child, with a
/// standing `mesh-toolkit receive` across SIGKILLs at three seeded moments (seconds into
/// a run), each followed by a rerun: credits per scenario and recordings from the API.
fn chaos_with_kills(binary: &Path) {
    const KEY: &str = "msy_bench_chaos_key_123456";
    const TOKEN: &str = "benchchaostoken0123456789";
    // Seconds into each killed run, from the seed of the chaos (26).
    const KILLS: [f64; 3] = [2.6, 4.1, 3.3];
    let fifty = tempfile::tempdir().expect("temp dir");
    write_scenarios(fifty.path(), 50, |i| {
        ["otter", "beaver", "heron", "lynx"][i % 4].to_owned()
    });
    let target = fifty.path().join("target");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let toolkit = env!("CARGO_BIN_EXE_mesh-toolkit");
    let mut receiver = Child(
        Command::new(toolkit)
            .current_dir(fifty.path())
            .args(["receive", "--port", &port])
            .env("MESHY_WEBHOOK_TOKEN", TOKEN)
            .env("CARGO_TARGET_DIR", &target)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mesh-toolkit receive"),
    );
    assert!(receiver.first_line().starts_with("listening on "));
    let (seed, rate) = CHAOS.split_once(':').expect("seed:rate");
    let mut sim = Child(
        Command::new(toolkit)
            .args([
                "sim",
                "--port",
                "0",
                "--task-seconds",
                "2",
                "--max-queued-tasks",
                "10",
            ])
            .args(["--chaos-seed", seed, "--chaos-rate", rate])
            .args([
                "--webhook-url",
                &format!("http://127.0.0.1:{port}/webhook?token={TOKEN}"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start mesh-toolkit sim"),
    );
    let base = sim
        .first_line()
        .strip_prefix("listening on ")
        .expect("the simulator's URL")
        .to_owned();
    let sim_stderr = sim.stderr();
    let harness = || {
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MESHY_") {
                command.env_remove(name);
            }
        }
        command
            .current_dir(fifty.path())
            .args([
                "--record-webhooks",
                "--tunnel=none",
                "--max-tasks-in-flight=10",
            ])
            .args([
                "--skip",
                "otter_pipeline_in_rust",
                &format!("--webhook-port={port}"),
            ])
            .env("MESHY_BASE_URL", &base)
            .env("MESHY_API_KEY", KEY)
            .env("MESHY_WEBHOOK_TOKEN", TOKEN)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CI")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    };
    let started = Instant::now();
    for seconds in KILLS {
        let run = Child(harness().spawn().expect("run the harness"));
        // The moment is the point of the bench: a kill wherever the run then is.
        std::thread::sleep(Duration::from_secs_f64(seconds));
        drop(run);
    }
    let last = harness()
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run the harness");
    if !last.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&last.stderr));
    }
    let last = last.status;
    let wall = started.elapsed();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let balance: u64 = runtime.block_on(async {
        let client = mesh_toolkit::transport::http_client(None).expect("an HTTP client");
        let answer = client
            .get(format!("{base}/openapi/v1/balance"))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("the balance");
        let body: serde_json::Value =
            serde_json::from_str(&answer.text().await.expect("its body")).expect("JSON");
        body["balance"].as_u64().expect("a balance")
    });
    let per_scenario = (10_000 - balance) as f64 / 20.0 / 50.0;
    let webhooks = std::fs::read_dir(fifty.path().join("cassettes/webhooks"));
    let recordings: Vec<String> = webhooks
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    let from_api = recordings
        .iter()
        .filter(|t| t.contains("\"payload_source\""))
        .count();
    let _ = Command::new("kill")
        .args(["-INT", &sim.0.id().to_string()])
        .status();
    let _ = sim.0.wait();
    let stderr = sim_stderr.join().unwrap_or_default();
    let faults = stderr
        .lines()
        .find_map(|l| l.strip_prefix("chaos: "))
        .unwrap_or("no faults")
        .to_owned();
    drop(receiver);
    println!(
        "chaos with SIGKILLs at {KILLS:?} s and a standing receiver: 50 scenarios in 4 runs, wall {:.2} s, the last run \
         {}; credits per scenario {per_scenario:.2} (target 1.00); {} webhook recordings, {from_api} completed from \
         the API (target 0); {faults}",
        wall.as_secs_f64(),
        if last.success() { "passed" } else { "FAILED" },
        recordings.len()
    );
}

/// The chaos of the soak: a fixed seed, one in ten.
const CHAOS: &str = "26:0.1";

/// 50 scenarios recorded through a flaky simulator, beside the same without chaos.
fn chaos(binary: &Path) {
    let fifty = tempfile::tempdir().expect("temp dir");
    write_scenarios(fifty.path(), 50, |i| {
        ["otter", "beaver", "heron", "lynx"][i % 4].to_owned()
    });
    // The harness's own trial written in Rust buys a task of its own: not a scenario.
    let args = [
        "--record-webhooks",
        "--target=sim",
        "--max-tasks-in-flight=10",
        "--skip",
        "otter_pipeline_in_rust",
    ];
    let runs = |chaos: Option<&str>| -> Vec<Sample> {
        (0..RUNS)
            .map(|_| {
                let _ = std::fs::remove_dir_all(fifty.path().join("cassettes"));
                let env: Vec<(&str, &OsStr)> = chaos
                    .map(|c| ("MESHY_SIM_CHAOS", OsStr::new(c)))
                    .into_iter()
                    .collect();
                let mut sample = run_with(binary, fifty.path(), &args, "2", &env);
                // A webhook recording completed from the API's task object says so.
                let webhooks = std::fs::read_dir(fifty.path().join("cassettes/webhooks"));
                let from_api = webhooks
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|text| text.contains("\"payload_source\""))
                    .count();
                sample
                    .stderr
                    .push_str(&format!("\nbench: {from_api} from the API\n"));
                sample
            })
            .collect()
    };
    let calm = runs(None);
    let flaky = runs(Some(CHAOS));
    assert!(
        calm.iter().chain(&flaky).all(|s| s.ok),
        "a recording run failed: every scenario must pass in one run"
    );
    let (calm_wall, _) = medians(&calm);
    let (flaky_wall, _) = medians(&flaky);
    let charged = |sample: &Sample| -> u64 {
        let line = sample
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("simulator: "));
        let credits = line
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok());
        credits.expect("the run says what the simulator charged")
    };
    let calm_per_scenario = charged(&calm[0]) as f64 / 20.0 / 50.0;
    let per_scenario: Vec<f64> = flaky
        .iter()
        .map(|s| charged(s) as f64 / 20.0 / 50.0)
        .collect();
    let api_payloads: usize = flaky
        .iter()
        .filter_map(|s| s.stderr.lines().find_map(|l| l.strip_prefix("bench: ")))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    // Only a create the list never showed waits the whole window before it is sent again.
    let windows = flaky
        .iter()
        .map(|s| s.stderr.matches("sending it again").count())
        .max()
        .unwrap_or(0);
    let faults = flaky[flaky.len() / 2]
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("simulator chaos: "))
        .unwrap_or("no faults")
        .to_owned();
    let allowed = calm_wall.as_secs_f64() * 1.5 + windows as f64;
    println!(
        "chaos: 50 scenarios, 2 s tasks, queue 10, MESHY_SIM_CHAOS={CHAOS}, one run each: median wall {:.2} s \
         without chaos, {:.2} s with (ratio {:.2}x; target <= 1.5x + {windows} reconcile window(s) of 1 s = {allowed:.2} s: {}); \
         credits per scenario {} (target 1.00; {calm_per_scenario:.2} without chaos); webhook recordings completed from the API: {api_payloads}; {faults}",
        calm_wall.as_secs_f64(),
        flaky_wall.as_secs_f64(),
        flaky_wall.as_secs_f64() / calm_wall.as_secs_f64(),
        if flaky_wall.as_secs_f64() <= allowed {
            "met"
        } else {
            "NOT met"
        },
        per_scenario
            .iter()
            .map(|c| format!("{c:.2}"))
            .collect::<Vec<_>>()
            .join("/"),
    );
}

/// Replays 1000 scenarios with GLBs of `size` bytes and prints the line of figures.
/// `tmpdir`: where the trial repositories go (`TMPDIR`); the normal temp dir if `None`.
fn replay(
    binary: &Path,
    template: &Template,
    size: usize,
    target: Option<f64>,
    keep: bool,
    tmpdir: Option<&Path>,
) {
    let mut work = tempfile::tempdir().expect("temp dir");
    if keep {
        work.disable_cleanup(true);
        println!("kept: {}", work.path().display());
    }
    let cassette_bytes = template.generate(work.path(), SCENARIOS, size);
    let baselines: Vec<Duration> = (0..RUNS)
        .map(|_| baseline(&work.path().join("cassettes/http")))
        .collect();
    // The harness keeps its files under the target dir it was built into unless told:
    // the suite's own one here, as a project's.
    let work_target = work.path().join("target");
    let env: Vec<(&str, &OsStr)> = tmpdir
        .map(|d| ("TMPDIR", d.as_os_str()))
        .into_iter()
        .chain([("CARGO_TARGET_DIR", work_target.as_os_str())])
        .collect();
    let mut off_env = env.clone();
    off_env.push(("MESHY_NO_REPORT", OsStr::new("1")));
    // Interleaved, so the machine's noise falls on all three alike: without the report;
    // with it into a target dir never used (a fresh CI checkout: no results, no model
    // files); with it again into one that has them (a developer's second run).
    let (mut replays, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    let toolkit_dir = work.path().join("target/mesh-toolkit");
    warm.push(run_with(binary, work.path(), &[], "0", &env));
    warm.clear();
    for i in 0..RUNS {
        replays.push(run_with(binary, work.path(), &[], "0", &off_env));
        let fresh = work.path().join(format!("fresh-target-{i}"));
        let mut cold_env = env.clone();
        cold_env.push(("CARGO_TARGET_DIR", fresh.as_os_str()));
        cold.push(run_with(binary, work.path(), &[], "0", &cold_env));
        warm.push(run_with(binary, work.path(), &[], "0", &env));
    }
    assert!(
        replays.iter().chain(&cold).chain(&warm).all(|s| s.ok),
        "a replay failed"
    );
    assert!(
        toolkit_dir.join("report/index.html").is_file(),
        "the replay wrote no report"
    );
    let lists: Vec<Sample> = (0..RUNS)
        .map(|_| run(binary, work.path(), &["--list"], "0"))
        .collect();
    let (wall, peak) = medians(&replays);
    let (cold_wall, cold_peak) = medians(&cold);
    let (warm_wall, _) = medians(&warm);
    let (list_wall, _) = medians(&lists);
    let baseline = median(baselines);
    let megabytes = cassette_bytes as f64 / 1e6;
    let target = target.map_or(String::new(), |t| format!("target <= {t} s, "));
    let place = tmpdir.map_or(String::new(), |d| {
        format!(" (repositories in {})", d.display())
    });
    println!(
        "replay {SCENARIOS} scenarios{place}, GLB {} KB ({megabytes:.1} MB of cassettes): median {:.2} s = {:.0} MB/s, peak {} \
         ({target}<= {PEAK_TARGET_MB} MB); baseline read+base64+sha256 in one thread {:.3} s, ratio {:.1}x; --list {:.2} s",
        size / 1024,
        wall.as_secs_f64(),
        megabytes / wall.as_secs_f64(),
        mb(peak),
        baseline.as_secs_f64(),
        wall.as_secs_f64() / baseline.as_secs_f64(),
        list_wall.as_secs_f64(),
    );
    let unchanged = warm
        .iter()
        .filter(|s| s.stderr.contains("(unchanged: "))
        .count();
    println!(
        "  with the report: first run {:.2} s = {:.2}x (target <= 1.4x), peak {}; again {:.2} s = {:.2}x (target <= 1.2x), \
         {unchanged} of {} left the page as it was",
        cold_wall.as_secs_f64(),
        cold_wall.as_secs_f64() / wall.as_secs_f64(),
        mb(cold_peak),
        warm_wall.as_secs_f64(),
        warm_wall.as_secs_f64() / wall.as_secs_f64(),
        warm.len(),
    );
}

/// Recording 50 scenarios against the simulator under Meshy's limits.
fn record(binary: &Path) {
    let fifty = tempfile::tempdir().expect("temp dir");
    write_scenarios(fifty.path(), 50, |i| {
        ["otter", "beaver", "heron", "lynx"][i % 4].to_owned()
    });
    let records: Vec<Sample> = (0..RUNS)
        .map(|_| {
            let _ = std::fs::remove_dir_all(fifty.path().join("cassettes"));
            run(
                binary,
                fifty.path(),
                &["--record-webhooks", "--target=sim"],
                "2",
            )
        })
        .collect();
    assert!(records.iter().all(|s| s.ok), "a recording run failed");
    let (wall, _) = medians(&records);
    println!(
        "record 50 scenarios against the simulator (10-task queue, 20 req/s), 2 s tasks: median wall {:.2} s \
         (target <= 12 s); baseline 5 waves of 2 s = 10.00 s; ratio {:.2}x",
        wall.as_secs_f64(),
        wall.as_secs_f64() / 10.0
    );
}

/// One scenario recorded against the simulator, to copy 1000 times.
struct Template {
    /// The cassette, its GLB answer still the simulator's.
    cassette: Cassette,
    /// The webhook recording's text, cut to 4 deliveries.
    webhook: String,
    task_id: String,
    /// The recordings of the harness's trial written in Rust, copied as they are.
    rust_trial: Vec<(PathBuf, Vec<u8>)>,
}

const PROMPT: &str = "otter number 0000, sculpture style";

impl Template {
    fn record(binary: &Path) -> Template {
        let dir = tempfile::tempdir().expect("temp dir");
        write_scenarios(dir.path(), 1, |_| "otter".into());
        // Tasks of 1 s: the simulator sends progress deliveries before the terminal one.
        let first = run(
            binary,
            dir.path(),
            &["--record-webhooks", "--target=sim"],
            "1",
        );
        assert!(first.ok, "recording the template scenario failed");
        let http = dir.path().join("cassettes/http");
        let text =
            std::fs::read_to_string(http.join("otter_0000.yaml")).expect("the recorded cassette");
        let cassette = Cassette::parse(&text).expect("the recorded cassette parses");
        let task_id = mesh_toolkit::suite::created_tasks(&cassette)
            .into_iter()
            .next()
            .expect("the cassette holds the create call's answer");
        let webhooks = dir.path().join("cassettes/webhooks");
        let recording = webhooks.join(format!("otter_text3d_{task_id}.json"));
        let mut webhook: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&recording).expect("the webhook recording"))
                .expect("JSON");
        let deliveries = webhook["deliveries"].as_array_mut().expect("deliveries");
        // Four deliveries: the first ones, then the terminal one (a duplicate of the
        // first when the simulator sent fewer).
        let terminal = deliveries.pop().expect("a terminal delivery");
        while deliveries.len() < 3 {
            deliveries.push(
                deliveries
                    .first()
                    .cloned()
                    .unwrap_or_else(|| terminal.clone()),
            );
        }
        deliveries.truncate(3);
        deliveries.push(terminal);
        let rust_trial = std::fs::read_dir(&http)
            .expect("cassettes")
            .chain(std::fs::read_dir(&webhooks).expect("webhooks"))
            .map(|e| e.expect("entry").path())
            .filter(|p| p != &http.join("otter_0000.yaml") && p != &recording)
            .map(|p| {
                let relative = p.strip_prefix(dir.path()).expect("inside").to_owned();
                (relative, std::fs::read(&p).expect("read"))
            })
            .collect();
        Template {
            cassette,
            webhook: serde_json::to_string_pretty(&webhook).expect("JSON"),
            task_id,
            rust_trial,
        }
    }

    /// `n` scenarios in `dir`, each with its own task, cassette (GLB of `size` bytes)
    /// and webhook recording. Returns the bytes of cassettes written.
    fn generate(&self, dir: &Path, n: usize, size: usize) -> u64 {
        write_scenarios(dir, n, |_| "otter".into());
        let mut cassette = self.cassette.clone();
        let glb = glb(size);
        for interaction in &mut cassette.interactions {
            if matches!(interaction.response.body, Body::Binary(_)) {
                interaction.response.body = Body::Binary(glb.clone());
                for (name, values) in &mut interaction.response.headers {
                    if name.eq_ignore_ascii_case("content-length") {
                        *values = vec![glb.len().to_string()];
                    }
                }
            }
        }
        let cassette = cassette.to_yaml();
        let (http, webhooks) = (dir.join("cassettes/http"), dir.join("cassettes/webhooks"));
        std::fs::create_dir_all(&http).expect("cassettes dir");
        std::fs::create_dir_all(&webhooks).expect("webhooks dir");
        let mut total = 0;
        for i in 0..n {
            // The same length as the recorded id, unique per scenario.
            let id = format!("{}{i:012x}", &self.task_id[..self.task_id.len() - 12]);
            let name = format!("otter_{i:04}");
            let text = cassette
                .replace(&self.task_id, &id)
                .replace(PROMPT, &prompt(i));
            total += text.len() as u64;
            std::fs::write(http.join(format!("{name}.yaml")), text).expect("cassette");
            let webhook = self
                .webhook
                .replace(&self.task_id, &id)
                .replace("otter_0000", &name)
                .replace(PROMPT, &prompt(i));
            std::fs::write(webhooks.join(format!("otter_text3d_{id}.json")), webhook)
                .expect("recording");
        }
        for (relative, bytes) in &self.rust_trial {
            std::fs::write(dir.join(relative), bytes).expect("the Rust trial's recording");
        }
        total
    }
}

fn prompt(i: usize) -> String {
    format!("otter number {i:04}, sculpture style")
}

/// `n` text-to-3D webhook scenarios with distinct prompts.
fn write_scenarios(dir: &Path, n: usize, species: impl Fn(usize) -> String) {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("scenarios dir");
    for i in 0..n {
        let species = species(i);
        let text = format!(
            "species = \"{species}\"\ntask_type = \"text3d\"\nprompt = \"{}\"\n",
            prompt(i).replace("otter", &species)
        );
        std::fs::write(scenarios.join(format!("{species}_{i:04}.toml")), text)
            .expect("scenario file");
    }
}

/// A valid GLB of exactly `size` bytes (a multiple of 4): a JSON chunk naming one
/// buffer, and a binary chunk of pseudo-random bytes (nothing compresses).
fn glb(size: usize) -> Vec<u8> {
    let json = |bin: usize| {
        format!(r#"{{"asset":{{"version":"2.0"}},"buffers":[{{"byteLength":{bin}}}]}}"#)
    };
    // The chunk's length for the longest number the buffer could have, padded to 4.
    let padded = json(size).len().div_ceil(4) * 4;
    let bin = size - 28 - padded;
    let text = format!("{:<padded$}", json(bin));
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&(bin as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes()[..(size - out.len()).min(8)]);
    }
    assert_eq!(mesh_toolkit::suite::check_glb(&out), Ok(()));
    out
}

/// What a replay's trial repositories cost the file system alone, as a trial makes
/// them (see `Repository::ephemeral`): median of RUNS.
fn repository_files_baseline(tmp: &Path) -> Duration {
    let samples = (0..RUNS)
        .map(|_| {
            let root = tempfile::tempdir_in(tmp).expect("temp dir");
            let (manifest, glb) = (vec![b'm'; 2000], vec![b'g'; 20 * 1024]);
            let start = Instant::now();
            for i in 0..SCENARIOS {
                let species = root.path().join(format!("trial-{i}/otter"));
                std::fs::create_dir_all(&species).expect("directories");
                for _ in 0..3 {
                    std::fs::write(species.join("manifest.json"), &manifest).expect("manifest");
                }
                std::fs::write(species.join("model.glb"), &glb).expect("GLB");
                std::fs::remove_dir_all(root.path().join(format!("trial-{i}"))).expect("remove");
            }
            start.elapsed()
        })
        .collect();
    median(samples)
}

/// What the replay cannot beat on one thread: read every cassette, base64-decode its
/// `!!binary` block and hash the bytes.
fn baseline(http: &Path) -> Duration {
    let start = Instant::now();
    let mut digests = 0usize;
    for entry in std::fs::read_dir(http).expect("cassettes") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("cassette");
        let Some(start) = text.find("!!binary |\n") else {
            continue;
        };
        let block = &text[start + "!!binary |\n".len()..];
        let mut encoded = String::with_capacity(block.len());
        for line in block.lines() {
            if !line.starts_with("        ") {
                break;
            }
            encoded.push_str(line.trim_start());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .expect("base64");
        digests += mesh_toolkit::sha256_hex(&bytes).len();
    }
    assert!(digests > 0, "no GLB in the cassettes");
    start.elapsed()
}

struct Sample {
    ok: bool,
    wall: Duration,
    /// Peak resident memory in KiB, from /usr/bin/time when it is there.
    peak_kib: Option<u64>,
    /// What the run printed there (its summary lines).
    stderr: String,
}

fn run(binary: &Path, dir: &Path, args: &[&str], task_seconds: &str) -> Sample {
    run_with(binary, dir, args, task_seconds, &[])
}

fn run_with(
    binary: &Path,
    dir: &Path,
    args: &[&str],
    task_seconds: &str,
    env: &[(&str, &OsStr)],
) -> Sample {
    let timed = Path::new("/usr/bin/time").is_file();
    let mut command = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "peak-kib %M"]).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    // Only what the bench sets: a developer's MESHY_* (a record mode, a real key) must
    // never turn a replay into a recording.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MESHY_") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(dir)
        .args(args)
        .env("MESHY_SIM_TASK_SECONDS", task_seconds)
        // The results and report go under the work dir's `target`, unless `env` says.
        .env_remove("CARGO_TARGET_DIR")
        .envs(env.iter().copied())
        .env_remove("CI");
    // Each run starts with the disk settled: the write-back of what the run before it
    // wrote (a first run writes tens of MB of models) is not charged to this one.
    let _ = Command::new("sync").status();
    let start = Instant::now();
    let output = command.output().expect("run the harness");
    let wall = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_kib = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-kib "))
        .and_then(|v| v.trim().parse().ok());
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{stderr}");
    }
    Sample {
        ok: output.status.success(),
        wall,
        peak_kib,
        stderr: stderr.into_owned(),
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn medians(samples: &[Sample]) -> (Duration, Option<u64>) {
    let walls = samples.iter().map(|s| s.wall).collect();
    let mut peaks: Vec<u64> = samples.iter().filter_map(|s| s.peak_kib).collect();
    peaks.sort();
    (median(walls), peaks.get(peaks.len() / 2).copied())
}

fn mb(kib: Option<u64>) -> String {
    kib.map_or("n/a (no /usr/bin/time)".into(), |k| {
        format!("{:.1} MB", k as f64 / 1024.0)
    })
}
