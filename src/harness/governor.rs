//! The governor: what the loop does between sessions about the API's limits. A plan's usage limit
//! is waited out (to its reset, plus a margin) and the run goes on by itself; a session is not
//! started while a limit is nearly used up; server throttling is backed off from; an account the
//! API refuses stops the run, since no later try can succeed.

use super::*;
use crate::agent::{LimitStatus, UsageLimit};

/// The API refusing the account (authentication, billing): no later try can succeed.
pub fn account_refusal(reason: &EndReason) -> Option<&str> {
    let EndReason::ApiError { status, message } = reason else { return None };
    let lower = message.to_lowercase();
    let billing = lower.contains("credit balance") || lower.contains("billing");
    (matches!(status, Some(401 | 403)) || billing || lower.contains("invalid api key")).then_some(message.as_str())
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A reset time in the local clock, for people: "04:12".
pub fn clock(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%H:%M").to_string())
        .unwrap_or_else(|_| unix.to_string())
}

impl Harness {
    /// After a session: what its end says for the next one.
    pub(super) fn govern_after(&mut self, number: u32, reason: &EndReason) {
        if let Some(limit) = reason.usage_limit() {
            // The other loops on this account wait for the same reset instead of running into it.
            self.share(&limit, Some(number), true);
            self.limit_wait = Some(limit);
        } else if let Some(message) = account_refusal(reason) {
            self.account_refused = Some(format!("session {number}: {message}"));
        }
    }

    /// A limit the journal says the last session hit, still in the future: waited for after a
    /// restart too.
    pub(super) fn recover_limit(&mut self, sessions: &[SessionSummary]) {
        let last = sessions.iter().rev().find_map(|s| s.end.as_ref());
        if let Some(limit) = last.and_then(|e| e.limit.clone())
            && limit.resets_at.is_some_and(|r| r > now_unix())
        {
            self.limit_wait = Some(limit);
        }
    }

    /// Before a session: waits out a usage limit or a back-off, or says why the run must stop.
    pub(super) async fn govern_before(&mut self) -> Result<Option<StopReason>, HarnessError> {
        let margin = self.opts.limit_margin;
        let now = now_unix();
        // This loop's own limit, else one another loop on the account hit (said whose).
        let wait = match self.limit_wait.take().map(|l| (l, String::new())).or_else(|| self.shared_limit()) {
            Some((l, whose)) => {
                self.limit_waited(l.resets_at);
                let name = UsageLimit::name(l.kind.as_deref());
                let (until, reason) = match l.resets_at {
                    Some(r) => (
                        r + margin.as_secs() as i64,
                        format!("the {name} is reached{whose}; it resets at {}", clock(r)),
                    ),
                    // Said only in words: no reset time to wait for, so the longest back-off.
                    None => (
                        now + self.opts.max_backoff.as_secs() as i64,
                        format!("the {name} is reached; its reset time is unknown"),
                    ),
                };
                Some((until, l.kind, reason))
            }
            None => self.usage.clone().or_else(|| self.shared_usage()).and_then(|l| {
                let used = l.utilization?;
                let resets = l.resets_at.filter(|r| *r > now)?;
                (l.status == LimitStatus::AllowedWarning && used >= self.opts.limit_threshold).then(|| {
                    let name = UsageLimit::name(l.kind.as_deref());
                    let reason = format!(
                        "the {name} is {:.0}% used: a session started now could not finish; it resets at {}",
                        used * 100.0,
                        clock(resets)
                    );
                    (resets + margin.as_secs() as i64, l.kind.clone(), reason)
                })
            }),
        };
        if let Some((until, ..)) = &wait {
            self.limit_waited(Some(*until - margin.as_secs() as i64));
        }
        if let Some((until, kind, reason)) = wait {
            if !self.opts.wait_for_limits {
                self.stop_why = Some(format!("{reason}; [run] wait_for_limits is off"));
                return Ok(Some(StopReason::UsageLimit));
            }
            self.append(Record::LimitWait { until, kind: kind.clone(), reason: reason.clone() })?;
            self.emit(HarnessEvent::LimitWait { until, kind, reason });
            let started = Instant::now();
            let left = (until * 1000 - jiff::Timestamp::now().as_millisecond()).max(0) as u64;
            let wait = self.wait_for_next(Some(Duration::from_millis(left))).await?;
            self.append(Record::LimitWaited { seconds: started.elapsed().as_secs() })?;
            // What the API said before the wait is old news after it.
            self.usage = None;
            return Ok(stopped(wait));
        }
        if self.outside_failure_streak > 0 {
            let exp = self.opts.backoff_base.saturating_mul(1 << (self.outside_failure_streak - 1).min(16));
            let wait = exp.min(self.opts.max_backoff);
            self.emit(HarnessEvent::Backoff {
                seconds: wait.as_secs(),
                reason: format!("{} session(s) in a row failed for outside reasons", self.outside_failure_streak),
            });
            return Ok(stopped(self.wait_for_next(Some(wait)).await?));
        }
        Ok(None)
    }
}

/// Why a wait ended the run, if it did.
fn stopped(wait: Wait) -> Option<StopReason> {
    match wait {
        Wait::Go => None,
        Wait::Stop(r) => Some(r),
    }
}

/// A usage limit's state in a line: "five-hour limit 91% used, resets at 04:12".
pub fn describe(limit: &UsageLimit) -> String {
    let name = UsageLimit::name(limit.kind.as_deref());
    let used = limit.utilization.map(|u| format!(" {:.0}% used", u * 100.0)).unwrap_or_default();
    let state = if limit.status == LimitStatus::Rejected { " reached" } else { "" };
    let resets = limit.resets_at.map(|r| format!(", resets at {}", clock(r))).unwrap_or_default();
    format!("{name}{state}{used}{resets}")
}
