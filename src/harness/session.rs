//! One session, start to end: recovery of one baton died in, the run, and everything after the
//! agent stops (leftovers committed, guard, verify, outcome, record), with its transcript.

use super::transcript::Transcript;
use super::*;

impl Harness {
    pub(super) async fn run_verify(&self) -> Option<VerifyResult> {
        let cmd = self.opts.verify.as_deref()?;
        // The verify command runs behind the same wall as the session's commands.
        let opts = crate::sandbox::Options { prefix: "baton-verify-", ..Default::default() };
        let sandbox = match crate::sandbox::session(self.project.root(), &self.project.config().sandbox, &opts) {
            Ok(s) => s,
            Err(e) => {
                return Some(VerifyResult {
                    passed: false,
                    exit_code: None,
                    timed_out: false,
                    output: format!("cannot run `{cmd}`: {e}"),
                });
            }
        };
        let run = agent::process::run_shell(
            cmd,
            self.project.root(),
            &[],
            sandbox.as_ref().map(|s| &s.profile),
            self.opts.verify_timeout,
            &CancellationToken::new(),
            |_| {},
        )
        .await;
        Some(match run {
            Ok(r) => {
                let tail: String = {
                    let chars: Vec<char> = r.output.chars().collect();
                    chars[chars.len().saturating_sub(4000)..].iter().collect()
                };
                VerifyResult {
                    passed: r.success(),
                    exit_code: r.status.and_then(|s| s.code()),
                    timed_out: r.ended == agent::process::Ended::TimedOut,
                    output: secrets::global().redact(&tail).into_owned(),
                }
            }
            Err(e) => VerifyResult {
                passed: false,
                exit_code: None,
                timed_out: false,
                output: format!("cannot run `{cmd}`: {e}"),
            },
        })
    }

    /// A session the journal says started but never ended: baton died while it ran. It is
    /// recorded as interrupted, with what it left committed, and goes to review.
    pub(super) async fn recover(&mut self) -> Result<(), HarnessError> {
        // What was written behind baton's back while no loop ran: named before anything else.
        let read = self.project.journal()?;
        self.journal.note_problems()?;
        self.journal.take_noted();
        if !read.problems.is_empty() {
            self.emit(HarnessEvent::Notice { text: attach::tampered(&read.problems) });
        }
        let Some(s) = journal::sessions(&read.entries).into_iter().rev().find(|s| s.outcome().is_none()) else {
            return self.resume_evaluation().await;
        };
        agent::kill_recorded_groups(&self.pid_file(s.number));
        // Before any git of baton's own reads the repository.
        let swept = self.sweep_git_kept(s.number);
        if s.kind == SessionKind::Evaluator {
            // An evaluation cut short has no verdicts; whatever it changed is undone.
            let head = s.base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
            let undone = self.repo().undo_changes(head, &s.uncommitted)?;
            let mut detail =
                "baton stopped while the evaluator ran; the session it judged is evaluated again".to_owned();
            if !undone.is_empty() {
                detail.push_str(&format!("; undid its changes to {}", undone.join(", ")));
            }
            if let Some(swept) = swept {
                detail.push_str(&format!("; {swept}"));
            }
            let spent = crate::project::transcript::spent(&self.project.transcript_path(s.number));
            let report = SessionReport {
                head: s.base.clone(),
                detail: Some(detail),
                usage: spent.usage,
                cost_usd: spent.cost_usd,
                turns: spent.turns,
                duration_ms: spent.duration.as_millis() as u64,
                ..SessionReport::new(s.number, Outcome::Interrupted)
            };
            self.append(Record::SessionEnded(report))?;
            return self.resume_evaluation().await;
        }
        let base = s.base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
        let before = match base {
            Some(b) => match self.repo().file_at(b, &self.project.config().files.features)? {
                Some(bytes) => FeatureList::parse(&self.project.features_path(), &String::from_utf8_lossy(&bytes)).ok(),
                None => None,
            },
            None => None,
        };
        self.emit(HarnessEvent::Notice {
            text: format!(
                "session {} was running when baton stopped; it is recorded as interrupted and goes to review",
                s.number
            ),
        });
        // What it used up to then is in its transcript.
        let spent = crate::project::transcript::spent(&self.project.transcript_path(s.number));
        let end = SessionEnd {
            reason: EndReason::Cancelled,
            usage: spent.usage,
            cost_usd: spent.cost_usd,
            turns: spent.turns,
            notes: swept.into_iter().collect(),
        };
        let detail = "baton stopped while the session ran; recorded as interrupted on restart".to_owned();
        self.finish_session(s.number, s.kind, base, &s.uncommitted, before, end, spent.duration, Some(detail)).await?;
        // It belongs to the run that started it, not to this one's session cap.
        self.sessions_this_run -= 1;
        self.resume_evaluation().await
    }

