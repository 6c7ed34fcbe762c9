//! Hearing a process end without polling: a pidfd becomes readable when its process exits.

use std::os::fd::{FromRawFd, OwnedFd};

/// Returns when process `pid` has ended (at once if it is gone already). Where the kernel cannot
/// give a pidfd it never returns: callers keep a slow check for that case.
pub async fn exited(pid: i32) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return;
        }
        return std::future::pending().await;
    }
    // SAFETY: the descriptor was just made for us and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns the descriptor, which stays open and the same until it is dropped.
    match unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) } {
        Ok(fd) => {
            let _ = fd.readable().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Whether process `pid` exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_process_ending_is_heard_at_once_and_a_live_one_is_not() {
        let mut child = std::process::Command::new("sleep").arg("0.3").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(alive(pid));
        let started = std::time::Instant::now();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), exited(pid)).await;
        assert!(waited.is_ok() && started.elapsed() >= std::time::Duration::from_millis(250));
        child.wait().unwrap();
        assert!(!alive(pid));
        let me = std::process::id() as i32;
        assert!(tokio::time::timeout(std::time::Duration::from_millis(200), exited(me)).await.is_err());
    }
}
