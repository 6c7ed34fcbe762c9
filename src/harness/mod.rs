//! The loop: initializer and coding sessions with the operator's gate. A tokio task that takes
//! [`Command`]s and emits [`HarnessEvent`]s; the screen and `--headless` both drive it the same
//! way. The journal is the single record of what happened, so a killed loop resumes where it
//! stopped and every reader agrees with it. No terminal code here.

pub mod guard;
pub mod prompts;
mod restore;
pub mod review;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use crate::agent::{self, AgentEvent, Backend, EndReason, Limits, SessionEnd, SessionRequest};
use crate::project::config::{ApprovePolicy, Config, Mode};
use crate::project::features::FeatureList;
use crate::project::journal::{self, Journal, Record, SessionReport, SessionSummary, VerifyResult};
use crate::project::lock::{self, LockError, LoopLock};
use crate::project::repo::{Author, Repo};
use crate::project::session::{Outcome, SessionKind, Usage, Verdict};
use crate::project::{Project, ProjectError, secrets};

pub use review::Review;

/// What the operator asks of the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start the next session (step mode waits for this).
    StartNext,
    SetMode(Mode),
    /// Stop after the current session.
    Pause,
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
    /// Interrupt whatever runs and end the loop.
    Quit,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every feature passes (and the verify command, if any).
    Done,
    SessionCap,
    Budget,
    /// The operator paused, or asked to quit.
    Paused,
    /// Sessions in a row made no progress.
    NoProgress,
    /// Sessions in a row failed for outside reasons (rate limits, API errors).
    OutsideFailures,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Done => "done",
            StopReason::SessionCap => "session_cap",
            StopReason::Budget => "budget",
            StopReason::Paused => "paused",
            StopReason::NoProgress => "no_progress",
            StopReason::OutsideFailures => "outside_failures",
        }
    }
}

/// What the loop tells whoever is watching.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// The loop waits for the operator (step mode, a manual review).
    Waiting {
        reason: String,
    },
    /// The loop waits before the next session because the last ones failed for outside reasons.
    Backoff {
        seconds: u64,
        reason: String,
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

/// How a run behaves; from the config, with the command line's overrides.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub approve: ApprovePolicy,
    pub mode: Mode,
    /// Sessions this run may start; `None` for no cap.
    pub max_sessions: Option<u32>,
    pub budget_usd: Option<f64>,
    pub max_turns: u32,
    pub session_timeout: Duration,
    pub verify: Option<String>,
    pub verify_timeout: Duration,
    pub no_progress_sessions: u32,
    /// First wait after a session failed for outside reasons; doubles each time.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// Stop after this many sessions in a row failed for outside reasons.
    pub max_outside_failures: u32,
}

impl RunOptions {
    pub fn from_config(config: &Config) -> Self {
        let run = &config.run;
        RunOptions {
            approve: run.approve,
            mode: run.mode,
            max_sessions: (run.max_sessions > 0).then_some(run.max_sessions),
            budget_usd: (run.budget_usd > 0.0).then_some(run.budget_usd),
            max_turns: config.agent.max_turns,
            session_timeout: Duration::from_secs(run.session_timeout_minutes * 60),
            verify: (!run.verify.trim().is_empty()).then(|| run.verify.clone()),
            verify_timeout: Duration::from_secs(run.verify_timeout_seconds),
            no_progress_sessions: run.no_progress_sessions.max(1),
            backoff_base: Duration::from_secs(30),
            max_backoff: Duration::from_secs(run.max_backoff_seconds),
            max_outside_failures: 5,
        }
    }
}

/// The handles a front end drives a loop with.
pub struct Handles {
    pub commands: UnboundedSender<Command>,
    pub events: UnboundedReceiver<HarnessEvent>,
}

/// A loop on one project, holding its lock.
pub struct Harness {
    project: Project,
    /// In a mutex only so the loop's future can move between threads (git2 is Send, not Sync).
    repo: std::sync::Mutex<Repo>,
    journal: Journal,
    backend: Arc<dyn Backend>,
    opts: RunOptions,
    events: UnboundedSender<HarnessEvent>,
    commands: UnboundedReceiver<Command>,
    _lock: LoopLock,
    /// Where this loop has read the journal up to (bytes), for requests from other processes.
    journal_offset: u64,
    queued: Vec<(usize, bool)>,
    queued_edits: Vec<Command>,
    pause_requested: bool,
    quit_requested: bool,
    sessions_this_run: u32,
    cost_this_run: f64,
    no_progress_streak: u32,
    /// Sessions in a row with no new passing feature (commits or not).
    stall_streak: u32,
    outside_failure_streak: u32,
    /// A verify failure found at a boundary, for the next prompt.
    boundary_feedback: Vec<String>,
    /// The verify command's sandbox, and its temporary directory.
    verify_sandbox: Option<crate::sandbox::Profile>,
    _verify_tmp: Option<tempfile::TempDir>,
}

