//! A headless Chromium driven through the DevTools protocol over `--remote-debugging-pipe`:
//! the browser reads NUL-terminated JSON commands on its fd 3 and writes NUL-terminated
//! replies and events on its fd 4 (no port, no WebSocket, no protocol bindings to
//! compile). This module owns the process (its launch flags, its user-data dir, its
//! teardown), the message loop and the network policy; what a page must satisfy is
//! `check.rs`'s business.
//!
//! Network off: the browser starts with no DNS (`--host-resolver-rules`) and a proxy on a
//! closed loopback port, and every session fails, through the `Fetch` domain, each request
//! whose scheme is not `file:`, `data:` or `blob:`; such requests are kept as findings
//! ([`Browser::blocked_requests`]), with those the `Network` domain saw (a WebSocket, say).
//!
//! Teardown: dropping a [`Browser`] kills its whole process group and reaps it, also when a
//! trial fails or panics; the user-data dir is a tempdir removed after that. If this test
//! process dies first, Chromium reads end-of-file on its command pipe and exits.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long the browser may take to answer its first command after it was started.
pub const LAUNCH_DEADLINE: Duration = Duration::from_secs(30);

/// How long an ordinary command (not a page load, not a model load) may take.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(30);

/// The variable that names the browser when it is not `chromium` on `PATH`.
pub const BROWSER_VARIABLE: &str = "MESH_TOOLKIT_CHROMIUM";

/// Schemes a page may load; anything else is failed and reported.
const ALLOWED_SCHEMES: [&str; 3] = ["file:", "data:", "blob:"];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    #[error(
        "no chromium: '{program}' not found; install it with `apt-get install chromium` \
         (Debian's package; `.ci/run` does this) or set {BROWSER_VARIABLE} to a Chromium binary"
    )]
    NotInstalled { program: PathBuf },
    #[error("no page to check at '{path}'")]
    NoPage { path: PathBuf },
    #[error("error starting '{program}'")]
    Launch {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("error talking to the browser over its DevTools pipe")]
    Pipe(#[source] std::io::Error),
    #[error("the browser exited while {waiting_for}; its last output:\n{stderr}")]
    Exited { waiting_for: String, stderr: String },
    #[error("timed out after {}s waiting for {waiting_for}", deadline.as_secs())]
    Timeout {
        waiting_for: String,
        deadline: Duration,
    },
    #[error("the browser refused '{method}': {message}")]
    Protocol { method: String, message: String },
    #[error("unexpected answer to '{method}': {detail}")]
    Unexpected { method: String, detail: String },
}

/// One DevTools event: its method, its parameters and the session it came from.
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub params: Value,
    pub session: Option<String>,
}

/// A running headless Chromium; killed and reaped when dropped.
pub struct Browser {
    child: Child,
    commands: File,
    messages: mpsc::Receiver<Value>,
    next_id: u64,
    events: VecDeque<Event>,
    blocked: Vec<String>,
    /// The user-data dir (`profile/`) and the browser's stderr (`stderr.log`).
    dir: tempfile::TempDir,
}

impl Browser {
    /// The browser to use: `$MESH_TOOLKIT_CHROMIUM`, else `chromium` on `PATH`.
    pub fn locate() -> Result<PathBuf, BrowserError> {
        if let Some(program) = std::env::var_os(BROWSER_VARIABLE) {
            return Ok(PathBuf::from(program));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| BrowserError::NotInstalled {
                program: "chromium".into(),
            })
    }

