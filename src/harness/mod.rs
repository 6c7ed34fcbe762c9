//! The loop: initializer and coding sessions with the operator's gate. A tokio task that takes
//! [`Command`]s and emits [`HarnessEvent`]s; the screen and `--headless` both drive it the same
//! way. The journal is the single record of what happened, so a killed loop resumes where it
//! stopped and every reader agrees with it. No terminal code here.

mod ask;
pub mod attach;
pub mod breaker;
mod evaluate;
mod events;
mod fleet;
mod gate;
pub mod governor;
pub mod guard;
mod history;
pub mod notify;
pub mod prompts;
mod restore;
pub mod review;
mod session;
mod transcript;

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
use crate::project::lock::{self, LoopLock};
use crate::project::repo::{Author, Repo};
use crate::project::session::{Outcome, SessionKind, Usage, Verdict};
use crate::project::{Project, secrets};

pub use events::{Command, HarnessError, HarnessEvent, StopReason};
pub use review::Review;
pub use session::outcome_of;

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
    /// A command off the allowlist is put to the operator (someone watches) rather than refused.
    pub ask: bool,
    /// On a plan's usage limit, wait for the reset (else stop).
    pub wait_for_limits: bool,
    /// Waited past a limit's reset.
    pub limit_margin: Duration,
    /// No session starts while a limit is more used than this (0 to 1).
    pub limit_threshold: f64,
    /// The breaker trips when one feature was attempted in this many sessions in a row; 0: never.
    pub same_feature_sessions: u32,
    /// The breaker stops a session whose same tool call failed this many times; 0: never.
    pub repeated_failures: u32,
    /// Where the fleet this loop may belong to keeps its list, its session slots and its
    /// accounts' limits; `None` shares nothing (what the command line sets: the user's).
    pub fleet: Option<crate::fleet::Dirs>,
    /// Whose limits the sessions count against; `None`: found from the backend's environment.
    pub account: Option<crate::fleet::account::Account>,
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
            backoff_base: Duration::from_secs(run.backoff_seconds.max(1)),
            max_backoff: Duration::from_secs(run.max_backoff_seconds),
            max_outside_failures: 5,
            ask: config.policy.unknown == crate::project::config::Unknown::Ask,
            wait_for_limits: run.wait_for_limits,
            limit_margin: Duration::from_secs(run.limit_margin_seconds),
            limit_threshold: run.limit_threshold.clamp(0.0, 1.0),
            same_feature_sessions: run.same_feature_sessions,
            repeated_failures: run.repeated_failures,
            fleet: None,
            account: None,
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
    /// Runs the evaluator's sessions: the sessions' own backend unless `[evaluate]` names another.
    evaluator: Arc<dyn Backend>,
    opts: RunOptions,
    events: UnboundedSender<HarnessEvent>,
    commands: UnboundedReceiver<Command>,
    _lock: LoopLock,
    /// Where this loop has read the journal up to, for requests from other processes.
    journal_cursor: journal::Cursor,
    queued: Vec<(usize, bool)>,
    queued_edits: Vec<Command>,
    /// Features the operator skipped while a session ran, for the boundary.
    queued_skips: Vec<usize>,
    /// Verdicts that came while a session ran, for the review gate.
    early_verdicts: Vec<Command>,
    /// Questions of the running session waiting for the operator.
    questions: Vec<ask::Pending>,
    /// The number of the last question asked, once known.
    last_question: Option<u32>,
    pause_requested: bool,
    quit_requested: bool,
    sessions_this_run: u32,
    cost_this_run: f64,
    /// The first session this run whose cost is unknown (no price, no usage): a budget cannot
    /// count it.
    unpriced_this_run: Option<u32>,
    no_progress_streak: u32,
    /// Sessions in a row with no new passing feature (commits or not).
    stall_streak: u32,
    outside_failure_streak: u32,
    /// A verify failure found at a boundary, for the next prompt.
    boundary_feedback: Vec<String>,
    /// The operator's notify command, started with the run.
    notifier: notify::Notifier,
    /// The first session of this run: the breaker looks no further back.
    first_session: u32,
    /// What the API last said of the account's usage limits.
    usage: Option<crate::agent::UsageLimit>,
    /// A usage limit the last session hit: waited for before the next.
    limit_wait: Option<crate::agent::UsageLimit>,
    /// The API refused the account: the run stops.
    account_refused: Option<String>,
    /// The breaker tripped inside a session (the same failing tool call again and again).
    trip: Option<breaker::Trip>,
    /// Why the run stops, when the reason's own words are not enough.
    stop_why: Option<String>,
    /// What this loop shares with its fleet: the cap's slots, the account's limits.
    fleet: fleet::FleetLink,
    /// Masks secrets in what is emitted (a mutex only for `emit`'s `&self`).
    masker: std::sync::Mutex<transcript::Masker>,
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
        let (_, journal_cursor) = journal::follow(&project.journal_path())?;
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        crate::sandbox::become_subreaper();
        let notifier = notify::Notifier::none(project.root());
        let fleet = fleet::FleetLink::new(&project, opts.fleet.clone(), opts.account.clone(), backend.name());
        let harness = Harness {
            project,
            repo: std::sync::Mutex::new(repo),
            journal,
            evaluator: backend.clone(),
            backend,
            opts,
            events: ev_tx,
            commands: cmd_rx,
            _lock: lock,
            journal_cursor,
            queued: Vec::new(),
            queued_edits: Vec::new(),
            queued_skips: Vec::new(),
            early_verdicts: Vec::new(),
            questions: Vec::new(),
            last_question: None,
            pause_requested: false,
            quit_requested: false,
            sessions_this_run: 0,
            cost_this_run: 0.0,
            unpriced_this_run: None,
            no_progress_streak: 0,
            stall_streak: 0,
            outside_failure_streak: 0,
            boundary_feedback: Vec::new(),
            notifier,
            first_session: 1,
            usage: None,
            limit_wait: None,
            account_refused: None,
            trip: None,
            stop_why: None,
            fleet,
            masker: Default::default(),
        };
        Ok((harness, Handles { commands: cmd_tx, events: ev_rx }))
    }

    /// Runs the evaluator's sessions on `backend` (another model or backend than the sessions').
    pub fn with_evaluator(mut self, backend: Arc<dyn Backend>) -> Self {
        self.evaluator = backend;
        self
    }

    /// The project this loop runs on.
    pub fn project(&self) -> &Project {
        &self.project
    }

    fn repo(&self) -> std::sync::MutexGuard<'_, Repo> {
        self.repo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells whoever watches (the screen, headless output, the notify command), secrets masked.
    fn emit(&self, event: HarnessEvent) {
        let masked = self.masker.lock().unwrap_or_else(|e| e.into_inner()).harness(event);
        for event in masked {
            self.notifier.send(&event);
            let _ = self.events.send(event);
        }
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
        self.notifier = notify::Notifier::new(&self.project.config().notify, self.project.root());
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
        let sessions = self.sessions()?;
        self.recover_limit(&sessions);
        self.first_session = sessions.last().map_or(1, |s| s.number + 1);
        let reason = self.main_loop().await?;
        let detail = self.stop_detail(reason);
        self.journal.append(Record::RunStopped { reason: reason.as_str().to_owned(), detail: Some(detail.clone()) })?;
        self.emit(HarnessEvent::Stopped { reason, detail });
        self.notifier.finish().await;
        Ok(reason)
    }

    /// Counts what a finished session cost toward the run, and whether that could be counted.
    fn count_cost(&mut self, number: u32, end: &SessionEnd) {
        self.cost_this_run += end.cost_usd;
        if !end.usage.priced() {
            self.unpriced_this_run.get_or_insert(number);
        }
    }

    fn stop_detail(&self, reason: StopReason) -> String {
        let features = match self.project.features() {
            Ok(Some(l)) => format!("{}/{} features passing", l.passing(), l.len()),
            _ => "no feature list".to_owned(),
        };
        let why = match reason {
            _ if self.stop_why.is_some() => self.stop_why.clone().unwrap_or_default(),
            StopReason::Done => "every feature passes".to_owned(),
            StopReason::SessionCap => {
                format!("{} run, as asked", crate::words::count(self.sessions_this_run, "session"))
            }
            StopReason::Budget => format!("the budget is spent (${:.2} this run)", self.cost_this_run),
            StopReason::Paused => "paused by the operator".to_owned(),
            StopReason::NoProgress => "the sessions are not getting anywhere; look at what they did".to_owned(),
            StopReason::OutsideFailures => {
                format!(
                    "{} in a row failed for outside reasons (rate limits, API errors)",
                    crate::words::count(self.outside_failure_streak, "session")
                )
            }
            StopReason::UsageLimit => "a usage limit is reached".to_owned(),
            StopReason::Account => format!(
                "the API refused the account ({}); fix the key, the login or the billing, then run again",
                self.account_refused.as_deref().unwrap_or("authentication or billing")
            ),
        };
        // Counted from the journal as every reader counts: each kind said, evaluators included.
        let sessions = self.sessions().unwrap_or_default();
        let count = crate::project::report::SessionCount::since(&sessions, self.first_session);
        format!("{why}; {features}; this run: {count}")
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
                if let Wait::Stop(r) = self.wait_for_next(None).await? {
                    return Ok(r);
                }
                self.apply_queued()?;
            }
            // The governor's waits, then a slot of the fleet's cap, held through the session.
            let _slot = match self.before_session().await? {
                Ok(slot) => slot,
                Err(r) => return Ok(r),
            };
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
            Command::Resume => self.resume(),
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
            Command::Answer { number, .. } => {
                self.emit(HarnessEvent::Notice { text: format!("question {number} is not waiting for an answer") });
            }
            Command::Skip(feature) => {
                self.queued_skips.push(feature);
                self.apply_queued()?;
            }
            Command::Note(text) => self.note(text)?,
            Command::StartNext | Command::Interrupt => {}
        }
        Ok(None)
    }

    /// Takes back a pause asked for and not taken yet.
    fn resume(&mut self) {
        if std::mem::take(&mut self.pause_requested) {
            self.emit(HarnessEvent::Notice { text: "the pause is taken back: the run goes on".into() });
        }
    }

    /// Waits for `n` (the operator starting the next session), or for `within` to pass when given,
    /// handling every other command meanwhile.
    async fn wait_for_next(&mut self, within: Option<Duration>) -> Result<Wait, HarnessError> {
        let deadline = within.map(|w| tokio::time::Instant::now() + w);
        let mut watch = self.requests_watch();
        loop {
            let cmds = tokio::select! {
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(session::far)), if deadline.is_some() => {
                    return Ok(Wait::Go);
                }
                cmds = self.next_commands(&mut watch) => cmds?,
            };
            let Some(cmds) = cmds else { return Ok(Wait::Stop(StopReason::Paused)) };
            for c in cmds {
                if c == Command::StartNext {
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
    async fn next_commands(
        &mut self,
        watch: &mut crate::project::watch::DirWatch,
    ) -> Result<Option<Vec<Command>>, HarnessError> {
        tokio::select! {
            cmd = self.commands.recv() => Ok(cmd.map(|c| vec![c])),
            _ = watch.changed() => self.journal_requests().map(Some),
        }
    }

    /// Requests other baton processes appended to the journal since we last looked; only the new
    /// bytes are read.
    fn journal_requests(&mut self) -> Result<Vec<Command>, HarnessError> {
        let read = journal::read_from(&self.project.journal_path(), &mut self.journal_cursor, false)?;
        if !read.problems.is_empty() {
            // Named in the journal (for attached screens and `baton status`) and here, unless a
            // baton process named them already; what baton did not write is acted on by nothing:
            // it is not among the entries.
            self.journal.note_problems()?;
            self.tell_noted();
        }
        let mut taken = Vec::new();
        let commands = read
            .entries
            .into_iter()
            .filter_map(|e| match e.record {
                Record::ReviewRequested { number, approve: true, .. } => Some(Command::Approve(number)),
                Record::ReviewRequested { number, approve: false, reason } => {
                    Some(Command::Veto(number, reason.unwrap_or_default()))
                }
                Record::MarkRequested { feature, passes } => Some(Command::Mark { feature, passes }),
                Record::Requested { id, command, .. } => {
                    taken.push(id);
                    Some(Command::from_remote(command))
                }
                _ => None,
            })
            .collect();
        // Said before acting, so an attached screen hears it was taken before what it caused.
        for id in taken {
            self.append(Record::RequestTaken { id })?;
        }
        Ok(commands)
    }

    /// Wakes a waiting loop when the journal changes (another process's request), and every
    /// 250 ms in any case.
    fn requests_watch(&self) -> crate::project::watch::DirWatch {
        crate::project::watch::DirWatch::new(&[&self.project.baton_dir()], Duration::from_millis(250))
    }

    fn append(&mut self, record: Record) -> Result<(), HarnessError> {
        self.journal.append(record)?;
        self.tell_noted();
        Ok(())
    }

    /// Says on the screen what the journal's writer found there that baton did not write.
    fn tell_noted(&mut self) {
        let noted = self.journal.take_noted();
        if !noted.is_empty() {
            self.emit(HarnessEvent::Notice { text: attach::tampered(&noted) });
        }
    }

    async fn stop_condition(&mut self) -> Result<Option<StopReason>, HarnessError> {
        if self.quit_requested || self.pause_requested {
            return Ok(Some(StopReason::Paused));
        }
        // No later try can succeed: said before step mode waits for `n`.
        if self.account_refused.is_some() {
            return Ok(Some(StopReason::Account));
        }
        let list = self.project.features()?;
        if let Some(list) = &list
            && !list.is_empty()
            && list.passing() == list.len()
        {
            // The last session's verify ran on this very commit: its answer stands (it ran once).
            let head = self.repo().head()?.map(|h| h.to_string());
            let recorded = self
                .sessions()?
                .into_iter()
                .rev()
                .find(|s| s.kind != SessionKind::Evaluator)
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
        // A budget that cannot count a session's cost is not kept by carrying on.
        if let (Some(budget), Some(n)) = (self.opts.budget_usd, self.unpriced_this_run) {
            self.stop_why = Some(format!(
                "the budget (${budget:.2}) cannot be kept: session {n}'s cost is unknown (its server reported no usage, or [prices] in .baton/config.toml has no price for its model)"
            ));
            return Ok(Some(StopReason::Budget));
        }
        // The loop is burning money without getting anywhere: the operator should look.
        if let Some(trip) = self.breaker(list.as_ref())? {
            return Ok(Some(self.trip(trip)?));
        }
        if self.outside_failure_streak >= self.opts.max_outside_failures {
            return Ok(Some(StopReason::OutsideFailures));
        }
        Ok(None)
    }
}
