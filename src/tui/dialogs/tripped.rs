//! The circuit breaker tripped: why, and what the operator can do about the feature the run is
//! stuck on: `s` skips it for now (moved to the end of the list), `o` hands the next session a note,
//! `e` edits the feature, `n` goes on as it is. Esc hides the dialog.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

use super::reason::Reason;
use super::{boxed, centered, led, wrapped};
use crate::tui::theme::Theme;

pub struct TrippedDialog {
    pub rule: String,
    pub feature: Option<usize>,
    pub detail: String,
    /// The note being typed, when `o` was pressed.
    pub note: Option<Reason>,
    pub error: Option<String>,
}

impl TrippedDialog {
    pub fn new(rule: String, feature: Option<usize>, detail: String) -> Self {
        TrippedDialog { rule, feature, detail, note: None, error: None }
    }

    pub fn start_note(&mut self) {
        self.note = Some(Reason::new("what the next session should know or try", " A note for the next session "));
        self.error = None;
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 74, 50);
        let w = r.width.saturating_sub(2) as usize;
        let mut body = wrapped("", &self.detail, w, theme.warn());
        body.push(Line::raw(""));
        let mut key = |k: &'static str, what: String| body.extend(led((k, theme.accent()), &what, w, theme.text()));
        if let Some(n) = self.feature {
            key("s    ", format!("skip feature {n} for now: it moves to the end of the list"));
            key("e    ", format!("edit feature {n}"));
        }
        key("o    ", "hand the next session a note".into());
        key("n    ", "go on as it is".into());
        key("Esc  ", "hide this (the run stays paused)".into());
        if let Some(e) = &self.error {
            body.extend(wrapped("✗ ", e, w, theme.fail()));
        }
        // As tall as what it says.
        let note = if self.note.is_some() { 5 } else { 0 };
        let height = (body.len() as u16 + 2 + note).min(area.height);
        let r = Rect { y: area.y + (area.height - height) / 2, height, ..r };
        f.render_widget(Clear, r);
        let block = boxed(format!(" Circuit breaker: {} · the run is paused ", self.rule.replace('_', " ")), theme);
        let inner = block.inner(r);
        f.render_widget(block, r);
        match &mut self.note {
            Some(note) => {
                let [top, bottom] =
                    Layout::vertical([Constraint::Min(1), Constraint::Length(Reason::height(inner.height))])
                        .areas(inner);
                f.render_widget(Paragraph::new(body), top);
                note.render(f, bottom, theme);
            }
            None => f.render_widget(Paragraph::new(body), inner),
        }
    }
}
