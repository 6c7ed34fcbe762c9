//! Modal dialogs, kept on a stack: the review (approve, veto with a reason, diff), help generated
//! from the key table, confirmations, a diff viewer, the session picker, the feature editor, a
//! feature's detail and the message log. The top one takes the keys; closing it shows the one
//! under it, so a review that arrives while another dialog is open waits behind it.

pub mod help;
pub mod question;
pub mod reason;
pub mod review;
pub mod stats;
pub mod tripped;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use super::panes::features::Row;
use super::text::wrap;
use super::theme::Theme;
use crate::project::journal::SessionSummary;
pub use question::{QuestionDialog, QuestionView};
pub use review::ReviewDialog;
pub use tripped::TrippedDialog;

pub enum Dialog {
    Review(ReviewDialog),
    Question(QuestionDialog),
    Help {
        scroll: usize,
    },
    Confirm(Confirm),
    Diff {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
    Sessions {
        sessions: Vec<SessionSummary>,
        selected: usize,
    },
    /// Editing feature `number`, or a new one when `None`; `error` says why the text was not saved.
    Editor {
        number: Option<usize>,
        area: Box<TextArea<'static>>,
        error: Option<String>,
    },
    /// One feature in full: description, category, steps.
    Feature(Row),
    /// Every notice the status line showed this run, newest last.
    Messages {
        scroll: usize,
    },
    /// The circuit breaker tripped: what to do about it.
    Tripped(TrippedDialog),
    /// The run's numbers with sparklines, and the list's (passing, total) when it was opened.
    Stats(Box<crate::project::report::Report>, (usize, usize)),
}

impl Dialog {
    /// Whether the dialog holds text the operator is typing, which nothing may take over.
    pub fn is_typing(&self) -> bool {
        matches!(self, Dialog::Editor { .. })
            || matches!(self, Dialog::Review(r) if r.veto.is_some())
            || matches!(self, Dialog::Question(q) if q.deny.is_some())
            || matches!(self, Dialog::Tripped(t) if t.note.is_some())
    }
}

/// The editor's text for a feature: a description line, a category line, then one step a line.
pub fn editor_text(category: &str, description: &str, steps: &[String]) -> Vec<String> {
    let mut lines = vec![format!("description: {description}"), format!("category: {category}"), "steps:".to_owned()];
    lines.extend(steps.iter().map(|s| format!("- {s}")));
    lines
}

/// Reads the editor's text back: (category, description, steps), or what is missing.
pub fn parse_editor(lines: &[String]) -> Result<(String, String, Vec<String>), String> {
    let mut description = None;
    let mut category = None;
    let mut steps = Vec::new();
    let mut in_steps = false;
    for line in lines {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("description:") {
            description = Some(d.trim().to_owned());
            in_steps = false;
        } else if let Some(c) = t.strip_prefix("category:") {
            category = Some(c.trim().to_owned());
            in_steps = false;
        } else if t == "steps:" {
            in_steps = true;
        } else if in_steps && !t.is_empty() {
            let step = t.strip_prefix('-').map_or(t, str::trim);
            if !step.is_empty() {
                steps.push(step.to_owned());
            }
        }
    }
    let description =
        description.filter(|d| !d.is_empty()).ok_or("the feature needs a description: write it after description:")?;
    let category = category.filter(|c| !c.is_empty()).unwrap_or_else(|| "functional".to_owned());
    if steps.is_empty() {
        return Err("the feature needs at least one step: a line `- ...` under steps:".into());
    }
    Ok((category, description, steps))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Quit,
    /// Quit while text is being typed in a dialog.
    QuitTyping,
    Interrupt,
}

pub fn centered(area: Rect, w_pct: u16, h_pct: u16) -> Rect {
    let w = (area.width * w_pct / 100).max(40.min(area.width));
    let h = (area.height * h_pct / 100).max(10.min(area.height));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

pub fn boxed<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.accent())
        .title(Span::styled(title, theme.accent()))
}