    /// Starts `program` headless with WebGL through SwiftShader and the network off, and
    /// waits until it answers on its pipe.
    pub fn launch(program: &Path) -> Result<Browser, BrowserError> {
        if !program.is_file() {
            return Err(BrowserError::NotInstalled {
                program: program.to_owned(),
            });
        }
        let launch_error = |source| BrowserError::Launch {
            program: program.to_owned(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("mesh-toolkit-chromium-")
            .tempdir()
            .map_err(launch_error)?;
        let stderr = File::create(dir.path().join("stderr.log")).map_err(launch_error)?;
        // Ours: write commands, read replies. The browser's ends go to its fd 3 and 4.
        let (command_reader, commands) = std::io::pipe().map_err(launch_error)?;
        let (replies, reply_writer) = std::io::pipe().map_err(launch_error)?;
        let (their_in, their_out) = (command_reader.as_raw_fd(), reply_writer.as_raw_fd());

        let mut command = Command::new(program);
        command
            .args([
                "--headless",
                "--no-sandbox", // we may run as root (CI does)
                "--no-first-run",
                "--no-default-browser-check",
                // Without these the browser keeps opening connections that a closed
                // network refuses many at a time.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-extensions",
                // WebGL must really render: ANGLE on SwiftShader, never `--disable-gpu`.
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                // Network off below the DevTools policy too: no name resolves, and what
                // needs no name goes to a proxy on a closed loopback port.
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=http://127.0.0.1:9",
                "--window-size=1024,768",
                "--remote-debugging-pipe",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own group, so teardown reaches the renderer and GPU processes too.
            .process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls (fcntl, dup2, close)
        // on descriptors that are open in the child.
        unsafe {
            command.pre_exec(move || {
                // Copy both ends above the target numbers first: either may already be
                // 3 or 4, and dup2 onto itself would keep its close-on-exec flag.
                let high_in = libc::fcntl(their_in, libc::F_DUPFD, 10);
                let high_out = libc::fcntl(their_out, libc::F_DUPFD, 10);
                if high_in < 0
                    || high_out < 0
                    || libc::dup2(high_in, 3) < 0
                    || libc::dup2(high_out, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(high_in);
                libc::close(high_out);
                Ok(())
            });
        }
        let child = command.spawn().map_err(launch_error)?;
        // Only the browser may hold its ends, or its exit would never end our reads.
        drop((command_reader, reply_writer));

        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut replies = BufReader::new(replies);
            let mut message = Vec::new();
            loop {
                message.clear();
                match replies.read_until(0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if message.last() == Some(&0) {
                    message.pop();
                }
                let Ok(value) = serde_json::from_slice::<Value>(&message) else {
                    continue;
                };
                if sender.send(value).is_err() {
                    return;
                }
            }
        });

        let mut browser = Browser {
            child,
            commands: File::from(std::os::fd::OwnedFd::from(commands)),
            messages,
            next_id: 0,
            events: VecDeque::new(),
            blocked: Vec::new(),
            dir,
        };
        browser.call(None, "Browser.getVersion", json!({}), LAUNCH_DEADLINE)?;
        Ok(browser)
    }

    /// Opens a new page, attaches to it (flat sessions: the session id goes on each
    /// message) and turns on the network policy; returns the session id.
    pub fn new_page(&mut self) -> Result<String, BrowserError> {
        let created = self.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            COMMAND_DEADLINE,
        )?;
        let target = string_field(&created, "targetId", "Target.createTarget")?;
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
            COMMAND_DEADLINE,
        )?;
        let session = string_field(&attached, "sessionId", "Target.attachToTarget")?;
        let session = Some(session.as_str());
        self.call(
            session,
            "Fetch.enable",
            json!({"patterns": [{"urlPattern": "*"}]}),
            COMMAND_DEADLINE,
        )?;
        self.call(session, "Network.enable", json!({}), COMMAND_DEADLINE)?;
        Ok(session.map(str::to_owned).unwrap_or_default())
    }

    /// Sends a command and waits for its reply; events that arrive meanwhile are kept for
    /// [`Browser::take_events`] (and `Fetch.requestPaused` is answered at once).
    pub fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        deadline: Duration,
    ) -> Result<Value, BrowserError> {
        let id = self.send(session, method, params)?;
        let until = Instant::now() + deadline;
        loop {
            let message = self.receive(until, deadline, &format!("the reply to '{method}'"))?;
            if message.get("id").and_then(Value::as_u64) != Some(id) {
                continue; // the reply to a command sent without waiting
            }
            if let Some(error) = message.get("error") {
                return Err(BrowserError::Protocol {
                    method: method.to_owned(),
                    message: error["message"].as_str().unwrap_or("?").to_owned(),
                });
            }
            return Ok(message.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// Waits for the first event (kept or new) that `matches`, and removes it from those
    /// kept.
    pub fn wait_for_event(
        &mut self,
        waiting_for: &str,
        deadline: Duration,
        matches: impl Fn(&Event) -> bool,
    ) -> Result<Event, BrowserError> {
        let until = Instant::now() + deadline;
        let mut seen = 0;
        loop {
            if let Some(index) = self.events.iter().skip(seen).position(&matches) {
                return Ok(self.events.remove(seen + index).expect("found above"));
            }
            seen = self.events.len();
            self.receive(until, deadline, waiting_for)?;
        }
    }

    /// The browser's process id, which is also its process group's.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The tempdir holding the user-data dir (`profile/`) and the browser's stderr.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The events received so far, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Every URL the policy refused or the `Network` domain saw with a scheme other than
    /// `file:`, `data:`, `blob:`, in order, each once.
    pub fn blocked_requests(&self) -> &[String] {
        &self.blocked
    }

    fn send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<u64, BrowserError> {
        self.next_id += 1;
        let mut message = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("a JSON value serialises");
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .map_err(BrowserError::Pipe)?;
        Ok(self.next_id)
    }

    /// The next message; an event is kept (after the network policy has seen it) and
    /// returned too.
    fn receive(
        &mut self,
        until: Instant,
        deadline: Duration,
        waiting_for: &str,
    ) -> Result<Value, BrowserError> {
        let left = until.saturating_duration_since(Instant::now());
        let message = match self.messages.recv_timeout(left) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(BrowserError::Timeout {
                    waiting_for: waiting_for.to_owned(),
                    deadline,
                });
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(BrowserError::Exited {
                    waiting_for: waiting_for.to_owned(),
                    stderr: self.stderr_tail(),
                });
            }
        };
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            let event = Event {
                method: method.to_owned(),
                params: message.get("params").cloned().unwrap_or(Value::Null),
                session: message
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            };
            self.apply_network_policy(&event)?;
            self.events.push_back(event);
        }
        Ok(message)
    }

    fn apply_network_policy(&mut self, event: &Event) -> Result<(), BrowserError> {
        let session = event.session.as_deref();
        match event.method.as_str() {
            "Fetch.requestPaused" => {
                let request_id = event.params["requestId"].clone();
                let url = event.params["request"]["url"].as_str().unwrap_or_default();
                if allowed(url) {
                    self.send(
                        session,
                        "Fetch.continueRequest",
                        json!({"requestId": request_id}),
                    )?;
                } else {
                    self.block(url);
                    self.send(
                        session,
                        "Fetch.failRequest",
                        json!({"requestId": request_id, "errorReason": "BlockedByClient"}),
                    )?;
                }
            }
            "Network.requestWillBeSent" => {
                self.block_unless_allowed(event.params["request"]["url"].as_str());
            }
            "Network.webSocketCreated" => self.block_unless_allowed(event.params["url"].as_str()),
            _ => {}
        }
        Ok(())
    }

    fn block_unless_allowed(&mut self, url: Option<&str>) {
        match url {
            Some(url) if !allowed(url) => self.block(url),
            _ => {}
        }
    }

    fn block(&mut self, url: &str) {
        if !self.blocked.iter().any(|seen| seen == url) {
            self.blocked.push(url.to_owned());
        }
    }

    /// The last lines of the browser's stderr, for when it died.
    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: the browser, its renderer, GPU and utility processes.
        let group = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill has no memory-safety preconditions; the group is the browser's own.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        // `dir` (profile and stderr) is removed after this, once nothing writes to it.
    }
}

fn allowed(url: &str) -> bool {
    ALLOWED_SCHEMES.iter().any(|scheme| url.starts_with(scheme))
}

fn string_field(result: &Value, field: &str, method: &str) -> Result<String, BrowserError> {
    result[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BrowserError::Unexpected {
            method: method.to_owned(),
            detail: format!("no '{field}' in {result}"),
        })
}
