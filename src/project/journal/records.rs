//! The journal's records: what each line says.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::project::session::{Outcome, SessionKind, Usage, Verdict};
use crate::project::uncommitted::Uncommitted;

/// A feature whose `passes` a session changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flip {
    /// Numbered from 1.
    pub feature: usize,
    pub passes: bool,
    pub description: String,
}

/// What the project's verify command said after a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResult {
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The end of its output.
    pub output: String,
}

/// Everything known about a session once it is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    pub number: u32,
    pub outcome: Outcome,
    pub head: Option<String>,
    #[serde(default)]
    pub usage: Usage,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub turns: u32,
    #[serde(default)]
    pub duration_ms: u64,
    /// How the backend said it ended, when that says more than the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Commits from base to head, newest first.
    #[serde(default)]
    pub commits: Vec<String>,
    #[serde(default)]
    pub flipped: Vec<Flip>,
    /// What the guard found and repaired.
    #[serde(default)]
    pub violations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyResult>,
    /// The usage limit that ended the session, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<crate::project::session::UsageLimit>,
    /// What the session took of the operator's history (rewrote, deleted, destroyed) and baton
    /// put back: such a session waits for the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
}

impl SessionReport {
    pub fn new(number: u32, outcome: Outcome) -> Self {
        SessionReport {
            number,
            outcome,
            head: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            turns: 0,
            duration_ms: 0,
            detail: None,
            commits: Vec::new(),
            flipped: Vec::new(),
            violations: Vec::new(),
            verify: None,
            limit: None,
            history: Vec::new(),
        }
    }
}

/// One line of the journal: when, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: Timestamp,
    #[serde(flatten)]
    pub record: Record,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// A record is read, folded and dropped; the session's report inline keeps every reader's match
// plain (boxing it would touch each of them for a few hundred bytes a record).
#[allow(clippy::large_enum_variant)]
pub enum Record {
    SessionStarted {
        number: u32,
        kind: SessionKind,
        backend: String,
        model: String,
        /// HEAD when the session started; `None` in a repository with no commit yet.
        base: Option<String>,
        /// What differed from HEAD then: the operator's files, never the session's work.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        uncommitted: Vec<Uncommitted>,
        /// The feature the session is meant to finish (the first failing one), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<usize>,
    },
    /// The session is over and reviewable: everything the review shows.
    SessionEnded(SessionReport),
    Verdict {
        number: u32,
        verdict: Verdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The operator marked a feature by hand.
    FeatureMarked { feature: usize, passes: bool, commit: Option<String> },
    /// The operator edited a feature, or added one.
    FeatureEdited { feature: usize, added: bool, commit: Option<String> },
    /// Another baton process asks the running loop to approve or veto a session.
    ReviewRequested {
        number: u32,
        approve: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Another baton process asks the running loop to mark a feature at the next boundary.
    MarkRequested { feature: usize, passes: bool },
    /// A screen attached to the loop from another process asks it to do something.
    Requested {
        /// Unique to the request, so the screen can tell when it was taken.
        id: String,
        /// The asking process.
        from: u32,
        command: Remote,
    },
    /// The loop took up request `id` (what it did shows in the records that follow).
    RequestTaken { id: String },
    /// The loop waits for a verdict on session `number` (the approve policy did not decide it).
    ReviewWaiting { number: u32 },
    /// Session `session` asks the operator whether a tool call may run (question `number`).
    Asked { number: u32, session: u32, tool: String, command: String, reason: String },
    /// The operator's answer to question `number` (or the timeout's).
    Answered { number: u32, answer: Answer },
    /// The evaluator judged a coding session's claims (and, under `enforce`, flipped the false
    /// ones back).
    Evaluated(crate::project::evaluation::Evaluation),
    /// A loop started in this process.
    RunStarted { pid: u32, backend: String, approve: String, mode: String },
    /// A loop stopped, and why (`done`, `session_cap`, `budget`, `paused`, `no_progress`, ...).
    RunStopped {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The loop waits for a usage limit to reset (Unix seconds) before the next session.
    LimitWait {
        until: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        reason: String,
    },
    /// The wait is over (the reset came, or the operator went on).
    LimitWaited { seconds: u64 },
    /// The loop waits for one of its fleet's session slots: `max` sessions run at once across the
    /// fleet's projects, and all are taken (by whom, in `reason`).
    SlotWait { max: u32, reason: String },
    /// The circuit breaker paused the run.
    BreakerTripped {
        rule: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        feature: Option<usize>,
        detail: String,
    },
    /// The operator skipped a feature for now: moved to the end of the list, marked `skipped`.
    FeatureSkipped { feature: usize, to: usize, commit: Option<String> },
    /// A note from the operator for the next coding session's prompt.
    NoteGiven { text: String },
    /// baton found lines in the journal it did not write (or records of its own gone): they are
    /// named here and acted on by nothing.
    JournalTampered { problems: Vec<super::Problem> },
}

/// The operator's answer to a question about a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// Run it this once.
    Once,
    /// Run it, and add its programs to the project's `[policy] allow`.
    Always,
    /// Do not run it; `message` goes to the agent as the tool's result.
    Deny { message: String },
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Answer::Once => f.write_str("allowed once"),
            Answer::Always => f.write_str("allowed always"),
            Answer::Deny { message } => write!(f, "denied: {message}"),
        }
    }
}

/// An operator's command as another process sends it to the loop through the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Remote {
    StartNext,
    Skip {
        feature: usize,
    },
    Note {
        text: String,
    },
    /// `step` or `continuous`.
    SetMode {
        mode: String,
    },
    Pause,
    /// Take back a pause not taken yet.
    Resume,
    Interrupt,
    Approve {
        number: u32,
    },
    Veto {
        number: u32,
        reason: String,
    },
    Mark {
        feature: usize,
        passes: bool,
    },
    Edit {
        number: Option<usize>,
        category: String,
        description: String,
        steps: Vec<String>,
    },
    Answer {
        number: u32,
        answer: Answer,
    },
}

impl Record {
    /// `command` as a request from this process for the loop, with the id its `request_taken`
    /// will carry.
    pub fn request(command: Remote) -> (String, Record) {
        let id = format!("{}.{:016x}", std::process::id(), fastrand::u64(..));
        (id.clone(), Record::Requested { id, from: std::process::id(), command })
    }
}
