//! The operator's notify command (`[notify] command`): told, with one JSON object on its stdin,
//! when something needs them. Commands run one after another from a queue, each ended after
//! `[notify] timeout_seconds`, so the loop never waits for one and the order is kept.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::{HarnessEvent, StopReason};
use crate::project::config::Notify;
use crate::project::session::Outcome;

pub struct Notifier {
    queue: Option<UnboundedSender<String>>,
    worker: Option<tokio::task::JoinHandle<()>>,
    timeout: Duration,
    project: String,
}

/// The notification an event calls for: its name, the session, one line of summary.
pub fn of(event: &HarnessEvent) -> Option<(&'static str, Option<u32>, String)> {
    match event {
        HarnessEvent::ReviewNeeded { review, waiting: true } => Some((
            "review_waiting",
            Some(review.number),
            format!(
                "session {} ({}) waits for a verdict: {}, {}, {} flipped",
                review.number,
                review.kind,
                review.outcome,
                crate::words::count(review.commits.len() as u64, "commit"),
                crate::words::count(review.flipped.len() as u64, "feature")
            ),
        )),
        HarnessEvent::SessionEnded { number, outcome, .. }
            if matches!(outcome, Outcome::RateLimited | Outcome::ApiError | Outcome::AgentCrashed) =>
        {
            Some(("session_failed", Some(*number), format!("session {number} ended: {outcome}")))
        }
        HarnessEvent::Question { number, session, command, reason, .. } => Some((
            "question_waiting",
            Some(*session),
            format!(
                "question {number}: session {session} asks to run `{command}` ({reason}); baton answer {number} allow|always|deny"
            ),
        )),
        HarnessEvent::LimitWait { reason, until, .. } => {
            Some(("limit_wait", None, format!("{reason}; waiting until {}", super::governor::clock(*until))))
        }
        HarnessEvent::Stopped {
            reason: StopReason::NoProgress | StopReason::Budget | StopReason::OutsideFailures | StopReason::UsageLimit,
            detail,
        } => Some(("paused", None, detail.clone())),
        HarnessEvent::Stopped { reason, detail } => Some(("run_ended", None, format!("{}: {detail}", reason.as_str()))),
        _ => None,
    }
}

impl Notifier {
    /// A notifier for `project`; one that does nothing when no command is set. Must be made
    /// inside a tokio runtime.
    pub fn new(config: &Notify, project: &Path) -> Notifier {
        let mut n = Notifier::none(project);
        let command = config.command.trim().to_owned();
        if command.is_empty() {
            return n;
        }
        let (tx, mut rx) = unbounded_channel::<String>();
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        n.worker = Some(tokio::spawn(async move {
            while let Some(json) = rx.recv().await {
                run(&command, &json, timeout).await;
            }
        }));
        n.queue = Some(tx);
        n.timeout = timeout;
        n
    }

    /// A notifier that tells nobody.
    pub fn none(project: &Path) -> Notifier {
        Notifier { queue: None, worker: None, timeout: Duration::ZERO, project: project.display().to_string() }
    }

    /// Lets the queued notifications go out (each within its timeout) before the run returns.
    pub async fn finish(&mut self) {
        self.queue = None;
        if let Some(mut worker) = self.worker.take() {
            // Bounded: a hung command delays the end of the run by its timeout, not for ever;
            // what is left then is ended (its process group with it).
            let pending = 2 * self.timeout + Duration::from_secs(1);
            if tokio::time::timeout(pending, &mut worker).await.is_err() {
                tracing::warn!("notifications still queued at the end of the run were dropped");
                worker.abort();
                let _ = worker.await;
            }
        }
    }

    /// Tells the command about `event`, if it is one it hears about.
    pub fn send(&self, event: &HarnessEvent) {
        let (Some(queue), Some((name, session, summary))) = (&self.queue, of(event)) else { return };
        let line = json!({
            "event": name,
            "project": self.project,
            "session": session,
            "summary": summary,
            "at": jiff::Timestamp::now().to_string(),
        });
        let _ = queue.send(line.to_string());
    }
}

/// A process group killed when this goes.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        crate::agent::process::kill_group(self.0);
    }
}

async fn run(command: &str, json: &str, timeout: Duration) {
    let child = tokio::process::Command::new("sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot run the notify command `{command}`: {e}");
            return;
        }
    };
    // Whatever the command started ends with it, on every path (its future dropped included).
    let _group = Group(child.id().map_or(0, |p| p as i32));
    let pgid = _group.0;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(format!("{json}\n").as_bytes()).await;
    }
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => {}
        Ok(Ok(out)) => tracing::warn!(
            "the notify command `{command}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(Err(e)) => tracing::warn!("the notify command `{command}` failed: {e}"),
        Err(_) => {
            crate::agent::process::kill_group(pgid);
            tracing::warn!("the notify command `{command}` ran past {} s and was ended", timeout.as_secs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::session::Usage;

    #[test]
    fn outside_failures_and_pauses_are_told_and_ordinary_ends_are_not() {
        let ended = |outcome| HarnessEvent::SessionEnded {
            number: 4,
            outcome,
            usage: Usage::default(),
            cost_usd: 0.0,
            duration_ms: 0,
        };
        assert_eq!(of(&ended(Outcome::RateLimited)).map(|n| n.0), Some("session_failed"));
        assert_eq!(of(&ended(Outcome::ApiError)).map(|n| (n.0, n.1)), Some(("session_failed", Some(4))));
        assert_eq!(of(&ended(Outcome::Completed)), None);
        assert_eq!(of(&ended(Outcome::NoProgress)), None);
        let stopped = |reason| HarnessEvent::Stopped { reason, detail: "why".into() };
        assert_eq!(of(&stopped(StopReason::NoProgress)).map(|n| n.0), Some("paused"));
        assert_eq!(of(&stopped(StopReason::Budget)).map(|n| n.0), Some("paused"));
        assert_eq!(of(&stopped(StopReason::Done)).map(|n| (n.0, n.2)), Some(("run_ended", "done: why".to_owned())));
        assert_eq!(of(&HarnessEvent::Notice { text: "x".into() }), None);
        let question = HarnessEvent::Question {
            number: 2,
            session: 5,
            tool: "bash".into(),
            command: "factor 84".into(),
            reason: "`factor` is not on the allowlist".into(),
            cwd: "/p".into(),
            words: String::new(),
        };
        let told = of(&question).unwrap();
        assert_eq!((told.0, told.1), ("question_waiting", Some(5)));
        assert!(told.2.contains("`factor 84`") && told.2.contains("baton answer 2"), "{}", told.2);
    }
}
