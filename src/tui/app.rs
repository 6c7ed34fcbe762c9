//! The screen's state: panes, dialogs, the status line's figures, the message log. What comes in
//! is folded in by `fold.rs` (the loop's events, the worker's replies) and `input.rs` (keys, the
//! mouse); effects (commands for the loop, requests for the worker) go out; `render` draws it.

use std::collections::HashSet;
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::dialogs::{self, Dialog, ReviewDialog};
use super::panes::features::{FeaturesPane, Row};
use super::panes::gitlog::{GitLogPane, LogRow};
use super::panes::progress::ProgressPane;
use super::panes::transcript::TranscriptPane;
use super::theme::Theme;
use crate::agent::AgentEvent;
use crate::harness::{Command, Review};
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
    /// Keep the mode the operator chose, for the next start.
    SaveMode(crate::project::config::Mode),
    /// An operator command no loop in this process can take (none can start here): carried out
    /// the way the command line does it, through the journal or under the loop lock.
    Operator(Command),
}

/// What the journal says, read by the worker each time it changes.
#[derive(Debug, Clone, Default)]
pub struct JournalView {
    pub last: Option<(u32, SessionKind)>,
    pub state: String,
    /// What each ended session cost.
    pub costs: Vec<(u32, f64)>,
    /// The ended sessions whose cost nobody could price (their dollars are a floor).
    pub unpriced: Vec<u32>,
    /// The session the journal says runs, and when it started.
    pub running_since: Option<(u32, jiff::Timestamp)>,
    /// The session waiting for a verdict, with what its review shows.
    pub pending: Option<Box<Review>>,
    /// Every session with a verdict given, and the verdict.
    pub decided: Vec<(u32, Verdict)>,
    /// Every feature passes and the run is over.
    pub done: bool,
    /// The process that holds the loop lock, if any.
    pub loop_pid: Option<String>,
    /// How many loops have started on the project.
    pub runs_started: usize,
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
    /// What each ended session cost, by number, from the loop's events and the journal alike (the
    /// running one is added when drawn): an attached screen counts what ran before it came.
    pub costs: std::collections::BTreeMap<u32, f64>,
    /// The ended sessions whose cost is unknown ("price unknown", never $0).
    pub unpriced: std::collections::BTreeSet<u32>,
    /// The running session's usage: what of its tokens and cost is unknown.
    pub usage_session: crate::project::session::Usage,
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
    /// What runs the sessions, said instead of the backend and model (the demo's scripted model):
    /// short, and long where there is room.
    pub label: Option<(String, String)>,
    pub notice: Option<String>,
    /// When the notice was shown: it goes after [`NOTICE_LIFE`].
    pub notice_at: Option<Instant>,
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
    pub(super) decided: HashSet<u32>,
    /// Every notice shown on the status line, oldest first (`m` shows them).
    pub messages: Vec<Message>,
    /// Whether a loop runs in this process; set by the drawing loop.
    pub loop_here: bool,
    /// Where each pane was drawn, for the mouse.
    pub(super) areas: Vec<(Pane, Rect)>,
    /// Questions from the running session waiting for an answer, oldest first.
    pub questions: Vec<crate::tui::dialogs::QuestionView>,
    /// The session the journal last said runs, and when it started.
    pub(super) running_since: Option<(u32, jiff::Timestamp)>,
}

/// How long a notice stays on the status line.
pub const NOTICE_LIFE: std::time::Duration = std::time::Duration::from_secs(12);

/// A notice in the message log, with the time it was shown (local, `HH:MM:SS`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub at: String,
    pub text: String,
}

