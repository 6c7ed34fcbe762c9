//! Transcript: the live session as it streams, or a past one. Assistant text wraps to the width,
//! each tool call is one line with its result folded under it, refusals and errors are marked,
//! thinking is dimmed. Drawing costs what is visible: only the entries on screen are wrapped, so
//! a million-line transcript draws as fast as a short one.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub use super::entries::{Entries, View};
use super::{frame, inner};
use crate::agent::{AgentEvent, LimitStatus};
use crate::tui::keys::Action;
use crate::tui::text::{clip, wrap};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Session {
        number: u32,
        title: String,
    },
    Prompt(String),
    Text(String),
    Thinking(String),
    /// Boxed: a tool call holds far more than a line of text, and most entries are lines.
    Tool(Box<ToolEntry>),
    Notice {
        text: String,
        error: bool,
    },
    /// The run is over: every feature passes.
    Done(String),
}

/// One tool call and what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEntry {
    pub id: String,
    pub name: String,
    /// The key argument on one line, for the folded view.
    pub arg: String,
    /// The input as written (a command keeps its lines), for the expanded view.
    pub full: String,
    pub result: Option<(String, bool)>,
    /// Who refused it and why ("refused by policy: ...", "denied by the sandbox: ...").
    pub denied: Option<String>,
    pub expanded: bool,
}

impl View<'_> {
    fn matches(&self, needle: &str) -> bool {
        match self {
            View::Text(t) | View::Thinking(t) => t.to_lowercase().contains(needle),
            View::Other(e) => e.matches(needle),
        }
    }

    /// The entry's lines at `width`, with their styles.
    fn lines(&self, width: usize, theme: &Theme) -> Vec<(String, Style)> {
        match self {
            View::Text(t) => text_lines(t, width, theme),
            View::Thinking(t) => thinking_lines(t, width, theme),
            View::Other(e) => e.lines(width, theme),
        }
    }
}

fn text_lines(t: &str, width: usize, theme: &Theme) -> Vec<(String, Style)> {
    wrap(t.trim_end(), width).into_iter().map(|l| (l, theme.text())).collect()
}

fn thinking_lines(t: &str, width: usize, theme: &Theme) -> Vec<(String, Style)> {
    wrap(t.trim_end(), width.saturating_sub(2)).into_iter().map(|l| (format!("┆ {l}"), theme.dim())).collect()
}

impl Entry {
    fn matches(&self, needle: &str) -> bool {
        let hay = match self {
            Entry::Session { title, .. } => title.as_str(),
            Entry::Prompt(t) | Entry::Text(t) | Entry::Thinking(t) => t.as_str(),
            Entry::Tool(t) => {
                return t.arg.to_lowercase().contains(needle) || t.name.to_lowercase().contains(needle);
            }
            Entry::Notice { text, .. } | Entry::Done(text) => text.as_str(),
        };
        hay.to_lowercase().contains(needle)
    }

