//! The screen as an operator lives in it: a review that cannot be lost, locked or cut, text typed
//! in a dialog never taken by another, and state that follows the journal. Events and keys are fed
//! in order, as races would deliver them, and the result drawn into a `TestBackend`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::agent::AgentEvent;
use baton::harness::{Command, HarnessEvent, StopReason};
use baton::project::config::Mode;
use baton::project::repo::FileStat;
use baton::project::session::{Outcome, SessionKind, Usage, Verdict};
use baton::tui::app::{Effect, JournalView, Pane, Reply, Request};
use baton::tui::dialogs::Dialog;
use common::screen::{busy_app, code, ctrl, draw, key, review, type_text};
use ratatui::crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

fn review_arrives(app: &mut baton::tui::app::App) {
    app.on_harness(HarnessEvent::SessionEnded {
        number: 3,
        outcome: Outcome::Completed,
        usage: Usage::default(),
        cost_usd: 0.04,
        duration_ms: 65_000,
    });
    app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(review()), waiting: true });
}

fn editor_text(app: &baton::tui::app::App) -> Vec<String> {
    match app.dialog() {
        Some(Dialog::Editor { area, .. }) => area.lines().to_vec(),
        _ => panic!("the editor is not on top"),
    }
}

#[test]
fn a_review_that_arrives_while_editing_waits_behind_the_editor_and_takes_none_of_its_keys() {
    let mut app = busy_app();
    app.on_key(code(KeyCode::BackTab)); // Features
    app.on_key(key('e'));
    type_text(&mut app, " quickly");
    review_arrives(&mut app);
    // The keys typed next are the editor's, `y` and `v` too: nothing approves or vetoes unseen.
    let mut fx = Vec::new();
    for c in " yv".chars() {
        fx.extend(app.on_key(key(c)));
    }
    assert!(fx.is_empty(), "{fx:?}");
    assert!(editor_text(&app).last().unwrap().ends_with("quickly yv"), "{:?}", editor_text(&app));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("a review waits behind this dialog"), "{screen}");
    // Saving the edit keeps it, and the review is there at once: one key to the verdict.
    let saved = app.on_key(ctrl('s'));
    assert!(
        matches!(&saved[..], [Effect::Harness(Command::EditFeature { steps, .. })] if steps[0].ends_with("quickly yv"))
    );
    assert!(matches!(app.dialog(), Some(Dialog::Review(_))));
    assert_eq!(app.on_key(key('y')), vec![Effect::Harness(Command::Approve(3))]);
}

#[test]
fn a_diff_that_arrives_while_a_veto_reason_is_typed_goes_under_it() {
    let mut app = busy_app();
    review_arrives(&mut app);
    let asked = app.on_key(key('d'));
    assert!(matches!(&asked[..], [Effect::Worker(Request::Diff { .. })]));
    app.on_key(key('v'));
    type_text(&mut app, "no test");
    app.on_reply(Reply::Diff { title: "session 3 diff".into(), text: "diff --git a/x b/x\n+y\n".into() });
    type_text(&mut app, " for N");
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![Effect::Harness(Command::Veto(3, "no test for N".into()))]);
    // The diff waited under the veto; it shows now and closes to nothing.
    assert!(matches!(app.dialog(), Some(Dialog::Diff { .. })));
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog().is_none());
}

#[test]
fn an_empty_veto_reason_is_refused_inside_the_dialog() {
    let mut app = busy_app();
    review_arrives(&mut app);
    app.on_key(key('v'));
    assert_eq!(app.on_key(code(KeyCode::Enter)), vec![]);
    let screen = draw(&mut app, 80, 24).to_string();
    assert!(screen.contains("✗ a veto needs a reason"), "{screen}");
}