    pub(super) fn pid_file(&self, number: u32) -> std::path::PathBuf {
        self.project.baton_dir().join("sessions").join(format!("{number:04}.pids"))
    }

    fn git_before_file(&self, number: u32) -> std::path::PathBuf {
        self.project.baton_dir().join("sessions").join(format!("{number:04}.git-before.json"))
    }

    /// Moves out what session `number` added that would steer the operator's git (see
    /// [`crate::project::gitdir::sweep`]), from what was there before it (`before`, or what was
    /// kept of it when baton died in the session); what it moved, in the review's words.
    fn sweep_git(&self, number: u32, before: &crate::project::gitdir::Before) -> Vec<String> {
        let swept = crate::project::gitdir::sweep(self.project.root(), before, &self.quarantine(number));
        let _ = std::fs::remove_file(self.git_before_file(number));
        swept
    }

    fn quarantine(&self, number: u32) -> std::path::PathBuf {
        self.project.baton_dir().join("quarantine").join(format!("{number:04}"))
    }

    /// The sweep of a session baton died in, from what was kept of `.git` before it.
    fn sweep_git_kept(&self, number: u32) -> Option<String> {
        let bytes = crate::project::fsio::read_plain(&self.git_before_file(number)).ok().flatten()?;
        match serde_json::from_slice(&bytes) {
            Ok(before) => Some(self.sweep_git(number, &before)).filter(|s| !s.is_empty()).map(|s| steering(&s)),
            Err(e) => {
                tracing::warn!("cannot read what .git held before session {number}: {e}");
                None
            }
        }
    }

    pub(super) async fn run_session(&mut self) -> Result<(), HarnessError> {
        let entries = self.project.journal()?.entries;
        let sessions = journal::sessions(&entries);
        let number = sessions.last().map_or(1, |s| s.number + 1);
        let before = self.project.features()?;
        let kind = if before.is_some() { SessionKind::Coding } else { SessionKind::Initializer };
        let base = self.repo().head()?;
        // The operator's uncommitted files: never committed as this session's work, and put back
        // as they were if it is vetoed.
        let uncommitted = self.repo().uncommitted()?;
        // What exists now, where no agent can reach it: put back if the session takes any of it.
        self.keep_history(&uncommitted)?;
        // What the last review and the last evaluation said (an evaluator's own session says
        // nothing to the next coder).
        let last = sessions.iter().rev().find(|s| s.kind != SessionKind::Evaluator);
        let mut feedback = prompts::feedback(last);
        feedback.extend(prompts::evaluation_feedback(last));
        feedback.append(&mut self.boundary_feedback);
        feedback.extend(notes_since(&entries, last));
        let prompt = prompts::render(&self.project, kind, &feedback);

        self.append(Record::SessionStarted {
            number,
            kind,
            backend: self.backend.name().to_owned(),
            model: self.backend.model().to_owned(),
            base: base.map(|b| b.to_string()),
            uncommitted: uncommitted.clone(),
            target: breaker::target(before.as_ref()),
        })?;
        self.emit(HarnessEvent::SessionStarted { number, kind, base: base.map(|b| b.to_string()) });
        let mut transcript = Transcript::open(&self.project.transcript_path(number))?;
        transcript.write(&AgentEvent::Prompt { text: prompt.clone() });

        let limits = Limits { max_turns: self.opts.max_turns, wall_time: self.opts.session_timeout };
        let request = self.request_for(number, prompt, limits);
        let run = self.drive(number, self.backend.clone(), request, transcript, false).await;
        let stall_before = self.stall_streak;
        self.finish_session(number, kind, base, &uncommitted, before, run.end, run.elapsed, None).await?;
        if kind == SessionKind::Coding
            && !self.quit_requested
            && let Some(false) = self.evaluate(number).await?
        {
            // Every new pass was a false claim, flipped back: the session passed nothing.
            self.stall_streak = stall_before + 1;
        }
        Ok(())
    }

