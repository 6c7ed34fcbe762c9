//! The screen, fed with harness events into a `TestBackend`: snapshots of every pane and dialog at
//! 80×24 and 120×40, and the keys that become commands for the loop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::agent::AgentEvent;
use baton::harness::{Command, HarnessEvent};
use baton::project::config::Mode;
use baton::project::session::{Outcome, Usage};
use baton::tui::app::{Effect, Reply, Request};
use common::screen::{busy_app, code, draw, key, review, strip_clock};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

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

/// The evaluator's word in the review: a failed claim first among the problems, and each flipped
/// feature with the evaluator's verdict and evidence under it.
#[test]
fn the_review_shows_the_evaluators_verdicts() {
    use baton::project::evaluation::{Evaluation, FeatureJudgement, Judgement};
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = busy_app();
        let mut r = review();
        r.violations.clear();
        r.verify = None;
        r.flipped.push(baton::project::journal::Flip {
            feature: 6,
            passes: true,
            description: "tally top prints the name with the highest count".into(),
        });
        let evaluation = Evaluation {
            session: 3,
            evaluator: 4,
            features: vec![
                FeatureJudgement {
                    feature: 2,
                    description: "tally add NAME N adds N at once".into(),
                    judgement: Judgement::Pass,
                    evidence: "ran ./tally add laps 5, ./tally add laps 3, ./tally show: got 'laps 8'".into(),
                },
                FeatureJudgement {
                    feature: 6,
                    description: "tally top prints the name with the highest count".into(),
                    judgement: Judgement::Fail,
                    evidence: "ran ./tally add apples 2, ./tally add pears 7, ./tally add figs, ./tally top: got 'figs 1', but the steps say 'pears 7'".into(),
                },
            ],
            reverted: vec![6],
            head: None,
            restored: Vec::new(),
        };
        r.evaluation = Some(evaluation.clone());
        let notices = app.on_harness(HarnessEvent::Evaluated { evaluation });
        assert!(notices.is_empty());
        app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(r), waiting: true });
        let screen = draw(&mut app, w, h).to_string();
        assert!(screen.contains("Evaluator (session 4): 1 pass, 1 fail"), "{screen}");
        insta::assert_snapshot!(format!("review_evaluated_{w}x{h}"), screen);
    }
}

fn question(number: u32) -> HarnessEvent {
    HarnessEvent::Question {
        number,
        session: 3,
        tool: "bash".into(),
        command: "curl -s https://pubs.opengroup.org/onlinepubs/9699919799/utilities/sort.html | head -40".into(),
        reason: "`curl` is not on the allowlist".into(),
        cwd: "/home/ada/tally".into(),
        words: "Before sorting, let me fetch a reference on portable sort flags.".into(),
    }
}

/// A session's question: the dialog (insta at both sizes), its keys, and the count of questions
/// waiting once it is hidden.
#[test]
fn a_question_opens_its_dialog_and_its_keys_answer_it() {
    use baton::agent::Answer;
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = busy_app();
        let fx = app.on_harness(question(1));
        assert!(fx.iter().any(|e| matches!(e, Effect::Notify(t) if t.contains("asks whether it may run"))));
        insta::assert_snapshot!(format!("question_{w}x{h}"), strip_clock(draw(&mut app, w, h)));
    }
    let answered = |keys: &[KeyEvent]| {
        let mut app = busy_app();
        app.on_harness(question(7));
        // The command fits: once drawn, every line of it has been on screen.
        draw(&mut app, 120, 40);
        let mut fx = Vec::new();
        for k in keys {
            fx.extend(app.on_key(*k));
        }
        fx.into_iter().find_map(|e| match e {
            Effect::Harness(Command::Answer { number, answer }) => Some((number, answer)),
            _ => None,
        })
    };
    assert_eq!(answered(&[key('a')]), Some((7, Answer::Once)));
    assert_eq!(answered(&[key('A')]), Some((7, Answer::Always)));
    let mut deny = vec![key('d')];
    deny.extend("use sort -k".chars().map(key));
    deny.push(code(KeyCode::Enter));
    assert_eq!(answered(&deny), Some((7, Answer::Deny { message: "use sort -k".into() })));
    assert_eq!(answered(&[key('d'), code(KeyCode::Enter)]), None, "a denial needs its message");
    // Hidden, it is counted on the status line and `!` brings it back; an answer closes it.
    let mut app = busy_app();
    app.on_harness(question(1));
    app.on_harness(question(2));
    app.on_key(code(KeyCode::Esc));
    app.on_key(code(KeyCode::Esc));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("2 questions wait · ! shows it"), "{screen}");
    app.on_key(key('!'));
    assert!(draw(&mut app, 120, 40).to_string().contains("Question 1 · session 3 asks · 1 more waiting"));
    app.on_harness(HarnessEvent::Answered { number: 1, answer: Answer::Once });
    app.on_harness(HarnessEvent::Answered { number: 2, answer: Answer::Once });
    assert!(!draw(&mut app, 120, 40).to_string().contains("Question"));
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
    let selected = app.transcript.entries.get(app.transcript.selected).unwrap();
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
    // A new feature needs a description and a step; the error shows in the dialog, at 80 columns.
    app.on_key(key('a'));
    assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)), vec![]);
    let screen = draw(&mut app, 80, 24).to_string();
    assert!(screen.contains("✗ the feature needs a description"), "{screen}");
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog().is_none());
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

