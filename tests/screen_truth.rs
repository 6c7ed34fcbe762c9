//! The screen tells the truth, fed with events and keys into a `TestBackend`: notices that go and
//! never contradict the state, the figures an attached screen shows, skipped features, a veto or a
//! denial being typed kept through a decision made elsewhere, and the small things an operator
//! reads: the pause taken back, C-c everywhere, search hits, zoom, folded commands, the message
//! log's times, the review's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use baton::agent::{AgentEvent, Answer};
use baton::harness::{Command, HarnessEvent};
use baton::project::session::{Outcome, SessionKind, Usage, Verdict};
use baton::tui::app::{Effect, JournalView, NOTICE_LIFE, Reply};
use baton::tui::dialogs::Dialog;
use baton::tui::panes::features::Row;
use common::screen::{busy_app, code, ctrl, draw, ended, key, review, type_text};
use ratatui::crossterm::event::KeyCode;

fn status_line(app: &mut baton::tui::app::App, w: u16, h: u16) -> String {
    draw(app, w, h).to_string().lines().last().unwrap().to_owned()
}

#[test]
fn a_notice_leaves_the_status_line_in_time_and_never_outlives_the_state_it_spoke_of() {
    let mut app = busy_app();
    app.status.running = false;
    app.on_key(key('x'));
    assert!(status_line(&mut app, 120, 40).contains("no session is running"));
    // A session starts: the notice would contradict it.
    app.on_harness(HarnessEvent::SessionStarted { number: 4, kind: SessionKind::Coding, base: None });
    let line = status_line(&mut app, 120, 40);
    assert!(line.contains("running") && !line.contains("no session is running"), "{line}");
    // Any notice goes after a while; the message log keeps it, with its time.
    app.notice("the note goes to the next session");
    assert!(!app.tick(Instant::now()));
    assert!(status_line(&mut app, 120, 40).contains("the note goes to the next session"));
    assert!(app.tick(Instant::now() + NOTICE_LIFE + Duration::from_millis(1)));
    assert!(!status_line(&mut app, 120, 40).contains("the note goes"));
    app.on_key(key('m'));
    let log = draw(&mut app, 120, 40).to_string();
    let time = regex::Regex::new(r"\d\d:\d\d:\d\d the note goes to the next session").unwrap();
    assert!(time.is_match(&log), "{log}");
    assert!(log.contains("no session is running"), "{log}");
}

#[test]
fn an_attached_screen_counts_the_session_from_its_start_and_the_run_from_its_first_session() {
    let mut app = busy_app();
    // The journal says session 3 started 90 s ago, and sessions 1 and 2 cost $0.20 between them.
    let view = JournalView {
        costs: vec![(1, 0.15), (2, 0.05)],
        running_since: Some((3, jiff::Timestamp::now() - jiff::SignedDuration::from_secs(90))),
        ..JournalView::default()
    };
    app.loop_here = true;
    app.on_reply(Reply::Journal(view));
    let line = status_line(&mut app, 120, 40);
    assert!(line.contains("running 01:3"), "{line}");
    // $0.02 of session 3 so far, on top of $0.20.
    assert!(line.contains("$0.02 (total $0.22)"), "{line}");
    // Once it ends, counted once.
    app.on_harness(ended(3, 0.03));
    app.on_reply(Reply::Journal(JournalView {
        costs: vec![(1, 0.15), (2, 0.05), (3, 0.03)],
        ..JournalView::default()
    }));
    assert!(status_line(&mut app, 120, 40).contains("(total $0.23)"));
}

