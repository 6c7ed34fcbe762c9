//! What the journal says of each session, folded from its records: how it started, its report once
//! it ended, the verdict, the evaluator's word, the questions it asked. Every reader (the loop, the
//! screen, `baton status`, `baton report`) folds the same way, so they agree.

use jiff::Timestamp;
use serde::Serialize;

use super::journal::{Answer, Entry, Flip, Record, SessionReport, VerifyResult};
use super::session::{Outcome, SessionKind, Usage, Verdict};
use super::uncommitted::Uncommitted;

/// A question put to the operator in a session, and its answer once given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Question {
    pub number: u32,
    pub tool: String,
    pub command: String,
    pub reason: String,
    pub answer: Option<Answer>,
}

/// One session as the journal tells it: how it started, its report once it ended, the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub number: u32,
    pub kind: SessionKind,
    pub backend: String,
    pub model: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// `None` while the session runs.
    pub end: Option<SessionReport>,
    /// `None` while the session runs.
    pub verdict: Option<Verdict>,
    pub reason: Option<String>,
    pub base: Option<String>,
    /// What was not committed when the session started.
    pub uncommitted: Vec<Uncommitted>,
    /// What the evaluator said of this session's claims.
    pub evaluation: Option<super::evaluation::Evaluation>,
    /// What the session asked the operator, and the answers.
    pub questions: Vec<Question>,
    /// The feature it was meant to finish.
    pub target: Option<usize>,
}

impl SessionSummary {
    /// `None` while the session runs.
    pub fn outcome(&self) -> Option<Outcome> {
        self.end.as_ref().map(|r| r.outcome)
    }

    pub fn head(&self) -> Option<&str> {
        self.end.as_ref().and_then(|r| r.head.as_deref())
    }

    pub fn cost_usd(&self) -> f64 {
        self.end.as_ref().map_or(0.0, |r| r.cost_usd)
    }

    pub fn usage(&self) -> Usage {
        self.end.as_ref().map(|r| r.usage).unwrap_or_default()
    }
}

/// A summary as `status --json` and `sessions --json` print it: one flat object, the report's
/// fields beside the session's (zero and empty while it runs).
impl Serialize for SessionSummary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            number: u32,
            kind: SessionKind,
            backend: &'a str,
            model: &'a str,
            started_at: Timestamp,
            ended_at: Option<Timestamp>,
            outcome: Option<Outcome>,
            verdict: Option<Verdict>,
            reason: Option<&'a str>,
            base: Option<&'a str>,
            head: Option<&'a str>,
            #[serde(flatten)]
            usage: Usage,
            cost_usd: f64,
            turns: u32,
            duration_ms: u64,
            detail: Option<&'a str>,
            commits: &'a [String],
            flipped: &'a [Flip],
            violations: &'a [String],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            history: &'a [String],
            verify: Option<&'a VerifyResult>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            uncommitted: &'a [Uncommitted],
            #[serde(skip_serializing_if = "Option::is_none")]
            evaluation: Option<&'a super::evaluation::Evaluation>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            questions: &'a [Question],
        }
        let r = self.end.as_ref();
        Flat {
            number: self.number,
            kind: self.kind,
            backend: &self.backend,
            model: &self.model,
            started_at: self.started_at,
            ended_at: self.ended_at,
            outcome: self.outcome(),
            verdict: self.verdict,
            reason: self.reason.as_deref(),
            base: self.base.as_deref(),
            head: self.head(),
            usage: self.usage(),
            cost_usd: self.cost_usd(),
            turns: r.map_or(0, |r| r.turns),
            duration_ms: r.map_or(0, |r| r.duration_ms),
            detail: r.and_then(|r| r.detail.as_deref()),
            commits: r.map_or(&[], |r| &r.commits),
            flipped: r.map_or(&[], |r| &r.flipped),
            violations: r.map_or(&[], |r| &r.violations),
            history: r.map_or(&[], |r| &r.history),
            verify: r.and_then(|r| r.verify.as_ref()),
            uncommitted: &self.uncommitted,
            evaluation: self.evaluation.as_ref(),
            questions: &self.questions,
        }
        .serialize(serializer)
    }
}

/// Folds the journal's records into one summary per session, in order.
pub fn sessions(entries: &[Entry]) -> Vec<SessionSummary> {
    let mut out: Vec<SessionSummary> = Vec::new();
    for entry in entries {
        match &entry.record {
            Record::SessionStarted { number, kind, backend, model, base, uncommitted, target } => {
                out.retain(|s| s.number != *number);
                out.push(SessionSummary {
                    number: *number,
                    kind: *kind,
                    backend: backend.clone(),
                    model: model.clone(),
                    started_at: entry.at,
                    ended_at: None,
                    end: None,
                    verdict: None,
                    reason: None,
                    base: base.clone(),
                    uncommitted: uncommitted.clone(),
                    evaluation: None,
                    questions: Vec::new(),
                    target: *target,
                });
            }
            Record::SessionEnded(r) => {
                if let Some(s) = out.iter_mut().find(|s| s.number == r.number) {
                    s.ended_at = Some(entry.at);
                    s.end = Some(r.clone());
                    // An evaluator's work is judged with the session it evaluated.
                    if s.kind != SessionKind::Evaluator {
                        s.verdict.get_or_insert(Verdict::Pending);
                    }
                }
            }
            Record::Verdict { number, verdict, reason } => {
                if let Some(s) = out.iter_mut().find(|s| s.number == *number) {
                    s.verdict = Some(*verdict);
                    s.reason = reason.clone();
                }
            }
            Record::Evaluated(e) => {
                if let Some(s) = out.iter_mut().find(|s| s.number == e.session) {
                    // baton's flip-back commit is part of the session's review.
                    if let (Some(head), Some(end)) = (&e.head, s.end.as_mut()) {
                        end.head = Some(head.clone());
                        end.commits.insert(0, head.clone());
                    }
                    s.evaluation = Some(e.clone());
                }
            }
            Record::Asked { number, session, tool, command, reason } => {
                if let Some(s) = out.iter_mut().find(|s| s.number == *session) {
                    let (tool, command, reason) = (tool.clone(), command.clone(), reason.clone());
                    s.questions.push(Question { number: *number, tool, command, reason, answer: None });
                }
            }
            Record::Answered { number, answer } => {
                if let Some(q) = out.iter_mut().flat_map(|s| s.questions.iter_mut()).find(|q| q.number == *number) {
                    q.answer = Some(answer.clone());
                }
            }
            Record::FeatureMarked { .. }
            | Record::FeatureEdited { .. }
            | Record::ReviewRequested { .. }
            | Record::MarkRequested { .. }
            | Record::Requested { .. }
            | Record::RequestTaken { .. }
            | Record::ReviewWaiting { .. }
            | Record::RunStarted { .. }
            | Record::RunStopped { .. }
            | Record::LimitWait { .. }
            | Record::LimitWaited { .. }
            | Record::SlotWait { .. }
            | Record::BreakerTripped { .. }
            | Record::FeatureSkipped { .. }
            | Record::NoteGiven { .. }
            | Record::JournalTampered { .. } => {}
        }
    }
    out
}
