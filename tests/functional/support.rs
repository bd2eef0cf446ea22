//! Helpers for end-to-end tests: running the binary as a guarded child process, a
//! loopback webhook catcher, and free loopback ports.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use warp::Filter;

/// How long a test waits for a line a child process is expected to print.
pub const LINE_DEADLINE: Duration = Duration::from_secs(30);

/// How long a test waits for a child process to exit once it was asked to.
pub const EXIT_DEADLINE: Duration = Duration::from_secs(30);

/// The built `mesh-toolkit` binary.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mesh-toolkit"))
}

/// The Python that runs the real VCR.py: the venv `scripts/test-tools` provisions under
/// the target dir, else `python3` on PATH.
pub fn vcrpy_python() -> Command {
    let python = mesh_toolkit::workdir::test_tool("venv/bin/python3", "python3");
    Command::new(python.unwrap_or_else(|| {
        panic!(
            "no python3: install Python 3 with venv support, then {}",
            mesh_toolkit::workdir::TEST_TOOLS_HINT
        )
    }))
}

/// A child process that is killed when dropped, so a failing test leaves nothing behind.
/// Its standard output is read line by line and its standard error collected, both on
/// their own threads from the start: a full pipe never blocks the child, and no read
/// blocks the test past a deadline.
pub struct Guarded {
    pub child: Child,
    /// Started as the leader of its own process group ([`Guarded::spawn_group`]):
    /// signals go to the whole group, as a terminal's Ctrl-C does.
    group: bool,
    program: String,
    lines: mpsc::Receiver<String>,
    stderr: Option<mpsc::Receiver<String>>,
}

impl Guarded {
    pub fn spawn(command: Command) -> Guarded {
        Guarded::start(command, false)
    }

    /// Like [`Guarded::spawn`], as the leader of a new process group: for a command that
    /// runs others (`cargo test` runs the test binary), so that [`Guarded::interrupt`]
    /// reaches them all, as Ctrl-C in a terminal does, and dropping it kills them all.
    pub fn spawn_group(mut command: Command) -> Guarded {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        Guarded::start(command, true)
    }

    fn start(mut command: Command, group: bool) -> Guarded {
        let program = format!("{:?}", command.get_program());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().map(|mut pipe| {
            let (sender, receiver) = mpsc::channel();
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                let _ = sender.send(text);
            });
            receiver
        });
        Guarded {
            child,
            group,
            program,
            lines,
            stderr,
        }
    }

    /// The next line of standard output (without the newline); fails the test if none
    /// comes within [`LINE_DEADLINE`].
    pub fn line(&mut self) -> String {
        self.line_within(LINE_DEADLINE)
    }

    /// The next line of standard output, waiting at most `deadline`; fails the test
    /// if none comes.
    pub fn line_within(&mut self, deadline: Duration) -> String {
        self.try_line_within(deadline)
            .unwrap_or_else(|message| panic!("{message}"))
    }

    /// The next line of standard output, or what went wrong: none within `deadline`,
    /// or stdout closed (with the exit status and stderr).
    pub fn try_line_within(&mut self, deadline: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(deadline) {
            Ok(line) => Ok(line),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "{} printed no further line on stdout within {deadline:?}",
                self.program
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = wait_within(&mut self.child, EXIT_DEADLINE, &self.program);
                let stderr = self.take_stderr();
                Err(format!(
                    "{} closed its stdout ({status}) where a line was expected; stderr:\n{stderr}",
                    self.program
                ))
            }
        }
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits (at most [`EXIT_DEADLINE`]) for the
    /// exit; returns the exit code and everything written to standard error.
    pub fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.target();
        let sent = Command::new("kill")
            .args(["-INT", "--", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -INT {pid} failed");
        let what = format!("{} to exit after SIGINT", self.program);
        let status = wait_within(&mut self.child, EXIT_DEADLINE, &what);
        (status.code(), self.take_stderr())
    }

    /// Waits (at most [`EXIT_DEADLINE`]) for a child that exits by itself; returns the
    /// exit code and everything written to standard error.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let what = format!("{} to exit", self.program);
        let status = wait_within(&mut self.child, EXIT_DEADLINE, &what);
        (status.code(), self.take_stderr())
    }

    /// Everything the exited child wrote to standard error.
    fn take_stderr(&mut self) -> String {
        let Some(stderr) = self.stderr.take() else {
            return String::new();
        };
        stderr.recv_timeout(EXIT_DEADLINE).unwrap_or_else(|_| {
            panic!(
                "the stderr of {} did not close within {EXIT_DEADLINE:?} of its exit",
                self.program
            )
        })
    }
}

