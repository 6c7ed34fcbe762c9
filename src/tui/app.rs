//! The screen's state and its update: harness events and worker replies come in here (keys and
//! the mouse in `input.rs`); effects (commands for the loop, requests for the worker) go out.
//! `render` draws the state. What the journal says wins over what the screen last heard: a
//! verdict recorded elsewhere closes the review here.

use std::collections::HashSet;
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::dialogs::{self, Dialog, ReviewDialog};
use super::panes::features::{FeaturesPane, Row};
use super::panes::gitlog::{GitLogPane, LogRow};
use super::panes::progress::ProgressPane;
use super::panes::transcript::{Entry, TranscriptPane};
use super::theme::Theme;
use crate::agent::AgentEvent;
use crate::harness::{Command, HarnessEvent, Review, StopReason};
use crate::project::config::Mode;
use crate::project::journal::SessionSummary;
use crate::project::session::{SessionKind, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Features,
    Transcript,
    GitLog,
    Progress,
}

pub(super) const PANES: [Pane; 4] = [Pane::Features, Pane::Transcript, Pane::GitLog, Pane::Progress];

/// Work for the worker thread (git and files, never on the drawing thread).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Refresh,
    Diff {
        title: String,
        from: Option<String>,
        to: String,
    },
    Transcript(u32),
    Sessions,
    /// The run's numbers.
    Stats,
    /// The next page of the log (the cursor reached the end of what was read).
    MoreLog,
    /// An operator command no loop in this process can take (none can start here): carried out
    /// the way the command line does it, through the journal or under the loop lock.
    Operator(Command),
}

/// What the journal says, read by the worker each time it changes.
#[derive(Debug, Clone, Default)]
pub struct JournalView {
    pub last: Option<(u32, SessionKind)>,
    pub state: String,
    pub total_cost: f64,
    /// Some finished session's cost is unknown: the total is a floor ("price unknown").
    pub total_unpriced: bool,
    /// The session waiting for a verdict, with what its review shows.
    pub pending: Option<Box<Review>>,
    /// Every session with a verdict given, and the verdict.
    pub decided: Vec<(u32, Verdict)>,
    /// Every feature passes and the run is over.
    pub done: bool,
    /// The process that holds the loop lock, if any.
    pub loop_pid: Option<String>,
}

#[derive(Debug)]
pub enum Reply {
    Features(Option<Vec<Row>>),
    Log {
        rows: Vec<LogRow>,
        more: bool,
    },
    Progress(String),
    Diff {
        title: String,
        text: String,
    },
    /// A session's transcript; `last` when it is the journal's last session, read as the screen
    /// opens.
    Transcript {
        number: u32,
        events: Vec<AgentEvent>,
        last: bool,
    },
    Sessions(Vec<SessionSummary>),
    Stats(Box<crate::project::report::Report>),
    Journal(JournalView),
    Notice(String),
    Error(String),
}

/// What the screen asks of the world.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Harness(Command),
    Worker(Request),
    /// Ring the bell / send a desktop notification.
    Notify(String),
    Quit,
}

#[derive(Debug, Default)]
pub struct Status {
    pub session: Option<(u32, SessionKind)>,
    pub state: String,
    pub backend: String,
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_session: f64,
    /// What finished sessions cost (the running one is added when drawn).
    pub cost_total: f64,
    /// The running session's usage says what of its tokens and cost is unknown.
    pub usage_session: crate::project::session::Usage,
    /// Some finished session's cost is unknown.
    pub unpriced_total: bool,
    pub started: Option<Instant>,
    pub running: bool,
    /// Why sessions cannot start from this screen (another process runs the loop, no API key).
    pub cannot_start: Option<String>,
    /// A pause was asked for and is not taken yet.
    pub pause_pending: bool,
    /// Every feature passes: the run is over.
    pub done: bool,
    /// `[sandbox] mode = "off"`: the agent's commands run unconfined, said for the whole run.
    pub unconfined: bool,
    /// The pid of the baton whose loop this screen is attached to.
    pub attached: Option<String>,
    pub notice: Option<String>,
    /// What the API last said of the usage limits (shown while one is nearly used up).
    pub limit: Option<crate::agent::UsageLimit>,
    /// The loop waits for a usage limit to reset until then (Unix seconds): a countdown.
    pub waiting_until: Option<(i64, Option<String>)>,
}

