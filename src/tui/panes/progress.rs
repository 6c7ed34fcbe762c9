//! Progress: the notes file, reloaded when it changes on disk, following its end. Its paragraphs
//! are wrapped to the pane as paragraphs: a line break the notes made for a wider window (in the
//! middle of a sentence) is not kept; a line after a finished sentence, a list item, a heading or
//! an indented line starts a line of its own.

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
            // Clamped to the top when drawn.
            Action::Top => self.from_end = usize::MAX / 2,
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
        let lines = wrap(&reflow(self.text.trim_end()), body.width as usize);
        let height = body.height as usize;
        self.from_end = self.from_end.min(lines.len().saturating_sub(height));
        let end = lines.len() - self.from_end;
        let start = end.saturating_sub(height);
        let shown: Vec<Line> = lines[start..end].iter().map(|l| Line::raw(l.clone())).collect();
        f.render_widget(Paragraph::new(shown), body);
    }
}

/// The notes with each paragraph on one line: a line is joined to the one before when that one
/// stops mid-sentence, unless it is blank, starts a list item or a heading, or is indented.
pub fn reflow(text: &str) -> String {
    let mut out = String::new();
    let mut joinable = false;
    for line in text.lines() {
        let t = line.trim_start();
        let own_line = t.is_empty()
            || line.starts_with([' ', '\t'])
            || t.starts_with(['-', '*', '#', '>', '|', '`'])
            || t.split_once(['.', ')']).is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if joinable && !own_line {
            out.push(' ');
            out.push_str(line.trim());
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line.trim_end());
        }
        joinable = !t.is_empty()
            && !line.starts_with([' ', '\t'])
            && !t.starts_with(['#', '|', '`'])
            && !t.ends_with(['.', ':', '!', '?']);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_are_joined_and_lists_headings_and_code_keep_their_lines() {
        let notes = "tally: notes\n\nSession 1 wrote the list (8 features, in priority\norder) and init.sh.\nSession 2: built it.\n- item one\n  goes on\n- item two\n# Next\n    ./init.sh\n1. first";
        assert_eq!(
            reflow(notes),
            "tally: notes\n\nSession 1 wrote the list (8 features, in priority order) and init.sh.\nSession 2: built it.\n- item one\n  goes on\n- item two\n# Next\n    ./init.sh\n1. first"
        );
    }
}
