//! Running a shell command the way baton runs every command it does not trust: in its own process
//! group, output from stdout and stderr together, capped (head and tail kept), and the whole group
//! killed at the timeout or on cancellation.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// Output kept from the start and from the end of a long output.
pub const KEEP_HEAD: usize = 16 * 1024;
pub const KEEP_TAIL: usize = 16 * 1024;

/// Sends SIGKILL to every process in group `pgid`.
pub fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: killpg only sends a signal; a stale group id at worst fails with ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Keeps the first and last bytes of a stream of any length.
#[derive(Default)]
pub struct Capped {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: usize,
}

impl Capped {
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len();
        let room = KEEP_HEAD.saturating_sub(self.head.len());
        let take = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        bytes = &bytes[take..];
        if bytes.len() >= KEEP_TAIL {
            self.tail.clear();
            bytes = &bytes[bytes.len() - KEEP_TAIL..];
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(KEEP_TAIL);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    pub fn finish(self) -> String {
        let omitted = self.total - self.head.len() - self.tail.len();
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if omitted > 0 {
            out.push_str(&format!("\n[... {omitted} bytes of output omitted ...]\n"));
        }
        let tail: Vec<u8> = self.tail.into_iter().collect();
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every process holding the output closed it.
    Exited,
    TimedOut,
    Cancelled,
}

#[derive(Debug)]
pub struct CommandRun {
    pub output: String,
    pub ended: Ended,
    /// `None` when the command could not be waited for.
    pub status: Option<ExitStatus>,
}

impl CommandRun {
    pub fn success(&self) -> bool {
        self.ended == Ended::Exited && self.status.is_some_and(|s| s.success())
    }
}

/// Runs `command` with `bash -c` in `dir`. `on_spawn` gets the process group id as soon as it
/// exists, so a caller can remember it (and kill what is left later).
pub async fn run_shell(
    command: &str,
    dir: &Path,
    env: &[(&str, String)],
    sandbox: Option<&crate::sandbox::Profile>,
    timeout: Duration,
    cancel: &CancellationToken,
    on_spawn: impl FnOnce(i32),
) -> std::io::Result<CommandRun> {
    let (reader, writer) = std::io::pipe()?;
    let writer2 = writer.try_clone()?;
    let mut cmd = match sandbox {
        Some(profile) => {
            let argv = profile.argv(command);
            let mut cmd = tokio::process::Command::new(&argv[0]);
            cmd.args(&argv[1..]).env("TMPDIR", profile.tmp());
            cmd
        }
        None => {
            let mut cmd = tokio::process::Command::new("bash");
            cmd.arg("-c").arg(command);
            cmd
        }
    };
    cmd.current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(OwnedFd::from(writer)))
        .stderr(Stdio::from(OwnedFd::from(writer2)))
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    // The parent's copies of the write end must close, or the read never sees the end.
    drop(cmd);
    let pgid = child.id().map_or(0, |id| id as i32);
    on_spawn(pgid);

    let mut pipe = match tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader)) {
        Ok(p) => p,
        Err(e) => {
            kill_group(pgid);
            return Err(e);
        }
    };
    let mut out = Capped::default();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut buf = vec![0u8; 64 * 1024];
    // Output is read until every process holding the pipe is gone: a background process that
    // keeps it open (`sleep 1000 &`) holds the call until the timeout kills it.
    let ended = loop {
        tokio::select! {
            n = pipe.read(&mut buf) => match n {
                Ok(0) | Err(_) => break Ended::Exited,
                Ok(n) => out.push(&buf[..n]),
            },
            _ = &mut deadline => break Ended::TimedOut,
            _ = cancel.cancelled() => break Ended::Cancelled,
        }
    };
    if ended != Ended::Exited {
        kill_group(pgid);
    }
    let status = child.wait().await.ok();
    Ok(CommandRun { output: out.finish(), ended, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_keeps_head_and_tail() {
        let mut c = Capped::default();
        let data: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in data.chunks(777) {
            c.push(chunk);
        }
        let text = c.finish();
        assert!(text.starts_with(std::str::from_utf8(&data[..KEEP_HEAD]).unwrap()));
        assert!(text.ends_with(std::str::from_utf8(&data[data.len() - KEEP_TAIL..]).unwrap()));
        let omitted = 100_000 - KEEP_HEAD - KEEP_TAIL;
        assert!(text.contains(&format!("[... {omitted} bytes of output omitted ...]")));
    }

    #[test]
    fn short_output_is_whole() {
        let mut c = Capped::default();
        c.push(b"hello\n");
        assert_eq!(c.finish(), "hello\n");
    }
}