#[test]
fn the_review_scrolls_and_says_what_is_below_with_problems_first() {
    let mut app = busy_app();
    let mut r = review();
    r.diffstat.files =
        (1..=30).map(|i| FileStat { path: format!("src/file_{i}.sh"), insertions: i, deletions: 0 }).collect();
    r.verify.as_mut().unwrap().output = (1..=40).map(|i| format!("line {i} of the tests\n")).collect();
    app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(r), waiting: true });
    let top = draw(&mut app, 80, 16).to_string();
    assert!(top.contains("Guard: the session broke the rules"), "the guard comes first:\n{top}");
    assert!(top.contains("more lines below"), "the cut is said:\n{top}");
    assert!(!top.contains("src/file_30.sh"), "{top}");
    // Every verify line is there (not only the last six), line by line.
    let mut seen = String::new();
    for _ in 0..80 {
        app.on_key(key('j'));
        seen.push_str(&draw(&mut app, 80, 16).to_string());
    }
    for i in 1..=40 {
        assert!(seen.contains(&format!("line {i} of the tests ")), "verify line {i} never showed");
    }
    assert!(seen.contains("src/file_30.sh"), "every file is listed");
    app.on_key(key('G'));
    let end = draw(&mut app, 80, 16).to_string();
    assert!(end.contains("the end"), "{end}");
    assert!(!end.contains("more lines below"), "{end}");
    // The features flipped are on the first page, under the problems, with the last lines of
    // the verify output (the cut said), and the whole output at the end.
    app.on_key(key('g'));
    let page = draw(&mut app, 120, 40).to_string();
    assert!(page.contains("now passing"), "{page}");
    assert!(page.contains("… 32 earlier lines: the whole output is at the end"), "{page}");
    assert!(page.contains("line 40 of the tests"), "{page}");
}

#[test]
fn quit_continuous_pause_and_help_work_in_the_review_and_a_pause_shows() {
    let mut app = busy_app();
    review_arrives(&mut app);
    assert_eq!(app.on_key(key('c')), vec![Effect::Harness(Command::SetMode(Mode::Continuous))]);
    assert_eq!(app.on_key(key('p')), vec![Effect::Harness(Command::Pause)]);
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("pause queued"), "{screen}");
    assert!(matches!(app.dialog(), Some(Dialog::Review(_))), "the review stays open");
    app.on_key(key('?'));
    assert!(matches!(app.dialog(), Some(Dialog::Help { .. })));
    // r from the help goes back to the review: two keys to a verdict from there.
    app.on_key(key('r'));
    assert_eq!(app.on_key(key('y')), vec![Effect::Harness(Command::Approve(3))]);
    app.on_harness(HarnessEvent::Verdict { number: 3, verdict: Verdict::Approved, reason: None });
    review_arrives_again(&mut app);
    // No session runs while a review waits: q quits at once, C-c too.
    assert_eq!(app.on_key(key('q')), vec![Effect::Quit]);
    assert_eq!(
        app.on_key(ratatui::crossterm::event::KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        vec![Effect::Quit]
    );
}

fn review_arrives_again(app: &mut baton::tui::app::App) {
    let mut r = review();
    r.number = 4;
    app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(r), waiting: true });
}

#[test]
fn n_with_a_review_waiting_shows_it_and_the_verdict_is_one_key_away() {
    let mut app = busy_app();
    review_arrives(&mut app);
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog().is_none());
    assert_eq!(app.on_key(key('n')), vec![]);
    assert!(matches!(app.dialog(), Some(Dialog::Review(_))));
    assert_eq!(app.on_key(key('y')), vec![Effect::Harness(Command::Approve(3))]);
}

#[test]
fn closing_a_diff_from_the_log_does_not_bring_back_a_hidden_review() {
    let mut app = busy_app();
    review_arrives(&mut app);
    app.on_key(code(KeyCode::Esc)); // hide it
    app.on_reply(Reply::Diff { title: "commit 4f1791f".into(), text: "diff --git a/x b/x\n".into() });
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog().is_none(), "the hidden review stays hidden");
    // A diff asked from the review returns to it.
    app.on_key(key('r'));
    app.on_key(key('d'));
    app.on_reply(Reply::Diff { title: "session 3 diff".into(), text: "diff --git a/x b/x\n".into() });
    app.on_key(code(KeyCode::Esc));
    assert!(matches!(app.dialog(), Some(Dialog::Review(_))));
}

