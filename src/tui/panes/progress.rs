//! Progress: the notes file, reloaded when it changes on disk, following its end.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{frame, inner};
use crate::tui::keys::Action;
use crate::tui::text::wrap;
use crate::tui::theme::Theme;

#[derive(Debug)]
pub struct ProgressPane {
    pub name: String,
    text: String,
    /// Lines from the end of the wrapped text; 0 follows the end.
    from_end: usize,
}

impl ProgressPane {
    pub fn new(name: String) -> Self {
        ProgressPane { name, text: String::new(), from_end: 0 }
    }

    pub fn set_text(&mut self, text: String) {
        self.text = text;
    }

    pub fn handle(&mut self, action: Action) {
        match action {
            Action::Up => self.from_end += 1,
            Action::Down => self.from_end = self.from_end.saturating_sub(1),
            Action::PageUp => self.from_end += 10,
            Action::PageDown => self.from_end = self.from_end.saturating_sub(10),
            Action::Bottom => self.from_end = 0,
            _ => {}
        }
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, focused: bool, theme: &Theme) {
        let follow = if self.from_end == 0 { "" } else { " · scrolled" };
        f.render_widget(frame(format!(" Progress · {}{follow} ", self.name), focused, theme), area);
        let body = inner(area);
        if self.text.trim().is_empty() {
            f.render_widget(Paragraph::new(Span::styled("no notes yet", theme.dim())), body);
            return;
        }
        let lines = wrap(self.text.trim_end(), body.width as usize);
        let height = body.height as usize;
        self.from_end = self.from_end.min(lines.len().saturating_sub(height));
        let end = lines.len() - self.from_end;
        let start = end.saturating_sub(height);
        let shown: Vec<Line> = lines[start..end].iter().map(|l| Line::raw(l.clone())).collect();
        f.render_widget(Paragraph::new(shown), body);
    }
}
