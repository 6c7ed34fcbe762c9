//! A session's own network: one user and network namespace, with its loopback up, held open by a
//! small process (`baton sandbox hold`) for as long as the session runs. Every confined command of
//! the session joins it, so a server one command starts on loopback (`init.sh` starting the app)
//! is reachable from the next, and from the session's browser; nothing outside it is.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::SandboxError;

/// Where the `claude` CLI's environment names the session's network holder, for the hook.
pub const NET_ENV: &str = "BATON_SANDBOX_NET";

#[derive(Debug)]
pub struct SessionNet {
    child: Child,
    pid: u32,
}

impl SessionNet {
    pub fn start() -> Result<SessionNet, SandboxError> {
        let mut child = Command::new(super::launcher()?)
            .args(["sandbox", "hold"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SandboxError::Unavailable(format!("cannot start the session's network: {e}")))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        match line.trim().strip_prefix("ready ").and_then(|p| p.parse().ok()) {
            Some(pid) => Ok(SessionNet { child, pid }),
            None => {
                let _ = child.kill();
                let out = child.wait_with_output().ok();
                let err = out.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned()).unwrap_or_default();
                Err(SandboxError::Unavailable(format!("the session's network did not start: {err}")))
            }
        }
    }

    /// The holder's process id, which the launchers join (`--join`).
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for SessionNet {
    fn drop(&mut self) {
        // Its stdin closes with it; a kill makes sure.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
