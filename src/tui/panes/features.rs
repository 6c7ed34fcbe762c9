//! Features: the checklist with pass marks, a gauge of passing/total in the title, a filter, and
//! the agent's flips since the last session highlighted.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{frame, inner, scroll_into_view};
use crate::tui::keys::Action;
use crate::tui::text::{clip, wrap};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub number: usize,
    pub passes: bool,
    /// Set aside for now by the operator (`"skipped": true`): not a failure to fix next.
    pub skipped: bool,
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
    /// Marks sent but not applied yet (a session runs or a review waits): feature, passes.
    pub queued: HashMap<usize, bool>,
    /// Edits and additions sent but not applied yet, shown as they will be.
    pub queued_edits: Vec<QueuedEdit>,
    pub loaded: bool,
}

/// An edit of feature `number`, or an addition when `None`, waiting for the boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEdit {
    pub number: Option<usize>,
    pub row: Row,
}

impl FeaturesPane {
    pub fn set_rows(&mut self, rows: Vec<Row>) {
        self.rows = rows;
        self.loaded = true;
        // A queued change is done once the list says what it asked for.
        let rows = &self.rows;
        self.queued.retain(|n, passes| rows.iter().find(|r| r.number == *n).is_some_and(|r| r.passes != *passes));
        self.queued_edits.retain(|e| match e.number {
            Some(n) => rows.iter().find(|r| r.number == n).is_some_and(|r| {
                (&r.category, &r.description, &r.steps) != (&e.row.category, &e.row.description, &e.row.steps)
            }),
            None => !rows.iter().any(|r| r.description == e.row.description),
        });
        self.clamp();
    }

    /// Everything queued was applied or dropped at a boundary.
    pub fn clear_queued(&mut self) {
        self.queued.clear();
        self.queued_edits.clear();
    }

    pub fn queue_edit(&mut self, number: Option<usize>, category: &str, description: &str, steps: &[String]) {
        let n = number.unwrap_or(self.rows.len() + 1 + self.queued_edits.iter().filter(|e| e.number.is_none()).count());
        let passes = number.and_then(|n| self.rows.iter().find(|r| r.number == n)).is_some_and(|r| r.passes);
        let skipped = number.and_then(|n| self.rows.iter().find(|r| r.number == n)).is_some_and(|r| r.skipped);
        let row = Row {
            number: n,
            passes,
            skipped,
            category: category.to_owned(),
            description: description.to_owned(),
            steps: steps.to_vec(),
        };
        self.queued_edits.push(QueuedEdit { number, row });
    }

    /// Selects the `row`th row on screen (a mouse click).
    pub fn click(&mut self, row: usize) {
        let n = self.visible().len();
        if self.offset + row < n {
            self.selected = self.offset + row;
        }
    }

    /// The rows as they will be once the queued changes are applied, each with whether it waits.
    fn shown(&self) -> Vec<(Cow<'_, Row>, bool)> {
        // Borrowed unless a queued change makes a row differ: drawing 10^4 rows copies none.
        let mut out: Vec<(Cow<'_, Row>, bool)> = self
            .rows
            .iter()
            .map(|r| {
                let edit = self.queued_edits.iter().rev().find(|e| e.number == Some(r.number));
                let mark = self.queued.get(&r.number);
                if edit.is_none() && mark.is_none() {
                    return (Cow::Borrowed(r), false);
                }
                let mut row = match edit {
                    Some(e) => Row { passes: r.passes, ..e.row.clone() },
                    None => r.clone(),
                };
                if let Some(p) = mark {
                    row.passes = *p;
                }
                (Cow::Owned(row), true)
            })
            .collect();
        out.extend(self.queued_edits.iter().filter(|e| e.number.is_none()).map(|e| (Cow::Borrowed(&e.row), true)));
        out
    }

    fn visible(&self) -> Vec<Cow<'_, Row>> {
        self.shown()
            .into_iter()
            .map(|(r, _)| r)
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
    pub fn current(&self) -> Option<Row> {
        self.visible().get(self.selected).map(|r| r.as_ref().clone())
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
                let r = self.current()?;
                if r.number > self.rows.len() {
                    return None; // an addition not applied yet
                }
                self.queued.insert(r.number, !r.passes);
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
        if !self.loaded || total == 0 && self.queued_edits.is_empty() {
            let msg = if self.loaded { "no feature list yet: the initializer session writes it" } else { "reading…" };
            let lines: Vec<Line> =
                wrap(msg, body.width as usize).into_iter().map(|l| Line::styled(l, theme.dim())).collect();
            f.render_widget(Paragraph::new(lines), body);
            return;
        }
        let height = body.height as usize;
        scroll_into_view(&mut self.offset, self.selected, height);
        let queued: HashSet<usize> = self.shown().into_iter().filter(|(_, q)| *q).map(|(r, _)| r.number).collect();
        let visible = self.visible();
        let num_w = visible.iter().map(|r| r.number).max().unwrap_or(total).to_string().len();
        let width = body.width as usize;
        // Descriptions get the room: the category column only where it leaves 40 columns for them.
        let cat_w = visible.iter().map(|r| r.category.chars().count()).max().unwrap_or(0).min(14);
        let cat_w = if width >= num_w + 4 + cat_w + 1 + 40 { cat_w } else { 0 };
        let mut lines = Vec::new();
        for (i, r) in visible.iter().enumerate().skip(self.offset).take(height) {
            let (mark, mark_style) = match (r.passes, r.skipped) {
                (true, _) => ("✓", theme.pass()),
                (false, true) => ("–", theme.dim()),
                (false, false) => ("✗", theme.fail()),
            };
            let waits = if queued.contains(&r.number) { "…" } else { " " };
            let prefix = format!("{:>num_w$} ", r.number);
            let cat = if cat_w > 0 { format!("{:<cat_w$} ", clip(&r.category, cat_w)) } else { String::new() };
            let room = width.saturating_sub(prefix.len() + 3 + cat.chars().count());
            let mut spans = vec![
                Span::styled(prefix, theme.dim()),
                Span::styled(mark, mark_style),
                Span::styled(waits, theme.warn()),
                Span::raw(" "),
                Span::styled(cat, theme.dim()),
                if r.skipped && !r.passes {
                    Span::styled(clip(&format!("skipped · {}", r.description), room), theme.dim())
                } else {
                    Span::raw(clip(&r.description, room))
                },
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