pub struct App {
    pub theme: Theme,
    pub focus: Pane,
    pub zoom: bool,
    pub mode: Mode,
    pub features: FeaturesPane,
    pub transcript: TranscriptPane,
    /// A past session's transcript, shown instead of the live one while set.
    pub past: Option<TranscriptPane>,
    pub gitlog: GitLogPane,
    pub progress: ProgressPane,
    pub status: Status,
    /// Open dialogs, the top one last; only the top one is drawn and takes keys.
    pub dialogs: Vec<Dialog>,
    pub pending: Option<Review>,
    /// Sessions whose verdict this screen has seen: a stale read never brings their review back.
    decided: HashSet<u32>,
    /// Every notice shown on the status line, oldest first (`m` shows them).
    pub messages: Vec<String>,
    /// Whether a loop runs in this process; set by the drawing loop.
    pub loop_here: bool,
    /// Where each pane was drawn, for the mouse.
    pub(super) areas: Vec<(Pane, Rect)>,
    /// Questions from the running session waiting for an answer, oldest first.
    pub questions: Vec<crate::tui::dialogs::QuestionView>,
}

impl App {
    pub fn new(theme: Theme, progress_name: String, mode: Mode) -> Self {
        App {
            theme,
            focus: Pane::Transcript,
            zoom: false,
            mode,
            features: FeaturesPane::default(),
            transcript: TranscriptPane::new(),
            past: None,
            gitlog: GitLogPane::default(),
            progress: ProgressPane::new(progress_name),
            status: Status { state: "idle".into(), ..Status::default() },
            dialogs: Vec::new(),
            pending: None,
            decided: HashSet::new(),
            messages: Vec::new(),
            questions: Vec::new(),
            loop_here: false,
            areas: Vec::new(),
        }
    }

    pub(super) fn transcript_mut(&mut self) -> &mut TranscriptPane {
        self.past.as_mut().unwrap_or(&mut self.transcript)
    }

    /// Shows `text` on the status line and keeps it in the message log.
    pub fn notice(&mut self, text: impl Into<String>) {
        let text = text.into();
        if self.messages.last() != Some(&text) {
            self.messages.push(text.clone());
            if self.messages.len() > 500 {
                self.messages.remove(0);
            }
        }
        self.status.notice = Some(text);
    }

    /// Where `pane` was drawn last.
    pub fn pane_area(&self, pane: Pane) -> Option<Rect> {
        self.areas.iter().find(|(p, _)| *p == pane).map(|(_, r)| *r)
    }

