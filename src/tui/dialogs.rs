//! Modal dialogs: the review (approve, veto with a reason, diff), help generated from the key
//! table, confirmations, a diff viewer and the session picker.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use super::keys::{BINDINGS, SEARCH_NEXT_HELP, Scope};
use super::text::clip;
use super::theme::Theme;
use crate::harness::Review;
use crate::project::journal::SessionSummary;

pub enum Dialog {
    Review {
        review: Box<Review>,
        veto: Option<Box<TextArea<'static>>>,
    },
    Help {
        scroll: u16,
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
    /// Editing feature `number`, or a new one when `None`.
    Editor {
        number: Option<usize>,
        area: Box<TextArea<'static>>,
    },
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
            steps.push(t.strip_prefix("- ").unwrap_or(t).to_owned());
        }
    }
    let description = description.filter(|d| !d.is_empty()).ok_or("the feature needs a description: line")?;
    let category = category.filter(|c| !c.is_empty()).unwrap_or_else(|| "functional".to_owned());
    if steps.is_empty() {
        return Err("the feature needs at least one step under steps:".into());
    }
    Ok((category, description, steps))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Quit,
    Interrupt,
}

pub fn centered(area: Rect, w_pct: u16, h_pct: u16) -> Rect {
    let w = (area.width * w_pct / 100).max(40.min(area.width));
    let h = (area.height * h_pct / 100).max(10.min(area.height));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn boxed<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.accent())
        .title(Span::styled(title, theme.accent()))
}

fn tokens(n: u64) -> String {
    if n >= 1000 { format!("{:.1}k", n as f64 / 1000.0) } else { n.to_string() }
}

pub fn render(dialog: &mut Dialog, f: &mut Frame, theme: &Theme) {
    let area = f.area();
    match dialog {
        Dialog::Review { review, veto } => render_review(review, veto.as_deref_mut(), f, area, theme),
        Dialog::Help { scroll } => {
            let r = centered(area, 80, 85);
            f.render_widget(Clear, r);
            let mut lines = Vec::new();
            for scope in
                [Scope::Global, Scope::Features, Scope::Transcript, Scope::GitLog, Scope::Progress, Scope::Review]
            {
                lines.push(Line::styled(scope.title(), theme.accent()));
                for b in BINDINGS.iter().filter(|b| b.scope == scope) {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {:<18}", b.keys.join(" / ")), theme.warn()),
                        Span::raw(b.help),
                    ]));
                    if scope == Scope::Transcript && b.keys.contains(&"/") {
                        lines.push(Line::from(vec![
                            Span::styled(format!("  {:<18}", SEARCH_NEXT_HELP.0), theme.warn()),
                            Span::raw(SEARCH_NEXT_HELP.1),
                        ]));
                    }
                }
                lines.push(Line::raw(""));
            }
            lines.push(Line::styled("mouse: click a pane to focus it, wheel to scroll · Esc or ? closes", theme.dim()));
            f.render_widget(Paragraph::new(lines).block(boxed(" Help ".into(), theme)).scroll((*scroll, 0)), r);
        }
        Dialog::Confirm(kind) => {
            let r = centered(area, 50, 20);
            let r = Rect { height: 5.min(area.height), ..r };
            f.render_widget(Clear, r);
            let text = match kind {
                Confirm::Quit => "A session is running. Quit? It is stopped and recorded as interrupted.",
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
            let height = r.height.saturating_sub(2) as usize;
            *scroll = (*scroll).min(lines.len().saturating_sub(height));
            let shown: Vec<Line> = lines
                .iter()
                .skip(*scroll)
                .take(height)
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
            let title = format!(" {title} · {} lines · j/k PgUp/PgDn · Esc ", lines.len());
            f.render_widget(Paragraph::new(shown).block(boxed(title, theme)), r);
        }
        Dialog::Editor { number, area: text } => {
            let r = centered(area, 80, 60);
            f.render_widget(Clear, r);
            let title = match number {
                Some(n) => format!(" Edit feature {n} · Ctrl-S saves · Esc cancels "),
                None => " Add a feature · Ctrl-S saves · Esc cancels ".to_owned(),
            };
            text.set_block(boxed(title, theme));
            f.render_widget(&**text, r);
        }
        Dialog::Sessions { sessions, selected } => {
            let r = centered(area, 70, 70);
            f.render_widget(Clear, r);
            let lines: Vec<Line> = sessions
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let outcome = s.outcome.map_or("running".to_owned(), |o| o.to_string());
                    let verdict = s.verdict.map_or(String::new(), |v| v.to_string());
                    let line = Line::raw(format!(
                        "{:>4}  {:<11} {:<13} {:<13} ${:.2}",
                        s.number,
                        s.kind.to_string(),
                        outcome,
                        verdict,
                        s.cost_usd
                    ));
                    if i == *selected { line.style(theme.selected()) } else { line }
                })
                .collect();
            f.render_widget(Paragraph::new(lines).block(boxed(" Sessions · Enter to read · Esc ".into(), theme)), r);
        }
    }
}

