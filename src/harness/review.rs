//! The review gate: what a finished session is shown with, and what approving or vetoing does.
//! A veto keeps the session's tip at `refs/baton/vetoed/session-NNNN` and takes the branch and the
//! work tree back to the session's base.

use serde::{Deserialize, Serialize};

use crate::project::journal::{Flip, Journal, Record, SessionReport, SessionSummary, VerifyResult};
use crate::project::repo::{CommitInfo, DiffStat, Repo};
use crate::project::session::{Outcome, SessionKind, Verdict};
use crate::project::{Project, ProjectError};

/// Everything the operator sees when deciding on a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub number: u32,
    pub kind: SessionKind,
    pub outcome: Outcome,
    pub detail: Option<String>,
    pub base: Option<String>,
    pub head: Option<String>,
    /// Newest first.
    pub commits: Vec<CommitInfo>,
    pub diffstat: DiffStat,
    pub flipped: Vec<Flip>,
    pub violations: Vec<String>,
    /// What the session took of the operator's history, and baton put back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    pub verify: Option<VerifyResult>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub duration_ms: u64,
    pub turns: u32,
    /// What the evaluator said of the features the session marked passing.
    pub evaluation: Option<crate::project::evaluation::Evaluation>,
    /// What the session asked the operator, and the answers.
    pub questions: Vec<crate::project::journal::Question>,
    /// The calls the policy refused and the sandbox denied, from its transcript.
    pub refusals: Vec<String>,
}

fn oid(s: Option<&str>) -> Option<git2::Oid> {
    s.and_then(|s| git2::Oid::from_str(s).ok())
}

/// The review of a finished session, with its commits and diffstat read from git and its
/// refusals from its transcript.
pub fn build(project: &Project, repo: &Repo, s: &SessionSummary) -> Result<Review, ProjectError> {
    let (base, head) = (oid(s.base.as_deref()), oid(s.head()));
    let (commits, diffstat) = match head {
        Some(h) if Some(h) != base => (repo.commits_between(base, h)?, repo.diffstat(base, h)?),
        _ => (Vec::new(), DiffStat::default()),
    };
    // A session that never ended (baton was killed) reviews as interrupted, with nothing recorded.
    let none = SessionReport::new(s.number, Outcome::Interrupted);
    let r = s.end.as_ref().unwrap_or(&none);
    Ok(Review {
        number: s.number,
        kind: s.kind,
        outcome: r.outcome,
        detail: r.detail.clone(),
        base: s.base.clone(),
        head: r.head.clone(),
        commits,
        diffstat,
        flipped: r.flipped.clone(),
        violations: r.violations.clone(),
        history: r.history.clone(),
        verify: r.verify.clone(),
        input_tokens: r.usage.input_tokens,
        output_tokens: r.usage.output_tokens,
        cost_usd: r.cost_usd,
        duration_ms: r.duration_ms,
        turns: r.turns,
        evaluation: s.evaluation.clone(),
        questions: s.questions.clone(),
        refusals: crate::project::transcript::refusals(&project.transcript_path(s.number)),
    })
}

/// The ref a vetoed session's tip is kept under.
pub fn vetoed_ref(number: u32) -> String {
    format!("refs/baton/vetoed/session-{number:04}")
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("session {number} is not waiting for a verdict{}", match pending { Some(p) => format!(" (session {p} is)"), None => " (no session is)".to_owned() })]
    NotPending { number: u32, pending: Option<u32> },
    #[error("a veto needs a reason: it goes to the next session")]
    NoReason,
    #[error(transparent)]
    Project(#[from] ProjectError),
}

/// The session waiting for a verdict, if any.
pub fn pending(project: &Project) -> Result<Option<SessionSummary>, ProjectError> {
    let read = project.journal()?;
    let sessions = crate::project::journal::sessions(&read.entries);
    Ok(sessions.into_iter().rev().find(|s| s.verdict == Some(Verdict::Pending)))
}

/// Approves or vetoes session `number`, which must be the one pending. The caller holds the loop
/// lock (or is the loop).
pub fn decide(
    project: &Project,
    repo: &Repo,
    journal: &mut Journal,
    number: u32,
    verdict: Verdict,
    reason: Option<String>,
) -> Result<(), ReviewError> {
    let waiting = pending(project)?;
    let Some(s) = waiting.clone().filter(|s| s.number == number) else {
        return Err(ReviewError::NotPending { number, pending: waiting.map(|s| s.number) });
    };
    if verdict == Verdict::Vetoed {
        let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).ok_or(ReviewError::NoReason)?;
        veto_in_git(repo, &s)?;
        journal
            .append(Record::Verdict { number, verdict, reason: Some(reason.to_owned()) })
            .map_err(ProjectError::from)?;
    } else {
        journal.append(Record::Verdict { number, verdict, reason }).map_err(ProjectError::from)?;
    }
    Ok(())
}

fn veto_in_git(repo: &Repo, s: &SessionSummary) -> Result<(), ProjectError> {
    let base = oid(s.base.as_deref());
    let Some(tip) = repo.head()? else { return Ok(()) };
    if Some(tip) == base {
        return Ok(()); // nothing was committed: nothing to take back
    }
    repo.set_ref(&vetoed_ref(s.number), tip, &format!("baton: session {} vetoed", s.number))?;
    match base {
        Some(b) => repo.reset_hard(b)?,
        None => repo.reset_to_unborn(tip)?,
    }
    // The reset took away what the session committed, the operator's uncommitted files too if it
    // committed them: those go back exactly as they were, still uncommitted.
    repo.restore_uncommitted(&s.uncommitted)?;
    Ok(())
}
