//! The operator's gate: the review of each session, verdicts, and the marks and edits queued while a
//! session ran.

use super::*;

impl Harness {
    /// The review of the pending session, decided by the approve policy or by the operator.
    pub(super) async fn review_gate(&mut self) -> Result<Wait, HarnessError> {
        let Some(pending) = self.sessions()?.into_iter().rev().find(|s| s.verdict == Some(Verdict::Pending)) else {
            return Ok(Wait::Go);
        };
        let number = pending.number;
        let rev = review::build(&self.project, &self.repo(), &pending)?;
        let report = pending.end.as_ref();
        let verify_ok = report.and_then(|r| r.verify.as_ref()).is_none_or(|v| v.passed);
        let clean = report.is_some_and(|r| r.violations.is_empty());
        // A claim the evaluator found false, or could not judge, is a failed check; so is a claim
        // never evaluated when the evaluator is on (baton stopped while it ran).
        let claimed = report.is_some_and(|r| r.flipped.iter().any(|f| f.passes));
        let evaluating = self.project.config().evaluate.mode != crate::project::config::EvaluateMode::Off;
        let evaluated_ok = match &pending.evaluation {
            Some(e) => e.passed(),
            None => !(claimed && evaluating && pending.kind == SessionKind::Coding),
        };
        let auto = match self.opts.approve {
            // An initializer that wrote no feature list goes to the operator, whatever the policy;
            // so does a session that took the operator's history (baton put it back).
            _ if pending.outcome() == Some(Outcome::NoFeatureList) => false,
            _ if report.is_some_and(|r| !r.history.is_empty()) => false,
            ApprovePolicy::Auto => true,
            ApprovePolicy::Checks => {
                verify_ok && clean && evaluated_ok && pending.outcome() == Some(Outcome::Completed)
            }
            ApprovePolicy::Manual => false,
        };
        // A verdict the operator gave while the session or its evaluator ran comes first.
        let mut early = std::mem::take(&mut self.early_verdicts);
        let given = early.iter().any(|c| matches!(c, Command::Approve(n) | Command::Veto(n, _) if *n == number));
        let auto = auto && !given;
        self.emit(HarnessEvent::ReviewNeeded { review: Box::new(rev), waiting: !auto });
        if auto {
            self.verdict(number, Verdict::AutoApproved, None)?;
            return Ok(Wait::Go);
        }
        // Attached screens open the review on this record.
        self.append(Record::ReviewWaiting { number })?;
        self.emit(HarnessEvent::Waiting { reason: format!("session {number} waits for a verdict") });
        let mut watch = self.requests_watch();
        loop {
            let cmds = match std::mem::take(&mut early) {
                e if !e.is_empty() => e,
                _ => match self.next_commands(&mut watch).await? {
                    Some(c) => c,
                    None => return Ok(Wait::Stop(StopReason::Paused)),
                },
            };
            for c in cmds {
                match c {
                    Command::Approve(n) if n == number => {
                        self.verdict(number, Verdict::Approved, None)?;
                        return Ok(Wait::Go);
                    }
                    Command::Veto(n, reason) if n == number => {
                        if reason.trim().is_empty() {
                            self.emit(HarnessEvent::Notice {
                                text: "a veto needs a reason: it goes to the next session".into(),
                            });
                            continue;
                        }
                        self.verdict(number, Verdict::Vetoed, Some(reason))?;
                        return Ok(Wait::Go);
                    }
                    // A pause is taken after the verdict: stopping here would leave the review
                    // with no loop to carry it out.
                    Command::Pause => {
                        self.pause_requested = true;
                        self.emit(HarnessEvent::Queued { change: "pause after this review".into() });
                    }
                    Command::Resume => self.resume(),
                    Command::Quit => return Ok(Wait::Stop(StopReason::Paused)),
                    Command::SetMode(m) => self.opts.mode = m,
                    Command::Mark { feature, passes } => {
                        self.queued.push((feature, passes));
                        self.emit(HarnessEvent::Queued {
                            change: format!("mark feature {feature} {}", if passes { "passing" } else { "failing" }),
                        });
                    }
                    edit @ Command::EditFeature { .. } => {
                        self.emit(HarnessEvent::Queued { change: describe_edit(&edit) });
                        self.queued_edits.push(edit);
                    }
                    Command::Approve(n) | Command::Veto(n, _) => {
                        self.emit(HarnessEvent::Notice {
                            text: format!("session {n} is not the one waiting; session {number} is"),
                        });
                    }
                    Command::Answer { number, .. } => {
                        self.emit(HarnessEvent::Notice {
                            text: format!("question {number} is not waiting for an answer"),
                        });
                    }
                    Command::Skip(feature) => self.queue_skip(feature),
                    Command::Note(text) => self.note(text)?,
                    Command::StartNext | Command::Interrupt => {}
                }
            }
        }
    }

    pub(super) fn verdict(
        &mut self,
        number: u32,
        verdict: Verdict,
        reason: Option<String>,
    ) -> Result<(), HarnessError> {
        let repo = self.repo.lock().unwrap_or_else(|e| e.into_inner());
        let decided = review::decide(&self.project, &repo, &mut self.journal, number, verdict, reason.clone());
        drop(repo);
        decided.map_err(|e| match e {
            review::ReviewError::Project(p) => HarnessError::Project(p),
            other => HarnessError::Io(other.to_string()),
        })?;
        self.emit(HarnessEvent::Verdict { number, verdict, reason });
        if verdict == Verdict::Vetoed {
            self.features_changed();
        }
        Ok(())
    }