#[test]
fn under_review_the_status_line_shows_the_reviewed_sessions_figures_not_its_evaluators() {
    let mut app = busy_app();
    app.on_harness(ended(3, 0.04));
    app.on_harness(HarnessEvent::SessionStarted { number: 4, kind: SessionKind::Evaluator, base: None });
    app.on_harness(HarnessEvent::Agent {
        number: 4,
        event: AgentEvent::Usage { usage: Usage { input_tokens: 77_000, ..Usage::default() }, cost_usd: 0.5 },
    });
    app.on_harness(ended(4, 0.5));
    app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(review()), waiting: true });
    let line = status_line(&mut app, 120, 40);
    assert!(line.starts_with("\"S3 coding"), "{line}");
    assert!(line.contains("9.0k↑ 640↓ $0.04") && !line.contains("77.0k"), "{line}");
}

#[test]
fn a_skipped_feature_is_not_drawn_as_a_failing_one() {
    let mut app = busy_app();
    let mut rows: Vec<Row> = app.features.rows.clone();
    rows[2].skipped = true;
    app.on_reply(Reply::Features(Some(rows)));
    let screen = draw(&mut app, 120, 40).to_string();
    let row = screen.lines().find(|l| l.contains("tally show lists")).unwrap();
    assert!(row.contains("3 –") && row.contains("skipped · tally show lists"), "{row}");
    assert!(!row.contains('✗'), "{row}");
}

#[test]
fn a_denial_being_typed_survives_an_answer_from_elsewhere_and_only_esc_closes_it() {
    let mut app = busy_app();
    app.on_harness(HarnessEvent::Question {
        number: 5,
        session: 3,
        tool: "bash".into(),
        command: "factor 84".into(),
        reason: "`factor` is not on the allowlist".into(),
        cwd: "/p".into(),
        words: String::new(),
    });
    draw(&mut app, 120, 40);
    app.on_key(key('d'));
    type_text(&mut app, "use python");
    app.on_harness(HarnessEvent::Answered { number: 5, answer: Answer::Once });
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("question 5 was answered elsewhere (allowed once); your denial was not sent"), "{screen}");
    assert!(screen.contains("use python"), "{screen}");
    let mut fx = Vec::new();
    for k in [key('x'), key('c'), key('q'), code(KeyCode::Enter)] {
        fx.extend(app.on_key(k));
    }
    assert!(fx.is_empty(), "{fx:?}");
    assert!(matches!(app.dialog(), Some(Dialog::Question(_))));
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog().is_none());
}

#[test]
fn a_veto_typed_in_a_review_decided_elsewhere_keeps_its_text_and_sends_nothing() {
    let mut app = busy_app();
    app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(review()), waiting: true });
    app.on_key(key('v'));
    type_text(&mut app, "no test");
    app.on_reply(Reply::Journal(JournalView { decided: vec![(3, Verdict::Approved)], ..JournalView::default() }));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("session 3 was approved elsewhere"), "{screen}");
    let mut fx = Vec::new();
    for k in [key('s'), key('p'), key('n'), code(KeyCode::Enter)] {
        fx.extend(app.on_key(k));
    }
    assert!(fx.is_empty(), "{fx:?}");
    assert!(draw(&mut app, 120, 40).to_string().contains("no testspn"));
    app.on_key(code(KeyCode::Esc));
    assert!(app.dialog().is_none());
    assert_eq!(app.messages.last().unwrap().text, "your veto reason, not sent: no testspn");
}

#[test]
fn p_again_takes_a_queued_pause_back() {
    let mut app = busy_app();
    assert_eq!(app.on_key(key('p')), vec![Effect::Harness(Command::Pause)]);
    assert!(status_line(&mut app, 120, 40).contains("pause queued"));
    assert_eq!(app.on_key(key('p')), vec![Effect::Harness(Command::Resume)]);
    let line = status_line(&mut app, 120, 40);
    assert!(!line.contains("pause queued") && line.contains("the pause is taken back"), "{line}");
}

