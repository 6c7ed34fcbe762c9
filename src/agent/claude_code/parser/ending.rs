//! How a session ended, read from the CLI's `result` line and what came before it: completed, the
//! turn cap, the plan's usage limit (told from throttling by the `rate_limit_event` first, the
//! error's status second, the CLI's own words last, never tool output), other API errors, a crash.

use super::{StreamParser, usage_of};
use crate::agent::EndReason;
use crate::project::session::Usage;

impl StreamParser {
    /// How the session ended, decided from what was seen (an API failure arrives as
    /// `subtype: success` with `is_error: true`; no result at all means the process crashed).
    pub fn end(&self, stderr_tail: &str) -> (EndReason, Usage, f64, u32) {
        let (reason, usage, cost, turns) = self.end_of_result(stderr_tail);
        // A refusal ends the CLI's session as an error with the CLI's words: it is the model's.
        let refused = self.refused || self.result.as_ref().is_some_and(|r| r["stop_reason"] == "refusal");
        let reason = match reason {
            EndReason::ApiError { .. } | EndReason::Completed if refused => EndReason::Refused,
            r => r,
        };
        (reason, usage, cost, turns)
    }

    fn end_of_result(&self, stderr_tail: &str) -> (EndReason, Usage, f64, u32) {
        let Some(r) = &self.result else {
            let message = if stderr_tail.trim().is_empty() {
                "claude exited without a result".to_owned()
            } else {
                format!("claude exited without a result: {}", stderr_tail.trim())
            };
            return (EndReason::Crashed { message }, Usage::default(), 0.0, 0);
        };
        let usage = usage_of(&r["usage"]);
        let cost = r["total_cost_usd"].as_f64().unwrap_or(0.0);
        let turns = r["num_turns"].as_u64().unwrap_or(0) as u32;
        let is_error = r["is_error"].as_bool().unwrap_or(false);
        let subtype = r["subtype"].as_str().unwrap_or("");
        let status = r["api_error_status"].as_u64().map(|s| s as u16);
        let message = r["result"].as_str().map(str::to_owned).unwrap_or_else(|| {
            r["errors"]
                .as_array()
                .map(|e| e.iter().map(|x| x.as_str().unwrap_or("").to_owned()).collect::<Vec<_>>().join("; "))
                .unwrap_or_default()
        });
        // A plan's usage limit, read from the CLI's structured event first: `rejected` with a reset
        // time or a limit's kind (a throttling 429 is `rejected` with neither), then the error's
        // status, and the result's own words only as a last resort. Never tool output.
        let plan_limit = self.limit.as_ref().filter(|l| l.is_plan_limit());
        let failed = is_error || subtype == "error_during_execution";
        let limited = failed && matches!(status, Some(429) | None);
        let reason = match (subtype, is_error, status) {
            ("error_max_turns", _, _) => EndReason::MaxTurns,
            _ if limited && let Some(l) = plan_limit => {
                EndReason::UsageLimit { message, resets_at: l.resets_at, kind: l.kind.clone() }
            }
            _ if limited && says_usage_limit(&message) => {
                EndReason::UsageLimit { message, resets_at: None, kind: None }
            }
            // After an overload the CLI can end so with `is_error: false`: the API failed.
            ("error_during_execution", _, Some(429 | 529)) => EndReason::RateLimited { message },
            ("error_during_execution", _, _) if message.contains("verloaded") || message.contains("rate limit") => {
                EndReason::RateLimited { message }
            }
            ("error_during_execution", _, status) => EndReason::ApiError {
                status,
                message: if message.is_empty() { "the CLI ended with error_during_execution".into() } else { message },
            },
            (_, true, Some(429 | 529)) => EndReason::RateLimited { message },
            (_, true, status) if status.is_some() || subtype == "success" => EndReason::ApiError { status, message },
            (_, true, _) => EndReason::Crashed { message: format!("{subtype}: {message}") },
            _ => EndReason::Completed,
        };
        (reason, usage, cost, turns)
    }
}

/// Whether the CLI's own error text says a plan's usage limit is reached ("You've hit your session
/// limit · resets 3am"): the last resort when no structured event said so.
fn says_usage_limit(message: &str) -> bool {
    let m = message.trim_start();
    (m.starts_with("You've hit your") || m.starts_with("You've reached your") || m.starts_with("You're out of"))
        && m.contains("limit")
}