    /// A command that arrives while a session runs: an interrupt or quit acts now, the rest waits
    /// for the boundary.
    fn during_session(&mut self, cmd: Option<Command>, cancel: &CancellationToken) {
        match cmd {
            Some(Command::Interrupt) => cancel.cancel(),
            Some(Command::Quit) | None => {
                self.quit_requested = true;
                cancel.cancel();
            }
            Some(Command::Pause) => {
                self.pause_requested = true;
                self.emit(HarnessEvent::Queued { change: "pause after this session".into() });
            }
            Some(Command::Resume) => self.resume(),
            Some(Command::SetMode(m)) => self.opts.mode = m,
            Some(Command::Mark { feature, passes }) => {
                self.queued.push((feature, passes));
                let change = format!("mark feature {feature} {}", if passes { "passing" } else { "failing" });
                self.emit(HarnessEvent::Queued { change });
            }
            Some(edit @ Command::EditFeature { .. }) => {
                self.emit(HarnessEvent::Queued { change: super::gate::describe_edit(&edit) });
                self.queued_edits.push(edit);
            }
            // A verdict given while the session (or the evaluator after it) runs is for the
            // review that follows: it waits for the gate.
            Some(verdict @ (Command::Approve(_) | Command::Veto(..))) => self.early_verdicts.push(verdict),
            Some(Command::Answer { number, answer }) => self.on_answer(number, answer),
            Some(Command::Skip(feature)) => self.queue_skip(feature),
            Some(Command::Note(text)) => {
                if let Err(e) = self.note(text) {
                    tracing::warn!("cannot record the operator's note: {e}");
                }
            }
            Some(Command::StartNext) => {}
        }
    }

    /// A request for session `number`, with its files in `.baton/sessions/`.
    pub(super) fn request_for(&self, number: u32, prompt: String, limits: Limits) -> SessionRequest {
        let dir = self.project.baton_dir().join("sessions");
        let mut request = SessionRequest::new(prompt, self.project.root(), limits, CancellationToken::new());
        request.pid_file = Some(self.pid_file(number));
        request.raw_log = Some(dir.join(format!("{number:04}.raw.jsonl")));
        request.artifacts = Some(dir.join(format!("{number:04}")));
        request
    }

