//! Ctrl-C while recording. The first one ends every wait (the recorder's and the
//! reconciler's) and stops the tunnel; trials then fail with what was recorded on disk
//! already (cassettes and webhook recordings are journals), and `main` returns 130
//! after the summary of the tasks still running. The second Ctrl-C leaves at once:
//! the default SIGINT action is restored after the first, so nothing the journals
//! hold is lost either way. No `process::exit`: destructors and cleanup run.

use tokio::sync::watch;

/// The run's interruption flag.
pub struct Interrupt {
    sender: watch::Sender<bool>,
}

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt {
            sender: watch::channel(false).0,
        }
    }

    /// Whether Ctrl-C was pressed.
    pub fn is_set(&self) -> bool {
        *self.sender.borrow()
    }

    /// A receiver that turns true on Ctrl-C.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.sender.subscribe()
    }

    /// Starts listening for Ctrl-C on `runtime` (once per run); says so on `console`.
    pub fn watch_ctrl_c(
        &self,
        runtime: &tokio::runtime::Handle,
        console: crate::progress::Console,
    ) {
        let sender = self.sender.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                sender.send_replace(true);
                let tunnels = crate::tunnel::stop_all();
                restore_default_sigint();
                console.line(&interrupted_line(tunnels));
            }
        });
    }
}

/// What the first Ctrl-C prints: "tunnel stopped" only when one was running.
fn interrupted_line(tunnels_stopped: usize) -> String {
    let tunnel = if tunnels_stopped > 0 {
        ", tunnel stopped"
    } else {
        ""
    };
    format!(
        "interrupted: waits stopped{tunnel}; everything recorded so far is on disk and a rerun resumes it \
         (Ctrl-C again leaves at once)"
    )
}

/// After the first Ctrl-C, the second one terminates the process as if no handler
/// were installed.
///
/// Through libc: rustix has no safe call that sets a signal's disposition (its
/// `sigaction` is in `rustix::runtime`, unsafe and meant for programs without libc).
fn restore_default_sigint() {
    #[cfg(unix)]
    // SAFETY: `signal` with `SIG_DFL` only resets the disposition of SIGINT; no Rust
    // state is touched, and tokio's handler is not needed any more.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interruption_line_says_tunnel_stopped_only_when_one_ran() {
        assert_eq!(
            super::interrupted_line(0),
            "interrupted: waits stopped; everything recorded so far is on disk and a rerun resumes it \
             (Ctrl-C again leaves at once)"
        );
        assert!(
            super::interrupted_line(1).starts_with("interrupted: waits stopped, tunnel stopped; ")
        );
    }
}
