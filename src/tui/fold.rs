//! What comes in, folded into the screen's state: the loop's events (its own, or an attached
//! loop's as the follower reads them from the journal) and the worker's replies. What the journal
//! says wins over what the screen last heard: a verdict recorded elsewhere closes the review here.

use std::time::Instant;

use super::app::{App, Effect, JournalView, Pane, Reply, Request, started_at};
use super::dialogs::Dialog;
use super::panes::transcript::{Entry, TranscriptPane};
use crate::agent::AgentEvent;
use crate::harness::{HarnessEvent, StopReason};
use crate::project::config::Mode;

impl App {
    pub fn on_harness(&mut self, ev: HarnessEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            HarnessEvent::RunStarted { backend, model, mode, .. } => {
                self.clear_notice();
                self.status.backend = backend;
                self.status.model = model;
                self.mode = if mode == "continuous" { Mode::Continuous } else { Mode::Step };
                self.status.state = "idle".into();
                self.status.done = false;
            }
            HarnessEvent::SessionStarted { number, kind, base } => {
                self.clear_notice();
                self.transcript.clear();
                let base = base.as_deref().map_or("no commit yet".to_owned(), |b| b[..7.min(b.len())].to_owned());
                self.transcript
                    .entries
                    .push(Entry::Session { number, title: format!("session {number} ({kind}) from {base}") });
                self.status.session = Some((number, kind));
                self.status.state = "running".into();
                self.status.running = true;
                self.status.done = false;
                self.status.started = Some(match self.running_since {
                    Some((n, since)) if n == number => started_at(since),
                    _ => Instant::now(),
                });
                self.status.waiting_until = None;
                self.status.tokens_in = 0;
                self.status.tokens_out = 0;
                self.status.cost_session = 0.0;
                self.status.usage_session = Default::default();
                self.features.flipped.clear();
                // Whatever was queued was applied at the boundary before this session.
                self.features.clear_queued();
            }
            HarnessEvent::Agent { event, .. } => {
                if let AgentEvent::Limit { limit } = &event {
                    self.status.limit = Some(limit.clone());
                }
                if let AgentEvent::Usage { usage, cost_usd } = &event {
                    self.status.tokens_in +=
                        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
                    self.status.tokens_out += usage.output_tokens;
                    self.status.cost_session += cost_usd;
                    self.status.usage_session.add(usage);
                }
                self.transcript.push(&event);
            }
            HarnessEvent::SessionEnded { number, outcome, cost_usd, usage, .. } => {
                self.status.running = false;
                self.status.costs.insert(number, cost_usd);
                if !usage.priced() {
                    self.status.unpriced.insert(number);
                }
                self.status.cost_session = cost_usd;
                self.status.state = format!("session {number} {}", outcome.words());
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::ReviewNeeded { review, waiting } => {
                self.features.flipped = review.flipped.iter().map(|f| f.feature).collect();
                if waiting && !self.decided.contains(&review.number) {
                    self.status.state = "awaiting review".into();
                    // The figures are the reviewed session's, not those of its evaluator's.
                    if !self.status.running {
                        self.status.session = Some((review.number, review.kind));
                        self.status.tokens_in = review.input_tokens;
                        self.status.tokens_out = review.output_tokens;
                        self.status.cost_session = review.cost_usd;
                    }
                    fx.push(Effect::Notify(format!("baton: session {} waits for your review", review.number)));
                    self.pending = Some((*review).clone());
                    self.open_review(review);
                }
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::Verdict { number, verdict, reason } => {
                self.review_decided(number, verdict);
                let text = match reason {
                    Some(r) => format!("session {number} {}: {r}", verdict.words()),
                    None => format!("session {number} {}", verdict.words()),
                };
                self.notice(text.clone());
                self.transcript.notice(text, false);
                self.status.state = if self.status.pause_pending { "pausing".into() } else { "reviewed".into() };
                fx.push(Effect::Worker(Request::Refresh));
            }
            HarnessEvent::FeaturesChanged { .. } => fx.push(Effect::Worker(Request::Refresh)),
            HarnessEvent::Question { number, session, tool, command, reason, cwd, words } => {
                let view = crate::tui::dialogs::QuestionView { number, session, tool, command, reason, cwd, words };
                if !self.questions.iter().any(|q| q.number == number) {
                    self.questions.push(view.clone());
                    // Over whatever is open, unless the operator is typing there.
                    let dialog = Dialog::Question(crate::tui::dialogs::QuestionDialog::new(view));
                    match self.dialogs.last() {
                        Some(d) if d.is_typing() => self.dialogs.insert(self.dialogs.len() - 1, dialog),
                        _ => self.dialogs.push(dialog),
                    }
                    fx.push(Effect::Notify(format!("baton: session {session} asks whether it may run a command")));
                }
            }
            HarnessEvent::Answered { number, answer } => {
                self.question_answered(number, &answer);
                self.notice(format!("question {number}: {answer}"));
                self.transcript.notice(
                    format!("question {number}: {answer}"),
                    matches!(answer, crate::agent::Answer::Deny { .. }),
                );
            }
            HarnessEvent::Evaluated { evaluation: e } => {
                let text = format!("evaluation of session {}: {}", e.session, e.summary());
                self.notice(text.clone());
                self.transcript.notice(text, !e.passed());
                for f in &e.features {
                    let again = if e.reverted.contains(&f.feature) { " (marked failing again)" } else { "" };
                    self.transcript.notice(
                        format!("feature {} {}{again}: {}", f.feature, f.judgement, f.evidence),
                        f.judgement != crate::project::evaluation::Judgement::Pass,
                    );
                }
            }
            HarnessEvent::Waiting { reason } => {
                if self.pending.is_none() {
                    self.status.state = if self.mode == Mode::Step { "step: press n".into() } else { "waiting".into() };
                }
                self.notice(reason);
            }
            HarnessEvent::Backoff { seconds, reason } => {
                let text = format!("waiting {seconds}s before the next session: {reason}");
                self.notice(text.clone());
                self.transcript.notice(text, false);
            }
            HarnessEvent::LimitWait { until, kind, reason } => {
                self.status.waiting_until = Some((until, kind));
                let text = format!("waiting until {}: {reason}; n goes on now", crate::harness::governor::clock(until));
                self.notice(text.clone());
                self.transcript.notice(text, false);
                fx.push(Effect::Notify(format!("baton: {reason}")));
            }
            HarnessEvent::Tripped { rule, feature, detail } => {
                self.transcript.notice(format!("circuit breaker ({rule}): {detail}"), true);
                // A note being typed in the last one stays.
                self.dialogs.retain(|d| !matches!(d, Dialog::Tripped(t) if t.note.is_none()));
                self.present(Dialog::Tripped(super::dialogs::TrippedDialog::new(rule, feature, detail)));
                fx.push(Effect::Notify("baton: the circuit breaker paused the run".into()));
            }
            HarnessEvent::Queued { change } => self.notice(format!("queued: {change}")),
            HarnessEvent::Notice { text } => {
                self.notice(text.clone());
                self.transcript.notice(text, false);
            }
            HarnessEvent::Stopped { reason, detail } => {
                self.clear_notice();
                self.status.running = false;
                self.status.waiting_until = None;
                self.status.pause_pending = false;
                self.status.done = reason == StopReason::Done;
                self.status.state = match reason {
                    StopReason::Done => "done".into(),
                    StopReason::Paused => "paused".into(),
                    StopReason::NoProgress => "paused: circuit breaker".into(),
                    other => format!("stopped: {}", other.as_str().replace('_', " ")),
                };
                if reason == StopReason::Done {
                    self.notice(format!("done: {detail}"));
                    self.transcript.push_entry(Entry::Done(format!("done: {detail}")));
                    fx.push(Effect::Notify("baton: every feature passes".into()));
                } else {
                    self.notice(detail.clone());
                    self.transcript
                        .notice(format!("the run stopped ({}): {detail}; n starts again", reason.as_str()), false);
                }
                fx.push(Effect::Worker(Request::Refresh));
            }
        }
        fx
    }

    pub fn on_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Features(rows) => self.features.set_rows(rows.unwrap_or_default()),
            Reply::Log { rows, more } => self.gitlog.set_rows(rows, more),
            Reply::Progress(text) => self.progress.set_text(text),
            Reply::Diff { title, text } => {
                let lines = text.lines().map(str::to_owned).collect();
                self.present(Dialog::Diff { title, lines, scroll: 0 });
            }
            Reply::Transcript { number, events, last } => {
                let mut pane = TranscriptPane::new();
                pane.viewing = Some(number);
                for e in &events {
                    pane.push(e);
                }
                if last {
                    // The journal's last session, shown until a session starts here.
                    if self.transcript.entries.is_empty() {
                        self.transcript = pane;
                    }
                    return;
                }
                pane.is_past = true;
                pane.handle(super::keys::Action::Top);
                self.past = Some(pane);
                self.focus = Pane::Transcript;
            }
            Reply::Sessions(sessions) => {
                let selected = sessions.len().saturating_sub(1);
                self.present(Dialog::Sessions { sessions, selected });
            }
            Reply::Stats(report) => {
                let list = (self.features.passing(), self.features.rows.len());
                self.present(Dialog::Stats(report, list))
            }
            Reply::Journal(view) => self.on_journal(view),
            Reply::Notice(text) => self.notice(text),
            Reply::Error(e) => self.notice(e),
        }
    }

    /// Folds in what the journal says. Verdicts only ever get decided, so a decided session is
    /// closed here whatever order the reads arrive in.
    fn on_journal(&mut self, view: JournalView) {
        for (number, verdict) in &view.decided {
            if self.pending.as_ref().is_some_and(|p| p.number == *number) {
                self.notice(format!("session {number} {} (recorded in the journal)", verdict.words()));
            }
            self.review_decided(*number, *verdict);
        }
        // With a loop here its own events say what waits; otherwise the journal does.
        if !self.loop_here {
            if let Some(review) = view.pending
                && !self.decided.contains(&review.number)
                && self.pending.as_ref().is_none_or(|p| p.number != review.number)
            {
                self.pending = Some((*review).clone());
                self.open_review(review);
            }
            if !self.status.running {
                match &self.pending {
                    // Under review: that session's figures, not its evaluator's.
                    Some(p) => {
                        self.status.session = Some((p.number, p.kind));
                        self.status.tokens_in = p.input_tokens;
                        self.status.tokens_out = p.output_tokens;
                        self.status.cost_session = p.cost_usd;
                    }
                    None => self.status.session = view.last.or(self.status.session),
                }
                // Why this screen's loop stopped says more than the journal's "idle".
                let stopped_here = self.status.state.starts_with("paused") || self.status.state.starts_with("stopped");
                if !(stopped_here && view.state == "idle") {
                    self.status.state = view.state;
                }
                self.status.done = view.done;
            }
        }
        self.status.costs.extend(view.costs.iter().copied());
        self.status.unpriced.extend(view.unpriced.iter().copied());
        // The running session's clock counts from when it started, not from when this screen came.
        if let (true, Some((n, since)), Some((running, _))) =
            (self.status.running, view.running_since, self.status.session)
            && n == running
        {
            self.status.started = Some(started_at(since));
        }
        self.running_since = view.running_since;
    }
}
