//! Helpers for end-to-end tests: running the binary as a guarded child process, and a
//! loopback webhook catcher.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use warp::Filter;

/// The built `mesh-toolkit` binary.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mesh-toolkit"))
}

/// A child process that is killed when dropped, so a failing test leaves nothing behind.
pub struct Guarded {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
}

impl Guarded {
    pub fn spawn(mut command: Command) -> Guarded {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mesh-toolkit");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Guarded { child, stdout }
    }

    /// The next line of standard output (without the newline).
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read stdout");
        line.trim_end().to_owned()
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits for the exit; returns the exit code
    /// and everything written to standard error.
    pub fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -INT {pid} failed");
        let status = self.child.wait().expect("wait for mesh-toolkit");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("read stderr");
        }
        (status.code(), stderr)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        .expect("start the child process");
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
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not end within {deadline:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
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
