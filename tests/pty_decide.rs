//! The real binary in pseudo-terminals where the operator decides: a question shown whole, however
//! long its command (the allow keys work once all of it has been on screen), to a screen that
//! attaches while it waits; a veto being typed that survives an approval from another process; a
//! screen that watches (no API key) following the next loop another baton starts. Insta snapshots
//! of the dialogs at 80×24 and 120×40.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use baton::project::journal::{self, Record};
use baton::project::session::Verdict;
use common::lab::{Lab, lab, lab_on};
use common::pty::Screen;

/// The rows of the dialog on top (its box), with what differs from run to run (temp paths, commit
/// ids) made the same.
fn dialog(text: &str) -> String {
    let rows: Vec<&str> = text.lines().collect();
    let top = rows.iter().position(|r| r.contains('╔')).expect("a dialog is open");
    let bottom = rows.iter().rposition(|r| r.contains('╚')).expect("the dialog's bottom");
    let boxed: Vec<String> = rows[top..=bottom]
        .iter()
        .map(|r| {
            let chars: Vec<char> = r.chars().collect();
            let from = chars.iter().position(|c| "╔║╚".contains(*c)).unwrap_or(0);
            let to = chars.iter().rposition(|c| "╗║╝".contains(*c)).unwrap_or(chars.len() - 1);
            chars[from..=to].iter().collect()
        })
        .collect();
    let tmp = regex::Regex::new(r"/tmp/\.tmp[A-Za-z0-9]{6}").unwrap();
    tmp.replace_all(&boxed.join("\n"), "/tmp/.tmpXXXXXX").into_owned()
}

/// The rows of the dialog from the one holding `from` down to its bottom.
fn dialog_from(text: &str, from: &str) -> String {
    let all = dialog(text);
    let rows: Vec<&str> = all.lines().collect();
    let at = rows.iter().position(|r| r.contains(from)).unwrap_or_else(|| panic!("{from:?} is not in:\n{all}"));
    rows[at..].join("\n")
}

const FEATURES: &str =
    "[{\"category\": \"c\", \"description\": \"clean the cache\", \"steps\": [\"s\"], \"passes\": false}]\n";

/// A command of 26 lines: 25 of comment, then the one that runs `factor`, off the allowlist.
fn long_command() -> String {
    let mut lines: Vec<String> = (1..=25)
        .map(|i| format!("# {i:02}: the cache holds objects from the last build; compare it with the sources before"))
        .collect();
    lines.push("factor 84 && rm -rf build/cache && echo done".into());
    lines.join("\n")
}

fn long_question_scenario() -> String {
    format!(
        r#"
name = "a long question"
[[turns]]
id = "ask"
start = "one of many agent sessions"
text = "Clearing the build cache; the primes of 84 first."
tools = [{{ name = "bash", input = {{ command = '''{}''' }} }}]
[[turns]]
id = "done"
text = "Done."
"#,
        long_command()
    )
}