#[test]
fn ctrl_c_quits_from_every_dialog_and_asks_first_where_text_would_be_lost() {
    let mut app = busy_app();
    app.status.running = false;
    for open in ['?', '$', 'm'] {
        app.on_key(key(open));
        assert_eq!(app.on_key(ctrl('c')), vec![Effect::Quit], "C-c in the dialog {open}");
        app.dialogs.clear();
    }
    app.on_reply(Reply::Diff { title: "d".into(), text: "x".into() });
    assert_eq!(app.on_key(ctrl('c')), vec![Effect::Quit], "C-c in a diff");
    app.dialogs.clear();
    app.on_reply(Reply::Sessions(Vec::new()));
    assert_eq!(app.on_key(ctrl('c')), vec![Effect::Quit], "C-c in the session list");
    app.dialogs.clear();
    // In the editor it asks first; a second C-c quits.
    app.on_key(code(KeyCode::BackTab));
    app.on_key(key('e'));
    assert_eq!(app.on_key(ctrl('c')), vec![]);
    assert!(draw(&mut app, 120, 40).to_string().contains("What you are typing here is lost"));
    assert_eq!(app.on_key(ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn a_search_paints_its_matches_only_and_says_which_of_how_many() {
    let mut app = busy_app();
    app.on_key(key('/'));
    type_text(&mut app, "notes");
    app.on_key(code(KeyCode::Enter));
    let backend = draw(&mut app, 120, 40);
    let screen = backend.to_string();
    assert!(screen.contains("\"notes\" 1 of 2"), "{screen}");
    app.on_key(key('n'));
    assert!(draw(&mut app, 120, 40).to_string().contains("\"notes\" 2 of 2"));
    // Painted: the word, not the line it is on (the first match selected, the second looked at).
    app.on_key(key('N'));
    let buf = draw(&mut app, 120, 40);
    let buf = buf.buffer();
    let hit = |x: u16, y: u16| {
        buf[(x, y)].modifier.contains(ratatui::style::Modifier::REVERSED)
            || buf[(x, y)].bg != ratatui::style::Color::Reset
    };
    let (y, line) = (0..buf.area.height)
        .map(|y| (y, (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect::<String>()))
        .find(|(_, l)| l.contains("Getting my bearings: the notes"))
        .unwrap();
    let col = line.find("notes").map(|b| line[..b].chars().count()).unwrap() as u16;
    let start = line.find("Getting").map(|b| line[..b].chars().count()).unwrap() as u16;
    assert!(hit(col, y) && hit(col + 4, y), "the match is painted");
    assert!(!hit(start, y), "the rest of the line is not");
}

#[test]
fn zoom_says_so_on_the_pane_and_a_folded_command_shows_its_first_line_and_how_many_follow() {
    let mut app = busy_app();
    app.on_harness(HarnessEvent::Agent {
        number: 3,
        event: AgentEvent::ToolCall {
            id: "m".into(),
            name: "bash".into(),
            input: serde_json::json!({"command": "cat claude-progress.txt\necho '--- log'\ngit log --oneline | head -5"}),
        },
    });
    app.on_key(key('z'));
    let screen = draw(&mut app, 120, 40).to_string();
    assert!(screen.contains("zoomed · z shows all four"), "{screen}");
    assert!(
        screen.contains("▸ bash cat claude-progress.txt (+2 lines)")
            || screen.contains("… bash cat claude-progress.txt (+2 lines)"),
        "{screen}"
    );
    assert!(!screen.contains("claude-progress.txt echo"), "lines run together:\n{screen}");
}

#[test]
fn at_80_columns_a_notice_never_pushes_out_whose_loop_this_is() {
    let mut app = busy_app();
    app.status.attached = Some("4242".into());
    app.notice("sent to the loop in pid 4242: mark feature 3 passing");
    let line = status_line(&mut app, 80, 24);
    assert!(line.contains("attached to pid 4242"), "{line}");
}

#[test]
fn the_review_lists_what_the_policy_refused_and_says_plainly_when_nothing_verifies() {
    let mut app = busy_app();
    let mut r = review();
    r.verify = None;
    r.violations.clear();
    r.refusals = vec!["`curl -s https://example.com` refused by the policy: `curl` is not on the allowlist".into()];
    app.on_harness(HarnessEvent::ReviewNeeded { review: Box::new(r), waiting: true });
    let mut seen = String::new();
    for _ in 0..10 {
        seen.push_str(&draw(&mut app, 120, 40).to_string());
        app.on_key(key('j'));
    }
    assert!(
        seen.contains("Refused (1)") && seen.contains("⛔ `curl -s https://example.com` refused by the policy"),
        "{seen}"
    );
    assert!(seen.contains("Verify none configured ([run] verify)"), "{seen}");
    assert!(!seen.contains("Verify no verify command"), "{seen}");
}

#[test]
fn what_the_loop_queues_is_said_as_queued_and_verdicts_in_words() {
    let mut app = busy_app();
    app.on_harness(HarnessEvent::Queued { change: "mark feature 3 passing".into() });
    assert_eq!(app.status.notice.as_deref(), Some("queued: mark feature 3 passing"));
    app.on_harness(HarnessEvent::Verdict { number: 2, verdict: Verdict::AutoApproved, reason: None });
    assert_eq!(app.status.notice.as_deref(), Some("session 2 auto-approved"));
}

/// `baton features list`, text and JSON, tells a skipped feature from a failing one.
#[test]
fn features_list_says_which_features_are_skipped() {
    let features = r#"[
  {"category": "c", "description": "one", "steps": ["s"], "passes": false},
  {"category": "c", "description": "two", "steps": ["s"], "passes": false}
]
"#;
    let dir = common::checklist_project(features, &[], "");
    let sandbox = common::Sandbox::new();
    sandbox.run(dir.path(), &["features", "skip", "1"]).ok();
    let text = sandbox.run(dir.path(), &["features", "list"]).ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("1 ✗") && lines[0].ends_with("two"), "{text}");
    assert!(lines[1].starts_with("2 –") && lines[1].ends_with("one (skipped for now)"), "{text}");
    assert_eq!(lines[2], "0/2 passing, 1 skipped for now");
    let json = sandbox.run(dir.path(), &["features", "list", "--json"]).ok().json();
    assert_eq!((json[0]["skipped"].as_bool(), json[1]["skipped"].as_bool()), (Some(false), Some(true)));
}

/// A mark given and taken back while it waits for the boundary changes nothing, and makes no
/// commit (it made an empty one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_undone_while_queued_makes_no_commit() {
    use baton::project::config::{ApprovePolicy, Mode};
    let features = "[{\"category\": \"c\", \"description\": \"d\", \"steps\": [\"s\"], \"passes\": false}]\n";
    let dir = common::checklist_project(features, &[], "[evaluate]\nmode = \"off\"\n");
    let scenario = r#"
name = "one turn"
[[turns]]
id = "t"
start = "one of many agent sessions"
text = "Nothing to do."
"#;
    let model = baton::agent::scripted::ScriptedModel::start(
        baton::agent::scripted::Scenario::parse("t.toml", scenario).unwrap(),
        None,
    )
    .await
    .unwrap();
    let project = baton::project::Project::open(dir.path()).unwrap();
    let (harness, mut handles) = common::demo_harness(project, &model, ApprovePolicy::Manual, Mode::Step, |o| {
        o.max_sessions = Some(1);
    });
    let task = tokio::spawn(harness.run());
    handles.commands.send(Command::StartNext).unwrap();
    let repo = git2::Repository::open(dir.path()).unwrap();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        if let HarnessEvent::ReviewNeeded { review, waiting: true } = ev {
            handles.commands.send(Command::Mark { feature: 1, passes: true }).unwrap();
            handles.commands.send(Command::Mark { feature: 1, passes: false }).unwrap();
            handles.commands.send(Command::Approve(review.number)).unwrap();
        }
    }
    task.await.unwrap().unwrap();
    let messages: Vec<String> = {
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        walk.map(|id| String::from_utf8_lossy(repo.find_commit(id.unwrap()).unwrap().message_bytes()).into_owned())
            .collect()
    };
    assert!(!messages.iter().any(|m| m.starts_with("Mark feature")), "{messages:?}");
    let list = baton::project::Project::open(dir.path()).unwrap().features().unwrap().unwrap();
    assert!(!list.get(1).unwrap().passes());
}