/// The moment `at` was, on this process's clock.
pub(super) fn started_at(at: jiff::Timestamp) -> Instant {
    let ago = jiff::Timestamp::now().duration_since(at);
    let ago = std::time::Duration::try_from(ago).unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
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
            running_since: None,
            loop_here: false,
            areas: Vec::new(),
        }
    }

    pub(super) fn transcript_mut(&mut self) -> &mut TranscriptPane {
        self.past.as_mut().unwrap_or(&mut self.transcript)
    }

    /// Shows `text` on the status line for a while and keeps it, with the time, in the message log.
    pub fn notice(&mut self, text: impl Into<String>) {
        let text = text.into();
        if self.messages.last().map(|m| &m.text) != Some(&text) {
            let at = jiff::Zoned::now().strftime("%H:%M:%S").to_string();
            self.messages.push(Message { at, text: text.clone() });
            if self.messages.len() > 500 {
                self.messages.remove(0);
            }
        }
        self.status.notice = Some(text);
        self.status.notice_at = Some(Instant::now());
    }

    /// A notice says what just happened; once the state moves on it would contradict it.
    pub(super) fn clear_notice(&mut self) {
        self.status.notice = None;
        self.status.notice_at = None;
    }

    /// When the notice on the status line goes.
    pub fn notice_expiry(&self) -> Option<Instant> {
        self.status.notice_at.map(|at| at + NOTICE_LIFE)
    }

    /// Takes the notice off the status line once it is old (`m` keeps it). Whether it went.
    pub fn tick(&mut self, now: Instant) -> bool {
        if self.notice_expiry().is_some_and(|t| t <= now) {
            self.clear_notice();
            return true;
        }
        false
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
    pub(super) fn present(&mut self, dialog: Dialog) {
        match self.dialogs.last() {
            Some(top) if top.is_typing() => {
                let at = self.dialogs.len() - 1;
                self.dialogs.insert(at, dialog);
            }
            _ => self.dialogs.push(dialog),
        }
    }

    /// A verdict was given (here, by the loop, or elsewhere): the review is over. A review in
    /// which a veto is being typed stays, with the text, and says what happened: only Esc closes
    /// it, so nothing typed there after the verdict becomes a screen key.
    pub(super) fn review_decided(&mut self, number: u32, verdict: Verdict) {
        self.decided.insert(number);
        if self.pending.as_ref().is_some_and(|p| p.number == number) {
            self.pending = None;
        }
        for d in &mut self.dialogs {
            if let Dialog::Review(r) = d
                && r.review.number == number
                && r.veto.is_some()
                && r.decided_elsewhere.is_none()
            {
                r.decided_elsewhere = Some(format!(
                    "session {number} was {} elsewhere (another screen, or baton review); your veto was not sent",
                    verdict.words()
                ));
            }
        }
        self.dialogs
            .retain(|d| !matches!(d, Dialog::Review(r) if r.review.number == number && r.decided_elsewhere.is_none()));
    }

    /// Question `number` was answered: its dialog closes, unless a denial is being typed in it,
    /// which stays, with the text, saying what happened.
    pub(super) fn question_answered(&mut self, number: u32, answer: &crate::agent::Answer) {
        self.questions.retain(|q| q.number != number);
        for d in &mut self.dialogs {
            if let Dialog::Question(q) = d
                && q.question.number == number
                && q.deny.is_some()
                && q.answered_elsewhere.is_none()
            {
                q.answered_elsewhere =
                    Some(format!("question {number} was answered elsewhere ({answer}); your denial was not sent"));
            }
        }
        self.dialogs.retain(
            |d| !matches!(d, Dialog::Question(q) if q.question.number == number && q.answered_elsewhere.is_none()),
        );
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
        // Zoomed: said on the pane's frame, with the way back.
        if self.zoom
            && let Some((_, r)) = self.areas.first()
        {
            let label = " zoomed · z shows all four ";
            let w = unicode_width::UnicodeWidthStr::width(label) as u16;
            if r.width > w + 4 {
                let at = Rect { x: r.x + r.width - w - 2, y: r.y, width: w, height: 1 };
                f.render_widget(
                    ratatui::widgets::Paragraph::new(ratatui::text::Span::styled(label, theme.accent())),
                    at,
                );
            }
        }
        self.render_status(f, status);
        if let Some(d) = self.dialogs.last_mut() {
            dialogs::render(d, f, &theme, &self.messages, self.questions.len());
        }
    }
}
