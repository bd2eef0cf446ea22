//! Whether a process id still names a running process: how left-overs of killed runs
//! (temporary files, scratch directories named after their pid) are told from a live
//! run's.

use rustix::io::Errno;
use rustix::process::Pid;

/// True if `pid` is running (or exists but belongs to another user).
pub(crate) fn alive(pid: u32) -> bool {
    // Pid 0 (and anything past i32) names no single process.
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    // Signal 0 only checks that the process exists and may be signalled.
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(error) => error == Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_alive_and_an_ended_child_is_not() {
        assert!(super::alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!super::alive(pid));
        assert!(!super::alive(0));
    }
}
