//! Git log: commits newest first (read page by page by the worker, off the drawing thread), with
//! session boundaries and their verdicts marked one way (`S8✓`, `S8?`, `S2✗`) and vetoed tips,
//! which are not on the branch, dim and said so. Enter asks for the commit's diff.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{frame, inner, scroll_into_view};
use crate::tui::keys::Action;
use crate::tui::text::clip;
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// The last commit of session N, with its verdict.
    SessionHead { number: u32, verdict: String },
    /// The kept tip of a vetoed session (not on the branch).
    VetoedTip { number: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub id: String,
    pub summary: String,
    pub author: String,
    pub mark: Option<Mark>,
}

#[derive(Debug, Default)]
pub struct GitLogPane {
    pub rows: Vec<LogRow>,
    pub selected: usize,
    offset: usize,
    pub loaded: bool,
    /// More commits exist beyond the page read.
    pub more: bool,
}

impl GitLogPane {
    pub fn set_rows(&mut self, rows: Vec<LogRow>, more: bool) {
        self.rows = rows;
        self.more = more;
        self.loaded = true;
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    /// Selects the `row`th row on screen (a mouse click).
    pub fn click(&mut self, row: usize) {
        if self.offset + row < self.rows.len() {
            self.selected = self.offset + row;
        }
    }

    /// The commit to show the diff of, for `Action::Diff`.
    pub fn handle(&mut self, action: Action) -> Option<String> {
        let n = self.rows.len();
        match action {
            Action::Down => self.selected = (self.selected + 1).min(n.saturating_sub(1)),
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::PageDown => self.selected = (self.selected + 10).min(n.saturating_sub(1)),
            Action::PageUp => self.selected = self.selected.saturating_sub(10),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = n.saturating_sub(1),
            Action::Diff | Action::Expand => return self.rows.get(self.selected).map(|r| r.id.clone()),
            _ => {}
        }
        None
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, focused: bool, theme: &Theme) {
        let more = if self.more { "+" } else { "" };
        // The branch's commits, and the vetoed tips beside them (not on the branch).
        let vetoed = self.rows.iter().filter(|r| matches!(r.mark, Some(Mark::VetoedTip { .. }))).count();
        let commits = self.rows.len() - vetoed;
        let tips = match vetoed {
            0 => String::new(),
            1 => " · 1 vetoed tip".to_owned(),
            n => format!(" · {n} vetoed tips"),
        };
        f.render_widget(
            frame(
                format!(" Git log · {commits}{more} commit{}{tips} ", if commits == 1 { "" } else { "s" }),
                focused,
                theme,
            ),
            area,
        );
        let body = inner(area);
        if self.rows.is_empty() {
            let msg = if self.loaded { "no commits yet" } else { "reading…" };
            f.render_widget(Paragraph::new(Span::styled(msg, theme.dim())), body);
            return;
        }
        let height = body.height as usize;
        scroll_into_view(&mut self.offset, self.selected, height);
        let mut lines = Vec::new();
        for (i, r) in self.rows.iter().enumerate().skip(self.offset).take(height) {
            let mut spans = vec![Span::styled(format!("{} ", &r.id[..7.min(r.id.len())]), theme.dim())];
            let mut used = 8;
            match &r.mark {
                Some(Mark::SessionHead { number, verdict }) => {
                    let (sym, style) = match verdict.as_str() {
                        "approved" | "auto_approved" => ("✓", theme.pass()),
                        "vetoed" => ("✗", theme.fail()),
                        "pending" => ("?", theme.warn()),
                        _ => ("·", theme.dim()),
                    };
                    let tag = format!("S{number}{sym} ");
                    used += tag.chars().count();
                    spans.push(Span::styled(tag, style));
                }
                Some(Mark::VetoedTip { number }) => {
                    let tag = format!("S{number}✗ vetoed: ");
                    used += tag.chars().count();
                    spans.push(Span::styled(tag, theme.fail()));
                }
                None => {}
            }
            let room = (body.width as usize).saturating_sub(used);
            let summary_style = if matches!(r.mark, Some(Mark::VetoedTip { .. })) { theme.dim() } else { theme.text() };
            let baton = r.author == crate::project::repo::BATON_NAME;
            spans.push(Span::styled(clip(&r.summary, room), if baton { theme.dim() } else { summary_style }));
            let mut line = Line::from(spans);
            if focused && i == self.selected {
                line = line.style(theme.selected());
            }
            lines.push(line);
        }
        f.render_widget(Paragraph::new(lines), body);
    }
}
