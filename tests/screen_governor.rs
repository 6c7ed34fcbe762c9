//! The governor on the screen: the circuit breaker's dialog and what its keys send the loop, the
//! countdown of a usage-limit wait and the limit's use on the status line, and the run's numbers
//! with their sparklines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::agent::{AgentEvent, UsageLimit};
use baton::harness::{Command, HarnessEvent, StopReason};
use baton::project::journal::{Entry, Record, SessionReport};
use baton::project::session::{Outcome, SessionKind, Usage, Verdict};
use baton::tui::app::{Effect, Reply, Request};
use common::screen::{busy_app, code, draw, key, strip_clock, type_text};
use ratatui::crossterm::event::KeyCode;

fn tripped(app: &mut baton::tui::app::App) {
    app.on_harness(HarnessEvent::SessionEnded {
        number: 3,
        outcome: Outcome::Completed,
        usage: Usage::default(),
        cost_usd: 0.04,
        duration_ms: 65_000,
    });
    let detail = "feature 2 (\"tally add NAME N adds N at once\") was attempted in 3 sessions in a row (1, 2, 3) and still fails";
    let fx =
        app.on_harness(HarnessEvent::Tripped { rule: "same_feature".into(), feature: Some(2), detail: detail.into() });
    let detail = format!(
        "{detail}; skip feature 2 for now (baton features skip 2), give the next session a note, or edit it, then go on"
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::Notify(t) if t.contains("circuit breaker"))), "{fx:?}");
    app.on_harness(HarnessEvent::Stopped { reason: StopReason::NoProgress, detail });
}

#[test]
fn the_breaker_dialog_offers_skip_note_and_edit_and_its_keys_send_them() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = busy_app();
        tripped(&mut app);
        let screen = strip_clock(draw(&mut app, w, h));
        assert!(screen.contains("paused: circuit breaker"), "{screen}");
        insta::assert_snapshot!(format!("tripped_{w}x{h}"), screen);
    }
    let mut app = busy_app();
    tripped(&mut app);
    assert_eq!(app.on_key(key('s')), vec![Effect::Harness(Command::Skip(2))]);

    tripped(&mut app);
    assert!(app.on_key(key('o')).is_empty());
    assert!(app.on_key(code(KeyCode::Enter)).is_empty(), "no empty note");
    type_text(&mut app, "try the other parser");
    assert!(draw(&mut app, 80, 24).to_string().contains("A note for the next session"));
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![Effect::Harness(Command::Note("try the other parser".into()))]);
    // The dialog stays for the next choice: e opens the feature's editor.
    assert!(app.on_key(key('e')).is_empty());
    assert!(draw(&mut app, 80, 24).to_string().contains("Edit feature 2"));
    app.on_key(code(KeyCode::Esc));

    tripped(&mut app);
    assert_eq!(app.on_key(key('n')), vec![Effect::Harness(Command::StartNext)]);
}

#[test]
fn a_usage_limit_wait_counts_down_and_the_limits_use_is_on_the_status_line() {
    let mut app = busy_app();
    let limit = UsageLimit {
        status: baton::agent::LimitStatus::AllowedWarning,
        resets_at: Some(baton::harness::governor::now_unix() + 3600),
        kind: Some("five_hour".into()),
        utilization: Some(0.91),
    };
    app.on_harness(HarnessEvent::Agent { number: 3, event: AgentEvent::Limit { limit } });
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("five-hour limit 91%"), "{screen}");
    assert!(screen.contains("five-hour limit 91% used, resets at"), "said in the transcript too: {screen}");

    app.on_harness(HarnessEvent::SessionEnded {
        number: 3,
        outcome: Outcome::RateLimited,
        usage: Usage::default(),
        cost_usd: 0.0,
        duration_ms: 1000,
    });
    let until = baton::harness::governor::now_unix() + 3723;
    let fx = app.on_harness(HarnessEvent::LimitWait {
        until,
        kind: Some("five_hour".into()),
        reason: "the five-hour limit is reached".into(),
    });
    assert!(fx.iter().any(|e| matches!(e, Effect::Notify(_))));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("waiting for the five-hour limit: 01:02:0"), "{screen}");
    // The next session ends the wait on the screen.
    app.on_harness(HarnessEvent::SessionStarted { number: 4, kind: SessionKind::Coding, base: None });
    assert!(!draw(&mut app, 120, 40).to_string().contains("waiting for the"));
}

fn entry(record: Record) -> Entry {
    Entry { at: jiff::Timestamp::now(), record }
}

#[test]
fn dollar_shows_the_runs_numbers_with_sparklines() {
    let mut app = busy_app();
    assert_eq!(app.on_key(key('$')), vec![Effect::Worker(Request::Stats)]);
    let mut entries = Vec::new();
    for (n, cost, flips) in [(1u32, 0.30, 0usize), (2, 0.10, 1), (3, 0.20, 0), (4, 0.15, 2)] {
        entries.push(entry(Record::SessionStarted {
            number: n,
            kind: if n == 1 { SessionKind::Initializer } else { SessionKind::Coding },
            backend: "anthropic".into(),
            model: "m".into(),
            base: None,
            uncommitted: Vec::new(),
            target: None,
        }));
        let flipped = (0..flips)
            .map(|i| baton::project::journal::Flip { feature: i + 1, passes: true, description: "f".into() })
            .collect();
        entries.push(entry(Record::SessionEnded(SessionReport {
            cost_usd: cost,
            flipped,
            ..SessionReport::new(n, Outcome::Completed)
        })));
        entries.push(entry(Record::Verdict { number: n, verdict: Verdict::Approved, reason: None }));
    }
    entries.push(entry(Record::LimitWaited { seconds: 3600 }));
    entries.push(entry(Record::BreakerTripped { rule: "same_feature".into(), feature: Some(2), detail: "x".into() }));
    let report = baton::project::report::report(&entries);
    let (cost, passing) = baton::tui::dialogs::stats::series(&report);
    assert_eq!(cost, [30, 10, 20, 15]);
    // Features passing after each session: feature 1 counted once, though two sessions flipped it.
    assert_eq!(passing, [0, 1, 1, 2]);
    app.on_reply(Reply::Stats(Box::new(report)));
    let screen = strip_clock(draw(&mut app, 80, 24));
    assert!(screen.contains("$0.25 · "), "cost per newly passing feature: {screen}");
    assert!(screen.contains("waited for usage limits 1 time (1h00m)"), "{screen}");
    insta::assert_snapshot!("stats_80x24", screen);
}