/// A line that begins with a wide glyph (⛔ takes two columns) still reaches the pane's edge.
#[test]
fn a_line_with_a_wide_glyph_fills_the_pane() {
    let mut app = busy_app();
    let long = "curl -s https://example.invalid/a/very/long/path/that/runs/past/the/edge/of/the/pane/and/beyond/it/too";
    app.on_harness(HarnessEvent::Agent {
        number: 3,
        event: AgentEvent::ToolCall {
            id: "wide1".into(),
            name: "bash".into(),
            input: serde_json::json!({"command": long}),
        },
    });
    app.on_harness(HarnessEvent::Agent {
        number: 3,
        event: AgentEvent::PolicyDenied {
            id: "wide1".into(),
            name: "bash".into(),
            reason: "curl is not allowed".into(),
        },
    });
    let screen = draw(&mut app, 120, 40);
    let buf = screen.buffer();
    let row: Vec<&str> = (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect::<Vec<_>>())
        .find(|cells| cells.concat().contains("bash curl -s https://example.invalid"))
        .expect("the refused call is shown");
    // The clipped line ends in its ellipsis right against the pane's right border.
    let border = row.iter().rposition(|c| *c == "┃" || *c == "│").unwrap();
    assert_eq!(row[border - 1], "…", "{}", row.concat());
}

/// A notice too long for one line wraps under its mark: the mark is not repeated.
#[test]
fn a_wrapped_notice_keeps_its_mark_on_the_first_line_only() {
    let mut app = busy_app();
    let text = "rate limit: allowed_warning, the five hour window is 91% used and resets at 04:00 local time";
    app.on_harness(HarnessEvent::Agent { number: 3, event: AgentEvent::Notice { text: text.into() } });
    let screen = draw(&mut app, 80, 24).to_string();
    let at = screen.lines().position(|l| l.contains("! rate limit: allowed_warning")).expect("shown");
    let next = screen.lines().nth(at + 1).unwrap();
    assert!(!next.contains("! ") && next.contains("  "), "{next}");
    let words: Vec<&str> = text.split(' ').collect();
    assert!(next.contains(words[words.len() - 1]) || next.contains("local"), "{screen}");
}

/// A browser's screenshot shows as one line with its file; a long result (a page's snapshot) is
/// cut in the expanded view, with a word on where the rest is.
#[test]
fn an_image_is_one_line_and_a_long_result_is_cut_for_the_screen() {
    let mut app = busy_app();
    let agent = |event| HarnessEvent::Agent { number: 3, event };
    app.on_harness(agent(AgentEvent::ToolCall {
        id: "shot".into(),
        name: "mcp__playwright__browser_take_screenshot".into(),
        input: serde_json::json!({}),
    }));
    app.on_harness(agent(AgentEvent::ToolResult {
        id: "shot".into(),
        output: "### Result\n- Screenshot of viewport\n[image saved: /p/.baton/sessions/0003/image-001.png]".into(),
        is_error: false,
    }));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("image /p/.baton/sessions/0003/image-001.png"), "{screen}");
    assert!(!screen.contains("### Result"), "folded, the result's text is not shown");

    let long: Vec<String> = (0..500).map(|i| format!("- snapshot line {i}")).collect();
    app.on_harness(agent(AgentEvent::ToolCall {
        id: "snap".into(),
        name: "mcp__playwright__browser_snapshot".into(),
        input: serde_json::json!({}),
    }));
    app.on_harness(agent(AgentEvent::ToolResult { id: "snap".into(), output: long.join("\n"), is_error: false }));
    let last = app.transcript.entries.len() - 1;
    let Some(baton::tui::panes::transcript::Entry::Tool(t)) = app.transcript.entries.get_mut(last) else {
        panic!("the snapshot call is the last entry")
    };
    t.expanded = true;
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("… 300 more lines, whole in the session's transcript file"), "{screen}");
    assert!(screen.contains("snapshot line 199") && !screen.contains("snapshot line 200 "), "{screen}");
}