    /// Runs `request` on `backend` as session `number`: its events go to the transcript and to
    /// whoever watches, the operator's commands are taken meanwhile, and nothing it started
    /// outlives it. With `keep_text`, everything the model wrote comes back too.
    pub(super) async fn drive(
        &mut self,
        number: u32,
        backend: Arc<dyn Backend>,
        mut request: SessionRequest,
        mut transcript: Transcript,
        keep_text: bool,
    ) -> Driven {
        let (asker, mut questions) = tokio::sync::mpsc::unbounded_channel();
        if self.opts.ask && !request.read_only {
            request.asker = Some(asker);
        }
        let cancel = request.cancel.clone();
        let request_read_only = request.read_only;
        let git_before = crate::project::gitdir::before(self.project.root());
        // Where no agent can write it, for a baton killed in the session to sweep on its next start.
        let kept = serde_json::to_vec(&git_before)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::project::fsio::atomic_write(&self.git_before_file(number), &bytes));
        if let Err(e) = kept {
            tracing::warn!("cannot keep what .git held before session {number}: {e}");
        }
        let token = request.session.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut task = tokio::spawn(async move { backend.run(request, tx).await });
        let started = Instant::now();
        let mut watch = self.requests_watch();
        // What would steer the operator's git is moved out as it appears, not only after the session.
        let root = self.project.root().to_owned();
        let mut git_watch = crate::project::watch::DirWatch::new(&[&root.join(".git")], Duration::from_secs(1));
        let mut live = crate::project::gitdir::Live::default();
        let mut swept_live = Vec::new();
        let mut repeats = breaker::Repeats::new(if request_read_only { 0 } else { self.opts.repeated_failures });
        let mut text = String::new();
        // The agent's latest words, for a question's dialog.
        let mut words = String::new();
        let take = |event: &AgentEvent, text: &mut String, words: &mut String| {
            if let AgentEvent::TextDelta { text: t } = event {
                if keep_text {
                    text.push_str(t);
                }
                super::ask::latest_words(words, t);
            } else {
                super::ask::words_end(words);
            }
        };
        let mut commands_closed = false;
        let end = loop {
            let deadline = self.next_deadline();
            tokio::select! {
                // The agent's events first: a question comes after the words that led to it, and
                // its dialog quotes them.
                biased;
                Some(event) = rx.recv() => {
                    take(&event, &mut text, &mut words);
                    transcript.write(&event);
                    self.watch_event(number, &event, &mut repeats, &cancel);
                    self.emit(HarnessEvent::Agent { number, event });
                }
                // A closed channel (the screen gone) is a quit, taken once: read again, it would be
                // ready every time and, the branches being in order, starve the ones below.
                cmd = self.commands.recv(), if !commands_closed => {
                    commands_closed = cmd.is_none();
                    self.during_session(cmd, &cancel)
                }
                Some(q) = questions.recv() => self.on_question(number, q, &words),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(far)), if deadline.is_some() => {
                    self.expire_questions();
                }
                // Requests from attached screens and other baton commands.
                _ = watch.changed() => match self.journal_requests() {
                    Ok(cmds) => cmds.into_iter().for_each(|c| self.during_session(Some(c), &cancel)),
                    Err(e) => tracing::warn!("cannot read requests from the journal: {e}"),
                },
                _ = git_watch.changed() => {
                    let moved = live.sweep(&root, &git_before, &self.quarantine(number));
                    if !moved.is_empty() {
                        self.emit(HarnessEvent::Notice { text: steering(&moved) });
                        swept_live.extend(moved);
                    }
                }
                end = &mut task => break end.unwrap_or_else(|e| SessionEnd {
                    reason: EndReason::Crashed { message: format!("the backend task failed: {e}") },
                    usage: Usage::default(), cost_usd: 0.0, turns: 0, notes: Vec::new(),
                }),
            }
        };
        while let Ok(event) = rx.try_recv() {
            take(&event, &mut text, &mut words);
            transcript.write(&event);
            self.emit(HarnessEvent::Agent { number, event });
        }
        drop(transcript);
        self.drop_questions();
        let _ = std::fs::remove_file(self.pid_file(number));
        // Nothing the session started outlives it: a daemon could change the tree after the guard.
        tokio::task::spawn_blocking(move || crate::sandbox::end_session(&token)).await.ok();
        let mut end = end;
        let swept = self.sweep_git(number, &git_before);
        if !swept.is_empty() {
            self.emit(HarnessEvent::Notice { text: steering(&swept) });
        }
        swept_live.extend(swept);
        if !swept_live.is_empty() {
            end.notes.push(steering(&swept_live));
        }
        Driven { end, elapsed: started.elapsed(), text }
    }

    /// What the loop reads from a session's events as they come: the API's word on usage limits,
    /// and the same tool call failing again and again (the session is stopped: the breaker trips).
    fn watch_event(
        &mut self,
        number: u32,
        event: &AgentEvent,
        repeats: &mut breaker::Repeats,
        cancel: &CancellationToken,
    ) {
        if let AgentEvent::Limit { limit } = event {
            self.share(limit, Some(number), false);
            self.usage = Some(limit.clone());
        }
        if let Some(call) = repeats.take(event) {
            let times = self.opts.repeated_failures;
            self.trip = Some(breaker::Trip {
                rule: "repeated_failure",
                feature: self.project.features().ok().flatten().as_ref().and_then(|l| breaker::target(Some(l))),
                detail: format!(
                    "session {number} made the same failing call {times} times (`{}`); it was stopped",
                    crate::words::clip(&call, 80)
                ),
            });
            cancel.cancel();
        }
    }

    /// Everything after the agent stops: commit what it left, guard, verify, decide the outcome,
    /// record the report.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn finish_session(
        &mut self,
        number: u32,
        kind: SessionKind,
        base: Option<git2::Oid>,
        uncommitted: &[crate::project::uncommitted::Uncommitted],
        before: Option<FeatureList>,
        end: SessionEnd,
        elapsed: Duration,
        detail: Option<String>,
    ) -> Result<(), HarnessError> {
        // The operator's history first: everything after looks at the repository as it is put back.
        let history = self.protect_history(number, uncommitted)?;
        let leftover = self.repo().commit_leftover(uncommitted, &format!("baton: commit what session {number} left uncommitted\n\nThe session ended with these changes not committed; baton committed them so nothing is lost and everything is reviewable.\n"), Author::Baton)?;
        let (violations, flips) = self.guard(number, kind, before.as_ref())?;
        let verify = self.run_verify().await;
        let head = self.repo().head()?;
        let commits: Vec<String> = match head {
            Some(h) if Some(h) != base => self.repo().commits_between(base, h)?.into_iter().map(|c| c.id).collect(),
            _ => Vec::new(),
        };
        let guard_commits = usize::from(!violations.is_empty());
        let agent_commits = commits.len().saturating_sub(guard_commits);
        let new_pass = flips.iter().any(|f| f.passes);
        let mut progress = agent_commits > 0 || new_pass || leftover.is_some();
        let (mut outcome, mut end_detail) = outcome_of(&end.reason, progress);
        // An initializer's one job is the feature list: without it, nothing that follows can run.
        let no_list =
            kind == SessionKind::Initializer && !matches!(self.project.features(), Ok(Some(l)) if !l.is_empty());
        if no_list && matches!(outcome, Outcome::Completed | Outcome::NoProgress) {
            outcome = Outcome::NoFeatureList;
            progress = false;
            end_detail = Some(format!(
                "the initializer ended without writing {}; nothing after it can run",
                self.project.config().files.features.display()
            ));
        }
        let report = SessionReport {
            head: head.map(|h| h.to_string()),
            usage: end.usage,
            cost_usd: end.cost_usd,
            turns: end.turns,
            duration_ms: elapsed.as_millis() as u64,
            detail: {
                let parts: Vec<String> =
                    history.iter().cloned().chain(detail.or(end_detail)).chain(end.notes.iter().cloned()).collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            },
            history,
            commits,
            flipped: flips,
            violations,
            verify,
            limit: end.reason.usage_limit(),
            ..SessionReport::new(number, outcome)
        };
        self.append(Record::SessionEnded(report))?;
        self.sessions_this_run += 1;
        self.count_cost(number, &end);
        // A session the API failed says nothing of the agent's progress: it counts toward the
        // back-off and its own cap, not toward the no-progress pause.
        self.govern_after(number, &end.reason);
        let outside = matches!(outcome, Outcome::RateLimited | Outcome::ApiError);
        if !outside {
            self.no_progress_streak = if progress { 0 } else { self.no_progress_streak + 1 };
            self.stall_streak = if new_pass { 0 } else { self.stall_streak + 1 };
        }
        // A plan's limit is waited out to its reset, not backed off from.
        if !matches!(end.reason, EndReason::UsageLimit { .. }) {
            self.outside_failure_streak = if outside { self.outside_failure_streak + 1 } else { 0 };
        }
        self.emit(HarnessEvent::SessionEnded {
            number,
            outcome,
            usage: end.usage,
            cost_usd: end.cost_usd,
            duration_ms: elapsed.as_millis() as u64,
        });
        self.features_changed();
        Ok(())
    }
}