#[test]
fn a_verdict_recorded_elsewhere_closes_the_review_here() {
    let mut app = busy_app();
    review_arrives(&mut app);
    app.loop_here = true;
    // A read of the journal from before the session ended changes nothing.
    app.on_reply(Reply::Journal(JournalView { decided: vec![(2, Verdict::Approved)], ..JournalView::default() }));
    assert!(app.pending.is_some());
    app.on_reply(Reply::Journal(JournalView { decided: vec![(3, Verdict::Vetoed)], ..JournalView::default() }));
    assert!(app.pending.is_none());
    assert!(app.dialog().is_none());
    assert!(app.status.notice.as_deref().unwrap().contains("session 3 vetoed"), "{:?}", app.status.notice);
    assert_eq!(app.on_key(key('y')), vec![]);
}

#[test]
fn with_no_loop_here_the_journal_says_what_waits() {
    let mut app = busy_app();
    app.loop_here = false;
    app.status.running = false;
    let view = JournalView {
        last: Some((3, SessionKind::Coding)),
        state: "awaiting review".into(),
        pending: Some(Box::new(review())),
        ..JournalView::default()
    };
    app.on_reply(Reply::Journal(view.clone()));
    assert!(matches!(app.dialog(), Some(Dialog::Review(_))));
    assert_eq!(app.on_key(key('y')), vec![Effect::Harness(Command::Approve(3))]);
    // The verdict is taken; a stale read still listing it as pending does not bring it back.
    app.on_harness(HarnessEvent::Verdict { number: 3, verdict: Verdict::Approved, reason: None });
    app.on_reply(Reply::Journal(view));
    assert!(app.dialog().is_none());
}

#[test]
fn n_says_exactly_why_a_session_cannot_start() {
    let mut app = busy_app();
    app.status.running = false;
    app.status.cannot_start = Some("ANTHROPIC_API_KEY is not set".into());
    assert_eq!(app.on_key(key('n')), vec![]);
    let notice = app.status.notice.clone().unwrap();
    assert!(notice.contains("ANTHROPIC_API_KEY is not set"), "{notice}");
    assert!(!notice.contains("another baton"), "{notice}");
}

#[test]
fn a_finished_run_says_done_plainly_and_n_does_not_start_another() {
    let mut app = busy_app();
    app.on_harness(HarnessEvent::Stopped { reason: StopReason::Done, detail: "every feature passes; 4/4".into() });
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("✓ done: every feature passes"), "{screen}");
    assert!(!screen.contains("! the run stopped"), "{screen}");
    assert_eq!(app.on_key(key('n')), vec![]);
    assert!(app.status.notice.as_deref().unwrap().starts_with("done:"));
}

#[test]
fn marks_and_additions_show_at_once_marked_queued() {
    let mut app = busy_app();
    app.on_key(code(KeyCode::BackTab)); // Features
    app.on_key(key('j'));
    assert_eq!(app.on_key(key(' ')), vec![Effect::Harness(Command::Mark { feature: 2, passes: true })]);
    app.on_key(key('a'));
    type_text(&mut app, "tally undo takes back the last add");
    app.on_key(code(KeyCode::Down));
    app.on_key(code(KeyCode::Down));
    app.on_key(code(KeyCode::Down));
    type_text(&mut app, "Run ./tally undo");
    app.on_key(ctrl('s'));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("2 ✓… tally add NAME N"), "the mark shows, queued:\n{screen}");
    assert!(screen.contains("5 ✗… tally undo takes back"), "the addition shows, queued:\n{screen}");
    // Once the list says so, the marks are plain again.
    let mut rows = app.features.rows.clone();
    rows[1].passes = true;
    app.on_reply(Reply::Features(Some(rows)));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("2 ✓  tally add NAME N"), "{screen}");
    assert!(screen.contains("5 ✗… tally undo"), "still queued until applied:\n{screen}");
}