    /// The entry's lines at `width`, with their styles.
    fn lines(&self, width: usize, theme: &Theme) -> Vec<(String, Style)> {
        match self {
            Entry::Session { title, .. } => vec![(clip(&format!("── {title} "), width), theme.accent())],
            Entry::Prompt(t) => {
                let first = t.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                vec![(clip(&format!("prompt: {first}"), width), theme.dim())]
            }
            Entry::Text(t) => text_lines(t, width, theme),
            Entry::Thinking(t) => thinking_lines(t, width, theme),
            Entry::Tool(tool) => {
                let ToolEntry { name, arg, full, result, denied, expanded, .. } = tool.as_ref();
                let (mark, style) = match (denied, result) {
                    (Some(_), _) => ("⛔", theme.fail()),
                    (None, Some((_, true))) => ("✗", theme.fail()),
                    (None, Some((_, false))) => ("▸", theme.accent()),
                    (None, None) => ("…", theme.warn()),
                };
                let mut out = if *expanded {
                    // As written: every line of the command, wrapped, nothing squashed; where a line
                    // was too long, its continuation says so (`↪`).
                    let mut out = vec![(clip(&format!("{mark} {name} ▾"), width), style)];
                    for line in full.trim_end().split('\n') {
                        for (i, l) in wrap(line, width.saturating_sub(6)).into_iter().enumerate() {
                            let lead = if i == 0 { "  │ " } else { "  │ ↪ " };
                            out.push((format!("{lead}{l}"), theme.text()));
                        }
                    }
                    out
                } else {
                    // Folded: the first line of a command of many, and how many follow (Enter
                    // shows them), never its lines run together.
                    let lines: Vec<&str> = arg.trim().lines().filter(|l| !l.trim().is_empty()).collect();
                    match lines.as_slice() {
                        [first, rest @ ..] if !rest.is_empty() => {
                            let more = format!(" (+{} lines)", rest.len());
                            let room = width.saturating_sub(more.chars().count());
                            vec![(format!("{}{more}", clip(&format!("{mark} {name} {}", first.trim()), room)), style)]
                        }
                        _ => {
                            let arg = arg.split_whitespace().collect::<Vec<_>>().join(" ");
                            vec![(clip(&format!("{mark} {name} {arg}"), width), style)]
                        }
                    }
                };
                if let Some(label) = denied {
                    out.push((clip(&format!("  {label}"), width), theme.fail()));
                }
                if *expanded {
                    if let Some((text, _)) = result {
                        // A long result (a page's snapshot) is cut for the screen; the session's
                        // transcript file keeps it whole.
                        let lines = wrap(text.trim_end(), width.saturating_sub(2));
                        let more = lines.len().saturating_sub(RESULT_LINES);
                        for l in lines.into_iter().take(RESULT_LINES) {
                            out.push((format!("  {l}"), theme.dim()));
                        }
                        if more > 0 {
                            let note = format!("  … {more} more lines, whole in the session's transcript file");
                            out.push((clip(&note, width), theme.dim()));
                        }
                    }
                } else if let Some((text, true)) = result
                    && denied.is_none()
                {
                    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                    out.push((clip(&format!("  {last}"), width), theme.fail()));
                }
                // An image a tool returned (a screenshot): one line with where it was saved.
                if !*expanded && let Some((text, _)) = result {
                    for path in text.lines().filter_map(|l| l.strip_prefix(crate::agent::mcp::IMAGE_SAVED)) {
                        out.push((clip(&format!("  image {}", path.trim_end_matches(']')), width), theme.dim()));
                    }
                }
                out
            }
            Entry::Notice { text, error } => marked("!", text, width, if *error { theme.fail() } else { theme.warn() }),
            Entry::Done(text) => marked("✓", text, width, theme.pass()),
        }
    }
}

/// How many lines of a tool's result the expanded view shows.
const RESULT_LINES: usize = 200;

/// `text` wrapped after a one-column `mark`; the lines after the first are indented under it.
fn marked(mark: &str, text: &str, width: usize, style: Style) -> Vec<(String, Style)> {
    wrap(text, width.saturating_sub(2))
        .into_iter()
        .enumerate()
        .map(|(i, l)| (format!("{} {l}", if i == 0 { mark } else { " " }), style))
        .collect()
}

#[derive(Debug, Default)]
pub struct TranscriptPane {
    pub entries: Entries,
    /// The entry at the top of the view when not following.
    top: usize,
    pub selected: usize,
    pub follow: bool,
    /// `Some(n)` when showing a past session rather than the live one.
    pub viewing: Option<u32>,
    pub search: Option<String>,
    /// Which match is selected and how many entries match, once a search jumped.
    pub hits: Option<(usize, usize)>,
    /// The search being typed.
    pub typing: Option<String>,
    /// A past session's transcript, read on request (`L` goes back to the live one).
    pub is_past: bool,
    last_height: usize,
    /// The entry each drawn line belongs to, for the mouse.
    drawn: Vec<usize>,
}

impl TranscriptPane {
    pub fn new() -> Self {
        TranscriptPane { follow: true, ..Default::default() }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.top = 0;
        self.selected = 0;
        self.follow = true;
        self.viewing = None;
        // A search belongs to the transcript it was typed in.
        self.search = None;
        self.hits = None;
        self.typing = None;
    }

    pub fn push_entry(&mut self, entry: Entry) {
        self.entries.push(entry);
        if self.follow {
            self.selected = self.entries.len().saturating_sub(1);
        }
    }

    /// Selects the entry drawn on the `row`th line (a mouse click).
    pub fn click(&mut self, row: usize) {
        if let Some(&i) = self.drawn.get(row) {
            self.follow = false;
            self.selected = i;
        }
    }

