//! The `bash` tool: one command line in its own process group, output capped (head and tail kept),
//! the whole group killed on timeout or cancellation.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{ToolContext, ToolOutput};

pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
pub const MAX_TIMEOUT_SECS: u64 = 600;
/// Output kept from the start and from the end of a long output.
pub const KEEP_HEAD: usize = 16 * 1024;
pub const KEEP_TAIL: usize = 16 * 1024;

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

enum Ended {
    Eof,
    TimedOut,
    Cancelled,
}

pub async fn run(command: &str, timeout: Option<u64>, ctx: &ToolContext) -> ToolOutput {
    let secs = timeout
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
        .clamp(1, MAX_TIMEOUT_SECS);
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return ToolOutput::error(format!("cannot make a pipe: {e}")),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return ToolOutput::error(format!("cannot make a pipe: {e}")),
    };
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(command)
        .current_dir(ctx.root())
        .stdin(Stdio::null())
        .stdout(Stdio::from(OwnedFd::from(writer)))
        .stderr(Stdio::from(OwnedFd::from(writer2)))
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ToolOutput::error(format!("cannot start bash: {e}")),
    };
    // The parent's copies of the write end must close, or the read never sees the end.
    drop(cmd);
    let pgid = child.id().map_or(0, |id| id as i32);
    ctx.groups
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(pgid);

    let mut out = Capped::default();
    let mut pipe = match tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader)) {
        Ok(p) => p,
        Err(e) => {
            kill_group(pgid);
            return ToolOutput::error(format!("cannot read the command's output: {e}"));
        }
    };
    let deadline = tokio::time::sleep(Duration::from_secs(secs));
    tokio::pin!(deadline);
    let mut buf = vec![0u8; 64 * 1024];
    // Output is read until every process holding the pipe is gone: a background process that
    // keeps it open (`sleep 1000 &`) holds the call until the timeout kills it.
    let ended = loop {
        tokio::select! {
            n = pipe.read(&mut buf) => match n {
                Ok(0) | Err(_) => break Ended::Eof,
                Ok(n) => out.push(&buf[..n]),
            },
            _ = &mut deadline => break Ended::TimedOut,
            _ = ctx.cancel.cancelled() => break Ended::Cancelled,
        }
    };
    if !matches!(ended, Ended::Eof) {
        kill_group(pgid);
    }
    let status = child.wait().await;
    let mut text = out.finish();
    match ended {
        Ended::TimedOut => {
            text.push_str(&format!(
                "\n[timed out after {secs}s: the command and every process it started were killed; start long-running servers in the background with output redirected to a file]"
            ));
            ToolOutput::error(text)
        }
        Ended::Cancelled => {
            text.push_str("\n[interrupted by the operator: the command and every process it started were killed]");
            ToolOutput::error(text)
        }
        Ended::Eof => match status {
            Ok(s) if s.success() => ToolOutput::ok(text),
            Ok(s) => {
                let code = s.code().map_or_else(
                    || "killed by a signal".to_owned(),
                    |c| format!("exit status {c}"),
                );
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("[{code}]"));
                ToolOutput::error(text)
            }
            Err(e) => ToolOutput::error(format!("{text}\n[cannot wait for the command: {e}]")),
        },
    }
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
        assert!(text.contains(&format!(
            "[... {} bytes of output omitted ...]",
            100_000 - KEEP_HEAD - KEEP_TAIL
        )));
    }

    #[test]
    fn short_output_is_whole() {
        let mut c = Capped::default();
        c.push(b"hello\n");
        assert_eq!(c.finish(), "hello\n");
    }
}
