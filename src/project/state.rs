//! What state a project is in, read from the journal and the feature list alone, so that every
//! reader (`baton status`, the screen, a resumed run) agrees with the loop.

use serde::Serialize;

use super::features::FeatureList;
use super::journal::{self, Record, SessionSummary};
use super::session::{SessionKind, Verdict};
use super::{Project, ProjectError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Idle,
    Running,
    AwaitingReview,
    Done,
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            RunState::Idle => "idle",
            RunState::Running => "running",
            RunState::AwaitingReview => "awaiting review",
            RunState::Done => "done",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeatureCount {
    pub total: usize,
    pub passing: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NextSession {
    pub number: u32,
    pub kind: SessionKind,
}

/// Everything `baton status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub project: String,
    pub state: RunState,
    pub features: FeatureCount,
    /// The session waiting for a verdict, if any.
    pub pending_review: Option<u32>,
    /// The session the loop starts next; none when the run is done.
    pub next_session: Option<NextSession>,
    /// The pid of the process running the loop, if one is.
    pub loop_pid: Option<String>,
    pub total_cost_usd: f64,
    pub sessions: Vec<SessionSummary>,
    /// How many loops have started on the project (a screen watching tells a loop that started
    /// again in the same process from the one that stopped).
    #[serde(skip)]
    pub runs_started: usize,
    /// Journal lines that had to be skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the journal holds that baton did not write (or records of its own gone): ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub journal_problems: Vec<super::journal::Problem>,
}

impl Status {
    pub fn read(project: &Project) -> Result<Status, ProjectError> {
        Self::with_features(project, project.features()?.as_ref())
    }

    /// The status, with the feature list already read (by a caller that needs it too).
    pub fn with_features(project: &Project, features: Option<&FeatureList>) -> Result<Status, ProjectError> {
        let read = project.journal()?;
        let sessions = journal::sessions(&read.entries);
        let count = features
            .map(|f| FeatureCount { total: f.len(), passing: f.passing() })
            .unwrap_or(FeatureCount { total: 0, passing: 0 });
        let pending_review = sessions.iter().rev().find(|s| s.verdict == Some(Verdict::Pending)).map(|s| s.number);
        let loop_pid = super::lock::holder(&project.baton_dir());
        // A session with no end is running only if a loop holds the lock; otherwise baton died
        // while it ran, and the next loop records it as interrupted.
        let running = loop_pid.is_some() && sessions.iter().any(|s| s.outcome().is_none());
        let last_stop = read.entries.iter().rev().find_map(|e| match &e.record {
            Record::RunStopped { reason, .. } => Some(reason.as_str()),
            Record::SessionStarted { .. } => Some(""),
            _ => None,
        });
        let all_pass = count.total > 0 && count.passing == count.total;
        let state = if running {
            RunState::Running
        } else if pending_review.is_some() {
            RunState::AwaitingReview
        } else if all_pass && (last_stop == Some("done") || project.config().run.verify.trim().is_empty()) {
            RunState::Done
        } else {
            RunState::Idle
        };
        let next_session = (state != RunState::Done).then(|| NextSession {
            number: sessions.last().map_or(1, |s| s.number + 1),
            kind: if features.is_some() { SessionKind::Coding } else { SessionKind::Initializer },
        });
        Ok(Status {
            project: project.root().display().to_string(),
            state,
            features: count,
            pending_review,
            next_session,
            loop_pid,
            total_cost_usd: sessions.iter().fold(0.0, |sum, s| sum + s.cost_usd()),
            runs_started: read.entries.iter().filter(|e| matches!(e.record, Record::RunStarted { .. })).count(),
            sessions,
            warnings: read.warnings,
            journal_problems: read.problems,
        })
    }
}