    /// Folds one agent event into the entries.
    pub fn push(&mut self, ev: &AgentEvent) {
        match ev {
            AgentEvent::Prompt { text } => self.entries.push(Entry::Prompt(text.clone())),
            // One entry per line of text, so drawing wraps only the lines on screen, however long
            // a message grows.
            AgentEvent::TextDelta { text } => {
                let mut pieces = text.split('\n');
                self.entries.extend_last(pieces.next().unwrap_or(""), false);
                for piece in pieces {
                    self.entries.push(Entry::Text(piece.to_owned()));
                }
            }
            AgentEvent::ThinkingDelta { text } => self.entries.extend_last(text, true),
            AgentEvent::ToolCall { id, name, input } => self.entries.push(Entry::Tool(Box::new(ToolEntry {
                id: id.clone(),
                name: name.clone(),
                arg: crate::agent::key_argument(input),
                full: match input.get("command").and_then(|c| c.as_str()) {
                    Some(c) => c.to_owned(),
                    None => serde_json::to_string_pretty(input).unwrap_or_default(),
                },
                result: None,
                denied: None,
                expanded: false,
            }))),
            AgentEvent::ToolResult { id, output, is_error } => {
                if let Some(t) = self.find_tool(id) {
                    t.result = Some((output.clone(), *is_error));
                }
            }
            AgentEvent::PolicyDenied { id, reason, .. } => {
                if let Some(t) = self.find_tool(id) {
                    t.denied = Some(format!("refused by policy: {reason}"));
                }
            }
            AgentEvent::SandboxDenied { id, reason } => {
                if let Some(t) = self.find_tool(id) {
                    t.denied = Some(format!("denied by the sandbox: {reason}"));
                }
            }
            AgentEvent::Retry { reason, attempt, wait_ms } => {
                // What the failed attempt had streamed is not what the model said: the retried
                // request says it again. A request always follows a tool call or the prompt, so
                // the text at the end is that attempt's.
                let discarded = self.entries.pop_lines();
                let dropped = if discarded { " (the cut-off reply is dropped)" } else { "" };
                self.entries.push(Entry::Notice {
                    text: format!("retry {attempt} in {:.1}s: {reason}{dropped}", *wait_ms as f64 / 1000.0),
                    error: false,
                })
            }
            AgentEvent::Notice { text } => self.entries.push(Entry::Notice { text: text.clone(), error: true }),
            AgentEvent::Limit { limit } if limit.status != LimitStatus::Allowed => self.entries.push(Entry::Notice {
                text: crate::harness::governor::describe(limit),
                error: limit.status == LimitStatus::Rejected,
            }),
            AgentEvent::Limit { .. } => {}
            AgentEvent::Started { .. } | AgentEvent::Usage { .. } => {}
        }
        if self.follow {
            self.selected = self.entries.len().saturating_sub(1);
        }
    }

    fn find_tool(&mut self, id: &str) -> Option<&mut ToolEntry> {
        self.entries.tool_mut(id, 200)
    }

    fn lines_of(&self, i: usize, width: usize, theme: &Theme) -> Vec<(String, Style)> {
        self.entries.get(i).map(|e| e.lines(width, theme)).unwrap_or_default()
    }

    pub fn notice(&mut self, text: String, error: bool) {
        self.push_entry(Entry::Notice { text, error });
    }

    fn jump_to_match(&mut self, forward: bool) {
        let Some(needle) = self.search.clone().map(|s| s.to_lowercase()) else { return };
        let n = self.entries.len();
        self.hits = None;
        if n == 0 {
            return;
        }
        for step in 1..=n {
            let i = if forward { (self.selected + step) % n } else { (self.selected + n - step % n) % n };
            if self.entries.get(i).is_some_and(|e| e.matches(&needle)) {
                let matching: Vec<usize> =
                    (0..n).filter(|j| self.entries.get(*j).is_some_and(|e| e.matches(&needle))).collect();
                let at = matching.iter().position(|j| *j == i).unwrap_or(0);
                self.hits = Some((at + 1, matching.len()));
                self.follow = false;
                self.selected = i;
                self.top = self.top.min(i);
                if i >= self.top + self.last_height.max(1) {
                    self.top = i;
                }
                return;
            }
        }
    }

