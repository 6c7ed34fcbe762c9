//! The screen, fed with harness events into a `TestBackend`: snapshots of every pane and dialog at
//! 80×24 and 120×40, and the keys that become commands for the loop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use baton::agent::AgentEvent;
use baton::harness::{Command, HarnessEvent, Review};
use baton::project::config::Mode;
use baton::project::journal::{Flip, VerifyResult};
use baton::project::repo::{CommitInfo, DiffStat, FileStat};
use baton::project::session::{Outcome, SessionKind, Usage};
use baton::tui::app::{App, Effect, Reply, Request};
use baton::tui::panes::features::Row;
use baton::tui::panes::gitlog::{LogRow, Mark};
use baton::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn review() -> Review {
    Review {
        number: 3,
        kind: SessionKind::Coding,
        outcome: Outcome::Completed,
        detail: None,
        base: Some("1111111111111111111111111111111111111111".into()),
        head: Some("2222222222222222222222222222222222222222".into()),
        commits: vec![CommitInfo {
            id: "2222222222222222222222222222222222222222".into(),
            summary: "Feature 2: implement and test it".into(),
            message: "Feature 2: implement and test it\n".into(),
            author: "agent".into(),
            email: "agent@example.com".into(),
            time: 0,
            parents: vec![],
        }],
        diffstat: DiffStat {
            files: vec![
                FileStat { path: "lib/add.sh".into(), insertions: 9, deletions: 2 },
                FileStat { path: "tests/test_2.sh".into(), insertions: 5, deletions: 0 },
            ],
            insertions: 14,
            deletions: 2,
        },
        flipped: vec![Flip { feature: 2, passes: true, description: "tally add NAME N adds N at once".into() }],
        violations: vec!["feature 8 \"tally help describes every command\": description changed".into()],
        verify: Some(VerifyResult {
            passed: false,
            exit_code: Some(1),
            timed_out: false,
            output: "ok   tests/test_1.sh\nFAIL tests/test_2.sh\n1 passed, 1 failed\n".into(),
        }),
        input_tokens: 9_000,
        output_tokens: 640,
        cost_usd: 0.04,
        duration_ms: 65_000,
        turns: 5,
    }
}

/// An app in the middle of session 3: features, a transcript with text, thinking, a tool call, an
/// error and a refusal, the log and the notes.
fn busy_app() -> App {
    let mut app = App::new(Theme { color: false }, "claude-progress.txt".into(), Mode::Step);
    app.on_harness(HarnessEvent::RunStarted {
        backend: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        approve: "manual".into(),
        mode: "step".into(),
    });
    app.on_harness(HarnessEvent::SessionStarted {
        number: 3,
        kind: SessionKind::Coding,
        base: Some("1111111111111111111111111111111111111111".into()),
    });
    let events = vec![
        AgentEvent::ThinkingDelta { text: "Notes first, then the log.".into() },
        AgentEvent::TextDelta { text: "Getting my bearings: the notes, ".into() },
        AgentEvent::TextDelta { text: "the log and the first failing feature.".into() },
        AgentEvent::ToolCall {
            id: "t1".into(),
            name: "bash".into(),
            input: serde_json::json!({"command": "cat claude-progress.txt"}),
        },
        AgentEvent::ToolResult { id: "t1".into(), output: "tally: progress notes\n".into(), is_error: false },
        AgentEvent::ToolCall {
            id: "t2".into(),
            name: "bash".into(),
            input: serde_json::json!({"command": "curl -s https://example.com"}),
        },
        AgentEvent::PolicyDenied {
            id: "t2".into(),
            name: "bash".into(),
            reason: "`curl` is not on the allowlist".into(),
        },
        AgentEvent::ToolResult { id: "t2".into(), output: "Refused by baton's policy".into(), is_error: true },
        AgentEvent::ToolCall {
            id: "t3".into(),
            name: "bash".into(),
            input: serde_json::json!({"command": "sh tests/run.sh"}),
        },
        AgentEvent::ToolResult {
            id: "t3".into(),
            output: "FAIL tests/test_2.sh\n1 passed, 1 failed\n[exit status 1]".into(),
            is_error: true,
        },
        AgentEvent::Usage {
            usage: Usage { input_tokens: 4200, output_tokens: 310, ..Usage::default() },
            cost_usd: 0.0172,
        },
    ];
    for e in events {
        app.on_harness(HarnessEvent::Agent { number: 3, event: e });
    }
    let rows = [
        (true, "functional", "tally add NAME counts one more for NAME"),
        (false, "functional", "tally add NAME N adds N at once"),
        (false, "functional", "tally show lists every name sorted by name"),
        (false, "error-handling", "a missing name or an unknown command exits with status 2"),
    ];
    app.on_reply(Reply::Features(Some(
        rows.iter()
            .enumerate()
            .map(|(i, (p, c, d))| Row {
                number: i + 1,
                passes: *p,
                category: (*c).into(),
                description: (*d).into(),
                steps: vec![format!("Step {}", i + 1)],
            })
            .collect(),
    )));
    app.on_reply(Reply::Log {
        rows: vec![
            LogRow {
                id: "9c00670aaaa".into(),
                summary: "Feature 1: implement and test it".into(),
                author: "agent".into(),
                mark: Some(Mark::VetoedTip { number: 2 }),
            },
            LogRow {
                id: "4f1791fbbbb".into(),
                summary: "Feature 1: implement and test it".into(),
                author: "agent".into(),
                mark: Some(Mark::SessionHead { number: 2, verdict: "approved".into() }),
            },
            LogRow {
                id: "8581e9ccccc".into(),
                summary: "Lay the groundwork".into(),
                author: "agent".into(),
                mark: Some(Mark::SessionHead { number: 1, verdict: "approved".into() }),
            },
        ],
        more: false,
    });
    app.on_reply(Reply::Progress(
        "tally: progress notes\n\nSession 1: laid the groundwork.\nSession 2: built feature 1.\n".into(),
    ));
    app
}

