//! A project's row in the fleet: what state its loop is in, read from its journal the way attach
//! reads one (from a byte offset, as it grows), with its feature count, its cost, the last thing
//! that happened and its loop's pid. The journal is folded as it is read: nothing of it is kept
//! but what the row shows, so fifty long journals cost little.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::Place;
use crate::project::Project;
use crate::project::journal::{self, Record};
use crate::project::session::SessionKind;
use crate::project::state::FeatureCount;

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

/// Something that happened, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Happened {
    pub what: String,
    pub at: Timestamp,
}

/// One project of the fleet as the screen and `fleet status` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub place: Place,
    pub name: String,
    pub state: State,
    pub features: Option<FeatureCount>,
    /// What every session of the project cost.
    pub cost_usd: f64,
    pub last: Option<Happened>,
    /// The process running the loop, if one does.
    pub loop_pid: Option<u32>,
}

/// What the journal has said so far, folded.
#[derive(Debug, Default)]
struct Fold {
    kinds: BTreeMap<u32, SessionKind>,
    running: Option<(u32, SessionKind, Timestamp)>,
    review: Option<(u32, Timestamp)>,
    decided: BTreeSet<u32>,
    questions: BTreeMap<u32, (u32, String, Timestamp)>,
    /// How the last run stopped (cleared when a run starts).
    stop: Option<(String, Option<String>, Timestamp)>,
    tripped: Option<(Option<usize>, String)>,
    limit: Option<(i64, Option<String>)>,
    slot: Option<(u32, Timestamp)>,
    step_mode: bool,
    cost: f64,
    last: Option<Happened>,
    /// A record that may have changed the feature list came.
    features_changed: bool,
}

impl Fold {
    fn take(&mut self, at: Timestamp, record: Record) {
        let said = |what: String| Some(Happened { what, at });
        let last = match record {
            Record::SessionStarted { number, kind, .. } => {
                self.kinds.insert(number, kind);
                self.running = Some((number, kind, at));
                (self.limit, self.slot) = (None, None);
                said(format!("session {number} started ({kind})"))
            }
            Record::SessionEnded(r) => {
                if self.running.is_some_and(|(n, ..)| n == r.number) {
                    self.running = None;
                }
                self.questions.retain(|_, (s, ..)| *s != r.number);
                self.cost += r.cost_usd;
                self.features_changed = true;
                said(format!("session {} ended: {} (${:.2})", r.number, r.outcome, r.cost_usd))
            }
            Record::ReviewWaiting { number } if !self.decided.contains(&number) => {
                self.review = Some((number, at));
                said(format!("session {number} waits for a verdict"))
            }
            Record::ReviewWaiting { .. } => None,
            Record::Verdict { number, verdict, .. } => {
                self.decided.insert(number);
                if self.review.is_some_and(|(n, _)| n == number) {
                    self.review = None;
                }
                self.features_changed = true;
                said(format!("session {number} {verdict}"))
            }
            Record::Asked { number, session, command, .. } => {
                let what = format!("question {number}: may it run `{}`?", crate::words::clip(&command, 60));
                self.questions.insert(number, (session, command, at));
                said(what)
            }
            Record::Answered { number, answer } => {
                self.questions.remove(&number);
                said(format!("question {number}: {answer}"))
            }
            Record::Evaluated(e) => {
                self.features_changed = true;
                said(format!("evaluation of session {}: {}", e.session, e.summary()))
            }
            Record::RunStarted { pid, mode, .. } => {
                (self.stop, self.tripped, self.limit, self.slot) = (None, None, None, None);
                self.step_mode = mode == "step";
                said(format!("loop started (pid {pid})"))
            }
            Record::RunStopped { reason, detail } => {
                let what = format!("run stopped: {}", detail.as_deref().unwrap_or(&reason));
                self.stop = Some((reason, detail, at));
                (self.limit, self.slot) = (None, None);
                said(what)
            }
            Record::LimitWait { until, kind, reason } => {
                self.limit = Some((until, kind));
                said(format!("waiting: {reason}"))
            }
            Record::LimitWaited { .. } => {
                self.limit = None;
                None
            }
            Record::SlotWait { max, reason } => {
                self.slot = Some((max, at));
                said(format!("waiting for a fleet slot: {reason}"))
            }
            Record::BreakerTripped { feature, detail, .. } => {
                let what = format!("circuit breaker: {detail}");
                self.tripped = Some((feature, detail));
                said(what)
            }
            Record::FeatureMarked { feature, passes, .. } => {
                self.features_changed = true;
                said(format!("feature {feature} marked {}", if passes { "passing" } else { "failing" }))
            }
            Record::FeatureEdited { feature, added, .. } => {
                self.features_changed = true;
                said(format!("feature {feature} {}", if added { "added" } else { "edited" }))
            }
            Record::FeatureSkipped { feature, .. } => {
                self.features_changed = true;
                said(format!("feature {feature} skipped for now"))
            }
            Record::NoteGiven { .. } => said("a note for the next session".into()),
            Record::ReviewRequested { .. }
            | Record::MarkRequested { .. }
            | Record::Requested { .. }
            | Record::RequestTaken { .. } => None,
        };
        if last.is_some() {
            self.last = last;
        }
    }
}