    /// The top dialog, if any.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialogs.last()
    }

    /// Shows the review of `review`: on top when nothing else is open, else behind what is open,
    /// so it never takes keys meant for another dialog.
    pub(super) fn open_review(&mut self, review: Box<Review>) {
        self.dialogs.retain(|d| !matches!(d, Dialog::Review(_)));
        let number = review.number;
        if self.dialogs.is_empty() {
            self.dialogs.push(Dialog::Review(ReviewDialog::new(review)));
        } else {
            self.dialogs.insert(0, Dialog::Review(ReviewDialog::new(review)));
            self.notice(format!("session {number} waits for your review: it shows when you close this"));
        }
    }

    /// Shows a dialog that arrived on its own (a diff, the session list): on top, unless the
    /// operator is typing in the top one, which keeps the keys.
    fn present(&mut self, dialog: Dialog) {
        match self.dialogs.last() {
            Some(top) if top.is_typing() => {
                let at = self.dialogs.len() - 1;
                self.dialogs.insert(at, dialog);
            }
            _ => self.dialogs.push(dialog),
        }
    }

    /// A verdict was given (here, by the loop, or elsewhere): the review is over.
    fn review_decided(&mut self, number: u32) {
        self.decided.insert(number);
        if self.pending.as_ref().is_some_and(|p| p.number == number) {
            self.pending = None;
        }
        self.dialogs.retain(|d| !matches!(d, Dialog::Review(r) if r.review.number == number));
    }

    pub fn on_harness(&mut self, ev: HarnessEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            HarnessEvent::RunStarted { backend, model, mode, .. } => {
                self.status.backend = backend;
                self.status.model = model;
                self.mode = if mode == "continuous" { Mode::Continuous } else { Mode::Step };
                self.status.state = "idle".into();
                self.status.done = false;
            }
            HarnessEvent::SessionStarted { number, kind, base } => {
                self.transcript.clear();
                let base = base.as_deref().map_or("no commit yet".to_owned(), |b| b[..7.min(b.len())].to_owned());
                self.transcript
                    .entries
                    .push(Entry::Session { number, title: format!("session {number} ({kind}) from {base}") });
                self.status.session = Some((number, kind));
                self.status.state = "running".into();
                self.status.running = true;
                self.status.done = false;
                self.status.started = Some(Instant::now());
                self.status.waiting_until = None;
                self.status.tokens_in = 0;
                self.status.tokens_out = 0;
                self.status.cost_session = 0.0;
                self.status.usage_session = Default::default();
                self.features.flipped.clear();
                // Whatever was queued was applied at the boundary before this session.
                self.features.clear_queued();
            }
            HarnessEvent::Agent { event, .. } => {
                if let AgentEvent::Limit { limit } = &event {
                    self.status.limit = Some(limit.clone());
                }
                if let AgentEvent::Usage { usage, cost_usd } = &event {
                    self.status.tokens_in +=
                        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
                    self.status.tokens_out += usage.output_tokens;
                    self.status.cost_session += cost_usd;
                    self.status.usage_session.add(usage);
                }
                self.transcript.push(&event);
            }
            HarnessEvent::SessionEnded { number, outcome, cost_usd, usage, .. } => {
                self.status.running = false;
                self.status.cost_total += cost_usd;
                self.status.unpriced_total |= !usage.priced();
                self.status.cost_session = cost_usd;
                self.status.state = format!("session {number} {outcome}");
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::ReviewNeeded { review, waiting } => {
                self.features.flipped = review.flipped.iter().map(|f| f.feature).collect();
                if waiting && !self.decided.contains(&review.number) {
                    self.status.state = "awaiting review".into();
                    fx.push(Effect::Notify(format!("baton: session {} waits for your review", review.number)));
                    self.pending = Some((*review).clone());
                    self.open_review(review);
                }
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::Verdict { number, verdict, reason } => {
                self.review_decided(number);
                let text = match reason {
                    Some(r) => format!("session {number} {verdict}: {r}"),
                    None => format!("session {number} {verdict}"),
                };
                self.notice(text.clone());
                self.transcript.notice(text, false);
                self.status.state = if self.status.pause_pending { "pausing".into() } else { "reviewed".into() };
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::FeaturesChanged { .. } => fx.push(Effect::Worker(Request::Refresh)),
            HarnessEvent::Question { number, session, tool, command, reason, cwd, words } => {
                let view = crate::tui::dialogs::QuestionView { number, session, tool, command, reason, cwd, words };
                if !self.questions.iter().any(|q| q.number == number) {
                    self.questions.push(view.clone());
                    // Over whatever is open, unless the operator is typing there.
                    let dialog = Dialog::Question(crate::tui::dialogs::QuestionDialog::new(view));
                    match self.dialogs.last() {
                        Some(d) if d.is_typing() => self.dialogs.insert(self.dialogs.len() - 1, dialog),
                        _ => self.dialogs.push(dialog),
                    }
                    fx.push(Effect::Notify(format!("baton: session {session} asks whether it may run a command")));
                }
            }
            HarnessEvent::Answered { number, answer } => {
                self.questions.retain(|q| q.number != number);
                self.dialogs.retain(|d| !matches!(d, Dialog::Question(q) if q.question.number == number));
                self.notice(format!("question {number}: {answer}"));
                self.transcript.notice(
                    format!("question {number}: {answer}"),
                    matches!(answer, crate::agent::Answer::Deny { .. }),
                );
            }
            HarnessEvent::Evaluated { evaluation: e } => {
                let text = format!("evaluation of session {}: {}", e.session, e.summary());
                self.notice(text.clone());
                self.transcript.notice(text, !e.passed());
                for f in &e.features {
                    let again = if e.reverted.contains(&f.feature) { " (marked failing again)" } else { "" };
                    self.transcript.notice(
                        format!("feature {} {}{again}: {}", f.feature, f.judgement, f.evidence),
                        f.judgement != crate::project::evaluation::Judgement::Pass,
                    );
                }
            }
            HarnessEvent::Waiting { reason } => {
                if self.pending.is_none() {
                    self.status.state = if self.mode == Mode::Step { "step: press n".into() } else { "waiting".into() };
                }
                self.notice(reason);
            }
            HarnessEvent::Backoff { seconds, reason } => {
                let text = format!("waiting {seconds}s before the next session: {reason}");
                self.notice(text.clone());
                self.transcript.notice(text, false);
            }
            HarnessEvent::LimitWait { until, kind, reason } => {
                self.status.waiting_until = Some((until, kind));
                let text = format!("waiting until {}: {reason}; n goes on now", crate::harness::governor::clock(until));
                self.notice(text.clone());
                self.transcript.notice(text, false);
                fx.push(Effect::Notify(format!("baton: {reason}")));
            }
            HarnessEvent::SlotWait { reason, .. } => {
                self.status.state = "waiting for a fleet slot".into();
                self.notice(format!("waiting for a fleet slot: {reason}"));
            }
            HarnessEvent::Tripped { rule, feature, detail } => {
                self.transcript.notice(format!("circuit breaker ({rule}): {detail}"), true);
                self.dialogs.retain(|d| !matches!(d, Dialog::Tripped(_)));
                self.present(Dialog::Tripped(super::dialogs::TrippedDialog::new(rule, feature, detail)));
                fx.push(Effect::Notify("baton: the circuit breaker paused the run".into()));
            }
            HarnessEvent::Queued { change } => self.notice(format!("queued for the boundary: {change}")),
            HarnessEvent::Notice { text } => {
                self.notice(text.clone());
                self.transcript.notice(text, false);
            }
            HarnessEvent::Stopped { reason, detail } => {
                self.status.running = false;
                self.status.waiting_until = None;
                self.status.pause_pending = false;
                self.status.done = reason == StopReason::Done;
                self.status.state = match reason {
                    StopReason::Done => "done".into(),
                    StopReason::Paused => "paused".into(),
                    StopReason::NoProgress => "paused: circuit breaker".into(),
                    other => format!("stopped: {}", other.as_str()),
                };
                if reason == StopReason::Done {
                    self.notice(format!("done: {detail}"));
                    self.transcript.push_entry(Entry::Done(format!("done: {detail}")));
                    fx.push(Effect::Notify("baton: every feature passes".into()));
                } else {
                    self.notice(detail.clone());
                    self.transcript
                        .notice(format!("the run stopped ({}): {detail}; n starts again", reason.as_str()), false);
                }
                fx.push(Effect::Worker(Request::Refresh));
            }
        }
        fx
    }

    pub fn on_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Features(rows) => self.features.set_rows(rows.unwrap_or_default()),
            Reply::Log { rows, more } => self.gitlog.set_rows(rows, more),
            Reply::Progress(text) => self.progress.set_text(text),
            Reply::Diff { title, text } => {
                let lines = text.lines().map(str::to_owned).collect();
                self.present(Dialog::Diff { title, lines, scroll: 0 });
            }
            Reply::Transcript { number, events, last } => {
                let mut pane = TranscriptPane::new();
                pane.viewing = Some(number);
                for e in &events {
                    pane.push(e);
                }
                if last {
                    // The journal's last session, shown until a session starts here.
                    if self.transcript.entries.is_empty() {
                        self.transcript = pane;
                    }
                    return;
                }
                pane.is_past = true;
                pane.handle(super::keys::Action::Top);
                self.past = Some(pane);
                self.focus = Pane::Transcript;
            }
            Reply::Sessions(sessions) => {
                let selected = sessions.len().saturating_sub(1);
                self.present(Dialog::Sessions { sessions, selected });
            }
            Reply::Stats(report) => self.present(Dialog::Stats(report)),
            Reply::Journal(view) => self.on_journal(view),
            Reply::Notice(text) => self.notice(text),
            Reply::Error(e) => self.notice(e),
        }
    }

    /// Folds in what the journal says. Verdicts only ever get decided, so a decided session is
    /// closed here whatever order the reads arrive in.
    fn on_journal(&mut self, view: JournalView) {
        for (number, verdict) in &view.decided {
            if self.pending.as_ref().is_some_and(|p| p.number == *number) {
                self.notice(format!("session {number} {verdict} (recorded in the journal)"));
            }
            self.review_decided(*number);
        }
        // With a loop here its own events say what waits; otherwise the journal does.
        if !self.loop_here {
            if let Some(review) = view.pending
                && !self.decided.contains(&review.number)
                && self.pending.as_ref().is_none_or(|p| p.number != review.number)
            {
                self.pending = Some((*review).clone());
                self.open_review(review);
            }
            if !self.status.running {
                self.status.session = view.last.or(self.status.session);
                // Why this screen's loop stopped says more than the journal's "idle".
                let stopped_here = self.status.state.starts_with("paused") || self.status.state.starts_with("stopped");
                if !(stopped_here && view.state == "idle") {
                    self.status.state = view.state;
                }
                self.status.done = view.done;
            }
        }
        if !self.status.running {
            self.status.cost_total = view.total_cost;
            self.status.unpriced_total = view.total_unpriced;
        }
    }

    pub fn render(&mut self, f: &mut Frame) {
        let area = f.area();
        let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
        self.areas.clear();
        if self.zoom {
            self.areas.push((self.focus, main));
        } else {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(main);
            let [feat, prog] = Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(left);
            let [trans, log] = Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(right);
            self.areas =
                vec![(Pane::Features, feat), (Pane::Progress, prog), (Pane::Transcript, trans), (Pane::GitLog, log)];
        }
        let theme = self.theme;
        let empty =
            self.status.cannot_start.as_ref().map(|why| format!("no session yet; sessions cannot start here: {why}"));
        for (pane, r) in self.areas.clone() {
            let focused = pane == self.focus;
            match pane {
                Pane::Features => self.features.render(f, r, focused, &theme),
                Pane::Transcript => match self.past.as_mut() {
                    Some(p) => p.render(f, r, focused, &theme, None),
                    None => self.transcript.render(f, r, focused, &theme, empty.as_deref()),
                },
                Pane::GitLog => self.gitlog.render(f, r, focused, &theme),
                Pane::Progress => self.progress.render(f, r, focused, &theme),
            }
        }
        self.render_status(f, status);
        if let Some(d) = self.dialogs.last_mut() {
            dialogs::render(d, f, &theme, &self.messages, self.questions.len());
        }
    }
}
