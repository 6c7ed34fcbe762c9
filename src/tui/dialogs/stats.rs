//! The run's numbers (`baton report`) on the screen, with a sparkline of the cost of each session
//! and one of the features passing after each.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Sparkline};

use super::{boxed, centered, wrapped};
use crate::project::report::Report;
use crate::tui::theme::Theme;

/// The sparklines' series: cost in cents per session, and the features passing after each
/// session (its verdict, its evaluation and the operator's marks counted), as the journal says.
pub fn series(report: &Report) -> (Vec<u64>, Vec<u64>) {
    let cost = report.per_session.iter().map(|l| (l.cost_usd * 100.0).round() as u64).collect();
    let passing = report.per_session.iter().map(|l| l.passing as u64).collect();
    (cost, passing)
}

/// Draws the run's numbers; `list` is the feature list as the Features pane shows it (passing,
/// total), so the two agree.
pub fn render(f: &mut Frame, area: Rect, report: &Report, list: (usize, usize), theme: &Theme) {
    let r = centered(area, 80, 70);
    f.render_widget(Clear, r);
    let block = boxed(" Run statistics · Esc closes ".into(), theme);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let pct = |rate: Option<f64>| rate.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
    let per = match &report.per_passing_feature {
        Some(p) => format!(
            "${:.2} · {:.0} tokens · {} per newly passing feature ({})",
            p.cost_usd,
            p.tokens,
            crate::commands::run::duration(p.duration_ms as u64),
            report.newly_passing
        ),
        None => "no feature passes yet".to_owned(),
    };
    let l = &report.limits;
    let i = &report.interventions;
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let sessions = format!("{} · {} tokens", report.count, report.tokens);
    lines.extend(wrapped("", &sessions, w, theme.text()));
    lines.extend(wrapped("", &per, w, theme.accent()));
    let reviews = format!(
        "vetoes {} of {} ({}) · false passes {} of {} claims ({}; {} found later)",
        report.reviews.vetoed,
        report.reviews.decided,
        pct(report.reviews.veto_rate),
        report.claims.failed + report.claims.failed_later,
        report.claims.made,
        pct(report.claims.false_pass_rate),
        report.claims.failed_later
    );
    lines.extend(wrapped("", &reviews, w, theme.text()));
    let limits = format!(
        "waited for usage limits {} ({}) · circuit breaker tripped {}",
        crate::words::count(l.waits as u64, "time"),
        crate::commands::run::duration(l.waited_seconds * 1000),
        crate::words::count(l.breaker_trips as u64, "time")
    );
    lines.extend(wrapped("", &limits, w, theme.text()));
    let operator = format!("operator: {}", crate::project::report::interventions(i));
    lines.extend(wrapped("", &operator, w, theme.dim()));
    let (cost, passing) = series(report);
    let [text, cost_title, cost_area, pass_title, pass_area] = Layout::vertical([
        Constraint::Length(lines.len() as u16),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(lines), text);
    let max_cost = cost.iter().max().copied().unwrap_or(0);
    f.render_widget(
        Paragraph::new(Line::styled(
            format!("cost of each session (highest ${:.2})", max_cost as f64 / 100.0),
            theme.dim(),
        )),
        cost_title,
    );
    f.render_widget(Sparkline::default().data(&cost).style(theme.warn()), cost_area);
    let (now, total) = list;
    f.render_widget(
        Paragraph::new(Line::styled(format!("features passing after each session (now {now}/{total})"), theme.dim())),
        pass_title,
    );
    f.render_widget(Sparkline::default().data(&passing).style(theme.pass()), pass_area);
}
