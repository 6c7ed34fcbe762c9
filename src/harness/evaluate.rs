//! The evaluator's stage: after a coding session marked features passing, a fresh, read-only
//! session re-tests each claim and answers pass or fail with evidence. Its verdicts join the
//! session's review; under `enforce` only a `pass` lets a claim stand: a claim that failed, or that
//! the evaluator gave no readable verdict on, is flipped back in a baton commit and what the
//! evaluator said (or that it said nothing) goes to the next coding session. An evaluation cut
//! short by baton stopping or dying runs again when baton resumes, before the session's review.
//! baton checks afterwards that the evaluator changed nothing, and undoes and reports whatever it
//! did change.

use super::*;
use crate::project::config::EvaluateMode;
use crate::project::evaluation::{self, Evaluation, FeatureJudgement, Judgement};

impl Harness {
    /// Evaluates coding session `number`'s claims, if it made any and the evaluator is on.
    /// Returns whether a new pass of that session still stands afterwards (`None`: no evaluation).
    pub(super) async fn evaluate(&mut self, number: u32) -> Result<Option<bool>, HarnessError> {
        let mode = self.project.config().evaluate.mode;
        if mode == EvaluateMode::Off {
            return Ok(None);
        }
        let sessions = self.sessions()?;
        let Some(coding) = sessions.iter().find(|s| s.number == number) else { return Ok(None) };
        let flipped: Vec<usize> = coding
            .end
            .as_ref()
            .map_or(Vec::new(), |r| r.flipped.iter().filter(|f| f.passes).map(|f| f.feature).collect());
        let Some(list) = self.project.features()? else { return Ok(None) };
        // Only what still passes now (the guard may have restored the list) is a claim.
        let claims: Vec<(usize, &crate::project::features::Feature)> =
            flipped.iter().filter_map(|n| list.get(*n).ok().filter(|f| f.passes()).map(|f| (*n, f))).collect();
        if claims.is_empty() {
            return Ok(None);
        }
        let evaluator = sessions.last().map_or(number, |s| s.number) + 1;
        let head = self.repo().head()?;
        let base = coding.base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
        let diff = match head {
            Some(h) => self.repo().diff_text(base, h).unwrap_or_default(),
            None => String::new(),
        };
        let prompt = prompts::render_evaluator(&self.project, number, &claims, &diff);
        let claims: Vec<(usize, String)> = claims.iter().map(|(n, f)| (*n, f.description().to_owned())).collect();
        // The operator's uncommitted files, to tell them from anything the evaluator changed.
        let theirs = self.repo().uncommitted()?;
        self.keep_history(&theirs)?;

        let backend = self.evaluator.clone();
        self.append(Record::SessionStarted {
            number: evaluator,
            kind: SessionKind::Evaluator,
            backend: backend.name().to_owned(),
            model: backend.model().to_owned(),
            base: head.map(|h| h.to_string()),
            uncommitted: theirs.clone(),
            target: None,
        })?;
        self.emit(HarnessEvent::SessionStarted {
            number: evaluator,
            kind: SessionKind::Evaluator,
            base: head.map(|h| h.to_string()),
        });
        let mut transcript = transcript::Transcript::open(&self.project.transcript_path(evaluator))?;
        transcript.write(&AgentEvent::Prompt { text: prompt.clone() });
        let limits =
            Limits { max_turns: self.project.config().evaluate.max_turns.max(1), wall_time: self.opts.session_timeout };
        let mut request = self.request_for(evaluator, prompt, limits);
        request.read_only = true;
        let run = self.drive(evaluator, backend, request, transcript, true).await;
        // A usage limit or a refused account hits the evaluator as it would a coding session.
        self.govern_after(evaluator, &run.end.reason);

        // Possible only with the sandbox off: history it took is put back first.
        let mut restored = self.protect_history(evaluator, &theirs)?;
        restored.extend(self.undo_evaluator_changes(head, &theirs)?);
        // The evaluator's own record: what it cost, how it ended.
        let ended = |outcome, detail| SessionReport {
            head: head.map(|h| h.to_string()),
            usage: run.end.usage,
            cost_usd: run.end.cost_usd,
            turns: run.end.turns,
            duration_ms: run.elapsed.as_millis() as u64,
            detail: Some(detail),
            ..SessionReport::new(evaluator, outcome)
        };
        self.count_cost(evaluator, &run.end);
        if self.quit_requested {
            // baton is stopping: no verdict, and none taken for one. It runs again on resume.
            let why = format!(
                "baton stopped while the evaluator ran; session {number} is evaluated again when baton resumes"
            );
            self.append(Record::SessionEnded(ended(Outcome::Interrupted, why)))?;
            return Ok(None);
        }
        let (outcome, detail) = outcome_of(&run.end.reason, true);
        let mut features = evaluation::parse_answer(&run.text, &claims);
        if outcome != Outcome::Completed {
            for f in features.iter_mut().filter(|f| f.judgement == Judgement::Error) {
                f.evidence = format!(
                    "the evaluator's session ended as {outcome}{} before a readable answer",
                    detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
                );
            }
        }
        let mut e = Evaluation { session: number, evaluator, features, reverted: Vec::new(), head: None, restored };
        let report = ended(outcome, self.evaluation_detail(&e, detail));
        self.append(Record::SessionEnded(report))?;
        self.emit(HarnessEvent::SessionEnded {
            number: evaluator,
            outcome,
            usage: run.end.usage,
            cost_usd: run.end.cost_usd,
            duration_ms: run.elapsed.as_millis() as u64,
        });

        if mode == EvaluateMode::Enforce {
            self.flip_back(&mut e)?;
        }
        let stands = e.features.iter().any(|f| !e.reverted.contains(&f.feature));
        self.append(Record::Evaluated(e.clone()))?;
        self.emit(HarnessEvent::Evaluated { evaluation: e.clone() });
        if !e.reverted.is_empty() {
            self.features_changed();
        }
        Ok(Some(stands))
    }