enum Wait {
    Go,
    Stop(StopReason),
}

impl Harness {
    /// Takes the project's loop lock and prepares a run. Fails if another loop runs.
    pub fn new(project: Project, backend: Arc<dyn Backend>, opts: RunOptions) -> Result<(Self, Handles), HarnessError> {
        let lock = lock::acquire(&project.baton_dir())?;
        let repo = project.repo()?;
        let journal = project.open_journal()?;
        let journal_offset = std::fs::metadata(project.journal_path()).map_or(0, |m| m.len());
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        crate::sandbox::become_subreaper();
        let (verify_tmp, verify_sandbox) =
            match crate::sandbox::with_tmp(project.root(), &project.config().sandbox, "baton-verify-") {
                Ok(Some((tmp, profile))) => (Some(tmp), Some(profile)),
                Ok(None) => (None, None),
                Err(e) => return Err(HarnessError::Io(e.to_string())),
            };
        let harness = Harness {
            project,
            repo: std::sync::Mutex::new(repo),
            journal,
            backend,
            opts,
            events: ev_tx,
            commands: cmd_rx,
            _lock: lock,
            journal_offset,
            queued: Vec::new(),
            queued_edits: Vec::new(),
            pause_requested: false,
            quit_requested: false,
            sessions_this_run: 0,
            cost_this_run: 0.0,
            no_progress_streak: 0,
            stall_streak: 0,
            outside_failure_streak: 0,
            boundary_feedback: Vec::new(),
            verify_sandbox,
            _verify_tmp: verify_tmp,
        };
        Ok((harness, Handles { commands: cmd_tx, events: ev_rx }))
    }

