//! The screen fed with events and keys, for the screen's tests: a review, an app in the middle of
//! a session, drawing into a `TestBackend`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use baton::agent::AgentEvent;
use baton::harness::{HarnessEvent, Review};
use baton::project::config::Mode;
use baton::project::journal::{Flip, VerifyResult};
use baton::project::repo::{CommitInfo, DiffStat, FileStat};
use baton::project::session::{Outcome, SessionKind, Usage};
use baton::tui::app::{App, Reply};
use baton::tui::panes::features::Row;
use baton::tui::panes::gitlog::{LogRow, Mark};
use baton::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

pub fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

pub fn review() -> Review {
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
        history: Vec::new(),
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
        evaluation: None,
        questions: Vec::new(),
        refusals: Vec::new(),
    }
}

/// An app in the middle of session 3: features, a transcript with text, thinking, a tool call, an
/// error and a refusal, the log and the notes.
pub fn busy_app() -> App {
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
                skipped: false,
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

/// Session `number` ended, completed, having cost `cost_usd`.
pub fn ended(number: u32, cost_usd: f64) -> HarnessEvent {
    HarnessEvent::SessionEnded {
        number,
        outcome: Outcome::Completed,
        usage: Usage::default(),
        cost_usd,
        duration_ms: 1,
    }
}

pub fn draw(app: &mut App, w: u16, h: u16) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| app.render(f)).unwrap();
    terminal.backend().clone()
}

pub fn strip_clock(backend: TestBackend) -> String {
    // The running clock reads 00:00 in a test; keep the snapshot stable if a slow machine ticks.
    backend.to_string().replace("running 00:01", "running 00:00")
}

/// Types `text` into whatever has the keys.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(key(c));
    }
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}