const FEATURES_ONE: &str = "[{\"category\": \"c\", \"description\": \"one\", \"steps\": [\"s\"], \"passes\": false}]\n";

/// `baton sessions show N` says what the review said: commits, flips, the guard's findings, the
/// verify command's result, questions and refusals, and the time it took.
#[test]
fn sessions_show_carries_what_the_review_showed() {
    use baton::project::journal::{Flip, Journal, Record, SessionReport, VerifyResult};
    let dir = common::checklist_project(FEATURES_ONE, &[], "");
    let mut journal = Journal::open(&dir.path().join(".baton/journal.jsonl")).unwrap();
    journal
        .append(Record::SessionStarted {
            number: 1,
            kind: SessionKind::Coding,
            backend: "anthropic".into(),
            model: "m".into(),
            base: Some("1111111111111111111111111111111111111111".into()),
            uncommitted: Vec::new(),
            target: Some(1),
        })
        .unwrap();
    journal
        .append(Record::SessionEnded(SessionReport {
            head: Some("2222222222222222222222222222222222222222".into()),
            duration_ms: 65_000,
            turns: 4,
            commits: vec!["2222222222222222222222222222222222222222".into()],
            flipped: vec![Flip { feature: 1, passes: true, description: "one".into() }],
            violations: vec!["feature 1: description changed".into()],
            verify: Some(VerifyResult {
                passed: false,
                exit_code: Some(1),
                timed_out: false,
                output: "FAIL t1\n".into(),
            }),
            ..SessionReport::new(1, Outcome::NoFeatureList)
        }))
        .unwrap();
    std::fs::create_dir_all(dir.path().join(".baton/sessions")).unwrap();
    let transcript = [
        r#"{"at":"2025-01-01T10:00:00Z","type":"tool_call","id":"t","name":"bash","input":{"command":"curl x"}}"#,
        r#"{"at":"2025-01-01T10:00:01Z","type":"policy_denied","id":"t","name":"bash","reason":"`curl` is not on the allowlist"}"#,
    ];
    std::fs::write(dir.path().join(".baton/sessions/0001.jsonl"), transcript.join("\n")).unwrap();
    let out = common::Sandbox::new().run(dir.path(), &["sessions", "show", "1"]).ok().stdout;
    for said in [
        "outcome   no feature list",
        "verdict   pending",
        "time      1m05s · 4 turns",
        "commits   1",
        "  2222222",
        "flipped   feature 1 passing: one",
        "guard     1 finding (baton repaired the list):",
        "  ✗ feature 1: description changed",
        "verify    FAILED (exit status 1); its output ended with:",
        "  │ FAIL t1",
        "refused   `curl x` refused by the policy: `curl` is not on the allowlist",
    ] {
        assert!(out.contains(said), "{said:?} is missing:\n{out}");
    }
}

/// "Allow always" writes its line where `baton init` left `allow` commented out, under its comment,
/// not above the comment block.
#[test]
fn allow_always_writes_its_line_under_the_commented_one_and_its_comment() {
    let dir = tempfile::tempdir().unwrap();
    let path = baton::project::config::project_config_path(dir.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let before = "[policy]\n# Commands an agent may run on top of the built-in allowlist.\n# allow = []\n# Refused.\n# deny = []\n";
    std::fs::write(&path, before).unwrap();
    baton::project::config::allow_in_project(dir.path(), &["factor".to_owned()]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "[policy]\n# Commands an agent may run on top of the built-in allowlist.\n# allow = []\nallow = [\"factor\"]\n# Refused.\n# deny = []\n"
    );
}