/// Follows one project's journal and builds its row.
#[derive(Debug)]
pub struct Tracker {
    place: Place,
    project: Result<Project, String>,
    offset: u64,
    fold: Fold,
    features: Option<FeatureCount>,
    pid: Option<u32>,
}

impl Tracker {
    /// Reads the project at `place` as it is now.
    pub fn open(place: Place) -> Tracker {
        let project = match place.local_dir() {
            Some(dir) => Project::open_existing(dir).map_err(|e| e.to_string()),
            None => Err(format!("{place}: not on this machine")),
        };
        let mut t = Tracker { place, project, offset: 0, fold: Fold::default(), features: None, pid: None };
        t.fold.features_changed = true;
        t.refresh();
        t
    }

    /// The folder whose changes mean the row may have changed (`.baton/`).
    pub fn watched(&self) -> Option<PathBuf> {
        self.project.as_ref().ok().map(|p| p.baton_dir())
    }

    /// The pid of the project's loop, as last read.
    pub fn loop_pid(&self) -> Option<u32> {
        self.pid
    }

    /// Reads what was appended to the journal since the last look, the loop lock, and the
    /// feature list if a record says it may have changed.
    pub fn refresh(&mut self) {
        let Ok(project) = &self.project else { return };
        let path = project.journal_path();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() < self.offset) {
            // Not appended to: written anew. Read again from the start.
            (self.offset, self.fold) = (0, Fold { features_changed: true, ..Fold::default() });
        }
        match journal::read_from(&path, self.offset, false) {
            Ok((read, end)) => {
                self.offset = end;
                for e in read.entries {
                    self.fold.take(e.at, e.record);
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
        if std::mem::take(&mut self.fold.features_changed) {
            self.features = match project.features() {
                Ok(Some(l)) => Some(FeatureCount { total: l.len(), passing: l.passing() }),
                _ => None,
            };
        }
        self.pid = crate::project::lock::holder(&project.baton_dir()).and_then(|p| p.parse().ok());
    }

    /// The row as the journal, the feature list and the lock say now.
    pub fn row(&self) -> Row {
        let f = &self.fold;
        let state = match &self.project {
            Err(e) => State::Error { detail: e.clone(), since: None },
            Ok(project) => self.state(project),
        };
        Row {
            name: self.place.name(),
            place: self.place.clone(),
            state,
            features: self.features,
            cost_usd: f.cost,
            last: f.last.clone(),
            loop_pid: self.pid,
        }
    }

    fn state(&self, project: &Project) -> State {
        let f = &self.fold;
        // A run that said it stopped has ended, even before its process lets go of the lock.
        let alive = self.pid.is_some() && f.stop.is_none();
        if let Some((session, since)) = f.review {
            return State::Review { session, since };
        }
        if alive && let Some((number, (session, command, since))) = f.questions.iter().next() {
            return State::Question { number: *number, session: *session, command: command.clone(), since: *since };
        }
        if let Some((reason, detail, since)) = &f.stop {
            let detail = detail.clone().unwrap_or_else(|| reason.clone());
            match reason.as_str() {
                "no_progress" => {
                    let (feature, detail) = f.tripped.clone().unwrap_or((None, detail));
                    return State::Tripped { feature, detail, since: *since };
                }
                "account" | "outside_failures" | "usage_limit" => {
                    return State::Error { detail, since: Some(*since) };
                }
                _ => {}
            }
        }
        if let Some((session, kind, since)) = f.running {
            if alive {
                return State::Running { session, kind, since };
            }
            if f.stop.is_none() {
                let detail = format!(
                    "the loop went away in the middle of session {session} (killed?); starting it again records the session as interrupted"
                );
                return State::Error { detail, since: Some(since) };
            }
        }
        if alive && let Some((until, kind)) = &f.limit {
            return State::LimitWait { until: *until, kind: kind.clone() };
        }
        if alive && let Some((max, since)) = f.slot {
            return State::SlotWait { max, since };
        }
        let all_pass = self.features.is_some_and(|c| c.total > 0 && c.passing == c.total);
        let stopped_done = f.stop.as_ref().is_some_and(|(r, ..)| r == "done");
        if all_pass && (stopped_done || project.config().run.verify.trim().is_empty()) {
            return State::Done;
        }
        if let Some((reason, detail, since)) = &f.stop {
            let why = match reason.as_str() {
                "paused" => "paused".to_owned(),
                other => detail.clone().unwrap_or_else(|| other.replace('_', " ")),
            };
            return State::Paused { why, since: *since };
        }
        State::Idle { waiting_for_n: alive && f.step_mode }
    }
}

impl Serialize for Row {
    /// One object per project, as `fleet list --json` and `fleet status --json` print it.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde_json::{Value, json};
        let waiting = match &self.state {
            State::Review { session, since } => json!({"kind": "review", "session": session, "since": since}),
            State::Question { number, session, command, since } => {
                json!({"kind": "question", "number": number, "session": session, "command": command, "since": since})
            }
            State::Tripped { feature, detail, since } => {
                json!({"kind": "circuit_breaker", "feature": feature, "detail": detail, "since": since})
            }
            State::Error { detail, since } => json!({"kind": "error", "detail": detail, "since": since}),
            _ => Value::Null,
        };
        #[derive(Serialize)]
        struct Flat<'a> {
            name: &'a str,
            path: String,
            state: &'static str,
            waiting: Value,
            #[serde(skip_serializing_if = "Option::is_none")]
            session: Option<Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            limit_until: Option<i64>,
            features: Option<FeatureCount>,
            cost_usd: f64,
            loop_pid: Option<u32>,
            last: Option<&'a Happened>,
        }
        Flat {
            name: &self.name,
            path: self.place.to_string(),
            state: self.state.word(),
            waiting,
            session: match &self.state {
                State::Running { session, kind, since } => {
                    Some(json!({"number": session, "kind": kind, "since": since}))
                }
                _ => None,
            },
            limit_until: match &self.state {
                State::LimitWait { until, .. } => Some(*until),
                _ => None,
            },
            features: self.features,
            cost_usd: (self.cost_usd * 10_000.0).round() / 10_000.0,
            loop_pid: self.loop_pid,
            last: self.last.as_ref(),
        }
        .serialize(serializer)
    }
}

/// Rows in the order the operator should see them: what waits for them first (the longest
/// waiting first), then by state, then as listed.
pub fn by_attention(rows: &mut [Row]) {
    rows.sort_by_key(|r| {
        let since = if r.state.needs_operator() { r.state.since().map(|t| t.as_millisecond()) } else { None };
        (r.state.rank(), since.unwrap_or(i64::MAX))
    });
}