/// Scroll keys shared by every dialog that reads like a page. Returns false for other keys.
pub fn scroll_key(scroll: &mut usize, key: &ratatui::crossterm::event::KeyEvent, page: usize) -> bool {
    use ratatui::crossterm::event::KeyCode;
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => *scroll += 1,
        KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
        KeyCode::PageDown | KeyCode::Char(' ') => *scroll += page.max(1),
        KeyCode::PageUp => *scroll = scroll.saturating_sub(page.max(1)),
        KeyCode::Char('g') | KeyCode::Home => *scroll = 0,
        KeyCode::Char('G') | KeyCode::End => *scroll = usize::MAX / 2,
        _ => return false,
    }
    true
}

/// Draws `lines` in `area` from `scroll` (clamped), with a last line saying how much is below
/// when they do not fit. Returns the page height.
pub fn scrolled(f: &mut Frame, area: Rect, lines: Vec<Line<'static>>, scroll: &mut usize, theme: &Theme) -> usize {
    let height = area.height as usize;
    let total = lines.len();
    if total <= height {
        *scroll = 0;
        f.render_widget(Paragraph::new(lines), area);
        return height;
    }
    let page = height.saturating_sub(1).max(1);
    *scroll = (*scroll).min(total - page);
    let below = total - *scroll - page;
    let mut shown: Vec<Line> = lines.into_iter().skip(*scroll).take(page).collect();
    let more = if below > 0 {
        format!("↓ {below} more line{} below · j/k PgDn/PgUp scroll", if below == 1 { "" } else { "s" })
    } else {
        "↑ the end · g goes to the top".to_owned()
    };
    shown.push(Line::styled(more, theme.warn()));
    f.render_widget(Paragraph::new(shown), area);
    page
}

/// Like [`wrapped`], with the lead in a style of its own.
pub fn led(
    (lead, lead_style): (&str, ratatui::style::Style),
    text: &str,
    width: usize,
    style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    let indent = unicode_width::UnicodeWidthStr::width(lead);
    wrap(text, width.saturating_sub(indent).max(8))
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let head = if i == 0 { lead.to_owned() } else { " ".repeat(indent) };
            Line::from(vec![Span::styled(head, lead_style), Span::styled(l, style)])
        })
        .collect()
}

/// `text` wrapped to `width`, each line styled, the first prefixed with `lead` and the others
/// indented as far.
pub fn wrapped(lead: &str, text: &str, width: usize, style: ratatui::style::Style) -> Vec<Line<'static>> {
    led((lead, style), text, width, style)
}

