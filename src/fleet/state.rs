//! Where a project's loop stands, as the fleet shows it: what waits for the operator first, then
//! what runs, then what rests; with its clock and its words.

use jiff::Timestamp;

use crate::project::session::SessionKind;

/// Where a project's loop stands, in the order the operator should see it: what waits for them
/// first.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// A session's work waits for a verdict.
    Review {
        session: u32,
        since: Timestamp,
    },
    /// A session asks whether a command may run, and waits.
    Question {
        number: u32,
        session: u32,
        command: String,
        since: Timestamp,
    },
    /// The circuit breaker paused the run.
    Tripped {
        feature: Option<usize>,
        detail: String,
        since: Timestamp,
    },
    /// The run stopped on something the operator must fix, or the project cannot be read.
    Error {
        detail: String,
        since: Option<Timestamp>,
    },
    Running {
        session: u32,
        kind: SessionKind,
        since: Timestamp,
    },
    /// Waiting for a usage limit to reset (Unix seconds).
    LimitWait {
        until: i64,
        kind: Option<String>,
    },
    /// Waiting for one of the fleet's session slots.
    SlotWait {
        max: u32,
        since: Timestamp,
    },
    /// The run ended as asked (paused, the session cap, the budget).
    Paused {
        why: String,
        since: Timestamp,
    },
    /// Nothing runs; or a loop runs and waits for `n` (step mode).
    Idle {
        waiting_for_n: bool,
    },
    /// Every feature passes.
    Done,
}

impl State {
    /// Whether the operator is needed: a review, a question, the breaker, an error.
    pub fn needs_operator(&self) -> bool {
        self.rank() < 4
    }

    /// The order rows are shown in: smaller first.
    pub fn rank(&self) -> u8 {
        match self {
            State::Review { .. } => 0,
            State::Question { .. } => 1,
            State::Tripped { .. } => 2,
            State::Error { .. } => 3,
            State::Running { .. } => 4,
            State::LimitWait { .. } => 5,
            State::SlotWait { .. } => 6,
            State::Paused { .. } => 7,
            State::Idle { .. } => 8,
            State::Done => 9,
        }
    }

    /// One short word for it, for the fleet screen's column.
    pub fn label(&self) -> &'static str {
        match self {
            State::Review { .. } => "review",
            State::Question { .. } => "question",
            State::Tripped { .. } => "breaker",
            State::Error { .. } => "error",
            State::Running { .. } => "running",
            State::LimitWait { .. } => "limit",
            State::SlotWait { .. } => "slot",
            State::Paused { .. } => "paused",
            State::Idle { .. } => "idle",
            State::Done => "done",
        }
    }

    /// One word for it (`status --json`'s `state`).
    pub fn word(&self) -> &'static str {
        match self {
            State::Review { .. } => "awaiting_review",
            State::Question { .. } => "question",
            State::Tripped { .. } => "circuit_breaker",
            State::Error { .. } => "error",
            State::Running { .. } => "running",
            State::LimitWait { .. } => "usage_limit",
            State::SlotWait { .. } => "waiting_for_slot",
            State::Paused { .. } => "paused",
            State::Idle { .. } => "idle",
            State::Done => "done",
        }
    }

    /// Since when it has been so, for the clocks on the screen (the oldest wait first).
    pub fn since(&self) -> Option<Timestamp> {
        match self {
            State::Review { since, .. }
            | State::Question { since, .. }
            | State::Tripped { since, .. }
            | State::Running { since, .. }
            | State::SlotWait { since, .. }
            | State::Paused { since, .. } => Some(*since),
            State::Error { since, .. } => *since,
            _ => None,
        }
    }
}

impl State {
    /// What it is doing, in a few words, without its clock: `session 4 (coding)`.
    pub fn what(&self) -> String {
        match self {
            State::Review { session, .. } => format!("session {session} waits for a verdict"),
            State::Question { number, session, command, .. } => {
                format!("question {number}: session {session} asks to run `{}`", crate::words::clip(command, 40))
            }
            State::Tripped { detail, .. } => format!("circuit breaker: {detail}"),
            State::Error { detail, .. } => detail.clone(),
            State::Running { session, kind, .. } => format!("session {session} ({kind})"),
            State::LimitWait { kind, .. } => {
                format!("waits for the {} to reset", crate::project::session::UsageLimit::name(kind.as_deref()))
            }
            State::SlotWait { max: 1, .. } => "waits for the fleet's one slot".into(),
            State::SlotWait { max, .. } => format!("waits for one of the fleet's {max} slots"),
            State::Paused { why, .. } => why.clone(),
            State::Idle { waiting_for_n: true } => "idle: its loop waits for n".into(),
            State::Idle { waiting_for_n: false } => "idle".into(),
            State::Done => "every feature passes".into(),
        }
    }

    /// Its clock at `now`: how long it has waited or run, or how long a limit has left.
    pub fn clock(&self, now: Timestamp) -> Option<String> {
        match self {
            State::Review { since, .. }
            | State::Question { since, .. }
            | State::Running { since, .. }
            | State::SlotWait { since, .. } => Some(clock(now.as_second() - since.as_second())),
            State::LimitWait { until, .. } => Some(clock(until - now.as_second())),
            _ => None,
        }
    }

    /// The state in words with its clock, for a line of text: `session 4 (coding), running 03:12`.
    pub fn describe(&self, now: Timestamp) -> String {
        let what = self.what();
        match (self, self.clock(now)) {
            (State::Running { .. }, Some(c)) => format!("{what}, running {c}"),
            (State::LimitWait { .. }, Some(c)) => format!("{what}: {c} left"),
            (State::Done, _) => format!("done: {what}"),
            (_, Some(c)) => format!("{what} ({c})"),
            (_, None) => what,
        }
    }

    /// Whether its words change with the clock (a running session, a countdown, a wait).
    pub fn ticks(&self) -> bool {
        matches!(
            self,
            State::Review { .. }
                | State::Question { .. }
                | State::Running { .. }
                | State::LimitWait { .. }
                | State::SlotWait { .. }
        )
    }
}

/// Seconds as a clock: `03:12`, `1:02:07`.
pub fn clock(seconds: i64) -> String {
    let s = seconds.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// How long ago `at` was, in one short word: `now`, `12s`, `4m`, `2h`, `3d`.
pub fn ago(at: Timestamp, now: Timestamp) -> String {
    let s = (now.as_second() - at.as_second()).max(0);
    match s {
        0..5 => "now".into(),
        5..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