#[test]
fn the_add_dialog_starts_on_the_description() {
    let mut app = busy_app();
    app.on_key(code(KeyCode::BackTab));
    app.on_key(key('a'));
    type_text(&mut app, "x");
    assert_eq!(editor_text(&app)[0], "description: x");
}

#[test]
fn search_keys_belong_to_the_search_and_esc_ends_it() {
    let mut app = busy_app();
    app.on_key(key('/'));
    type_text(&mut app, "bash");
    app.on_key(code(KeyCode::Enter));
    let first = app.transcript.selected;
    assert_eq!(app.on_key(key('n')), vec![], "n is the next match");
    assert_ne!(app.transcript.selected, first);
    app.on_key(code(KeyCode::Esc));
    assert!(app.transcript.search.is_none());
    app.status.running = false;
    assert_eq!(app.on_key(key('n')), vec![Effect::Harness(Command::StartNext)], "n starts sessions again");
    // A search does not carry into the next session.
    app.on_key(key('/'));
    type_text(&mut app, "curl");
    app.on_key(code(KeyCode::Enter));
    app.on_harness(HarnessEvent::SessionStarted { number: 4, kind: SessionKind::Coding, base: None });
    assert!(app.transcript.search.is_none());
}

#[test]
fn an_expanded_tool_call_shows_its_command_as_written() {
    let mut app = busy_app();
    let command = "cat <<'EOF' > tests/test_9.sh\necho first line\necho second line\nEOF\nsh tests/test_9.sh";
    app.on_harness(HarnessEvent::Agent {
        number: 3,
        event: AgentEvent::ToolCall {
            id: "t9".into(),
            name: "bash".into(),
            input: serde_json::json!({ "command": command }),
        },
    });
    app.on_key(key('k'));
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Enter));
    app.zoom = true;
    let screen = draw(&mut app, 120, 40).to_string();
    for line in command.lines() {
        assert!(screen.contains(&format!("│ {line}")), "{line:?} is not shown as written:\n{screen}");
    }
}

#[test]
fn features_give_descriptions_the_room_at_80_columns_and_open_in_full() {
    let mut app = busy_app();
    let screen = draw(&mut app, 80, 24).to_string();
    assert!(screen.contains("tally add NAME N adds N …"), "{screen}");
    app.on_key(code(KeyCode::BackTab));
    app.on_key(key('G'));
    app.on_key(code(KeyCode::Enter));
    let screen = draw(&mut app, 80, 24).to_string();
    assert!(screen.contains("Feature 4"), "{screen}");
    assert!(screen.contains("a missing name or an unknown command exits with status 2"), "{screen}");
    assert!(screen.contains("error-handling"), "{screen}");
    assert!(screen.contains("1. Step 4"), "{screen}");
}

#[test]
fn help_wraps_scrolls_says_more_below_and_lists_the_editor_keys() {
    let mut app = busy_app();
    app.on_key(key('?'));
    let screen = draw(&mut app, 80, 24).to_string();
    assert!(screen.contains("more lines below"), "{screen}");
    let mut seen = String::new();
    for _ in 0..30 {
        seen.push_str(&draw(&mut app, 80, 24).to_string());
        app.on_key(code(KeyCode::PageDown));
        assert!(matches!(app.dialog(), Some(Dialog::Help { .. })), "PageDown scrolls, it does not close");
    }
    app.on_key(key('G'));
    assert!(matches!(app.dialog(), Some(Dialog::Help { .. })), "G goes to the end, it does not close");
    assert!(seen.contains("Feature editor") && seen.contains("save the feature"), "{seen}");
    assert!(seen.contains("end the search"), "{seen}");
    // No word is cut at the dialog's edge: each help text is there whole, over lines if need be.
    let theme = baton::tui::theme::Theme { color: false };
    for width in [40, 62, 94] {
        let lines: Vec<String> =
            baton::tui::dialogs::help::lines(width, &theme).iter().map(|l| l.to_string()).collect();
        assert!(lines.iter().all(|l| unicode_width::UnicodeWidthStr::width(l.as_str()) <= width), "{lines:#?}");
        let flat = lines.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        for b in baton::tui::keys::BINDINGS {
            assert!(flat.contains(b.help), "{width}: {:?} is cut:\n{}", b.help, lines.join("\n"));
        }
    }
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog().is_none());
}

