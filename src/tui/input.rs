//! Keys and the mouse. The top dialog takes every key; a review that waits can always be reached
//! (`r`, or `n`, from the panes and from any page-like dialog) and decided with one more key.

use ratatui::crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;

use super::app::{App, Effect, PANES, Pane, Request};
use super::dialogs::reason::Typed;
use super::dialogs::{self, Confirm, Dialog, ReviewDialog};
use super::keys::{self, Action, Scope};
use crate::harness::Command;
use crate::project::config::Mode;

impl App {
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if !self.dialogs.is_empty() {
            return self.dialog_key(key);
        }
        if self.focus == Pane::Transcript && self.transcript_mut().type_search(&key) {
            return Vec::new();
        }
        let searching = self.transcript_mut().search.is_some();
        let scope = match self.focus {
            Pane::Features => Scope::Features,
            Pane::Transcript if searching => Scope::Search,
            Pane::Transcript => Scope::Transcript,
            Pane::GitLog => Scope::GitLog,
            Pane::Progress => Scope::Progress,
        };
        let Some(action) = keys::lookup(scope, &key) else { return Vec::new() };
        self.act(action)
    }

    /// Brings the waiting review to the top, closing the page-like dialogs over it.
    fn show_review(&mut self) -> bool {
        let Some(r) = self.pending.clone() else { return false };
        self.dialogs.retain(|d| d.is_typing() && !matches!(d, Dialog::Review(_)));
        self.dialogs.push(Dialog::Review(ReviewDialog::new(Box::new(r))));
        true
    }

    fn show_review_or_say(&mut self) {
        if !self.show_review() {
            self.notice("no review is waiting");
        }
    }

    pub(super) fn act(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => {
                // An attached screen leaves; the loop it watched goes on.
                if self.status.running && self.status.attached.is_none() {
                    self.dialogs.push(Dialog::Confirm(Confirm::Quit));
                } else {
                    return vec![Effect::Quit];
                }
            }
            Action::Help => self.dialogs.push(Dialog::Help { scroll: 0 }),
            Action::ShowQuestion => match self.questions.first().cloned() {
                Some(q) => {
                    self.dialogs.retain(|d| !matches!(d, Dialog::Question(_)));
                    self.dialogs.push(Dialog::Question(dialogs::QuestionDialog::new(q)));
                }
                None => self.notice("no question is waiting"),
            },
            Action::Messages => self.dialogs.push(Dialog::Messages { scroll: usize::MAX }),
            Action::Stats => return vec![Effect::Worker(Request::Stats)],
            Action::FocusNext | Action::FocusPrev => {
                let i = PANES.iter().position(|p| *p == self.focus).unwrap_or(0);
                let step = if action == Action::FocusNext { 1 } else { PANES.len() - 1 };
                self.focus = PANES[(i + step) % PANES.len()];
            }
            Action::Zoom => self.zoom = !self.zoom,
            Action::NextSession => {
                if let Some(n) = self.pending.as_ref().map(|p| p.number) {
                    self.show_review();
                    self.notice(format!("session {n} waits for a verdict first: y approves, v vetoes"));
                } else if self.status.running {
                    self.notice("a session is running; n starts the next one after it (step mode)");
                } else if self.status.done {
                    self.notice("done: every feature passes. Mark one failing (Space) or add one (a) to go on");
                } else if let Some(why) = self.status.cannot_start.clone() {
                    self.notice(format!("sessions cannot start here: {why}"));
                } else {
                    return vec![Effect::Harness(Command::StartNext)];
                }
            }
            Action::ToggleContinuous => {
                self.mode = if self.mode == Mode::Step { Mode::Continuous } else { Mode::Step };
                self.notice(format!("{} mode", if self.mode == Mode::Step { "step" } else { "continuous" }));
                return vec![Effect::Harness(Command::SetMode(self.mode))];
            }
            // A pause asked for and not taken yet is taken back by a second `p`.
            Action::Pause if self.status.pause_pending => {
                self.status.pause_pending = false;
                self.notice("the pause is taken back: the run goes on");
                return vec![Effect::Harness(Command::Resume)];
            }
            Action::Pause => {
                let when = if self.pending.is_some() {
                    "pausing after the verdict on this review"
                } else if self.status.running {
                    "pausing after this session"
                } else {
                    "pausing"
                };
                self.status.pause_pending = true;
                self.notice(when);
                return vec![Effect::Harness(Command::Pause)];
            }
            Action::Interrupt => {
                if self.status.running {
                    self.dialogs.push(Dialog::Confirm(Confirm::Interrupt));
                } else {
                    self.notice("no session is running");
                }
            }
            Action::ShowReview => self.show_review_or_say(),
            Action::PickSession => return vec![Effect::Worker(Request::Sessions)],
            Action::EndSearch => {
                self.transcript_mut().search = None;
                self.notice("search ended");
            }
            Action::Detail if self.focus == Pane::Features => {
                if let Some(r) = self.features.current() {
                    self.dialogs.push(Dialog::Feature(r));
                }
            }
            Action::Edit | Action::Add if self.focus == Pane::Features => {
                let number = match action {
                    Action::Edit => match self.features.current() {
                        Some(r) => Some(r.number),
                        None => return Vec::new(),
                    },
                    _ => None,
                };
                self.open_editor(number);
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

    /// The editor for feature `number` (from 1), or for a new feature; the cursor where the typing
    /// starts: the end of the text to edit, the description of a new one.
    fn open_editor(&mut self, number: Option<usize>) {
        let row = number.and_then(|n| self.features.rows.iter().find(|r| r.number == n)).cloned();
        let lines = match &row {
            Some(r) => dialogs::editor_text(&r.category, &r.description, &r.steps),
            None => dialogs::editor_text("functional", "", &["".to_owned()]),
        };
        let mut area = TextArea::new(lines);
        if row.is_some() {
            area.move_cursor(ratatui_textarea::CursorMove::Bottom);
        } else {
            area.move_cursor(ratatui_textarea::CursorMove::Top);
        }
        area.move_cursor(ratatui_textarea::CursorMove::End);
        self.dialogs.push(Dialog::Editor { number, area: Box::new(area), error: None });
    }

    fn dialog_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        // C-c quits from any dialog: asked first where typed text would be lost; a second C-c in
        // that question quits.
        if keys::name(&key) == "C-c" {
            match self.dialog() {
                Some(Dialog::Confirm(Confirm::Quit | Confirm::QuitTyping)) => return vec![Effect::Quit],
                Some(d) if d.is_typing() => {
                    self.dialogs.push(Dialog::Confirm(Confirm::QuitTyping));
                    return Vec::new();
                }
                _ => return self.act(Action::Quit),
            }
        }
        let Some(dialog) = self.dialogs.last_mut() else { return Vec::new() };
        match dialog {
            // Answered elsewhere while a denial was typed: the text stays until Esc, and nothing
            // typed here is sent or taken for a screen key.
            Dialog::Question(q) if q.answered_elsewhere.is_some() => match key.code {
                KeyCode::Esc => {
                    self.dialogs.pop();
                }
                KeyCode::Enter => {}
                _ => {
                    if let Some(d) = q.deny.as_mut() {
                        d.key(key);
                    }
                }
            },
            Dialog::Question(q) if q.deny.is_some() => match q.deny.as_mut().map(|d| d.key(key)) {
                Some(Typed::Back) => {
                    q.deny = None;
                    q.error = None;
                }
                Some(Typed::Empty) => {
                    q.error = Some("say why: the agent reads it instead of the command's output".into())
                }
                Some(Typed::Given(message)) => {
                    let number = q.question.number;
                    self.dialogs.pop();
                    let answer = crate::agent::Answer::Deny { message };
                    return vec![Effect::Harness(Command::Answer { number, answer })];
                }
                _ => {}
            },
            Dialog::Question(q) => {
                let number = q.question.number;
                let page = q.page();
                let answer = match keys::lookup(Scope::Question, &key) {
                    Some(Action::AllowOnce | Action::AllowAlways) if q.unread().is_some() => {
                        // Nothing is allowed unseen: the rest of the command could be anything.
                        q.error = q.unread();
                        return Vec::new();
                    }
                    Some(Action::AllowOnce) => crate::agent::Answer::Once,
                    Some(Action::AllowAlways) => crate::agent::Answer::Always,
                    Some(Action::Deny) => {
                        q.start_deny();
                        return Vec::new();
                    }
                    Some(Action::Close) => {
                        self.dialogs.pop();
                        return Vec::new();
                    }
                    _ if dialogs::scroll_key(&mut q.scroll, &key, page) => return Vec::new(),
                    _ => {
                        if let Some(a @ (Action::Quit | Action::Help | Action::Messages)) =
                            keys::lookup(Scope::Global, &key)
                        {
                            return self.act(a);
                        }
                        return Vec::new();
                    }
                };
                self.dialogs.pop();
                return vec![Effect::Harness(Command::Answer { number, answer })];
            }
            // Decided elsewhere while a veto was typed: likewise.
            Dialog::Review(r) if r.decided_elsewhere.is_some() => match key.code {
                KeyCode::Esc => {
                    let typed = r.veto.as_ref().map(|v| v.text()).filter(|t| !t.trim().is_empty());
                    self.dialogs.pop();
                    if let Some(t) = typed {
                        self.notice(format!("your veto reason, not sent: {t}"));
                    }
                }
                KeyCode::Enter => {}
                _ => {
                    if let Some(v) = r.veto.as_mut() {
                        v.key(key);
                    }
                }
            },
            Dialog::Review(r) if r.veto.is_some() => match r.veto.as_mut().map(|v| v.key(key)) {
                Some(Typed::Back) => {
                    r.veto = None;
                    r.error = None;
                }
                Some(Typed::Empty) => r.error = Some("a veto needs a reason: it goes to the next session".into()),
                Some(Typed::Given(reason)) => {
                    let number = r.review.number;
                    self.dialogs.pop();
                    return vec![Effect::Harness(Command::Veto(number, reason))];
                }
                _ => {}
            },
            Dialog::Review(r) => {
                let page = r.page();
                match keys::lookup(Scope::Review, &key) {
                    Some(Action::Approve) => {
                        let n = r.review.number;
                        self.dialogs.pop();
                        return vec![Effect::Harness(Command::Approve(n))];
                    }
                    Some(Action::Veto) => r.start_veto(),
                    Some(Action::Diff) => {
                        let Some(to) = r.review.head.clone() else {
                            r.error = Some("the session committed nothing: there is no diff".into());
                            return Vec::new();
                        };
                        let title = format!("session {} diff", r.review.number);
                        return vec![Effect::Worker(Request::Diff { title, from: r.review.base.clone(), to })];
                    }
                    Some(Action::Close) => {
                        self.dialogs.pop();
                    }
                    _ if dialogs::scroll_key(&mut r.scroll, &key, page) => {}
                    // The keys that make sense whatever is open.
                    _ => {
                        if let Some(
                            a @ (Action::Quit
                            | Action::ToggleContinuous
                            | Action::Pause
                            | Action::Help
                            | Action::Messages),
                        ) = keys::lookup(Scope::Global, &key)
                        {
                            return self.act(a);
                        }
                    }
                }
            }
            Dialog::Tripped(t) if t.note.is_some() => match t.note.as_mut().map(|n| n.key(key)) {
                Some(Typed::Back) => t.note = None,
                Some(Typed::Empty) => t.error = Some("write the note, or Esc to go back".into()),
                Some(Typed::Given(text)) => {
                    t.note = None;
                    t.error = None;
                    self.notice("the note goes to the next session");
                    return vec![Effect::Harness(Command::Note(text))];
                }
                _ => {}
            },
            Dialog::Tripped(t) => {
                let feature = t.feature;
                match keys::lookup(Scope::Tripped, &key) {
                    Some(Action::Skip) => match feature {
                        Some(n) => {
                            self.dialogs.pop();
                            self.notice(format!("feature {n} is skipped for now; n goes on"));
                            return vec![Effect::Harness(Command::Skip(n))];
                        }
                        None => t.error = Some("the breaker names no feature to skip".into()),
                    },
                    Some(Action::Note) => t.start_note(),
                    Some(Action::Edit) => match feature {
                        Some(n) => {
                            self.dialogs.pop();
                            self.open_editor(Some(n));
                        }
                        None => t.error = Some("the breaker names no feature to edit".into()),
                    },
                    Some(Action::NextSession) => {
                        self.dialogs.pop();
                        return self.act(Action::NextSession);
                    }
                    Some(Action::Close) => {
                        self.dialogs.pop();
                    }
                    _ => {
                        if let Some(a @ (Action::Quit | Action::Help | Action::Messages)) =
                            keys::lookup(Scope::Global, &key)
                        {
                            return self.act(a);
                        }
                    }
                }
            }
            Dialog::Stats(..) => return self.page_key(key),
            Dialog::Help { scroll } | Dialog::Messages { scroll } | Dialog::Diff { scroll, .. } => {
                if !dialogs::scroll_key(scroll, &key, 10) {
                    return self.page_key(key);
                }
            }
            Dialog::Feature(row) => {
                if key.code == KeyCode::Char('e') {
                    let n = row.number;
                    self.dialogs.pop();
                    self.open_editor(Some(n));
                } else {
                    return self.page_key(key);
                }
            }
            Dialog::Confirm(kind) => {
                let kind = *kind;
                self.dialogs.pop();
                if key.code == KeyCode::Char('y') {
                    return match kind {
                        Confirm::Quit | Confirm::QuitTyping => vec![Effect::Quit],
                        Confirm::Interrupt => vec![Effect::Harness(Command::Interrupt)],
                    };
                }
            }
            Dialog::Editor { number, area, error } => match keys::lookup(Scope::Editor, &key) {
                Some(Action::Save) => match dialogs::parse_editor(area.lines()) {
                    Ok((category, description, steps)) => {
                        let number = *number;
                        self.dialogs.pop();
                        self.notice(match number {
                            Some(n) => format!("feature {n} edited (applied between sessions)"),
                            None => "feature added (applied between sessions)".to_owned(),
                        });
                        self.features.queue_edit(number, &category, &description, &steps);
                        return vec![Effect::Harness(Command::EditFeature { number, category, description, steps })];
                    }
                    Err(e) => *error = Some(e),
                },
                Some(Action::Close) => {
                    self.dialogs.pop();
                }
                _ => {
                    area.input(key);
                }
            },
            Dialog::Sessions { sessions, selected } => match key.code {
                KeyCode::Down | KeyCode::Char('j') => *selected = (*selected + 1).min(sessions.len().saturating_sub(1)),
                KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
                KeyCode::Enter => {
                    let n = sessions.get(*selected).map(|s| s.number);
                    self.dialogs.pop();
                    if let Some(n) = n {
                        return vec![Effect::Worker(Request::Transcript(n))];
                    }
                }
                _ => return self.page_key(key),
            },
        }
        Vec::new()
    }

    /// Keys of the page-like dialogs beyond scrolling: close, or go to the waiting review.
    fn page_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match keys::lookup(Scope::Dialog, &key) {
            Some(Action::Close) => {
                self.dialogs.pop();
            }
            Some(Action::ShowReview) => self.show_review_or_say(),
            _ if key.code == KeyCode::Enter => {
                self.dialogs.pop();
            }
            _ => {}
        }
        Vec::new()
    }

    pub fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if !self.dialogs.is_empty() {
            return Vec::new();
        }
        let at = self
            .areas
            .iter()
            .find(|(_, r)| m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height)
            .map(|(p, r)| (*p, *r));
        let Some((pane, area)) = at else { return Vec::new() };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                // The row under the pointer, inside the pane's frame.
                if let Some(row) = m.row.checked_sub(area.y + 1).map(usize::from) {
                    match pane {
                        Pane::Features => self.features.click(row),
                        Pane::GitLog => self.gitlog.click(row),
                        Pane::Transcript => self.transcript_mut().click(row),
                        Pane::Progress => {}
                    }
                }
            }
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
}