    /// Applies operator marks queued while a session ran, as one commit in the operator's name.
    pub(super) fn apply_queued(&mut self) -> Result<(), HarnessError> {
        self.apply_edits()?;
        self.apply_skips()?;
        if self.queued.is_empty() {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.queued);
        let Some(mut list) = self.project.features()? else {
            self.emit(HarnessEvent::Notice {
                text: "there is no feature list yet; the queued marks were dropped".into(),
            });
            return Ok(());
        };
        // The last mark of each feature counts: one marked and marked back while queued is no change
        // (and no empty commit).
        let mut last: Vec<(usize, bool)> = Vec::new();
        for (feature, passes) in queued {
            last.retain(|(f, _)| *f != feature);
            last.push((feature, passes));
        }
        let mut done = Vec::new();
        for (feature, passes) in last {
            match list.get_mut(feature) {
                Ok(f) if f.passes() != passes => {
                    f.set_passes(passes);
                    done.push((feature, passes));
                }
                Ok(_) => {}
                Err(e) => self.emit(HarnessEvent::Notice { text: e.to_string() }),
            }
        }
        if done.is_empty() {
            return Ok(());
        }
        list.save()?;
        let words: Vec<String> =
            done.iter().map(|(n, p)| format!("{n} {}", if *p { "passing" } else { "failing" })).collect();
        let message = format!(
            "Mark feature{} {}\n\nMarked by hand with baton.\n",
            if done.len() > 1 { "s" } else { "" },
            words.join(", ")
        );
        let rel = self.project.config().files.features.clone();
        let commit = self.repo().commit_paths(&[rel.as_path()], &message, Author::Operator)?;
        for (feature, passes) in done {
            self.append(Record::FeatureMarked { feature, passes, commit: Some(commit.to_string()) })?;
        }
        self.features_changed();
        Ok(())
    }

    pub(super) fn queue_skip(&mut self, feature: usize) {
        self.queued_skips.push(feature);
        self.emit(HarnessEvent::Queued { change: format!("skip feature {feature} for now") });
    }

    /// A note from the operator: recorded now, read into the next coding session's prompt.
    pub(super) fn note(&mut self, text: String) -> Result<(), HarnessError> {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Ok(());
        }
        self.append(Record::NoteGiven { text })?;
        self.emit(HarnessEvent::Notice { text: "the note goes to the next session".into() });
        Ok(())
    }

    /// Applies the skips queued while a session ran, one operator commit each.
    fn apply_skips(&mut self) -> Result<(), HarnessError> {
        for feature in std::mem::take(&mut self.queued_skips) {
            let Some(list) = self.project.features()? else { continue };
            if let Err(e) = list.get(feature) {
                self.emit(HarnessEvent::Notice { text: e.to_string() });
                continue;
            }
            let skipped = self.project.skip_feature(&self.repo(), list, feature);
            let (to, commit) = skipped?;
            self.append(Record::FeatureSkipped { feature, to, commit: Some(commit.to_string()) })?;
            self.emit(HarnessEvent::Notice {
                text: format!("feature {feature} skipped for now: it is {to}, the last"),
            });
            self.features_changed();
        }
        Ok(())
    }

    /// Applies operator edits and additions queued while a session ran, one operator commit each.
    pub(super) fn apply_edits(&mut self) -> Result<(), HarnessError> {
        for edit in std::mem::take(&mut self.queued_edits) {
            let Command::EditFeature { number, category, description, steps } = &edit else { continue };
            let mut list = match self.project.features()? {
                Some(l) => l,
                None => crate::project::features::FeatureList::empty(self.project.features_path()),
            };
            let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
            let n = match number {
                Some(n) => match list.get_mut(*n) {
                    Ok(f) => {
                        let fields = f.fields_mut();
                        fields.insert("category".into(), category.as_str().into());
                        fields.insert("description".into(), description.as_str().into());
                        fields.insert("steps".into(), steps.iter().map(|s| serde_json::Value::from(*s)).collect());
                        *n
                    }
                    Err(e) => {
                        self.emit(HarnessEvent::Notice { text: e.to_string() });
                        continue;
                    }
                },
                None => {
                    list.push(crate::project::features::Feature::new(category, description, &steps));
                    list.len()
                }
            };
            list.save()?;
            let verb = if number.is_some() { "Edit" } else { "Add" };
            let message = format!(
                "{verb} feature {n}: {description}

Changed by hand with baton.
"
            );
            let rel = self.project.config().files.features.clone();
            let commit = self.repo().commit_paths(&[rel.as_path()], &message, Author::Operator)?;
            self.append(Record::FeatureEdited {
                feature: n,
                added: number.is_none(),
                commit: Some(commit.to_string()),
            })?;
            self.features_changed();
        }
        Ok(())
    }
}

pub(super) fn describe_edit(edit: &Command) -> String {
    match edit {
        Command::EditFeature { number: Some(n), .. } => format!("edit feature {n}"),
        Command::EditFeature { number: None, description, .. } => format!("add a feature: {description}"),
        _ => String::new(),
    }
}
