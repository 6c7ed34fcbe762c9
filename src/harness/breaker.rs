//! The circuit breaker: the run pauses when sessions are not getting anywhere, and says why and on
//! which feature, so the operator can skip it, give the next session a note, or edit it. Four
//! rules: sessions that did nothing at all; sessions that committed but passed nothing (churn); one
//! feature attempted session after session without passing; one session making the same failing
//! tool call again and again (that session is stopped at once).

use std::collections::{HashMap, HashSet};

use super::*;

/// Why the breaker tripped.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    /// `no_progress`, `churn`, `same_feature` or `repeated_failure`.
    pub rule: &'static str,
    /// The feature the run is stuck on, when one is.
    pub feature: Option<usize>,
    pub detail: String,
}

/// Counts a session's failing tool calls by what they asked (the tool and its whole input): the
/// same call failing `limit` times trips the breaker.
#[derive(Debug, Default)]
pub struct Repeats {
    limit: u32,
    /// Each call's id: what identifies it (the tool and its input), and how to name it.
    calls: HashMap<String, (String, String)>,
    failed: HashSet<String>,
    counts: HashMap<String, u32>,
}

impl Repeats {
    /// Counting up to `limit`; 0 never trips.
    pub fn new(limit: u32) -> Self {
        Repeats { limit, ..Repeats::default() }
    }

    /// Takes one event; returns the call (its name and key argument) when it has now failed
    /// `limit` times.
    pub fn take(&mut self, event: &AgentEvent) -> Option<String> {
        if self.limit == 0 {
            return None;
        }
        let id = match event {
            AgentEvent::ToolCall { id, name, input } => {
                let shown = format!("{name} {}", crate::agent::key_argument(input));
                self.calls.insert(id.clone(), (format!("{name} {input}"), shown));
                return None;
            }
            AgentEvent::ToolResult { id, is_error: true, .. }
            | AgentEvent::PolicyDenied { id, .. }
            | AgentEvent::SandboxDenied { id, .. } => id,
            _ => return None,
        };
        // A refusal and its error result are one failure.
        if !self.failed.insert(id.clone()) {
            return None;
        }
        let (call, shown) = self.calls.get(id)?.clone();
        let n = self.counts.entry(call).or_insert(0);
        *n += 1;
        (*n == self.limit).then_some(shown)
    }
}

/// The feature a session is meant to finish: the first failing one not skipped (the prompt asks
/// for the highest-priority failing feature, and the list is in priority order), else the first
/// failing one.
pub fn target(list: Option<&FeatureList>) -> Option<usize> {
    let list = list?;
    let failing = |skipped: bool| {
        list.features().iter().position(|f| !f.passes() && crate::project::features::is_skipped(f) == skipped)
    };
    failing(false).or_else(|| failing(true)).map(|i| i + 1)
}

/// Whether the same feature was the target of the last `k` coding sessions of this run (sessions
/// the API failed say nothing) and still fails: that feature.
pub fn same_feature(sessions: &[SessionSummary], first: u32, k: u32, list: Option<&FeatureList>) -> Option<Trip> {
    if k == 0 {
        return None;
    }
    let attempts: Vec<&SessionSummary> = sessions
        .iter()
        .rev()
        .filter(|s| s.number >= first && s.kind == SessionKind::Coding)
        .filter(|s| !matches!(s.outcome(), Some(Outcome::RateLimited | Outcome::ApiError) | None))
        .take(k as usize)
        .collect();
    if attempts.len() < k as usize {
        return None;
    }
    let feature = attempts[0].target?;
    if attempts.iter().any(|s| s.target != Some(feature)) {
        return None;
    }
    let stuck = list?.get(feature).ok().filter(|f| !f.passes())?;
    let numbers: Vec<String> = attempts.iter().rev().map(|s| s.number.to_string()).collect();
    Some(Trip {
        rule: "same_feature",
        feature: Some(feature),
        detail: format!(
            "feature {feature} (\"{}\") was attempted in {k} sessions in a row ({}) and still fails",
            crate::words::clip(stuck.description(), 50),
            numbers.join(", ")
        ),
    })
}

