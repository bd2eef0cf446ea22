//! Keeping libtest's lines whole while live lines are drawn: standard output (fd 1)
//! is pointed at a pipe, and a thread hands each complete line to a printer (the
//! console prints it on the real stdout with the live lines cleared and redrawn
//! around it). [`Forwarding::stop`] points fd 1 back, then forwards what the pipe
//! still holds, a last unterminated line included: nothing written is lost.
//!
//! Private to `progress`: only the console decides when stdout is redirected. Unix
//! only (`pipe`, `dup`, `dup2`, `poll`, through rustix's safe wrappers); elsewhere
//! [`Forwarding::start`] refuses and the console stays plain.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use rustix::event::{PollFd, PollFlags};
use rustix::io::{Errno, FdFlags};
use rustix::stdio::dup2_stdout;

/// What receives the forwarded output: the real stdout, and one line (with its
/// newline, or the last bytes without one).
pub(super) type Printer = Box<dyn FnMut(&mut File, &[u8]) + Send>;

/// Standard output redirected into a pipe that a thread forwards.
pub(super) struct Forwarding {
    /// The real stdout, as it was before (close-on-exec: children get the pipe).
    saved: OwnedFd,
    /// Written to (closed) to tell the thread to drain the pipe and end.
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarding {
    /// Redirects fd 1 into a pipe forwarded line by line through `printer`.
    pub(super) fn start(mut printer: Printer) -> io::Result<Forwarding> {
        // Nothing half-written may stay in Rust's buffer for the old fd 1, and no
        // other thread may write while it changes.
        let mut stdout = io::stdout().lock();
        stdout.flush()?;
        let saved = rustix::io::fcntl_dupfd_cloexec(&stdout, 0)?;
        let (read, write) = pipe_cloexec()?;
        let (stop_read, stop_write) = pipe_cloexec()?;
        let mut real = File::from(saved.try_clone()?);
        // fd 1 now refers to the pipe (without close-on-exec, so children write into it
        // too); `write` itself is closed here.
        dup2_stdout(&write)?;
        drop(write);
        drop(stdout);
        let spawned = std::thread::Builder::new()
            .name("mesh-toolkit-stdout".into())
            .spawn(move || forward(&read, &stop_read, &mut real, &mut printer));
        let thread = match spawned {
            Ok(thread) => thread,
            Err(error) => {
                // No thread reads the pipe: fd 1 goes back to the real stdout.
                let _ = dup2_stdout(&saved);
                return Err(error);
            }
        };
        Ok(Forwarding {
            saved,
            stop: Some(stop_write),
            thread: Some(thread),
        })
    }

    /// Points fd 1 back at the real stdout and waits until everything written into
    /// the pipe before has been forwarded. Idempotent.
    pub(super) fn stop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        {
            let mut stdout = io::stdout().lock();
            let _ = stdout.flush();
            // Afterwards no write of this process reaches the pipe.
            let _ = dup2_stdout(&self.saved);
        }
        drop(stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: complete lines as they come; once `stop` closes, what the pipe holds.
fn forward(read: &OwnedFd, stop: &OwnedFd, real: &mut File, printer: &mut Printer) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut emit = |pending: &mut Vec<u8>, real: &mut File, all: bool| {
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            printer(real, &line);
        }
        if all && !pending.is_empty() {
            printer(real, pending);
            pending.clear();
        }
    };
    loop {
        let mut fds = [
            PollFd::new(read, PollFlags::IN),
            PollFd::new(stop, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(_) => break,
        }
        if !fds[0].revents().is_empty() {
            match read_some(read, &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buffer[..n]);
                    emit(&mut pending, real, false);
                    continue;
                }
            }
        }
        if !fds[1].revents().is_empty() {
            // fd 1 points back at the real stdout: what the pipe holds now is all
            // there is from this process (a child still holding it may add more, but
            // the run is over); drain it without blocking.
            set_nonblocking(read);
            while let Ok(n) = read_some(read, &mut buffer) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buffer[..n]);
            }
            break;
        }
    }
    emit(&mut pending, real, true);
    let _ = real.flush();
}

fn read_some(fd: &OwnedFd, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buffer) {
            Err(Errno::INTR) => continue,
            result => return result.map_err(io::Error::from),
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) {
    if let Ok(flags) = rustix::fs::fcntl_getfl(fd) {
        let _ = rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK);
    }
}

/// A pipe whose two ends are close-on-exec (children get fd 1, not these).
fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe()?;
    for fd in [&read, &write] {
        rustix::io::fcntl_setfd(fd, FdFlags::CLOEXEC)?;
    }
    Ok((read, write))
}
