//! What the loop is told and what it tells: commands, events, stop reasons and errors.

use serde::{Deserialize, Serialize};

use super::Review;
use crate::agent::AgentEvent;
use crate::project::ProjectError;
use crate::project::config::Mode;
use crate::project::journal::{Answer, Remote};
use crate::project::lock::LockError;
use crate::project::session::{Outcome, SessionKind, Usage, Verdict};

/// What the operator asks of the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start the next session (step mode waits for this).
    StartNext,
    SetMode(Mode),
    /// Stop after the current session.
    Pause,
    /// Take back a pause asked for and not taken yet.
    Resume,
    /// Stop the current session now.
    Interrupt,
    Approve(u32),
    Veto(u32, String),
    /// Mark a feature (from 1); queued while a session runs, applied at the boundary.
    Mark {
        feature: usize,
        passes: bool,
    },
    /// Edit feature `number` (from 1), or add one at the end when `None`; queued like a mark.
    EditFeature {
        number: Option<usize>,
        category: String,
        description: String,
        steps: Vec<String>,
    },
    /// The operator's answer to question `number`.
    Answer {
        number: u32,
        answer: Answer,
    },
    /// Skip feature `number` for now: moved to the end of the list, marked `skipped`; queued like
    /// a mark.
    Skip(usize),
    /// A note for the next coding session's prompt.
    Note(String),
    /// Interrupt whatever runs and end the loop.
    Quit,
}

impl Command {
    /// The command as another process sends it through the journal; `None` for `Quit`, which
    /// only the loop's own process may give.
    pub fn to_remote(&self) -> Option<Remote> {
        Some(match self {
            Command::StartNext => Remote::StartNext,
            Command::SetMode(m) => {
                Remote::SetMode { mode: if *m == Mode::Continuous { "continuous" } else { "step" }.to_owned() }
            }
            Command::Pause => Remote::Pause,
            Command::Resume => Remote::Resume,
            Command::Interrupt => Remote::Interrupt,
            Command::Approve(n) => Remote::Approve { number: *n },
            Command::Veto(n, reason) => Remote::Veto { number: *n, reason: reason.clone() },
            Command::Mark { feature, passes } => Remote::Mark { feature: *feature, passes: *passes },
            Command::EditFeature { number, category, description, steps } => Remote::Edit {
                number: *number,
                category: category.clone(),
                description: description.clone(),
                steps: steps.clone(),
            },
            Command::Answer { number, answer } => Remote::Answer { number: *number, answer: answer.clone() },
            Command::Skip(feature) => Remote::Skip { feature: *feature },
            Command::Note(text) => Remote::Note { text: text.clone() },
            Command::Quit => return None,
        })
    }

    pub fn from_remote(r: Remote) -> Command {
        match r {
            Remote::StartNext => Command::StartNext,
            Remote::SetMode { mode } => {
                Command::SetMode(if mode == "continuous" { Mode::Continuous } else { Mode::Step })
            }
            Remote::Pause => Command::Pause,
            Remote::Resume => Command::Resume,
            Remote::Interrupt => Command::Interrupt,
            Remote::Approve { number } => Command::Approve(number),
            Remote::Veto { number, reason } => Command::Veto(number, reason),
            Remote::Mark { feature, passes } => Command::Mark { feature, passes },
            Remote::Edit { number, category, description, steps } => {
                Command::EditFeature { number, category, description, steps }
            }
            Remote::Answer { number, answer } => Command::Answer { number, answer },
            Remote::Skip { feature } => Command::Skip(feature),
            Remote::Note { text } => Command::Note(text),
        }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every feature passes (and the verify command, if any).
    Done,
    SessionCap,
    Budget,
    /// The operator paused, or asked to quit.
    Paused,
    /// The circuit breaker tripped: sessions are not getting anywhere (no progress, one feature
    /// failed again and again, the same failing tool call, churn with no feature passing).
    NoProgress,
    /// Sessions in a row failed for outside reasons (rate limits, API errors).
    OutsideFailures,
    /// A plan's usage limit was reached and `[run] wait_for_limits` is off.
    UsageLimit,
    /// The API refused the account (authentication, billing): no later try can succeed.
    Account,
}

impl StopReason {
    /// The reason a journal's `run_stopped` record names; an unknown one reads as paused.
    pub fn parse(s: &str) -> StopReason {
        [
            StopReason::Done,
            StopReason::SessionCap,
            StopReason::Budget,
            StopReason::NoProgress,
            StopReason::OutsideFailures,
            StopReason::UsageLimit,
            StopReason::Account,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or(StopReason::Paused)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Done => "done",
            StopReason::SessionCap => "session_cap",
            StopReason::Budget => "budget",
            StopReason::Paused => "paused",
            StopReason::NoProgress => "no_progress",
            StopReason::OutsideFailures => "outside_failures",
            StopReason::UsageLimit => "usage_limit",
            StopReason::Account => "account",
        }
    }