    /// The evaluator may change nothing: a commit it made is taken back, and the work tree is put
    /// back to HEAD and the operator's files. Says what was undone (the sandbox makes this empty
    /// unless it is off).
    fn undo_evaluator_changes(
        &mut self,
        head: Option<git2::Oid>,
        theirs: &[crate::project::uncommitted::Uncommitted],
    ) -> Result<Vec<String>, HarnessError> {
        let repo = self.repo();
        let mut undone = Vec::new();
        let now = repo.head()?;
        if now != head
            && let (Some(h), Some(n)) = (head, now)
        {
            repo.set_ref(&format!("refs/baton/evaluator/{}", n), n, "baton: what an evaluator committed")?;
            repo.reset_hard(h)?;
            undone.push(format!("HEAD: the evaluator committed {}, kept at refs/baton/evaluator/{}", n, n));
        }
        undone.extend(repo.undo_changes(head, theirs)?);
        drop(repo);
        if !undone.is_empty() {
            self.emit(HarnessEvent::Notice {
                text: format!("the evaluator changed what it may not; baton undid it: {}", undone.join(", ")),
            });
        }
        Ok(undone)
    }

    /// Under `enforce`: every claim the evaluator did not pass (it failed, or there is no readable
    /// verdict) is marked failing again, in one baton commit whose message says what the evaluator
    /// said, or that it said nothing.
    fn flip_back(&mut self, e: &mut Evaluation) -> Result<(), HarnessError> {
        let failed: Vec<&FeatureJudgement> = e.features.iter().filter(|f| f.judgement != Judgement::Pass).collect();
        if failed.is_empty() {
            return Ok(());
        }
        let Some(mut list) = self.project.features()? else { return Ok(()) };
        let mut reverted = Vec::new();
        for f in &failed {
            if let Ok(feature) = list.get_mut(f.feature)
                && feature.passes()
            {
                feature.set_passes(false);
                reverted.push(f.feature);
            }
        }
        if reverted.is_empty() {
            return Ok(());
        }
        list.save()?;
        let numbers: Vec<String> = reverted.iter().map(usize::to_string).collect();
        let evidence: Vec<String> = failed
            .iter()
            .map(|f| match f.judgement {
                Judgement::Fail => format!("- feature {} failed: {}", f.feature, f.evidence),
                _ => format!("- feature {}, no verdict: {}", f.feature, f.evidence),
            })
            .collect();
        let message = format!(
            "baton: feature{} {} not passed by the evaluator, marked failing again\n\nSession {} marked {} passing; the evaluator (session {}) was to test {}, and said:\n{}\n",
            if reverted.len() > 1 { "s" } else { "" },
            numbers.join(", "),
            e.session,
            if reverted.len() > 1 { "them" } else { "it" },
            e.evaluator,
            if reverted.len() > 1 { "them" } else { "it" },
            evidence.join("\n")
        );
        let rel = self.project.config().files.features.clone();
        let commit = self.repo().commit_paths(&[rel.as_path()], &message, Author::Baton)?;
        e.reverted = reverted;
        e.head = Some(commit.to_string());
        Ok(())
    }

    /// An evaluation cut short (baton stopped, or died, while the evaluator ran, or before it
    /// could start) runs again now, before the session's review: under `enforce` no claim stands
    /// without the evaluator's `pass`.
    pub(super) async fn resume_evaluation(&mut self) -> Result<(), HarnessError> {
        if self.project.config().evaluate.mode == EvaluateMode::Off {
            return Ok(());
        }
        let sessions = self.sessions()?;
        let Some(s) = sessions.iter().rev().find(|s| s.kind == SessionKind::Coding) else { return Ok(()) };
        if s.verdict != Some(Verdict::Pending) || s.evaluation.is_some() {
            return Ok(());
        }
        let number = s.number;
        if self.evaluate(number).await?.is_some() {
            self.emit(HarnessEvent::Notice {
                text: format!(
                    "session {number}'s claims were evaluated now: baton stopped before its evaluator gave a verdict"
                ),
            });
        }
        Ok(())
    }

    /// The evaluator session's record: its verdicts in a line.
    fn evaluation_detail(&self, e: &Evaluation, ended: Option<String>) -> String {
        let verdicts: Vec<String> =
            e.features.iter().map(|f| format!("feature {} {}", f.feature, f.judgement)).collect();
        let mut parts = vec![format!("evaluated session {}: {}", e.session, verdicts.join(", "))];
        parts.extend(ended);
        if !e.restored.is_empty() {
            parts.push(format!("undid its changes to {}", e.restored.join(", ")));
        }
        parts.join("; ")
    }
}