/// The outcome baton records, from how the backend ended and whether the session did anything.
pub fn outcome_of(reason: &EndReason, progress: bool) -> (Outcome, Option<String>) {
    match reason {
        EndReason::Completed if progress => (Outcome::Completed, None),
        EndReason::Completed => {
            (Outcome::NoProgress, Some("the agent ended its turn without committing or passing anything".into()))
        }
        EndReason::MaxTokens if progress => (Outcome::Completed, Some("stopped at the output token limit".into())),
        EndReason::MaxTokens => {
            (Outcome::NoProgress, Some("stopped at the output token limit without committing anything".into()))
        }
        EndReason::MaxTurns => (Outcome::MaxTurns, None),
        EndReason::TimedOut => (Outcome::TimedOut, None),
        EndReason::Cancelled => (Outcome::Interrupted, None),
        EndReason::RateLimited { message } => (Outcome::RateLimited, Some(message.clone())),
        EndReason::UsageLimit { message, resets_at, kind } => {
            let name = crate::agent::UsageLimit::name(kind.as_deref());
            let when = resets_at.map(|r| format!("; it resets at {}", super::governor::clock(r))).unwrap_or_default();
            (Outcome::RateLimited, Some(format!("the {name} is reached{when}: {message}")))
        }
        EndReason::ApiError { message, .. } => (Outcome::ApiError, Some(message.clone())),
        EndReason::Crashed { message } => (Outcome::AgentCrashed, Some(message.clone())),
        EndReason::Refused => (
            if progress { Outcome::Completed } else { Outcome::NoProgress },
            Some("the model refused to go on (stop_reason: refusal)".into()),
        ),
    }
}

/// What a sweep moved, in the review's words.
fn steering(moved: &[String]) -> String {
    format!(
        "the session added files that would steer the operator's git, and baton moved them out: {}",
        moved.join(", ")
    )
}

/// The operator's notes given since session `last` started, for the next prompt.
fn notes_since(entries: &[journal::Entry], last: Option<&SessionSummary>) -> Vec<String> {
    let since = last.map(|s| s.started_at);
    entries
        .iter()
        .filter(|e| since.is_none_or(|t| e.at > t))
        .filter_map(|e| match &e.record {
            Record::NoteGiven { text } => Some(format!("A note from the operator: {text}")),
            _ => None,
        })
        .collect()
}

/// A moment too far away to come: a deadline for when there is none.
pub(super) fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

/// How a driven session ended.
pub(super) struct Driven {
    pub end: SessionEnd,
    pub elapsed: Duration,
    /// Everything the model wrote, when asked for.
    pub text: String,
}