    /// `baton run --headless`'s exit status: 0 when the run ended as asked (done, the session
    /// cap, the budget, a pause), 3 when the circuit breaker tripped, 4 on a usage limit not
    /// waited for, 5 when the account was refused, 1 otherwise.
    pub fn exit_code(self) -> u8 {
        match self {
            StopReason::Done | StopReason::SessionCap | StopReason::Budget | StopReason::Paused => 0,
            StopReason::NoProgress => 3,
            StopReason::UsageLimit => 4,
            StopReason::Account => 5,
            StopReason::OutsideFailures => 1,
        }
    }
}

/// What the loop tells whoever is watching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HarnessEvent {
    RunStarted {
        backend: String,
        model: String,
        approve: String,
        mode: String,
    },
    SessionStarted {
        number: u32,
        kind: SessionKind,
        base: Option<String>,
    },
    Agent {
        number: u32,
        event: AgentEvent,
    },
    SessionEnded {
        number: u32,
        outcome: Outcome,
        usage: Usage,
        cost_usd: f64,
        duration_ms: u64,
    },
    ReviewNeeded {
        review: Box<Review>,
        waiting: bool,
    },
    Verdict {
        number: u32,
        verdict: Verdict,
        reason: Option<String>,
    },
    FeaturesChanged {
        total: usize,
        passing: usize,
    },
    /// Session `session` asks whether a tool call may run; the session waits for the answer.
    Question {
        number: u32,
        session: u32,
        tool: String,
        /// The command (or the call's key argument) as the agent gave it.
        command: String,
        /// What the allowlist lacks.
        reason: String,
        cwd: String,
        /// The agent's latest words before it asked.
        words: String,
    },
    /// Question `number` was answered (by the operator, or by its timeout).
    Answered {
        number: u32,
        answer: Answer,
    },
    /// The evaluator judged a coding session's claims.
    Evaluated {
        evaluation: crate::project::evaluation::Evaluation,
    },
    /// The loop waits for the operator (step mode, a manual review).
    Waiting {
        reason: String,
    },
    /// The loop waits before the next session because the last ones failed for outside reasons.
    Backoff {
        seconds: u64,
        reason: String,
    },
    /// The loop waits for a usage limit to reset (Unix seconds) before the next session; `n` goes
    /// on at once.
    LimitWait {
        until: i64,
        kind: Option<String>,
        reason: String,
    },
    /// The loop waits for one of its fleet's session slots (`max` sessions run at once across the
    /// fleet, and all are taken) before the next session.
    SlotWait {
        max: u32,
        reason: String,
    },
    /// The circuit breaker tripped (the run stops after this): why, and the feature it is stuck on.
    Tripped {
        rule: String,
        feature: Option<usize>,
        detail: String,
    },
    /// An operator change will be applied at the next session boundary.
    Queued {
        change: String,
    },
    Notice {
        text: String,
    },
    Stopped {
        reason: StopReason,
        detail: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("{0}")]
    Io(String),
}

impl From<crate::project::repo::RepoError> for HarnessError {
    fn from(e: crate::project::repo::RepoError) -> Self {
        HarnessError::Project(e.into())
    }
}

impl From<crate::project::journal::JournalError> for HarnessError {
    fn from(e: crate::project::journal::JournalError) -> Self {
        HarnessError::Project(e.into())
    }
}

impl From<crate::project::features::FeatureError> for HarnessError {
    fn from(e: crate::project::features::FeatureError) -> Self {
        HarnessError::Project(e.into())
    }
}
