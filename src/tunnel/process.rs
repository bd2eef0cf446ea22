//! Tunnel agents as child processes: found on `PATH`, output appended to a log file
//! and offered line by line to whoever looks for the URL, killed on stop, on drop,
//! and by [`stop_all`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Provider, Tunnel, TunnelError, TunnelOptions};

type Shared = Arc<Mutex<Option<Child>>>;

/// Every agent started and not yet stopped, for [`stop_all`].
static LIVE: Mutex<Vec<Weak<Mutex<Option<Child>>>>> = Mutex::new(Vec::new());

/// Kills every tunnel agent still running: call it from a Ctrl-C handler before
/// exiting, so no agent outlives the run.
/// Returns how many agents were still running.
pub fn stop_all() -> usize {
    let live = std::mem::take(&mut *crate::sync::lock(&LIVE));
    let mut stopped = 0;
    for child in live.iter().filter_map(Weak::upgrade) {
        if crate::sync::lock(&child).is_some() {
            stopped += 1;
        }
        kill(&child);
    }
    stopped
}

fn kill(child: &Shared) {
    if let Some(mut child) = crate::sync::lock(child).take() {
        let _ = child.kill();
        // Reap it, so that when stop returns the agent is gone (SIGKILL: this is quick).
        let _ = child.wait();
    }
}

/// Owns an agent process: dropping it kills the process.
struct Handle(Shared);

impl Drop for Handle {
    fn drop(&mut self) {
        kill(&self.0);
    }
}

/// The full path of `program` on `search_path` (or `PATH`).
pub fn which(program: &str, search_path: Option<&OsString>) -> Option<PathBuf> {
    let path = search_path.cloned().or_else(|| std::env::var_os("PATH"))?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A started agent: its process, its log, and its output lines as they come.
pub struct Agent {
    pub program: String,
    pub log: PathBuf,
    child: Handle,
    pub lines: mpsc::UnboundedReceiver<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Agent {
    /// Starts `program` with `args`, logging its output to `<log_dir>/tunnel-<provider>.log`.
    pub fn spawn(
        options: &TunnelOptions,
        program: &Path,
        args: &[String],
    ) -> Result<Agent, TunnelError> {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log = options
            .log_dir
            .join(format!("tunnel-{}.log", options.provider));
        let spawn_error = |source| TunnelError::Spawn {
            provider: options.provider,
            program: name.clone(),
            source,
        };
        std::fs::create_dir_all(&options.log_dir).map_err(spawn_error)?;
        let file = std::fs::File::create(&log).map_err(spawn_error)?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &options.search_path {
            command.env("PATH", path);
        }
        command.envs(options.env.iter().map(|(k, v)| (k, v)));
        let mut child = command.spawn().map_err(spawn_error)?;
        let (sender, lines) = mpsc::unbounded_channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let file = Arc::new(Mutex::new(file));
        if let Some(stdout) = child.stdout.take() {
            let (sender, file, tail) = (sender.clone(), Arc::clone(&file), Arc::clone(&tail));
            std::thread::spawn(move || pump(stdout, &sender, &file, &tail));
        }
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&tail);
            std::thread::spawn(move || pump(stderr, &sender, &file, &tail));
        }
        let child = Arc::new(Mutex::new(Some(child)));
        crate::sync::lock(&LIVE).push(Arc::downgrade(&child));
        Ok(Agent {
            program: name,
            log,
            child: Handle(child),
            lines,
            tail,
        })
    }

    /// The exit status, if the agent has exited.
    pub fn exited(&self) -> Option<String> {
        let mut guard = crate::sync::lock(&self.child.0);
        match guard.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some(e.to_string()),
            None => Some("stopped".into()),
        }
    }

    /// Waits until the agent's output has been read to its end (both pumps saw it
    /// close, so the log and the tail hold its last lines), at most `deadline`: a
    /// process the agent left behind may keep the pipes open.
    pub async fn drain(&mut self, deadline: Duration) {
        let closed = async { while self.lines.recv().await.is_some() {} };
        let _ = tokio::time::timeout(deadline, closed).await;
    }

    /// The last log lines, for error messages.
    pub fn tail(&self) -> String {
        let tail = crate::sync::lock(&self.tail);
        if tail.is_empty() {
            "  (no output)".into()
        } else {
            tail.iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }

    pub fn error_exited(&self, provider: Provider, status: String) -> TunnelError {
        TunnelError::ExitedEarly {
            provider,
            program: self.program.clone(),
            status,
            log: self.log.clone(),
            tail: self.tail(),
        }
    }

    /// The running tunnel, once its URL is known.
    pub fn into_tunnel(self, public_url: String) -> AgentTunnel {
        AgentTunnel {
            public_url,
            child: self.child,
        }
    }
}

/// Copies one output stream to the log file, the tail and the line channel, on its
/// own thread, until the agent closes it.
fn pump(
    stream: impl Read,
    lines: &mpsc::UnboundedSender<String>,
    file: &Mutex<std::fs::File>,
    tail: &Mutex<VecDeque<String>>,
) {
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        {
            use std::io::Write;
            let mut file = crate::sync::lock(file);
            let _ = writeln!(file, "{line}");
        }
        let mut recent = crate::sync::lock(tail);
        recent.push_back(line.clone());
        if recent.len() > 15 {
            recent.pop_front();
        }
        drop(recent);
        let _ = lines.send(line);
    }
}

/// A tunnel backed by an agent process.
pub struct AgentTunnel {
    public_url: String,
    child: Handle,
}

impl Tunnel for AgentTunnel {
    fn public_url(&self) -> &str {
        &self.public_url
    }

    fn stop(&mut self) {
        kill(&self.child.0);
    }
}
