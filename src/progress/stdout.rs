//! Keeping libtest's lines whole while live lines are drawn: standard output (fd 1)
//! is pointed at a pipe, and a thread hands each complete line to a printer (the
//! console prints it on the real stdout with the live lines cleared and redrawn
//! around it). [`Forwarding::stop`] points fd 1 back, then forwards what the pipe
//! still holds, a last unterminated line included: nothing written is lost.
//!
//! Private to `progress`: only the console decides when stdout is redirected. Unix
//! only (`pipe`, `dup`, `dup2`, `poll`); elsewhere [`Forwarding::start`] refuses and
//! the console stays plain.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;

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
        let saved = dup_cloexec(libc::STDOUT_FILENO)?;
        let (read, write) = pipe_cloexec()?;
        let (stop_read, stop_write) = pipe_cloexec()?;
        let mut real = File::from(saved.try_clone()?);
        // SAFETY: `dup2` on two open descriptors; fd 1 now refers to the pipe (without
        // close-on-exec, so children write into it too) and `write` is closed on drop.
        if unsafe { libc::dup2(write.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
            return Err(io::Error::last_os_error());
        }
        drop(write);
        drop(stdout);
        let spawned = std::thread::Builder::new()
            .name("mesh-toolkit-stdout".into())
            .spawn(move || forward(&read, &stop_read, &mut real, &mut printer));
        let thread = match spawned {
            Ok(thread) => thread,
            Err(error) => {
                // No thread reads the pipe: fd 1 goes back to the real stdout.
                // SAFETY: `dup2` on two open descriptors.
                unsafe { libc::dup2(saved.as_raw_fd(), libc::STDOUT_FILENO) };
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
            // SAFETY: `dup2` on two open descriptors; afterwards no write of this
            // process reaches the pipe.
            unsafe { libc::dup2(self.saved.as_raw_fd(), libc::STDOUT_FILENO) };
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
            libc::pollfd {
                fd: read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if ready < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if fds[0].revents != 0 {
            match read_some(read.as_raw_fd(), &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buffer[..n]);
                    emit(&mut pending, real, false);
                    continue;
                }
            }
        }
        if fds[1].revents != 0 {
            // fd 1 points back at the real stdout: what the pipe holds now is all
            // there is from this process (a child still holding it may add more, but
            // the run is over); drain it without blocking.
            set_nonblocking(read.as_raw_fd());
            while let Ok(n) = read_some(read.as_raw_fd(), &mut buffer) {
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

fn read_some(fd: RawFd, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buffer` is valid for `buffer.len()` bytes of writes.
        let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: `fcntl` on an open descriptor with integer arguments.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` returns a new descriptor we then own.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a freshly created descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A pipe whose two ends are close-on-exec (children get fd 1, not these).
fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe` writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here only.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&read, &write] {
        // SAFETY: `fcntl` on an open descriptor with integer arguments.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok((read, write))
}