fn render_review(review: &Review, veto: Option<&mut TextArea<'static>>, f: &mut Frame, area: Rect, theme: &Theme) {
    let r = centered(area, 86, 86);
    f.render_widget(Clear, r);
    let block = boxed(format!(" Review · session {} ({}) · {} ", review.number, review.kind, review.outcome), theme);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let veto_h = if veto.is_some() { 5 } else { 0 };
    let [body, veto_area, keys] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(veto_h), Constraint::Length(1)]).areas(inner);
    let w = body.width as usize;
    let mut lines = Vec::new();
    let secs = review.duration_ms / 1000;
    lines.push(Line::from(vec![
        Span::styled(
            format!("{} in / {} out tokens", tokens(review.input_tokens), tokens(review.output_tokens)),
            theme.dim(),
        ),
        Span::styled(
            format!(" · ${:.2} · {}m{:02}s · {} turns", review.cost_usd, secs / 60, secs % 60, review.turns),
            theme.dim(),
        ),
    ]));
    if let Some(d) = &review.detail {
        lines.push(Line::styled(clip(d, w), theme.warn()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "Commits ({}) · {} files, +{} -{}",
            review.commits.len(),
            review.diffstat.files.len(),
            review.diffstat.insertions,
            review.diffstat.deletions
        ),
        theme.accent(),
    ));
    if review.commits.is_empty() {
        lines.push(Line::styled("  none", theme.dim()));
    }
    for c in &review.commits {
        lines.push(Line::from(vec![
            Span::styled(format!("  {} ", c.short_id()), theme.dim()),
            Span::raw(clip(&c.summary, w.saturating_sub(11))),
        ]));
    }
    for s in review.diffstat.files.iter().take(12) {
        lines.push(Line::from(vec![
            Span::styled(format!("    {:<40}", clip(&s.path, 40)), theme.dim()),
            Span::styled(format!(" +{}", s.insertions), theme.added()),
            Span::styled(format!(" -{}", s.deletions), theme.removed()),
        ]));
    }
    if review.diffstat.files.len() > 12 {
        lines.push(Line::styled(format!("    … {} more files", review.diffstat.files.len() - 12), theme.dim()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Features", theme.accent()));
    if review.flipped.is_empty() {
        lines.push(Line::styled("  no feature changed", theme.dim()));
    }
    for fl in &review.flipped {
        let (mark, style) =
            if fl.passes { ("✓ now passing", theme.pass()) } else { ("✗ now failing", theme.fail()) };
        lines.push(Line::from(vec![
            Span::styled(format!("  {:>3} {mark} ", fl.feature), style),
            Span::raw(clip(&fl.description, w.saturating_sub(20))),
        ]));
    }
    lines.push(Line::raw(""));
    if review.violations.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("Guard ", theme.accent()),
            Span::styled("the feature list changed only in `passes`", theme.pass()),
        ]));
    } else {
        lines.push(Line::styled("Guard: the session broke the rules; baton repaired the list", theme.fail()));
        for v in &review.violations {
            lines.push(Line::styled(clip(&format!("  ✗ {v}"), w), theme.fail()));
        }
    }
    match &review.verify {
        None => lines.push(Line::from(vec![
            Span::styled("Verify ", theme.accent()),
            Span::styled("no verify command configured", theme.dim()),
        ])),
        Some(v) if v.passed => {
            lines.push(Line::from(vec![Span::styled("Verify ", theme.accent()), Span::styled("passed", theme.pass())]))
        }
        Some(v) => {
            lines.push(Line::from(vec![
                Span::styled("Verify ", theme.accent()),
                Span::styled(
                    match (v.timed_out, v.exit_code) {
                        (true, _) => "timed out".to_owned(),
                        (false, Some(c)) => format!("FAILED (exit status {c})"),
                        (false, None) => "FAILED".to_owned(),
                    },
                    theme.fail(),
                ),
            ]));
            for l in v.output.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev() {
                lines.push(Line::styled(clip(&format!("  {l}"), w), theme.dim()));
            }
        }
    }
    f.render_widget(Paragraph::new(lines), body);
    if let Some(t) = veto {
        t.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.fail())
                .title(" Why veto? It goes to the next session · Enter confirms · Esc back "),
        );
        f.render_widget(&*t, veto_area);
    }
    let hints = if veto_h > 0 {
        Line::styled("type the reason · Enter veto · Esc back", theme.dim())
    } else {
        Line::from(vec![
            Span::styled("y", theme.warn()),
            Span::raw(" approve  "),
            Span::styled("v", theme.warn()),
            Span::raw(" veto  "),
            Span::styled("d", theme.warn()),
            Span::raw(" diff  "),
            Span::styled("Esc", theme.warn()),
            Span::raw(" hide (r shows it again)"),
        ])
    };
    f.render_widget(Paragraph::new(hints), keys);
}
