//! The review dialog: everything a session did, problems first (guard findings, a failed verify),
//! then the features it flipped, its commits and files. It scrolls and says what is below, so
//! nothing is cut without a sign at any size.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::reason::Reason;
use super::{boxed, centered, scrolled, wrapped};
use crate::harness::Review;
use crate::tui::text::clip;
use crate::tui::theme::Theme;

/// How many of a failed verify's last lines show among the problems.
const TAIL: usize = 8;

pub struct ReviewDialog {
    pub review: Box<Review>,
    /// The veto reason being typed, when `v` was pressed.
    pub veto: Option<Reason>,
    pub scroll: usize,
    /// Why the last key was refused (an empty veto reason), shown in the dialog.
    pub error: Option<String>,
    /// The session was decided elsewhere while a veto was typed here: what happened. The text
    /// stays; only Esc closes the dialog.
    pub decided_elsewhere: Option<String>,
    page: usize,
}

impl ReviewDialog {
    pub fn new(review: Box<Review>) -> Self {
        ReviewDialog { review, veto: None, scroll: 0, error: None, decided_elsewhere: None, page: 10 }
    }

    pub fn start_veto(&mut self) {
        let reason = Reason::new(
            "what is wrong, and what the next session should do",
            " Why veto? It goes to the next session ",
        );
        self.veto = Some(reason);
        self.error = None;
    }

    pub fn page(&self) -> usize {
        self.page
    }

