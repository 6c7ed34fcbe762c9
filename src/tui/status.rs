//! The status line: session, state, the keys that matter now, tokens and cost, mode, backend, and
//! the latest notice (cut with a pointer to the message log when it does not fit).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::app::App;
use super::dialogs::Dialog;
use crate::project::config::Mode;
use crate::project::session;

fn tokens(n: u64) -> String {
    if n >= 1000 { format!("{:.1}k", n as f64 / 1000.0) } else { n.to_string() }
}

impl App {
    /// The keys worth knowing in the state the screen is in.
    fn hints(&self) -> String {
        let asking = self.questions.len();
        if asking > 0 && !matches!(self.dialog(), Some(Dialog::Question(_))) {
            let waits = if asking == 1 { "a question waits".to_owned() } else { format!("{asking} questions wait") };
            return format!("{waits} · ! shows it");
        }
        let review_hidden = self.pending.is_some() && !matches!(self.dialog(), Some(Dialog::Review(_)));
        let behind = self.dialogs.iter().any(|d| matches!(d, Dialog::Review(_)));
        if review_hidden && behind {
            "a review waits behind this dialog".into()
        } else if review_hidden {
            "a review waits · r shows it".into()
        } else if self.pending.is_some() {
            "y approve · v veto".into()
        } else if self.focus == super::app::Pane::Transcript && self.transcript.search.is_some() && self.past.is_none()
        {
            "n/N match · Esc ends search".into()
        } else if self.status.running {
            "x stop · p pause · ? help".into()
        } else if self.status.done {
            "Space marks, a adds · ? help".into()
        } else if self.status.cannot_start.is_some() {
            "watching: no session starts here · ? help".into()
        } else {
            "n next · ? help".into()
        }
    }

    pub(super) fn render_status(&self, f: &mut Frame, area: Rect) {
        let t = &self.theme;
        let s = &self.status;
        let width = area.width as usize;
        let session = match s.session {
            Some((n, kind)) => (format!("S{n} {kind}"), t.accent()),
            None => ("no session".to_owned(), t.dim()),
        };
        let mut state = s.state.clone();
        if let (true, Some(started)) = (s.running, s.started) {
            let e = started.elapsed().as_secs();
            state.push_str(&format!(" {:02}:{:02}", e / 60, e % 60));
        }
        if let Some((until, kind)) = &s.waiting_until {
            let left = (until - crate::harness::governor::now_unix()).max(0);
            let name = crate::agent::UsageLimit::name(kind.as_deref());
            state = format!("waiting for the {name}: {:02}:{:02}:{:02} left", left / 3600, left / 60 % 60, left % 60);
        }
        if s.pause_pending {
            state.push_str(" · pause queued");
        }
        let state_style = match s.state.as_str() {
            "running" | "done" => t.pass(),
            "awaiting review" => t.warn(),
            _ => t.text(),
        };
        let who = match (&s.cannot_start, &s.attached, &s.label) {
            // Its start says why; all of it is in the message log and on `n`.
            (Some(r), _, _) => (super::text::clip(r, 40), t.warn()),
            (None, Some(pid), _) => (format!("attached to pid {pid}"), t.accent()),
            (None, None, Some((_, long))) => (long.clone(), t.accent()),
            (None, None, None) => (format!("{} {}", s.backend, s.model), t.text()),
        };
        let who_text = who.0.clone();
        // The total counts the running session too. A cost or token count the server or the
        // price table could not give is said to be unknown, never shown as zero.
        let running = s.session.filter(|_| s.running).map(|(n, _)| n);
        let counted_apart = running.is_some_and(|n| !s.costs.contains_key(&n));
        let total = s.costs.values().sum::<f64>() + if counted_apart { s.cost_session } else { 0.0 };
        let u = &s.usage_session;
        let unpriced_total = !s.unpriced.is_empty() || (counted_apart && !u.priced());
        let (cost, total) = (session::dollars(s.cost_session, !u.priced()), session::dollars(total, unpriced_total));
        // An unknown cost is long to say: the total is said only when it differs from the session's.
        let total = if !u.priced() && total == cost { String::new() } else { format!(" (total {total})") };
        let money = if u.unreported_turns > 0 && s.tokens_in + s.tokens_out == 0 {
            format!("tokens unknown, {cost}{total}")
        } else {
            let (tin, tout) = (session::tokens(s.tokens_in, u, tokens), session::tokens(s.tokens_out, u, tokens));
            format!("{tin}↑ {tout}↓ {cost}{total}")
        };
        let money = (money, t.text());
        let mode = (if self.mode == Mode::Step { "step" } else { "continuous" }.to_owned(), t.text());
        // A usage limit, once it is nearly used up: how much, and which.
        let limit = s.limit.as_ref().filter(|l| l.status != crate::agent::LimitStatus::Allowed).map(|l| {
            let used = l.utilization.map(|u| format!(" {:.0}%", u * 100.0)).unwrap_or_default();
            (format!("{}{used}", crate::agent::UsageLimit::name(l.kind.as_deref())), t.warn())
        });
        // Most important first; what does not fit is left out, least important first.
        let mut parts = if s.cannot_start.is_some() || s.attached.is_some() || s.label.is_some() {
            // Why nothing starts here matters more than the figures.
            vec![session, (state, state_style), (self.hints(), t.dim()), who, money, mode]
        } else {
            vec![session, (state, state_style), (self.hints(), t.dim()), money, mode, who]
        };
        if s.unconfined {
            parts.insert(1, ("⚠ sandbox off".to_owned(), t.warn()));
        }
        if let Some(l) = limit {
            parts.insert(3.min(parts.len()), l);
        }
        let total = |p: &[(String, Style)]| p.iter().map(|(s, _)| s.width() + 3).sum::<usize>();
        // The label's short form where the long one does not fit, and its first word (`demo`)
        // where neither does.
        let mut who_text = who_text;
        // Only where the label is what the status line says of whose loop this is: "attached to
        // pid N" or why nothing starts is never traded for it.
        if let (None, None, Some((short, long))) = (&s.cannot_start, &s.attached, &s.label) {
            let tiny = short.split(':').next().unwrap_or(short).to_owned();
            for form in [short.clone(), tiny] {
                if total(&parts) <= width {
                    break;
                }
                if let Some(part) = parts.iter_mut().find(|(text, _)| *text == who_text || text == long) {
                    part.0 = form.clone();
                    who_text = form;
                }
            }
        }
        // A notice gets room (up to 48 columns) before the mode and the backend do; never before
        // what says whose loop this is (attached to pid N). Why nothing starts here is said by the
        // hints too (`watching: ...`) and on `n`.
        let notice_room = s.notice.as_deref().map_or(0, |n| n.width().min(48) + 3);
        let keep = match (&s.cannot_start, &s.attached) {
            (None, Some(_)) => parts.iter().position(|(text, _)| *text == who_text).map_or(3, |i| i + 1),
            _ => 3,
        };
        while parts.len() > 2 && (total(&parts) > width || parts.len() > keep && total(&parts) + notice_room > width) {
            parts.pop();
        }
        let mut spans = Vec::new();
        for (i, (text, style)) in parts.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" │ ", t.dim()));
            }
            spans.push(Span::styled(text, style));
        }
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        if let Some(n) = &s.notice {
            let room = width.saturating_sub(used + 3);
            if n.width() <= room {
                spans.push(Span::styled(format!(" · {n}"), t.warn()));
            } else if room > 20 {
                let cut = super::text::clip(n, room - 10);
                spans.push(Span::styled(format!(" · {cut}"), t.warn()));
                spans.push(Span::styled(" m: all", t.dim()));
            }
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}