fn draw(app: &mut App, w: u16, h: u16) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| app.render(f)).unwrap();
    terminal.backend().clone()
}

fn strip_clock(backend: TestBackend) -> String {
    // The running clock reads 00:00 in a test; keep the snapshot stable if a slow machine ticks.
    backend.to_string().replace("running 00:01", "running 00:00")
}

#[test]
fn the_four_panes_while_a_session_runs() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = busy_app();
        insta::assert_snapshot!(format!("panes_{w}x{h}"), strip_clock(draw(&mut app, w, h)));
    }
}

#[test]
fn the_review_dialog_and_the_veto_reason() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = busy_app();
        app.on_harness(HarnessEvent::SessionEnded {
            number: 3,
            outcome: Outcome::Completed,
            usage: Usage::default(),
            cost_usd: 0.04,
            duration_ms: 65_000,
        });
        let fx = app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(review()), waiting: true });
        assert!(fx.iter().any(|e| matches!(e, Effect::Notify(t) if t.contains("session 3 waits"))));
        insta::assert_snapshot!(format!("review_{w}x{h}"), draw(&mut app, w, h).to_string());
        app.on_key(key('v'));
        for c in "no test for N".chars() {
            app.on_key(key(c));
        }
        insta::assert_snapshot!(format!("veto_{w}x{h}"), draw(&mut app, w, h).to_string());
    }
}

#[test]
fn help_confirm_and_diff_dialogs() {
    let mut app = busy_app();
    app.on_key(key('?'));
    insta::assert_snapshot!("help_120x40", draw(&mut app, 120, 40).to_string());
    app.on_key(code(KeyCode::Esc));
    app.on_key(key('q'));
    insta::assert_snapshot!("confirm_quit_80x24", strip_clock(draw(&mut app, 80, 24)));
    app.on_key(key('n'));
    app.on_reply(Reply::Diff { title: "commit 4f1791f".into(), text: "commit 4f1791f\n\ndiff --git a/lib/add.sh b/lib/add.sh\n@@ -1,2 +1,3 @@\n cmd_add() {\n-  by=1\n+  by=${2:-1}\n }\n".into() });
    insta::assert_snapshot!("diff_80x24", draw(&mut app, 80, 24).to_string());
}