    /// Keys while a search is typed; returns false when the key is not for the search box.
    pub fn type_search(&mut self, key: &ratatui::crossterm::event::KeyEvent) -> bool {
        use ratatui::crossterm::event::KeyCode;
        let Some(text) = self.typing.as_mut() else { return false };
        match key.code {
            KeyCode::Esc => self.typing = None,
            KeyCode::Enter => {
                let t = self.typing.take().unwrap_or_default();
                self.search = (!t.is_empty()).then_some(t);
                self.jump_to_match(true);
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        true
    }

    pub fn search_next(&mut self) {
        self.jump_to_match(true);
    }

    pub fn handle(&mut self, action: Action) {
        let n = self.entries.len();
        let page = self.last_height.max(1);
        match action {
            Action::Down => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1));
                self.follow = self.selected + 1 >= n && self.follow;
            }
            Action::Up => {
                self.follow = false;
                self.selected = self.selected.saturating_sub(1);
                self.top = self.top.min(self.selected);
            }
            Action::PageUp => {
                self.follow = false;
                self.selected = self.selected.saturating_sub(page);
                self.top = self.top.min(self.selected);
            }
            Action::PageDown => self.selected = (self.selected + page).min(n.saturating_sub(1)),
            Action::Top => {
                self.follow = false;
                self.selected = 0;
                self.top = 0;
            }
            Action::Bottom => {
                self.follow = true;
                self.selected = n.saturating_sub(1);
            }
            Action::Expand => {
                if let Some(Entry::Tool(t)) = self.entries.get_mut(self.selected) {
                    t.expanded = !t.expanded;
                }
            }
            Action::Search => self.typing = Some(String::new()),
            Action::SearchPrev => self.jump_to_match(false),
            Action::SearchNext => self.jump_to_match(true),
            _ => {}
        }
    }

    /// Draws the pane; `empty` says why there is nothing to show, when there is a reason.
    pub fn render(&mut self, f: &mut Frame, area: Rect, focused: bool, theme: &Theme, empty: Option<&str>) {
        let what = match (self.viewing, self.is_past) {
            (Some(n), true) => format!("session {n} · L live"),
            (Some(n), false) => format!("session {n}, the last one"),
            (None, _) => "live".to_owned(),
        };
        let follow = if self.follow { " · following" } else { " · G follows" };
        let found = match (&self.search, self.hits) {
            (Some(s), Some((at, of))) => format!(" · \"{}\" {at} of {of}", clip(s, 20)),
            (Some(s), None) => format!(" · \"{}\" not found", clip(s, 20)),
            (None, _) => String::new(),
        };
        f.render_widget(frame(format!(" Transcript · {what}{follow}{found} "), focused, theme), area);
        let mut body = inner(area);
        if let Some(t) = &self.typing {
            let bar = Rect { y: body.y + body.height.saturating_sub(1), height: 1, ..body };
            f.render_widget(
                Paragraph::new(Line::from(vec![Span::styled("/", theme.accent()), Span::raw(t.clone())])),
                bar,
            );
            body.height = body.height.saturating_sub(1);
        }
        let width = body.width as usize;
        let height = body.height as usize;
        self.last_height = height;
        if self.entries.is_empty() {
            let msg = empty.unwrap_or("no session yet: press n to start one");
            let lines: Vec<Line> = wrap(msg, width).into_iter().map(|l| Line::styled(l, theme.dim())).collect();
            f.render_widget(Paragraph::new(lines), body);
            return;
        }
        let needle = self.search.as_ref().map(|s| s.to_lowercase());
        // Which entries are on screen: from the end backwards when following, else from `top`,
        // moved so the selection shows. Only those entries are wrapped.
        let mut rows: Vec<(usize, String, Style)> = Vec::new();
        if self.follow {
            let mut i = self.entries.len();
            while i > 0 && rows.len() < height {
                i -= 1;
                let mut ls: Vec<(usize, String, Style)> =
                    self.lines_of(i, width, theme).into_iter().map(|(l, s)| (i, l, s)).collect();
                ls.append(&mut rows);
                rows = ls;
            }
            let cut = rows.len().saturating_sub(height);
            rows.drain(..cut);
            self.top = rows.first().map_or(0, |r| r.0);
        } else {
            if self.selected < self.top {
                self.top = self.selected;
            }
            loop {
                rows.clear();
                let mut i = self.top;
                while i < self.entries.len() && rows.len() < height {
                    rows.extend(self.lines_of(i, width, theme).into_iter().map(|(l, s)| (i, l, s)));
                    i += 1;
                }
                let last_full = rows.iter().take(height).map(|r| r.0).max().unwrap_or(0);
                if self.selected <= last_full || self.top >= self.selected {
                    break;
                }
                self.top += 1;
            }
            rows.truncate(height);
        }
        self.drawn = rows.iter().map(|r| r.0).collect();
        let lines: Vec<Line> = rows
            .into_iter()
            .map(|(i, text, style)| {
                let selected = focused && !self.follow && i == self.selected;
                let style = if selected { style.patch(theme.selected()) } else { style };
                // Only what matches is painted, not the whole line.
                let line = match needle.as_deref().filter(|n| !n.is_empty()) {
                    Some(n) => {
                        Line::from(crate::tui::text::hit_spans(&text, n, style, style.patch(theme.search_hit())))
                    }
                    None => Line::styled(text, style),
                };
                if selected { line.style(theme.selected()) } else { line }
            })
            .collect();
        f.render_widget(Paragraph::new(lines), body);
    }
}