#[test]
fn g_and_capital_g_move_in_every_pane_and_a_click_selects_the_row() {
    let mut app = busy_app();
    app.on_key(code(KeyCode::BackTab)); // Features
    app.on_key(key('G'));
    assert_eq!(app.features.selected, 3);
    app.on_key(key('g'));
    assert_eq!(app.features.selected, 0);
    draw(&mut app, 120, 40);
    // The third feature row: one row below the frame's top line, plus two.
    let click = |col, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: col,
        row,
        modifiers: KeyModifiers::NONE,
    };
    app.on_mouse(click(5, 3));
    assert_eq!(app.features.selected, 2);
    // In the git log (its frame starts at row 26 at 120×40), the second commit.
    let log_top = app.pane_area(Pane::GitLog).unwrap().y;
    app.on_mouse(click(60, log_top + 2));
    assert_eq!(app.gitlog.selected, 1);
}

#[test]
fn every_message_is_kept_and_a_long_one_is_read_in_full() {
    let mut app = busy_app();
    let words: Vec<String> = (1..=60).map(|i| format!("w{i}")).collect();
    let long = format!("the verify command failed: {}", words.join(" "));
    app.on_harness(HarnessEvent::Queued { change: long.clone() });
    let screen = draw(&mut app, 120, 40).to_string();
    let status_line = screen.lines().last().unwrap();
    assert!(status_line.contains("m: all"), "a cut notice points at the log: {status_line}");
    assert!(!screen.contains(" w60 "), "{screen}");
    app.on_key(key('m'));
    let screen = draw(&mut app, 120, 40).to_string();
    let tokens: std::collections::HashSet<&str> = screen.split(|c: char| !c.is_alphanumeric()).collect();
    for w in &words {
        assert!(tokens.contains(w.as_str()), "{w} is not in the message log:\n{screen}");
    }
}

#[test]
fn the_total_cost_includes_the_running_session() {
    let mut app = busy_app();
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("$0.02 (total $0.02)"), "{screen}");
}

/// A session on a server that reports no usage, for a model nobody priced: the status line says
/// so, never $0.
#[test]
fn a_cost_nobody_could_price_shows_as_price_unknown_never_zero() {
    let mut app = baton::tui::app::App::new(baton::tui::theme::Theme { color: false }, "notes.txt".into(), Mode::Step);
    app.on_harness(HarnessEvent::RunStarted {
        backend: "openai".into(),
        model: "qwen3-coder".into(),
        approve: "manual".into(),
        mode: "step".into(),
    });
    app.on_harness(HarnessEvent::SessionStarted { number: 1, kind: SessionKind::Initializer, base: None });
    let unknown = Usage { unreported_turns: 1, unpriced_turns: 1, ..Usage::default() };
    app.on_harness(HarnessEvent::Agent { number: 1, event: AgentEvent::Usage { usage: unknown, cost_usd: 0.0 } });
    // The figures, not the latest notice, are what this test reads.
    app.status.notice = None;
    let screen = draw(&mut app, 120, 40).to_string();
    let status = screen.lines().last().unwrap().to_owned();
    assert!(status.contains("tokens unknown, price unknown"), "{status}");
    assert!(!status.contains("$0.00"), "{status}");
    // A priced turn after it: what is known is shown, and that the rest is not.
    let known = Usage { input_tokens: 2000, output_tokens: 100, ..Usage::default() };
    app.on_harness(HarnessEvent::Agent { number: 1, event: AgentEvent::Usage { usage: known, cost_usd: 0.05 } });
    app.status.notice = None;
    let screen = draw(&mut app, 120, 40).to_string();
    let status = screen.lines().last().unwrap().to_owned();
    assert!(status.contains("│ ≥2.0k↑ ≥100↓ $0.05 + price unknown │"), "{status}");
}