#[test]
fn keys_become_commands_for_the_loop() {
    let mut app = busy_app();
    // q while a session runs asks first; y confirms.
    assert!(app.on_key(key('q')).is_empty());
    assert_eq!(app.on_key(key('y')), vec![Effect::Quit]);
    // x asks, then interrupts.
    assert!(app.on_key(key('x')).is_empty());
    assert_eq!(app.on_key(key('y')), vec![Effect::Harness(Command::Interrupt)]);
    assert_eq!(app.on_key(key('c')), vec![Effect::Harness(Command::SetMode(Mode::Continuous))]);
    assert_eq!(app.on_key(key('p')), vec![Effect::Harness(Command::Pause)]);
    // Space on a feature marks it (feature 1 passes, so: failing).
    app.on_key(code(KeyCode::BackTab));
    assert_eq!(app.on_key(key(' ')), vec![Effect::Harness(Command::Mark { feature: 1, passes: false })]);
    app.on_key(key('j'));
    assert_eq!(app.on_key(key(' ')), vec![Effect::Harness(Command::Mark { feature: 2, passes: true })]);
    // The review: y approves; v, a reason and Enter veto; an empty reason is refused.
    app.on_harness(HarnessEvent::SessionEnded {
        number: 3,
        outcome: Outcome::Completed,
        usage: Usage::default(),
        cost_usd: 0.0,
        duration_ms: 0,
    });
    app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(review()), waiting: true });
    assert_eq!(app.on_key(key('n')), vec![], "a dialog takes only its own keys");
    app.on_key(key('v'));
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![], "no veto without a reason");
    for c in "redo it".chars() {
        app.on_key(key(c));
    }
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![Effect::Harness(Command::Veto(3, "redo it".into()))]);
    app.on_key(key('r'));
    assert_eq!(
        app.on_key(key('d')),
        vec![Effect::Worker(Request::Diff {
            title: "session 3 diff".into(),
            from: Some("1111111111111111111111111111111111111111".into()),
            to: "2222222222222222222222222222222222222222".into(),
        })]
    );
    app.on_key(code(KeyCode::Esc));
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.on_key(key('y')), vec![], "y outside the review does nothing");
    app.on_key(key('r'));
    assert_eq!(app.on_key(key('y')), vec![Effect::Harness(Command::Approve(3))]);
    // n with no review pending starts the next session.
    app.on_harness(HarnessEvent::Verdict {
        number: 3,
        verdict: baton::project::session::Verdict::Approved,
        reason: None,
    });
    assert_eq!(app.on_key(key('n')), vec![Effect::Harness(Command::StartNext)]);
}

#[test]
fn the_transcript_follows_until_scrolled_and_searches() {
    let mut app = busy_app();
    assert!(app.transcript.follow);
    app.on_key(key('k'));
    assert!(!app.transcript.follow, "scrolling up stops following");
    app.on_harness(HarnessEvent::Agent { number: 3, event: AgentEvent::TextDelta { text: "more".into() } });
    assert!(!app.transcript.follow);
    app.on_key(key('G'));
    assert!(app.transcript.follow, "G follows again");
    app.on_key(key('/'));
    for c in "curl".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Enter));
    assert!(!app.transcript.follow);
    let selected = &app.transcript.entries[app.transcript.selected];
    assert!(format!("{selected:?}").contains("curl"), "{selected:?}");
    // Enter expands the selected tool call: its output shows.
    app.on_key(code(KeyCode::Enter));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("refused by policy: `curl` is not on the allowlist"), "{screen}");
}

#[test]
fn a_million_line_transcript_draws_only_what_is_visible() {
    let mut app = busy_app();
    for i in 0..1_000_000 {
        app.transcript.entries.push(baton::tui::panes::transcript::Entry::Text(format!("line {i}")));
    }
    app.transcript.handle(baton::tui::keys::Action::Bottom);
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("line 999999"));
    assert!(!screen.contains("line 999960"), "only the last screenful is drawn");
    // How fast that is, is measured by `cargo bench`, not here.
}

#[test]
fn e_edits_a_feature_and_a_adds_one_through_the_loop() {
    let mut app = busy_app();
    app.on_key(code(KeyCode::BackTab)); // Features
    app.on_key(key('j'));
    app.on_key(key('e'));
    insta::assert_snapshot!("editor_80x24", strip_clock(draw(&mut app, 80, 24)));
    // Add a second step and save.
    app.on_key(code(KeyCode::Enter));
    for c in "- See 'laps 8'".chars() {
        app.on_key(key(c));
    }
    let fx = app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(
        fx,
        vec![Effect::Harness(Command::EditFeature {
            number: Some(2),
            category: "functional".into(),
            description: "tally add NAME N adds N at once".into(),
            steps: vec!["Step 2".into(), "See 'laps 8'".into()],
        })]
    );
    // A new feature needs a description and a step.
    app.on_key(key('a'));
    assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)), vec![]);
    assert!(app.status.notice.as_deref().unwrap().contains("needs a description"));
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog.is_none());
}

#[test]
fn reaching_the_end_of_the_log_asks_for_the_next_page() {
    let mut app = busy_app();
    app.on_key(code(KeyCode::Tab)); // Git log
    app.gitlog.more = true;
    assert_eq!(app.on_key(key('j')), vec![]);
    assert_eq!(app.on_key(key('j')), vec![], "still inside the page");
    assert_eq!(app.on_key(key('j')), vec![Effect::Worker(Request::MoreLog)]);
    assert_eq!(app.on_key(key('j')), vec![], "asked once until the page arrives");
}
