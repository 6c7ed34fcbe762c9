//! Features: the checklist with pass marks, a gauge of passing/total in the title, a filter, and
//! the agent's flips since the last session highlighted.

use std::collections::HashSet;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{frame, inner, scroll_into_view};
use crate::tui::keys::Action;
use crate::tui::text::clip;
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub number: usize,
    pub passes: bool,
    pub category: String,
    pub description: String,
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    #[default]
    All,
    Failing,
    Passing,
}

#[derive(Debug, Default)]
pub struct FeaturesPane {
    pub rows: Vec<Row>,
    pub selected: usize,
    offset: usize,
    pub filter: Filter,
    /// Features the last session flipped.
    pub flipped: HashSet<usize>,
    /// Marks sent but not applied yet (a session runs).
    pub queued: HashSet<usize>,
    pub loaded: bool,
}

impl FeaturesPane {
    pub fn set_rows(&mut self, rows: Vec<Row>) {
        self.rows = rows;
        self.loaded = true;
        for r in &self.rows {
            self.queued.remove(&r.number);
        }
        self.clamp();
    }

    fn visible(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| match self.filter {
                Filter::All => true,
                Filter::Failing => !r.passes,
                Filter::Passing => r.passes,
            })
            .collect()
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    pub fn passing(&self) -> usize {
        self.rows.iter().filter(|r| r.passes).count()
    }

    /// The feature under the cursor.
    pub fn current(&self) -> Option<&Row> {
        self.visible().get(self.selected).copied()
    }

    /// Returns (feature, passes) to mark, for `Action::Mark`.
    pub fn handle(&mut self, action: Action) -> Option<(usize, bool)> {
        let n = self.visible().len();
        match action {
            Action::Down => self.selected = (self.selected + 1).min(n.saturating_sub(1)),
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = n.saturating_sub(1),
            Action::PageDown => self.selected = (self.selected + 10).min(n.saturating_sub(1)),
            Action::PageUp => self.selected = self.selected.saturating_sub(10),
            Action::Filter => {
                self.filter = match self.filter {
                    Filter::All => Filter::Failing,
                    Filter::Failing => Filter::Passing,
                    Filter::Passing => Filter::All,
                };
                self.selected = 0;
                self.offset = 0;
            }
            Action::Mark => {
                let r = self.current()?.clone();
                self.queued.insert(r.number);
                return Some((r.number, !r.passes));
            }
            _ => {}
        }
        None
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, focused: bool, theme: &Theme) {
        let total = self.rows.len();
        let passing = self.passing();
        let gauge_w = 10usize;
        let filled = (passing * gauge_w).checked_div(total).unwrap_or(0);
        let filter = match self.filter {
            Filter::All => "",
            Filter::Failing => " · failing",
            Filter::Passing => " · passing",
        };
        let title =
            format!(" Features {passing}/{total} {}{}{filter} ", "█".repeat(filled), "░".repeat(gauge_w - filled));
        let block = frame(title, focused, theme);
        let body = inner(area);
        f.render_widget(block, area);
        if !self.loaded || total == 0 {
            let msg = if self.loaded { "no feature list yet: the initializer session writes it" } else { "reading…" };
            f.render_widget(Paragraph::new(Span::styled(msg, theme.dim())), body);
            return;
        }
        let height = body.height as usize;
        scroll_into_view(&mut self.offset, self.selected, height);
        let visible = self.visible();
        let num_w = total.to_string().len();
        let cat_w = visible.iter().map(|r| r.category.chars().count()).max().unwrap_or(0).min(14);
        let mut lines = Vec::new();
        for (i, r) in visible.iter().enumerate().skip(self.offset).take(height) {
            let (mark, mark_style) = if r.passes { ("✓", theme.pass()) } else { ("✗", theme.fail()) };
            let queued = if self.queued.contains(&r.number) { "…" } else { " " };
            let prefix = format!("{:>num_w$} ", r.number);
            let room = (body.width as usize).saturating_sub(prefix.len() + 4 + cat_w + 1);
            let mut spans = vec![
                Span::styled(prefix, theme.dim()),
                Span::styled(mark, mark_style),
                Span::styled(queued, theme.warn()),
                Span::raw(" "),
                Span::styled(format!("{:<cat_w$} ", clip(&r.category, cat_w)), theme.dim()),
                Span::raw(clip(&r.description, room)),
            ];
            if self.flipped.contains(&r.number) {
                for s in spans.iter_mut().skip(5) {
                    s.style = s.style.patch(theme.highlight());
                }
            }
            let mut line = Line::from(spans);
            if focused && i == self.selected {
                line = line.style(theme.selected());
            }
            lines.push(line);
        }
        f.render_widget(Paragraph::new(lines), body);
    }
}
