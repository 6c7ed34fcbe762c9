//! The `bash` tool: one command line in its own process group, output capped (head and tail kept),
//! the whole group killed on timeout or cancellation.

use std::time::Duration;

use super::{ToolContext, ToolOutput};
use crate::agent::process::{Ended, run_shell};

pub use crate::agent::process::kill_group;

pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
pub const MAX_TIMEOUT_SECS: u64 = 600;

pub async fn run(command: &str, timeout: Option<u64>, ctx: &ToolContext) -> ToolOutput {
    let secs = timeout.unwrap_or(DEFAULT_TIMEOUT_SECS).clamp(1, MAX_TIMEOUT_SECS);
    let run =
        run_shell(command, ctx.root(), &ctx.env(), ctx.sandbox(), Duration::from_secs(secs), &ctx.cancel, |pgid| {
            ctx.remember_group(pgid)
        })
        .await;
    let run = match run {
        Ok(r) => r,
        Err(e) => return ToolOutput::error(format!("cannot run the command: {e}")),
    };
    let mut text = run.output;
    match run.ended {
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
        Ended::Exited => match run.status {
            Some(s) if s.success() => ToolOutput::ok(text),
            Some(s) => {
                let code = s.code().map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit status {c}"));
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                if let Some(why) = ctx.sandbox().and_then(|p| p.explain(&text)) {
                    text.push_str(&format!("[{why}]\n"));
                }
                text.push_str(&format!("[{code}]"));
                ToolOutput::error(text)
            }
            None => ToolOutput::error(format!("{text}\n[cannot wait for the command]")),
        },
    }
}