impl Harness {
    /// What the breaker says after a session, if it trips; `list` is the feature list now.
    pub(super) fn breaker(&self, list: Option<&FeatureList>) -> Result<Option<Trip>, HarnessError> {
        if let Some(t) = &self.trip {
            return Ok(Some(t.clone()));
        }
        let stuck_on = target(list);
        if self.no_progress_streak >= self.opts.no_progress_sessions {
            return Ok(Some(Trip {
                rule: "no_progress",
                feature: stuck_on,
                detail: format!(
                    "{} in a row made no progress (no new passing feature, no commit)",
                    crate::words::count(self.no_progress_streak, "session")
                ),
            }));
        }
        let sessions = self.sessions()?;
        if let Some(t) = same_feature(&sessions, self.first_session, self.opts.same_feature_sessions, list) {
            return Ok(Some(t));
        }
        if self.stall_streak >= self.opts.no_progress_sessions.saturating_mul(2) {
            return Ok(Some(Trip {
                rule: "churn",
                feature: stuck_on,
                detail: format!(
                    "{} in a row changed the code but passed no feature",
                    crate::words::count(self.stall_streak, "session")
                ),
            }));
        }
        Ok(None)
    }

    /// Records and announces a trip; the run stops after it.
    pub(super) fn trip(&mut self, trip: Trip) -> Result<StopReason, HarnessError> {
        let mut detail = trip.detail.clone();
        if let Some(n) = trip.feature {
            detail.push_str(&format!(
                "; skip feature {n} for now (baton features skip {n}), give the next session a note, or edit it, then go on"
            ));
        }
        self.append(Record::BreakerTripped {
            rule: trip.rule.to_owned(),
            feature: trip.feature,
            detail: trip.detail.clone(),
        })?;
        // The screen offers the choices itself: its dialog gets the reason alone.
        self.emit(HarnessEvent::Tripped { rule: trip.rule.to_owned(), feature: trip.feature, detail: trip.detail });
        self.stop_why = Some(detail);
        Ok(StopReason::NoProgress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(id: &str, command: &str) -> AgentEvent {
        AgentEvent::ToolCall { id: id.into(), name: "bash".into(), input: json!({ "command": command }) }
    }

    fn failed(id: &str) -> AgentEvent {
        AgentEvent::ToolResult { id: id.into(), output: "exit 1".into(), is_error: true }
    }

    #[test]
    fn the_same_failing_call_trips_at_the_limit_and_others_do_not_count() {
        let mut r = Repeats::new(3);
        let mut tripped = None;
        for i in 0..3 {
            assert_eq!(r.take(&call(&format!("a{i}"), "npm test")), None);
            // Other calls failing (even on the same file), and the same call succeeding, count
            // for nothing.
            r.take(&call(&format!("b{i}"), &format!("ls {i}")));
            r.take(&failed(&format!("b{i}")));
            let edit = serde_json::json!({ "path": "a.txt", "old": i.to_string() });
            r.take(&AgentEvent::ToolCall { id: format!("e{i}"), name: "edit".into(), input: edit });
            assert_eq!(r.take(&failed(&format!("e{i}"))), None, "a different edit of the same file");
            r.take(&AgentEvent::ToolResult { id: format!("ok{i}"), output: String::new(), is_error: false });
            let denied = AgentEvent::PolicyDenied { id: format!("a{i}"), name: "bash".into(), reason: "no".into() };
            assert_eq!(r.take(&denied), if i == 2 { Some("bash npm test".to_owned()) } else { None });
            tripped = tripped.or(r.take(&failed(&format!("a{i}"))));
        }
        assert_eq!(tripped, None, "a refusal and its error result are one failure");
        assert_eq!(Repeats::new(0).take(&failed("x")), None);
    }
}