    fn body(&self, w: usize, theme: &Theme) -> Vec<Line<'static>> {
        let review = &self.review;
        let tokens = |n: u64| if n >= 1000 { format!("{:.1}k", n as f64 / 1000.0) } else { n.to_string() };
        let secs = review.duration_ms / 1000;
        let mut lines = vec![Line::styled(
            format!(
                "{} in / {} out tokens · ${:.2} · {}m{:02}s · {} turns",
                tokens(review.input_tokens),
                tokens(review.output_tokens),
                review.cost_usd,
                secs / 60,
                secs % 60,
                review.turns
            ),
            theme.dim(),
        )];
        if let Some(d) = &review.detail {
            lines.extend(wrapped("", d, w, theme.warn()));
        }
        // What matters most first: the rules broken and the checks failed.
        if !review.violations.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::styled("Guard: the session broke the rules; baton repaired the list", theme.fail()));
            for v in &review.violations {
                lines.extend(wrapped("  ✗ ", v, w, theme.fail()));
            }
        }
        if let Some(v) = review.verify.as_ref().filter(|v| !v.passed) {
            lines.push(Line::raw(""));
            let why = match (v.timed_out, v.exit_code) {
                (true, _) => "timed out".to_owned(),
                (false, Some(c)) => format!("FAILED (exit status {c})"),
                (false, None) => "FAILED".to_owned(),
            };
            let output: Vec<&str> = v.output.lines().collect();
            lines.push(Line::from(vec![Span::styled("Verify ", theme.accent()), Span::styled(why, theme.fail())]));
            // Its last lines here; all of it at the end, so the features stay near the top.
            let shown = output.len().min(TAIL);
            if shown < output.len() {
                lines.push(Line::styled(
                    format!(
                        "  … {} earlier lines: the whole output is at the end of this review",
                        output.len() - shown
                    ),
                    theme.dim(),
                ));
            }
            for l in &output[output.len() - shown..] {
                lines.extend(wrapped("  │ ", l, w, theme.dim()));
            }
        }
        let evaluation = review.evaluation.as_ref();
        if let Some(e) = evaluation.filter(|e| !e.passed()) {
            lines.push(Line::raw(""));
            let verdict = format!("Evaluator (session {}): {}", e.evaluator, e.summary());
            lines.push(Line::styled(verdict, theme.fail()));
            if !e.reverted.is_empty() {
                let numbers: Vec<String> = e.reverted.iter().map(usize::to_string).collect();
                let text = format!("baton marked feature {} failing again (evaluate = enforce)", numbers.join(", "));
                lines.extend(wrapped("  ", &text, w, theme.warn()));
            }
            if !e.restored.is_empty() {
                let text = format!("it changed what it may not; baton undid: {}", e.restored.join(", "));
                lines.extend(wrapped("  ", &text, w, theme.warn()));
            }
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled("Features", theme.accent()));
        if review.flipped.is_empty() {
            lines.push(Line::styled("  no feature changed", theme.dim()));
        }
        for fl in &review.flipped {
            let reverted = evaluation.is_some_and(|e| e.reverted.contains(&fl.feature));
            let (mark, style) = match (fl.passes, reverted) {
                (true, true) => ("✗ claimed, flipped back", theme.fail()),
                (true, false) => ("✓ now passing", theme.pass()),
                (false, _) => ("✗ now failing", theme.fail()),
            };
            let lead = format!("  {:>3} {mark} ", fl.feature);
            lines.extend(super::led((&lead, style), &fl.description, w, theme.text()));
            if let Some(j) = evaluation.and_then(|e| e.features.iter().find(|j| j.feature == fl.feature)) {
                use crate::project::evaluation::Judgement;
                let (word, style) = match j.judgement {
                    Judgement::Pass => ("      evaluator ✓ pass: ", theme.pass()),
                    Judgement::Fail => ("      evaluator ✗ FAIL: ", theme.fail()),
                    Judgement::Error => ("      evaluator ? no verdict: ", theme.warn()),
                };
                lines.extend(super::led((word, style), &j.evidence, w, theme.dim()));
            }
        }
        if !review.questions.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::styled(format!("Questions ({})", review.questions.len()), theme.accent()));
            for q in &review.questions {
                let answer = q.answer.as_ref().map_or("no answer".to_owned(), |a| a.to_string());
                lines.extend(wrapped(&format!("  {:>3} ", q.number), &answer, w, theme.text()));
                // The command as the question showed it: every line, the asked program marked.
                let programs: Vec<&str> = q.reason.split('`').skip(1).step_by(2).collect();
                for l in super::question::command_lines(&q.command, &programs, w.saturating_sub(4), theme) {
                    let mut spans = vec![Span::raw("    ")];
                    spans.extend(l.spans);
                    lines.push(Line::from(spans));
                }
            }
        }
        if !review.refusals.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::styled(format!("Refused ({})", review.refusals.len()), theme.accent()));
            for r in &review.refusals {
                lines.extend(wrapped("  ⛔ ", r, w, theme.fail()));
            }
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!(
                "Commits ({}) · {} file{}, +{} -{}",
                review.commits.len(),
                review.diffstat.files.len(),
                if review.diffstat.files.len() == 1 { "" } else { "s" },
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
        let path_w = w.saturating_sub(20).clamp(10, 60);
        for s in &review.diffstat.files {
            lines.push(Line::from(vec![
                Span::styled(format!("    {:<path_w$}", clip(&s.path, path_w)), theme.dim()),
                Span::styled(format!(" +{}", s.insertions), theme.added()),
                Span::styled(format!(" -{}", s.deletions), theme.removed()),
            ]));
        }
        // The checks that found nothing, last.
        if review.violations.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("Guard ", theme.accent()),
                Span::styled("the feature list changed only in `passes`", theme.pass()),
            ]));
        }
        if let Some(e) = evaluation.filter(|e| e.passed()) {
            lines.push(Line::from(vec![
                Span::styled("Evaluator ", theme.accent()),
                Span::styled(format!("session {} re-tested every claim: {}", e.evaluator, e.summary()), theme.pass()),
            ]));
        }
        match &review.verify {
            None => lines.push(Line::from(vec![
                Span::styled("Verify ", theme.accent()),
                Span::styled("none configured ([run] verify)", theme.dim()),
            ])),
            Some(v) if v.passed => lines
                .push(Line::from(vec![Span::styled("Verify ", theme.accent()), Span::styled("passed", theme.pass())])),
            Some(v) => {
                let output: Vec<&str> = v.output.lines().collect();
                if output.len() > TAIL {
                    lines.push(Line::raw(""));
                    lines.push(Line::styled(format!("Verify output, all {} lines", output.len()), theme.accent()));
                    for l in output {
                        lines.extend(wrapped("  │ ", l, w, theme.dim()));
                    }
                }
            }
        }
        lines
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, theme: &Theme) {
        let r = centered(area, 86, 86);
        f.render_widget(Clear, r);
        let review = &self.review;
        let block = boxed(
            format!(" Review · session {} ({}) · {} ", review.number, review.kind, review.outcome.words()),
            theme,
        );
        let inner = block.inner(r);
        f.render_widget(block, r);
        let w = inner.width as usize;
        let notice = self.decided_elsewhere.as_deref().or(self.error.as_deref());
        let error: Vec<Line> = notice.map(|e| wrapped("✗ ", e, w, theme.fail())).unwrap_or_default();
        let veto_h = if self.veto.is_some() { Reason::height(inner.height) } else { 0 };
        let [body, veto_area, error_area, keys] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(veto_h),
            Constraint::Length(error.len() as u16),
            Constraint::Length(1),
        ])
        .areas(inner);
        let lines = self.body(w, theme);
        self.page = scrolled(f, body, lines, &mut self.scroll, theme);
        if let Some(reason) = self.veto.as_mut() {
            reason.render(f, veto_area, theme);
        }
        f.render_widget(Paragraph::new(error), error_area);
        let key = |k: &'static str, what: &'static str| [Span::styled(k, theme.warn()), Span::raw(what)];
        let hints: Vec<Span> = if self.decided_elsewhere.is_some() {
            let mut hints = key("Esc", " close").to_vec();
            hints.push(Span::styled(" · what you typed goes to the message log (m)", theme.dim()));
            hints
        } else if self.veto.is_some() {
            [key("Enter", " veto  "), key("Esc", " back")].concat()
        } else {
            [
                key("y", " approve  "),
                key("v", " veto  "),
                key("d", " diff  "),
                key("j/k", " scroll  "),
                key("Esc", " hide"),
            ]
            .concat()
        };
        f.render_widget(Paragraph::new(Line::from(hints)), keys);
    }
}