    fn repo(&self) -> std::sync::MutexGuard<'_, Repo> {
        self.repo.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: HarnessEvent) {
        let _ = self.events.send(event);
    }

    fn sessions(&self) -> Result<Vec<SessionSummary>, HarnessError> {
        Ok(journal::sessions(&self.project.journal()?.entries))
    }

    fn features_changed(&self) {
        if let Ok(Some(list)) = self.project.features() {
            self.emit(HarnessEvent::FeaturesChanged { total: list.len(), passing: list.passing() });
        }
    }

    /// Runs until a stop condition; records why in the journal.
    pub async fn run(mut self) -> Result<StopReason, HarnessError> {
        self.journal.append(Record::RunStarted {
            pid: std::process::id(),
            backend: self.backend.name().to_owned(),
            approve: format!("{:?}", self.opts.approve).to_lowercase(),
            mode: format!("{:?}", self.opts.mode).to_lowercase(),
        })?;
        self.emit(HarnessEvent::RunStarted {
            backend: self.backend.name().to_owned(),
            model: self.backend.model().to_owned(),
            approve: format!("{:?}", self.opts.approve).to_lowercase(),
            mode: format!("{:?}", self.opts.mode).to_lowercase(),
        });
        self.features_changed();
        self.recover().await?;
        let reason = self.main_loop().await?;
        let detail = self.stop_detail(reason);
        self.journal.append(Record::RunStopped { reason: reason.as_str().to_owned(), detail: Some(detail.clone()) })?;
        self.emit(HarnessEvent::Stopped { reason, detail });
        Ok(reason)
    }

    fn stop_detail(&self, reason: StopReason) -> String {
        let features = match self.project.features() {
            Ok(Some(l)) => format!("{}/{} features passing", l.passing(), l.len()),
            _ => "no feature list".to_owned(),
        };
        let why = match reason {
            StopReason::Done => "every feature passes".to_owned(),
            StopReason::SessionCap => {
                format!("{} run, as asked", crate::words::count(self.sessions_this_run, "session"))
            }
            StopReason::Budget => format!("the budget is spent (${:.2} this run)", self.cost_this_run),
            StopReason::Paused => "paused by the operator".to_owned(),
            StopReason::NoProgress if self.no_progress_streak >= self.opts.no_progress_sessions => format!(
                "{} in a row made no progress (no new passing feature, no commit); look at what they did before going on",
                crate::words::count(self.no_progress_streak, "session")
            ),
            StopReason::NoProgress => format!(
                "{} in a row passed no new feature; look at what they did before going on",
                crate::words::count(self.stall_streak, "session")
            ),
            StopReason::OutsideFailures => {
                format!(
                    "{} in a row failed for outside reasons (rate limits, API errors)",
                    crate::words::count(self.outside_failure_streak, "session")
                )
            }
        };
        let sessions = crate::words::count(self.sessions_this_run, "session");
        format!("{why}; {features}; {sessions} this run, ${:.2}", self.cost_this_run)
    }

    async fn main_loop(&mut self) -> Result<StopReason, HarnessError> {
        loop {
            if let Wait::Stop(r) = self.review_gate().await? {
                return Ok(r);
            }
            // Commands that came while nothing waited for them (a mark sent as the run started).
            let mut start_requested = false;
            while let Ok(c) = self.commands.try_recv() {
                if c == Command::StartNext {
                    start_requested = true;
                } else if let Some(r) = self.handle_idle(c)? {
                    return Ok(r);
                }
            }
            self.apply_queued()?;
            if let Some(r) = self.stop_condition().await? {
                return Ok(r);
            }
            if self.opts.mode == Mode::Step && !start_requested {
                self.emit(HarnessEvent::Waiting { reason: "step mode: start the next session when ready".into() });
                if let Wait::Stop(r) = self.wait_for(|c| matches!(c, Command::StartNext)).await? {
                    return Ok(r);
                }
                self.apply_queued()?;
            }
            if self.outside_failure_streak > 0 {
                let exp = self.opts.backoff_base.saturating_mul(1 << (self.outside_failure_streak - 1).min(16));
                let wait = exp.min(self.opts.max_backoff);
                self.emit(HarnessEvent::Backoff {
                    seconds: wait.as_secs(),
                    reason: format!("{} session(s) in a row failed for outside reasons", self.outside_failure_streak),
                });
                let sleep = tokio::time::sleep(wait);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        cmd = self.commands.recv() => {
                            match cmd {
                                Some(Command::StartNext) => break,
                                Some(c) => { if let Some(r) = self.handle_idle(c)? { return Ok(r) } }
                                None => return Ok(StopReason::Paused),
                            }
                        }
                    }
                }
            }
            self.run_session().await?;
            if self.quit_requested {
                // The session is recorded; its review waits for the next run.
                return Ok(StopReason::Paused);
            }
        }
    }

    /// Applies a command that arrives while no session runs. Returns a stop reason for Quit.
    fn handle_idle(&mut self, cmd: Command) -> Result<Option<StopReason>, HarnessError> {
        match cmd {
            Command::Quit => return Ok(Some(StopReason::Paused)),
            Command::Pause => {
                self.pause_requested = true;
                return Ok(Some(StopReason::Paused));
            }
            Command::SetMode(m) => self.opts.mode = m,
            Command::Mark { feature, passes } => {
                self.queued.push((feature, passes));
                self.apply_queued()?;
            }
            edit @ Command::EditFeature { .. } => {
                self.queued_edits.push(edit);
                self.apply_queued()?;
            }
            Command::Approve(n) | Command::Veto(n, _) => {
                self.emit(HarnessEvent::Notice { text: format!("session {n} is not waiting for a verdict") });
            }
            Command::StartNext | Command::Interrupt => {}
        }
        Ok(None)
    }

    /// Waits for a command `want`, handling everything else.
    async fn wait_for(&mut self, want: impl Fn(&Command) -> bool) -> Result<Wait, HarnessError> {
        let mut tick = requests_tick();
        loop {
            let Some(cmds) = self.next_commands(&mut tick).await? else { return Ok(Wait::Stop(StopReason::Paused)) };
            for c in cmds {
                if want(&c) {
                    return Ok(Wait::Go);
                }
                if let Some(r) = self.handle_idle(c)? {
                    return Ok(Wait::Stop(r));
                }
            }
        }
    }

    /// The next commands: from the screen's channel, or requests other baton processes appended to
    /// the journal (looked for at each `tick`). `None` when the channel is closed.
    async fn next_commands(&mut self, tick: &mut tokio::time::Interval) -> Result<Option<Vec<Command>>, HarnessError> {
        tokio::select! {
            cmd = self.commands.recv() => Ok(cmd.map(|c| vec![c])),
            _ = tick.tick() => self.journal_requests().map(Some),
        }
    }

    /// Requests other baton processes appended to the journal since we last looked; only the new
    /// bytes are read.
    fn journal_requests(&mut self) -> Result<Vec<Command>, HarnessError> {
        let (read, end) = journal::read_from(&self.project.journal_path(), self.journal_offset, false)?;
        self.journal_offset = end;
        Ok(read
            .entries
            .into_iter()
            .filter_map(|e| match e.record {
                Record::ReviewRequested { number, approve: true, .. } => Some(Command::Approve(number)),
                Record::ReviewRequested { number, approve: false, reason } => {
                    Some(Command::Veto(number, reason.unwrap_or_default()))
                }
                Record::MarkRequested { feature, passes } => Some(Command::Mark { feature, passes }),
                _ => None,
            })
            .collect())
    }

    fn append(&mut self, record: Record) -> Result<(), HarnessError> {
        self.journal.append(record)?;
        Ok(())
    }

    /// The review of the pending session, decided by the approve policy or by the operator.
    async fn review_gate(&mut self) -> Result<Wait, HarnessError> {
        let Some(pending) = self.sessions()?.into_iter().rev().find(|s| s.verdict == Some(Verdict::Pending)) else {
            return Ok(Wait::Go);
        };
        let number = pending.number;
        let rev = review::build(&self.repo(), &pending)?;
        let report = pending.end.as_ref();
        let verify_ok = report.and_then(|r| r.verify.as_ref()).is_none_or(|v| v.passed);
        let clean = report.is_some_and(|r| r.violations.is_empty());
        let auto = match self.opts.approve {
            // An initializer that wrote no feature list goes to the operator, whatever the policy.
            _ if pending.outcome() == Some(Outcome::NoFeatureList) => false,
            ApprovePolicy::Auto => true,
            ApprovePolicy::Checks => verify_ok && clean && pending.outcome() == Some(Outcome::Completed),
            ApprovePolicy::Manual => false,
        };
        self.emit(HarnessEvent::ReviewNeeded { review: Box::new(rev), waiting: !auto });
        if auto {
            self.verdict(number, Verdict::AutoApproved, None)?;
            return Ok(Wait::Go);
        }
        self.emit(HarnessEvent::Waiting { reason: format!("session {number} waits for a verdict") });
        let mut tick = requests_tick();
        loop {
            let Some(cmds) = self.next_commands(&mut tick).await? else { return Ok(Wait::Stop(StopReason::Paused)) };
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
                    Command::StartNext | Command::Interrupt => {}
                }
            }
        }
    }

    fn verdict(&mut self, number: u32, verdict: Verdict, reason: Option<String>) -> Result<(), HarnessError> {
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
    fn apply_queued(&mut self) -> Result<(), HarnessError> {
        self.apply_edits()?;
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
        let mut done = Vec::new();
        for (feature, passes) in queued {
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

    /// Applies operator edits and additions queued while a session ran, one operator commit each.
    fn apply_edits(&mut self) -> Result<(), HarnessError> {
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

    async fn stop_condition(&mut self) -> Result<Option<StopReason>, HarnessError> {
        if self.quit_requested || self.pause_requested {
            return Ok(Some(StopReason::Paused));
        }
        if let Some(list) = self.project.features()?
            && !list.is_empty()
            && list.passing() == list.len()
        {
            // The last session's verify ran on this very commit: its answer stands (it ran once).
            let head = self.repo().head()?.map(|h| h.to_string());
            let recorded = self
                .sessions()?
                .pop()
                .and_then(|s| s.end)
                .filter(|r| r.head.is_some() && r.head == head)
                .and_then(|r| r.verify);
            let verify = match recorded {
                Some(v) => Some(v),
                None => self.run_verify().await,
            };
            match verify {
                Some(v) if !v.passed => {
                    self.boundary_feedback = vec![format!(
                        "Every feature is marked passing, but the project's verify command fails. Find and fix what is broken. Its output ended with:\n```\n{}\n```",
                        v.output
                    )];
                    self.emit(HarnessEvent::Notice { text: "every feature passes, but verify fails: going on".into() });
                }
                _ => return Ok(Some(StopReason::Done)),
            }
        }
        if self.opts.max_sessions.is_some_and(|m| self.sessions_this_run >= m) {
            return Ok(Some(StopReason::SessionCap));
        }
        if self.opts.budget_usd.is_some_and(|b| self.cost_this_run >= b) {
            return Ok(Some(StopReason::Budget));
        }
        // Nothing done at all for N sessions, or commits but no new passing feature for twice
        // that: either way the loop is burning money, and the operator should look.
        if self.no_progress_streak >= self.opts.no_progress_sessions
            || self.stall_streak >= self.opts.no_progress_sessions.saturating_mul(2)
        {
            return Ok(Some(StopReason::NoProgress));
        }
        if self.outside_failure_streak >= self.opts.max_outside_failures {
            return Ok(Some(StopReason::OutsideFailures));
        }
        Ok(None)
    }

    async fn run_verify(&self) -> Option<VerifyResult> {
        let cmd = self.opts.verify.as_deref()?;
        let run = agent::process::run_shell(
            cmd,
            self.project.root(),
            &[],
            self.verify_sandbox.as_ref(),
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
    async fn recover(&mut self) -> Result<(), HarnessError> {
        let Some(s) = self.sessions()?.into_iter().rev().find(|s| s.outcome().is_none()) else { return Ok(()) };
        agent::kill_recorded_groups(&self.pid_file(s.number));
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
        let end = SessionEnd {
            reason: EndReason::Cancelled,
            usage: Usage::default(),
            cost_usd: 0.0,
            turns: 0,
            notes: Vec::new(),
        };
        let detail = "baton stopped while the session ran; recorded as interrupted on restart".to_owned();
        self.finish_session(s.number, s.kind, base, &s.uncommitted, before, end, Duration::ZERO, Some(detail)).await?;
        // It belongs to the run that started it, not to this one's session cap.
        self.sessions_this_run -= 1;
        Ok(())
    }

    fn pid_file(&self, number: u32) -> std::path::PathBuf {
        self.project.baton_dir().join("sessions").join(format!("{number:04}.pids"))
    }

    async fn run_session(&mut self) -> Result<(), HarnessError> {
        let sessions = self.sessions()?;
        let number = sessions.last().map_or(1, |s| s.number + 1);
        let before = self.project.features()?;
        let kind = if before.is_some() { SessionKind::Coding } else { SessionKind::Initializer };
        let base = self.repo().head()?;
        // The operator's uncommitted files: never committed as this session's work, and put back
        // as they were if it is vetoed.
        let uncommitted = self.repo().uncommitted()?;
        let mut feedback = prompts::feedback(sessions.last());
        feedback.append(&mut self.boundary_feedback);
        let prompt = prompts::render(&self.project, kind, &feedback);

        self.append(Record::SessionStarted {
            number,
            kind,
            backend: self.backend.name().to_owned(),
            model: self.backend.model().to_owned(),
            base: base.map(|b| b.to_string()),
            uncommitted: uncommitted.clone(),
        })?;
        self.emit(HarnessEvent::SessionStarted { number, kind, base: base.map(|b| b.to_string()) });
        let mut transcript = Transcript::open(&self.project.transcript_path(number))?;
        transcript.write(&AgentEvent::Prompt { text: prompt.clone() });

        let cancel = CancellationToken::new();
        let mut request = SessionRequest::new(
            prompt,
            self.project.root(),
            Limits { max_turns: self.opts.max_turns, wall_time: self.opts.session_timeout },
            cancel.clone(),
        );
        request.pid_file = Some(self.pid_file(number));
        let record = self.project.baton_dir().join("sessions").join(format!("{number:04}.sandboxes"));
        request.sandbox_record = Some(record.clone());
        request.raw_log = Some(self.project.baton_dir().join("sessions").join(format!("{number:04}.raw.jsonl")));
        request.artifacts = Some(self.project.baton_dir().join("sessions").join(format!("{number:04}")));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let backend = self.backend.clone();
        let token = request.session.clone();
        let mut task = tokio::spawn(async move { backend.run(request, tx).await });
        let started = Instant::now();
        let end = loop {
            tokio::select! {
                Some(event) = rx.recv() => {
                    transcript.write(&event);
                    self.emit(HarnessEvent::Agent { number, event });
                }
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Interrupt) => cancel.cancel(),
                    Some(Command::Quit) | None => {
                        self.quit_requested = true;
                        cancel.cancel();
                    }
                    Some(Command::Pause) => {
                        self.pause_requested = true;
                        self.emit(HarnessEvent::Queued { change: "pause after this session".into() });
                    }
                    Some(Command::SetMode(m)) => self.opts.mode = m,
                    Some(Command::Mark { feature, passes }) => {
                        self.queued.push((feature, passes));
                        self.emit(HarnessEvent::Queued { change: format!("mark feature {feature} {}", if passes { "passing" } else { "failing" }) });
                    }
                    Some(edit @ Command::EditFeature { .. }) => {
                        self.emit(HarnessEvent::Queued { change: describe_edit(&edit) });
                        self.queued_edits.push(edit);
                    }
                    Some(Command::Approve(_) | Command::Veto(..) | Command::StartNext) => {}
                },
                end = &mut task => break end.unwrap_or_else(|e| SessionEnd {
                    reason: EndReason::Crashed { message: format!("the backend task failed: {e}") },
                    usage: Usage::default(), cost_usd: 0.0, turns: 0, notes: Vec::new(),
                }),
            }
        };
        while let Ok(event) = rx.try_recv() {
            transcript.write(&event);
            self.emit(HarnessEvent::Agent { number, event });
        }
        drop(transcript);
        let _ = std::fs::remove_file(self.pid_file(number));
        // Nothing the session started outlives it: a daemon could change the tree after the guard.
        tokio::task::spawn_blocking(move || crate::sandbox::end_session(&token, Some(&record))).await.ok();
        self.finish_session(number, kind, base, &uncommitted, before, end, started.elapsed(), None).await
    }

    /// Everything after the agent stops: commit what it left, guard, verify, decide the outcome,
    /// record the report.
    #[allow(clippy::too_many_arguments)]
    async fn finish_session(
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
                let parts: Vec<String> = detail.or(end_detail).into_iter().chain(end.notes.iter().cloned()).collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            },
            commits,
            flipped: flips,
            violations,
            verify,
            ..SessionReport::new(number, outcome)
        };
        self.append(Record::SessionEnded(report))?;
        self.sessions_this_run += 1;
        self.cost_this_run += end.cost_usd;
        // A session the API failed says nothing of the agent's progress: it counts toward the
        // back-off and its own cap, not toward the no-progress pause.
        let outside = matches!(outcome, Outcome::RateLimited | Outcome::ApiError);
        if !outside {
            self.no_progress_streak = if progress { 0 } else { self.no_progress_streak + 1 };
            self.stall_streak = if new_pass { 0 } else { self.stall_streak + 1 };
        }
        self.outside_failure_streak = if outside { self.outside_failure_streak + 1 } else { 0 };
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

/// How often a waiting loop looks in the journal for requests from other baton processes. Made
/// once per wait: a fresh interval ticks at once, which would make the wait a busy loop.
fn requests_tick() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

fn describe_edit(edit: &Command) -> String {
    match edit {
        Command::EditFeature { number: Some(n), .. } => format!("edit feature {n}"),
        Command::EditFeature { number: None, description, .. } => format!("add a feature: {description}"),
        _ => String::new(),
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
        EndReason::ApiError { message, .. } => (Outcome::ApiError, Some(message.clone())),
        EndReason::Crashed { message } => (Outcome::AgentCrashed, Some(message.clone())),
        EndReason::Refused => (
            if progress { Outcome::Completed } else { Outcome::NoProgress },
            Some("the model refused to go on (stop_reason: refusal)".into()),
        ),
    }
}

/// A session's transcript, `.baton/sessions/NNNN.jsonl`: every agent event, secrets masked.
struct Transcript {
    file: Option<std::fs::File>,
}

impl Transcript {
    fn open(path: &Path) -> Result<Self, HarnessError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| HarnessError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| HarnessError::Io(format!("cannot open the transcript {}: {e}", path.display())))?;
        Ok(Transcript { file: Some(file) })
    }

    fn write(&mut self, event: &AgentEvent) {
        let Some(file) = &mut self.file else { return };
        #[derive(Serialize)]
        struct Line<'a> {
            at: jiff::Timestamp,
            #[serde(flatten)]
            event: &'a AgentEvent,
        }
        let Ok(line) = serde_json::to_string(&Line { at: jiff::Timestamp::now(), event }) else { return };
        let line = secrets::global().redact(&line);
        if writeln!(file, "{line}").is_err() {
            tracing::warn!("cannot write the transcript; going on without it");
            self.file = None;
        }
    }
}