pub fn render(
    dialog: &mut Dialog,
    f: &mut Frame,
    theme: &Theme,
    messages: &[crate::tui::app::Message],
    questions: usize,
) {
    let area = f.area();
    match dialog {
        Dialog::Review(r) => r.render(f, area, theme),
        Dialog::Question(q) => q.render(f, area, questions, theme),
        Dialog::Tripped(t) => t.render(f, area, theme),
        Dialog::Stats(report, list) => stats::render(f, area, report, *list, theme),
        Dialog::Help { scroll } => help::render(f, area, scroll, theme),
        Dialog::Confirm(kind) => {
            let r = centered(area, 50, 20);
            let r = Rect { height: 6.min(area.height), ..r };
            f.render_widget(Clear, r);
            let text = match kind {
                Confirm::Quit => "A session is running. Quit? It is stopped and recorded as interrupted.",
                Confirm::QuitTyping => {
                    "Quit? What you are typing here is lost (a running session is stopped and recorded as interrupted)."
                }
                Confirm::Interrupt => "Interrupt the running session now? Its work so far goes to review.",
            };
            let body = vec![
                Line::raw(text),
                Line::from(vec![
                    Span::styled("y", theme.warn()),
                    Span::raw(" yes   "),
                    Span::styled("n/Esc", theme.warn()),
                    Span::raw(" no"),
                ]),
            ];
            f.render_widget(Paragraph::new(body).wrap(Wrap { trim: true }).block(boxed(" Confirm ".into(), theme)), r);
        }
        Dialog::Diff { title, lines, scroll } => {
            let r = centered(area, 92, 92);
            f.render_widget(Clear, r);
            let block = boxed(format!(" {title} · {} lines · Esc closes ", lines.len()), theme);
            let inner = block.inner(r);
            f.render_widget(block, r);
            let styled = lines
                .iter()
                .map(|l| {
                    let style = if l.starts_with("+++") || l.starts_with("---") || l.starts_with("diff ") {
                        theme.accent()
                    } else if l.starts_with('+') {
                        theme.added()
                    } else if l.starts_with('-') {
                        theme.removed()
                    } else if l.starts_with("@@") {
                        theme.hunk()
                    } else {
                        theme.text()
                    };
                    Line::styled(l.replace('\t', "    "), style)
                })
                .collect();
            scrolled(f, inner, styled, scroll, theme);
        }
        Dialog::Editor { number, area: text, error } => {
            let r = centered(area, 80, 60);
            f.render_widget(Clear, r);
            let title = match number {
                Some(n) => format!(" Edit feature {n} · Ctrl-S saves · Esc cancels "),
                None => " Add a feature · Ctrl-S saves · Esc cancels ".to_owned(),
            };
            let block = boxed(title, theme);
            let inner = block.inner(r);
            f.render_widget(block, r);
            let w = inner.width as usize;
            let help = "one step a line, each `- ...` under steps:";
            let foot: Vec<Line> = match error {
                Some(e) => wrapped("✗ ", e, w, theme.fail()),
                None => wrapped("", help, w, theme.dim()),
            };
            let [body, foot_area] =
                Layout::vertical([Constraint::Min(1), Constraint::Length(foot.len() as u16)]).areas(inner);
            f.render_widget(&**text, body);
            f.render_widget(Paragraph::new(foot), foot_area);
        }
        Dialog::Feature(row) => {
            let r = centered(area, 80, 70);
            f.render_widget(Clear, r);
            let block = boxed(format!(" Feature {} · e edits · Esc closes ", row.number), theme);
            let inner = block.inner(r);
            f.render_widget(block, r);
            let w = inner.width as usize;
            let (mark, style) = if row.passes { ("✓ passing", theme.pass()) } else { ("✗ failing", theme.fail()) };
            let mut lines = vec![Line::from(vec![
                Span::styled(mark, style),
                Span::styled(format!(" · {}", row.category), theme.dim()),
            ])];
            lines.push(Line::raw(""));
            lines.extend(wrapped("", &row.description, w, theme.text()));
            lines.push(Line::raw(""));
            lines.push(Line::styled("Steps", theme.accent()));
            for (i, s) in row.steps.iter().enumerate() {
                lines.extend(wrapped(&format!("{:>2}. ", i + 1), s, w, theme.text()));
            }
            let mut scroll = 0;
            scrolled(f, inner, lines, &mut scroll, theme);
        }
        Dialog::Messages { scroll } => {
            let r = centered(area, 86, 70);
            f.render_widget(Clear, r);
            let block = boxed(" Messages · newest last · Esc closes ".into(), theme);
            let inner = block.inner(r);
            f.render_widget(block, r);
            let w = inner.width as usize;
            let mut lines: Vec<Line> = Vec::new();
            if messages.is_empty() {
                lines.push(Line::styled("no messages yet", theme.dim()));
            }
            for m in messages {
                lines.extend(led((&format!("{} ", m.at), theme.dim()), &m.text, w, theme.text()));
            }
            if *scroll == usize::MAX {
                *scroll = usize::MAX / 2; // opened at the end
            }
            scrolled(f, inner, lines, scroll, theme);
        }
        Dialog::Sessions { sessions, selected } => {
            let r = centered(area, 70, 70);
            f.render_widget(Clear, r);
            let lines: Vec<Line> = sessions
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let outcome = s.outcome().map_or("running", |o| o.words());
                    let verdict = s.verdict.map_or("", |v| v.words());
                    let line = Line::raw(format!(
                        "{:>4}  {:<11} {:<17} {:<13} ${:.2}",
                        s.number,
                        s.kind.to_string(),
                        outcome,
                        verdict,
                        s.cost_usd()
                    ));
                    if i == *selected { line.style(theme.selected()) } else { line }
                })
                .collect();
            let block = boxed(" Sessions · Enter to read · Esc ".into(), theme);
            let inner = block.inner(r);
            f.render_widget(block, r);
            let height = inner.height as usize;
            let mut offset = 0;
            crate::tui::panes::scroll_into_view(&mut offset, *selected, height);
            f.render_widget(Paragraph::new(lines.into_iter().skip(offset).collect::<Vec<_>>()), inner);
        }
    }
}