fn answered(lab: &Lab) -> Vec<journal::Answer> {
    lab.entries()
        .into_iter()
        .filter_map(|e| match e.record {
            Record::Answered { answer, .. } => Some(answer),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_waiting_when_a_screen_attaches_shows_whole_and_is_allowed_once_read() {
    let dir = common::checklist_project(FEATURES, &[], "[evaluate]\nmode = \"off\"\n");
    let (lab, _model) = lab_on(dir, &long_question_scenario()).await;
    let headless = lab.headless_loop_with(&["--ask", "--approve", "auto", "--sessions", "1"]);
    headless.wait_for("? question 1 (session 1 waits)", Duration::from_secs(30));
    // `baton status` lists it, with its command and what answers it.
    let status = lab.home.run(lab.dir.path(), &["status"]).ok().stdout;
    assert!(status.contains("question  1: session 1 waits"), "{status}");
    assert!(status.contains("$ # 01: the cache") && status.contains("factor 84 && rm -rf build/cache"), "{status}");
    assert!(status.contains("answer with: baton answer 1 allow|always|deny [--message TEXT]"), "{status}");
    let json = lab.home.run(lab.dir.path(), &["status", "--json"]).ok().json();
    assert_eq!(json["questions_waiting"][0]["command"], long_command().as_str(), "{json}");
    // A mark asked of a loop in a session says when it is made.
    let out = lab.home.run(lab.dir.path(), &["features", "mark", "1", "--passes", "true"]).ok().stdout;
    assert!(out.contains("will mark feature 1 passing when session 1 ends"), "{out}");

    // Screens attached now, while the question waits, show it at once.
    let small = lab.attached_at((80, 24), &[]);
    let big = lab.attached_at((120, 40), &[]);
    for (screen, size) in [(&small, "80x24"), (&big, "120x40")] {
        let shown = screen.wait_for("Question 1 · session 1 asks", Duration::from_secs(1));
        assert!(shown.contains("# 01: the cache holds objects"), "the command's first line:\n{shown}");
        assert!(!shown.contains("factor 84"), "the 26th line is below:\n{shown}");
        assert!(shown.contains("more lines below"), "the cut is said:\n{shown}");
        insta::assert_snapshot!(format!("question_waiting_{size}"), dialog(&shown));
    }

    // Nothing is allowed unread: `a` says what is left, and nothing is answered.
    small.send("a");
    small.wait_for("not read yet", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(400));
    assert!(answered(&lab).is_empty(), "allowed unread");

    // Scrolled to the end, the last line and its mark are there, each line of the command as written.
    for (screen, size) in [(&small, "80x24"), (&big, "120x40")] {
        screen.send("G");
        let end = screen.wait_for("factor 84 && rm -rf build/cache && echo done", Duration::from_secs(5));
        let line = end.lines().find(|l| l.contains("factor 84 &&")).unwrap();
        assert!(line.contains("▶"), "the line that runs factor is marked:\n{end}");
        assert!(!end.contains("beforefactor") && !end.contains("before factor"), "no line is run into another:\n{end}");
        let (bold, _) = screen.style_of("factor 84").expect("factor is drawn");
        assert!(bold, "factor is drawn in the warning style");
        insta::assert_snapshot!(format!("question_read_{size}"), dialog(&end));
    }

    // Read to the end, `a` allows it: the command runs, and the other screen's dialog closes.
    big.send("a");
    lab.wait_journal("the answer", |e| e.iter().any(|e| matches!(e.record, Record::Answered { .. })));
    assert_eq!(answered(&lab), [journal::Answer::Once]);
    headless.wait_for("question 1: allowed once", Duration::from_secs(10));
    small.wait_until(|t| !t.contains("Question 1 · session 1"), "the question closed", Duration::from_secs(10));
    let transcript = std::fs::read_to_string(lab.dir.path().join(".baton/sessions/0001.jsonl")).unwrap();
    assert!(transcript.contains("84: 2 2 3 7"), "the allowed command ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_veto_being_typed_survives_an_approval_from_another_process_and_takes_no_keys() {
    let (lab, _model) = lab().await;
    let _headless = lab.headless_loop();
    let small = lab.attached_at((80, 24), &[]);
    let big = lab.attached_at((120, 40), &[]);
    for screen in [&small, &big] {
        screen.wait_for("Review · session 1 (initializer)", Duration::from_secs(60));
        screen.send("v");
        screen.wait_for("Why veto?", Duration::from_secs(10));
        screen.send("half a reason");
    }
    // Approved from another terminal while both are typing.
    let out = lab.home.run(lab.dir.path(), &["review", "approve"]).ok();
    assert!(out.stdout.contains("session 1 approved"), "{}", out.stdout);
    for (screen, size) in [(&small, "80x24"), (&big, "120x40")] {
        let kept = screen.wait_for("veto was not sent", Duration::from_secs(10));
        assert!(kept.contains("half a reason"), "the text is kept:\n{kept}");
        insta::assert_snapshot!(format!("veto_kept_{size}"), dialog_from(&kept, "Why veto?"));
    }
    // What is typed next goes into the text, not to the screen: no sessions list, no mode switch,
    // no pause, no interrupt, nothing sent; Enter sends nothing either.
    big.send("scpx");
    big.send("y");
    big.send("\r");
    let after = big.wait_for("half a reasonscpxy", Duration::from_secs(5));
    assert!(!after.contains("Sessions ·") && !after.contains("Interrupt the running session"), "{after}");
    std::thread::sleep(Duration::from_millis(500));
    let entries = lab.entries();
    let sent = entries.iter().filter(|e| matches!(e.record, Record::Requested { .. })).count();
    assert_eq!(sent, 0, "a screen sent something: {entries:?}");
    let verdicts: Vec<Verdict> = entries
        .iter()
        .filter_map(|e| match e.record {
            Record::Verdict { verdict, .. } => Some(verdict),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, [Verdict::Approved]);
    assert!(big.text().contains("Why veto?"), "only Esc closes it");
    // Esc closes it; the message log keeps what was typed.
    big.send("\x1b");
    big.wait_until(|t| !t.contains("Why veto?"), "the dialog closed", Duration::from_secs(5));
    big.send("m");
    big.wait_for("your veto reason, not sent: half a reasonscpxy", Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_that_watches_follows_the_next_loop_another_baton_starts() {
    let (lab, _model) = lab().await;
    let mut first = lab.headless_loop_with(&["--approve", "auto", "--sessions", "1"]);
    // No key for Anthropic's own API (and no other server): this screen can only watch.
    let watching = lab.attached_at((120, 40), &[("ANTHROPIC_API_KEY", None), ("ANTHROPIC_BASE_URL", None)]);
    let first_pid = first.pid().to_string();
    watching.wait_for(&format!("attached to pid {first_pid}"), Duration::from_secs(5));
    assert!(first.wait_exit(Duration::from_secs(60)), "the first loop ran its one session");
    watching.wait_for("watching: no session starts here", Duration::from_secs(10));

    // Another baton starts a loop: the screen follows it, live.
    let second = lab.headless_loop_with(&["--approve", "auto", "--sessions", "1"]);
    let pid = second.pid().to_string();
    let live = watching.wait_for(&format!("attached to pid {pid}"), Duration::from_secs(10));
    assert!(!live.contains("watching: no session starts here"), "{live}");
    watching.wait_for("── session 2 (coding)", Duration::from_secs(30));
    watching.wait_for("New session, fresh memory", Duration::from_secs(30));
}

/// `baton run` without `--headless` is the screen, with the run's settings; `--json` goes with
/// `--headless` only.
#[test]
fn baton_run_opens_the_screen() {
    let sandbox = common::Sandbox::new();
    let dir = common::checklist_project(FEATURES, &[], "");
    let mut screen = Screen::start(sandbox.home.path(), dir.path(), &["run"], (80, 24), &[("ANTHROPIC_API_KEY", None)]);
    let shown = screen.wait_for("Features 0/1", Duration::from_secs(10));
    assert!(shown.contains("Transcript"), "{shown}");
    screen.wait_for("ANTHROPIC_API_KEY", Duration::from_secs(5));
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(10)), "q exits 0");
    assert!(screen.restored());
    let out = sandbox.run(dir.path(), &["run", "--json"]).failed();
    assert!(out.stderr.contains("--json goes with --headless"), "{}", out.stderr);
}

/// SIGTERM and SIGHUP end the screen as a quit does, with the conventional statuses.
#[test]
fn sigterm_and_sighup_exit_143_and_129() {
    let sandbox = common::Sandbox::new();
    let dir = common::checklist_project(FEATURES, &[], "");
    for (signal, status) in [(libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let mut screen = Screen::start(sandbox.home.path(), dir.path(), &[], (80, 24), &[("ANTHROPIC_API_KEY", None)]);
        screen.wait_for("Features 0/1", Duration::from_secs(10));
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(screen.pid(), signal) };
        let started = std::time::Instant::now();
        let code = loop {
            if let Some(s) = screen.child.try_wait().unwrap() {
                break s.exit_code();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "baton did not exit on signal {signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(code, status, "signal {signal}");
        std::thread::sleep(Duration::from_millis(200));
        assert!(screen.restored(), "the terminal is restored on signal {signal}");
    }
}
