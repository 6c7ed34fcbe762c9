//! The screen's state and its update: harness events, keys, mouse and worker replies come in;
//! effects (commands for the loop, requests for the worker) go out. `render` draws the state.

use std::time::Instant;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui_textarea::TextArea;

use super::dialogs::{self, Confirm, Dialog};
use super::keys::{self, Action, Scope};
use super::panes::features::{FeaturesPane, Row};
use super::panes::gitlog::{GitLogPane, LogRow};
use super::panes::progress::ProgressPane;
use super::panes::transcript::TranscriptPane;
use super::theme::Theme;
use crate::agent::AgentEvent;
use crate::harness::{Command, HarnessEvent, Review, StopReason};
use crate::project::config::Mode;
use crate::project::journal::SessionSummary;
use crate::project::session::SessionKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Features,
    Transcript,
    GitLog,
    Progress,
}

const PANES: [Pane; 4] = [Pane::Features, Pane::Transcript, Pane::GitLog, Pane::Progress];

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
    /// The next page of the log (the cursor reached the end of what was read).
    MoreLog,
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
    Transcript {
        number: u32,
        events: Vec<AgentEvent>,
    },
    Sessions(Vec<SessionSummary>),
    /// What the journal says when the screen opens: the last session, the state, the total cost.
    Overview {
        last: Option<(u32, SessionKind)>,
        state: String,
        total_cost: f64,
    },
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
    pub cost_total: f64,
    pub started: Option<Instant>,
    pub running: bool,
    pub readonly: Option<String>,
    pub notice: Option<String>,
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
    pub dialog: Option<Dialog>,
    pub pending: Option<Review>,
    /// Where each pane was drawn, for the mouse.
    areas: Vec<(Pane, Rect)>,
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
            dialog: None,
            pending: None,
            areas: Vec::new(),
        }
    }

    fn transcript_mut(&mut self) -> &mut TranscriptPane {
        self.past.as_mut().unwrap_or(&mut self.transcript)
    }

    pub fn on_harness(&mut self, ev: HarnessEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            HarnessEvent::RunStarted { backend, model, mode, .. } => {
                self.status.backend = backend;
                self.status.model = model;
                self.mode = if mode == "continuous" { Mode::Continuous } else { Mode::Step };
                self.status.state = "idle".into();
            }
            HarnessEvent::SessionStarted { number, kind, base } => {
                self.transcript.clear();
                let base = base.as_deref().map_or("no commit yet".to_owned(), |b| b[..7.min(b.len())].to_owned());
                self.transcript.entries.push(super::panes::transcript::Entry::Session {
                    number,
                    title: format!("session {number} ({kind}) from {base}"),
                });
                self.status.session = Some((number, kind));
                self.status.state = "running".into();
                self.status.running = true;
                self.status.started = Some(Instant::now());
                self.status.tokens_in = 0;
                self.status.tokens_out = 0;
                self.status.cost_session = 0.0;
                self.features.flipped.clear();
            }
            HarnessEvent::Agent { event, .. } => {
                if let AgentEvent::Usage { usage, cost_usd } = &event {
                    self.status.tokens_in +=
                        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
                    self.status.tokens_out += usage.output_tokens;
                    self.status.cost_session += cost_usd;
                }
                self.transcript.push(&event);
            }
            HarnessEvent::SessionEnded { number, outcome, cost_usd, .. } => {
                self.status.running = false;
                self.status.cost_total += cost_usd;
                self.status.cost_session = cost_usd;
                self.status.state = format!("session {number} {outcome}");
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::ReviewNeeded { review, waiting } => {
                self.features.flipped = review.flipped.iter().map(|f| f.feature).collect();
                if waiting {
                    self.status.state = "awaiting review".into();
                    fx.push(Effect::Notify(format!("baton: session {} waits for your review", review.number)));
                    self.pending = Some((*review).clone());
                    if !matches!(self.dialog, Some(Dialog::Confirm(_))) {
                        self.dialog = Some(Dialog::Review { review, veto: None });
                    }
                }
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::Verdict { number, verdict, reason } => {
                if self.pending.as_ref().is_some_and(|p| p.number == number) {
                    self.pending = None;
                    if matches!(self.dialog, Some(Dialog::Review { .. })) {
                        self.dialog = None;
                    }
                }
                let text = match reason {
                    Some(r) => format!("session {number} {verdict}: {r}"),
                    None => format!("session {number} {verdict}"),
                };
                self.status.notice = Some(text.clone());
                self.transcript.notice(text, false);
                self.status.state = "reviewed".into();
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::FeaturesChanged { .. } => fx.push(Effect::Worker(Request::Refresh)),
            HarnessEvent::Waiting { reason } => {
                if self.pending.is_none() {
                    self.status.state = if self.mode == Mode::Step { "step: press n".into() } else { "waiting".into() };
                }
                self.status.notice = Some(reason);
            }
            HarnessEvent::Backoff { seconds, reason } => {
                let text = format!("waiting {seconds}s before the next session: {reason}");
                self.status.notice = Some(text.clone());
                self.transcript.notice(text, false);
            }
            HarnessEvent::Queued { change } => self.status.notice = Some(format!("queued for the boundary: {change}")),
            HarnessEvent::Notice { text } => {
                self.status.notice = Some(text.clone());
                self.transcript.notice(text, false);
            }
            HarnessEvent::Stopped { reason, detail } => {
                self.status.running = false;
                self.status.state = match reason {
                    StopReason::Done => "done".into(),
                    StopReason::Paused => "paused".into(),
                    other => format!("stopped: {}", other.as_str()),
                };
                self.status.notice = Some(detail.clone());
                self.transcript.notice(format!("the run stopped: {detail} (n starts again)"), false);
                if reason == StopReason::Done {
                    fx.push(Effect::Notify("baton: every feature passes".into()));
                }
                fx.push(Effect::Worker(Request::Refresh));
            }
        }
        fx
    }

    pub fn on_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Features(rows) => match rows {
                Some(rows) => self.features.set_rows(rows),
                None => self.features.set_rows(Vec::new()),
            },
            Reply::Log { rows, more } => self.gitlog.set_rows(rows, more),
            Reply::Progress(text) => self.progress.set_text(text),
            Reply::Diff { title, text } => {
                let lines = text.lines().map(str::to_owned).collect();
                self.dialog = Some(Dialog::Diff { title, lines, scroll: 0 });
            }
            Reply::Transcript { number, events } => {
                let mut pane = TranscriptPane::new();
                pane.viewing = Some(number);
                for e in &events {
                    pane.push(e);
                }
                pane.handle(Action::Top);
                self.past = Some(pane);
                self.focus = Pane::Transcript;
            }
            Reply::Sessions(sessions) => {
                let selected = sessions.len().saturating_sub(1);
                self.dialog = Some(Dialog::Sessions { sessions, selected });
            }
            Reply::Overview { last, state, total_cost } => {
                // Only until the loop has said something itself.
                if self.status.session.is_none() && !self.status.running {
                    self.status.session = last;
                    self.status.state = state;
                    self.status.cost_total = total_cost;
                }
            }
            Reply::Error(e) => self.status.notice = Some(e),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.dialog.is_some() {
            return self.dialog_key(key);
        }
        if self.focus == Pane::Transcript && self.transcript_mut().type_search(&key) {
            return Vec::new();
        }
        let scope = match self.focus {
            Pane::Features => Scope::Features,
            Pane::Transcript => Scope::Transcript,
            Pane::GitLog => Scope::GitLog,
            Pane::Progress => Scope::Progress,
        };
        // `n` in a transcript with a search jumps to the next match.
        if scope == Scope::Transcript && key.code == KeyCode::Char('n') && self.transcript_mut().search.is_some() {
            self.transcript_mut().search_next();
            return Vec::new();
        }
        let Some(action) = keys::lookup(scope, &key) else { return Vec::new() };
        self.act(action)
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => {
                if self.status.running {
                    self.dialog = Some(Dialog::Confirm(Confirm::Quit));
                } else {
                    return vec![Effect::Quit];
                }
            }
            Action::Help => self.dialog = Some(Dialog::Help { scroll: 0 }),
            Action::FocusNext | Action::FocusPrev => {
                let i = PANES.iter().position(|p| *p == self.focus).unwrap_or(0);
                let step = if action == Action::FocusNext { 1 } else { PANES.len() - 1 };
                self.focus = PANES[(i + step) % PANES.len()];
            }
            Action::Zoom => self.zoom = !self.zoom,
            Action::NextSession => {
                if self.status.readonly.is_some() {
                    self.status.notice = Some("another baton runs this project's loop; start sessions there".into());
                } else if self.pending.is_some() {
                    self.status.notice = Some("a review waits: press r".into());
                } else {
                    return vec![Effect::Harness(Command::StartNext)];
                }
            }
            Action::ToggleContinuous => {
                self.mode = if self.mode == Mode::Step { Mode::Continuous } else { Mode::Step };
                self.status.notice =
                    Some(format!("{} mode", if self.mode == Mode::Step { "step" } else { "continuous" }));
                return vec![Effect::Harness(Command::SetMode(self.mode))];
            }
            Action::Pause => {
                self.status.notice = Some("pausing after this session".into());
                return vec![Effect::Harness(Command::Pause)];
            }
            Action::Interrupt => {
                if self.status.running {
                    self.dialog = Some(Dialog::Confirm(Confirm::Interrupt));
                }
            }
            Action::ShowReview => {
                if let Some(r) = &self.pending {
                    self.dialog = Some(Dialog::Review { review: Box::new(r.clone()), veto: None });
                } else {
                    self.status.notice = Some("no review is waiting".into());
                }
            }
            Action::PickSession => return vec![Effect::Worker(Request::Sessions)],
            Action::Edit | Action::Add if self.focus == Pane::Features => {
                let (number, lines) = match (action, self.features.current()) {
                    (Action::Edit, Some(r)) => {
                        (Some(r.number), dialogs::editor_text(&r.category, &r.description, &r.steps))
                    }
                    (Action::Edit, None) => return Vec::new(),
                    _ => (None, dialogs::editor_text("functional", "", &["".to_owned()])),
                };
                let mut area = TextArea::new(lines);
                area.move_cursor(ratatui_textarea::CursorMove::Bottom);
                area.move_cursor(ratatui_textarea::CursorMove::End);
                self.dialog = Some(Dialog::Editor { number, area: Box::new(area) });
            }
            Action::LiveSession => self.past = None,
            other => match self.focus {
                Pane::Features => {
                    if let Some((feature, passes)) = self.features.handle(other) {
                        return vec![Effect::Harness(Command::Mark { feature, passes })];
                    }
                }
                Pane::Transcript => self.transcript_mut().handle(other),
                Pane::GitLog => {
                    let at_end = self.gitlog.selected + 1 >= self.gitlog.rows.len();
                    if self.gitlog.more && at_end && matches!(other, Action::Down | Action::PageDown | Action::Bottom) {
                        self.gitlog.more = false; // until the next page arrives
                        self.gitlog.handle(other);
                        return vec![Effect::Worker(Request::MoreLog)];
                    }
                    if let Some(id) = self.gitlog.handle(other) {
                        let title = format!("commit {}", &id[..7.min(id.len())]);
                        return vec![Effect::Worker(Request::Diff { title, from: None, to: id })];
                    }
                }
                Pane::Progress => self.progress.handle(other),
            },
        }
        Vec::new()
    }

    fn dialog_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(dialog) = self.dialog.as_mut() else { return Vec::new() };
        match dialog {
            Dialog::Review { review, veto: Some(area) } => match key.code {
                KeyCode::Esc => {
                    if let Some(Dialog::Review { veto, .. }) = self.dialog.as_mut() {
                        *veto = None;
                    }
                }
                KeyCode::Enter => {
                    let reason = area.lines().join("\n").trim().to_owned();
                    if reason.is_empty() {
                        self.status.notice = Some("a veto needs a reason".into());
                    } else {
                        let number = review.number;
                        self.dialog = None;
                        return vec![Effect::Harness(Command::Veto(number, reason))];
                    }
                }
                _ => {
                    area.input(key);
                }
            },
            Dialog::Review { review, veto: None } => match keys::lookup(Scope::Review, &key) {
                Some(Action::Approve) => {
                    let n = review.number;
                    self.dialog = None;
                    return vec![Effect::Harness(Command::Approve(n))];
                }
                Some(Action::Veto) => {
                    let mut t = TextArea::default();
                    t.set_placeholder_text("what is wrong, and what the next session should do");
                    if let Some(Dialog::Review { veto, .. }) = self.dialog.as_mut() {
                        *veto = Some(Box::new(t));
                    }
                }
                Some(Action::Diff) => {
                    let Some(to) = review.head.clone() else { return Vec::new() };
                    let title = format!("session {} diff", review.number);
                    return vec![Effect::Worker(Request::Diff { title, from: review.base.clone(), to })];
                }
                Some(Action::Close) => self.dialog = None,
                _ => {}
            },
            Dialog::Help { scroll } => match key.code {
                KeyCode::Down | KeyCode::Char('j') => *scroll += 1,
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                _ => self.dialog = None,
            },
            Dialog::Confirm(kind) => {
                let kind = *kind;
                self.dialog = None;
                if key.code == KeyCode::Char('y') {
                    return match kind {
                        Confirm::Quit => vec![Effect::Quit],
                        Confirm::Interrupt => vec![Effect::Harness(Command::Interrupt)],
                    };
                }
                if let Some(r) = &self.pending {
                    self.dialog = Some(Dialog::Review { review: Box::new(r.clone()), veto: None });
                }
            }
            Dialog::Diff { scroll, .. } => match key.code {
                KeyCode::Down | KeyCode::Char('j') => *scroll += 1,
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => *scroll += 20,
                KeyCode::PageUp => *scroll = scroll.saturating_sub(20),
                KeyCode::Char('g') | KeyCode::Home => *scroll = 0,
                KeyCode::Char('G') | KeyCode::End => *scroll = usize::MAX / 2,
                _ => {
                    self.dialog = None;
                    if let Some(r) = &self.pending {
                        self.dialog = Some(Dialog::Review { review: Box::new(r.clone()), veto: None });
                    }
                }
            },
            Dialog::Editor { number, area } => match keys::lookup(Scope::Editor, &key) {
                Some(Action::Save) => match dialogs::parse_editor(area.lines()) {
                    Ok((category, description, steps)) => {
                        let number = *number;
                        self.dialog = None;
                        self.status.notice = Some(match number {
                            Some(n) => format!("feature {n} edited (applied between sessions)"),
                            None => "feature added (applied between sessions)".to_owned(),
                        });
                        return vec![Effect::Harness(Command::EditFeature { number, category, description, steps })];
                    }
                    Err(e) => self.status.notice = Some(e),
                },
                Some(Action::Close) => self.dialog = None,
                _ => {
                    area.input(key);
                }
            },
            Dialog::Sessions { sessions, selected } => match key.code {
                KeyCode::Down | KeyCode::Char('j') => *selected = (*selected + 1).min(sessions.len().saturating_sub(1)),
                KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
                KeyCode::Enter => {
                    let n = sessions.get(*selected).map(|s| s.number);
                    self.dialog = None;
                    if let Some(n) = n {
                        return vec![Effect::Worker(Request::Transcript(n))];
                    }
                }
                _ => self.dialog = None,
            },
        }
        Vec::new()
    }

    pub fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if self.dialog.is_some() {
            return Vec::new();
        }
        let at = self
            .areas
            .iter()
            .find(|(_, r)| m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height)
            .map(|(p, _)| *p);
        let Some(pane) = at else { return Vec::new() };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => self.focus = pane,
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let before = self.focus;
                self.focus = pane;
                let a = if m.kind == MouseEventKind::ScrollDown { Action::Down } else { Action::Up };
                let fx = self.act(a);
                self.focus = before;
                return fx;
            }
            _ => {}
        }
        Vec::new()
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
        for (pane, r) in self.areas.clone() {
            let focused = pane == self.focus;
            match pane {
                Pane::Features => self.features.render(f, r, focused, &theme),
                Pane::Transcript => match self.past.as_mut() {
                    Some(p) => p.render(f, r, focused, &theme),
                    None => self.transcript.render(f, r, focused, &theme),
                },
                Pane::GitLog => self.gitlog.render(f, r, focused, &theme),
                Pane::Progress => self.progress.render(f, r, focused, &theme),
            }
        }
        self.render_status(f, status);
        if let Some(d) = self.dialog.as_mut() {
            dialogs::render(d, f, &theme);
        }
    }

    fn render_status(&self, f: &mut Frame, area: Rect) {
        let t = &self.theme;
        let s = &self.status;
        let width = area.width as usize;
        let k = |n: u64| if n >= 1000 { format!("{:.1}k", n as f64 / 1000.0) } else { n.to_string() };
        let session = match s.session {
            Some((n, kind)) => (format!("S{n} {kind}"), t.accent()),
            None => ("no session".to_owned(), t.dim()),
        };
        let mut state = s.state.clone();
        if let (true, Some(started)) = (s.running, s.started) {
            let e = started.elapsed().as_secs();
            state.push_str(&format!(" {:02}:{:02}", e / 60, e % 60));
        }
        let state_style = match s.state.as_str() {
            "running" | "done" => t.pass(),
            "awaiting review" => t.warn(),
            _ => t.text(),
        };
        let who = match &s.readonly {
            Some(r) => (r.clone(), t.warn()),
            None => (format!("{} {}", s.backend, s.model), t.text()),
        };
        let money = (
            format!("{}↑ {}↓ ${:.2} (total ${:.2})", k(s.tokens_in), k(s.tokens_out), s.cost_session, s.cost_total),
            t.text(),
        );
        let mode = (if self.mode == Mode::Step { "step" } else { "continuous" }.to_owned(), t.text());
        let hints = if self.pending.is_some() {
            "r review · ? help"
        } else if s.running {
            "x stop · p pause · ? help"
        } else {
            "n next · ? help"
        };
        // Most important first; what does not fit is left out, least important first.
        let mut parts = vec![session, (state, state_style), (hints.to_owned(), t.dim()), money, mode, who];
        let total = |p: &[(String, ratatui::style::Style)]| p.iter().map(|(s, _)| s.chars().count() + 3).sum::<usize>();
        while parts.len() > 2 && total(&parts) > width {
            parts.pop();
        }
        let mut spans = Vec::new();
        for (i, (text, style)) in parts.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" │ ", t.dim()));
            }
            spans.push(Span::styled(text, style));
        }
        let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        if let Some(n) = &s.notice {
            let room = width.saturating_sub(used + 3);
            if room > 12 {
                spans.push(Span::styled(format!(" · {}", super::text::clip(n, room)), t.warn()));
            }
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}