impl Guarded {
    /// What `kill` signals: the child, or its whole process group.
    fn target(&self) -> String {
        match self.group {
            true => format!("-{}", self.child.id()),
            false => self.child.id().to_string(),
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &self.target()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits at most `deadline` for `child` to exit, failing the test with `what` (what was
/// waited for) if it does not. The child is killed on timeout.
pub fn wait_within(child: &mut Child, deadline: Duration, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("waited {deadline:?} for {what}; killed it");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `command` to its end, killing it (and failing) if it takes longer than
/// `deadline`: a hanging child must fail the test, not hang the suite.
pub fn output_within(command: &mut Command, deadline: Duration) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let stdout = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(pipe) = out.as_mut() {
            let _ = pipe.read_to_end(&mut buffer);
        }
        buffer
    });
    let stderr = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(pipe) = err.as_mut() {
            let _ = pipe.read_to_end(&mut buffer);
        }
        buffer
    });
    let status = wait_within(
        &mut child,
        deadline,
        &format!("{command:?} to end (a hanging child must fail the test)"),
    );
    std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A loopback port that was free a moment ago: nothing listens there (a URL that
/// cannot connect), or the binary under test may bind it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A loopback server that answers every POST with `status` and keeps bodies and headers.
pub struct Catcher {
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    headers: Arc<Mutex<Vec<warp::http::HeaderMap>>>,
    arrivals: watch::Receiver<usize>,
    _stop: oneshot::Sender<()>,
}

impl Catcher {
    pub async fn start() -> Catcher {
        Catcher::answering(200).await
    }

    pub async fn answering(status: u16) -> Catcher {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let (arrived, arrivals) = watch::channel(0usize);
        let (log, header_log) = (Arc::clone(&bodies), Arc::clone(&headers));
        let route = warp::post()
            .and(warp::header::headers_cloned())
            .and(warp::body::json())
            .map(
                move |seen: warp::http::HeaderMap, body: serde_json::Value| {
                    log.lock().unwrap().push(body);
                    header_log.lock().unwrap().push(seen);
                    arrived.send_modify(|n| *n += 1);
                    warp::http::StatusCode::from_u16(status).unwrap()
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        let (stop, signal) = oneshot::channel::<()>();
        let server = warp::serve(route).incoming(listener).graceful(async {
            let _ = signal.await;
        });
        tokio::spawn(server.run());
        Catcher {
            url,
            bodies,
            headers,
            arrivals,
            _stop: stop,
        }
    }

    /// The headers of every request so far.
    pub fn headers(&self) -> Vec<warp::http::HeaderMap> {
        self.headers.lock().unwrap().clone()
    }

    /// Waits (without sleeping) until `done` holds for the bodies received.
    pub async fn wait_until(
        &self,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let mut arrivals = self.arrivals.clone();
        let wait = async {
            loop {
                let bodies = self.bodies.lock().unwrap().clone();
                if done(&bodies) {
                    return bodies;
                }
                arrivals.changed().await.expect("catcher stopped");
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("webhooks did not arrive in 30 s")
    }
}

/// The helpers' own promises: every wait ends, and a child's output never blocks it.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![
        libtest_mimic::Trial::test(
            "support_a_silent_child_fails_the_test_within_the_line_deadline",
            silent_child,
        ),
        libtest_mimic::Trial::test(
            "support_interrupt_drains_a_chatty_stderr_while_it_waits",
            chatty_stderr,
        ),
    ]
}

fn silent_child() -> Result<(), libtest_mimic::Failed> {
    let mut command = Command::new("sleep");
    command.arg("600");
    let mut silent = Guarded::spawn(command);
    let started = std::time::Instant::now();
    let message = match silent.try_line_within(Duration::from_millis(200)) {
        Ok(line) => return Err(format!("a line from a silent child: {line}").into()),
        Err(message) => message,
    };
    assert!(
        message.contains("printed no further line on stdout within 200ms"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "gave up after {:?}",
        started.elapsed()
    );
    Ok(())
}

fn chatty_stderr() -> Result<(), libtest_mimic::Failed> {
    // 200 kB on stderr, far more than a pipe holds: a helper that read stderr only
    // after the exit would wait forever on a child blocked writing it.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "trap 'exit 0' INT; head -c 200000 /dev/zero | tr '\\0' x >&2; echo ready; while :; do sleep 0.05; done",
    ]);
    let mut chatty = Guarded::spawn(command);
    assert_eq!(chatty.line(), "ready");
    let (code, stderr) = chatty.interrupt();
    assert_eq!(code, Some(0));
    assert_eq!(stderr.len(), 200_000);
    Ok(())
}
