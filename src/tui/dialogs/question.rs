//! A question from a session: may this command run? The command in full with what the allowlist
//! lacks, where it runs, the session and the agent's latest words; `a` allows it once, `A`
//! allows it always (its programs join the project's allowlist), `d` denies it with a message the
//! agent reads. The session waits meanwhile; Esc hides the dialog, `!` brings it back.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::reason::Reason;
use super::{boxed, centered, wrapped};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub struct QuestionView {
    pub number: u32,
    pub session: u32,
    pub tool: String,
    pub command: String,
    pub reason: String,
    pub cwd: String,
    pub words: String,
}

pub struct QuestionDialog {
    pub question: QuestionView,
    /// The message of a denial being typed, when `d` was pressed.
    pub deny: Option<Reason>,
    pub error: Option<String>,
}

impl QuestionDialog {
    pub fn new(question: QuestionView) -> Self {
        QuestionDialog { question, deny: None, error: None }
    }

    pub fn start_deny(&mut self) {
        self.deny = Some(Reason::new("what the agent should do instead", " Why not? The agent reads it "));
        self.error = None;
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, waiting: usize, theme: &Theme) {
        let r = centered(area, 80, 70);
        f.render_widget(Clear, r);
        let q = &self.question;
        let more = if waiting > 1 { format!(" · {} more waiting", waiting - 1) } else { String::new() };
        let block = boxed(format!(" Question {} · session {} asks{more} ", q.number, q.session), theme);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let w = inner.width as usize;
        let mut body = vec![Line::styled(
            format!("May it run this {}?", if q.tool.eq_ignore_ascii_case("bash") { "command" } else { "call" }),
            theme.accent(),
        )];
        body.extend(highlighted(&q.command, &programs(&q.reason), w, theme));
        body.push(Line::raw(""));
        body.extend(wrapped("", &format!("{}: the policy cannot decide it alone.", q.reason), w, theme.warn()));
        body.extend(wrapped("in ", &q.cwd, w, theme.dim()));
        if !q.words.is_empty() {
            body.push(Line::raw(""));
            body.push(Line::styled("The agent's latest words", theme.accent()));
            let words: String = q.words.chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
            body.extend(wrapped("  ", &words, w, theme.dim()));
        }
        let error: Vec<Line> = self.error.as_deref().map(|e| wrapped("✗ ", e, w, theme.fail())).unwrap_or_default();
        let deny_h = if self.deny.is_some() { Reason::height(inner.height) } else { 0 };
        let [body_area, deny_area, error_area, keys] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(deny_h),
            Constraint::Length(error.len() as u16),
            Constraint::Length(1),
        ])
        .areas(inner);
        f.render_widget(Paragraph::new(body), body_area);
        if let Some(reason) = self.deny.as_mut() {
            reason.render(f, deny_area, theme);
        }
        f.render_widget(Paragraph::new(error), error_area);
        let key = |k: &'static str, what: &'static str| [Span::styled(k, theme.warn()), Span::raw(what)];
        let hints: Vec<Span> = if self.deny.is_some() {
            [key("Enter", " deny  "), key("Esc", " back")].concat()
        } else {
            [key("a", " allow once  "), key("A", " allow always  "), key("d", " deny  "), key("Esc", " hide")].concat()
        };
        f.render_widget(Paragraph::new(Line::from(hints)), keys);
    }
}

/// The programs a question's reason names (between backticks).
fn programs(reason: &str) -> Vec<&str> {
    reason.split('`').skip(1).step_by(2).collect()
}

/// The command after `  $ `, wrapped at spaces to `width`, the words that run `programs` marked.
fn highlighted(command: &str, programs: &[&str], width: usize, theme: &Theme) -> Vec<Line<'static>> {
    use unicode_width::UnicodeWidthStr;
    let room = width.saturating_sub(4).max(10);
    let mut lines = Vec::new();
    let mut spans = vec![Span::raw("  $ ")];
    let mut used = 0;
    for word in command.split(' ') {
        let w = word.width();
        if used > 0 && used + 1 + w > room {
            lines.push(Line::from(std::mem::replace(&mut spans, vec![Span::raw("    ")])));
            used = 0;
        }
        if used > 0 {
            spans.push(Span::raw(" "));
            used += 1;
        }
        let runs = programs.iter().any(|p| word == *p || word.ends_with(&format!("/{p}")));
        spans.push(Span::styled(word.to_owned(), if runs { theme.warn() } else { theme.text() }));
        used += w;
    }
    lines.push(Line::from(spans));
    lines
}
