//! The fleet's screen, the real binary in a pseudo-terminal, over real loops: states as their
//! journals say (a review waiting is at the top), a loop started and paused from the list, `Enter`
//! into a project's own screen, a verdict given there, `Esc` back; snapshots at 120×40 and 80×24.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::scripted::{Scenario, ScriptedModel};
use common::Sandbox;
use common::fleet::{SCENARIO, project_in};
use common::pty::Screen;

/// What changes from run to run (clocks, pids, ages, costs, the temp folder) made plain. Inside a
/// box each takes as many columns as it took, so the box stays as drawn.
fn steady(text: &str, root: &Path) -> String {
    let mut text = text.replace(&root.display().to_string(), "/FLEET");
    let rules: [(&str, &str); 6] = [
        (r"\d+:\d\d:\d\d|\d\d:\d\d", "--:--"),
        (r"pid \d+ *[│┃]", "pid N"),
        (r"pid \d+", "pid N"),
        (r"\$\d+\.\d\d", "$-.--"),
        (r"just now *[│┃]?", "T ago"),
        (r" *\b(\d+[smhd]|now)\b( ago)? *[│┃]?", " T"),
    ];
    for (pattern, with) in rules {
        let keep_width = |c: &regex::Captures| {
            let took = &c[0];
            // A box's right side stays where it was.
            let side = took.chars().last().filter(|c| matches!(c, '│' | '┃'));
            let width = took.chars().count() - usize::from(side.is_some());
            // Padded where it stood among spaces (in a column, before a box's side); as it is in
            // a sentence.
            let spaced = side.is_some() || took.starts_with(' ') || took.ends_with(' ');
            let pad = if spaced { width.saturating_sub(with.chars().count()) } else { 0 };
            format!("{with}{}{}", " ".repeat(pad), side.map(String::from).unwrap_or_default())
        };
        text = regex::Regex::new(pattern).unwrap().replace_all(&text, keep_width).into_owned();
    }
    text
}

fn row<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines().find(|l| l.trim_start_matches(['┃', '!', ' ']).starts_with(&format!("{name} "))).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_screen_puts_a_review_first_opens_it_and_starts_and_pauses_loops() {
    let sandbox = Sandbox::new();
    let home = sandbox.home.path();
    let parent = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(parent.path()).unwrap();
    let (alpha, beta, gamma) = (root.join("alpha"), root.join("beta"), root.join("gamma"));
    project_in(&alpha, 3, "approve = \"manual\"");
    project_in(&beta, 2, "");
    project_in(&gamma, 3, "");
    let _end = common::fleet::LoopsEnd(vec![alpha.clone(), beta.clone(), gamma.clone()]);
    // Sessions of about three seconds: long enough to pause one from the list while it runs.
    let slow = SCENARIO.replace("delay_ms = 30", "delay_ms = 80");
    let model = ScriptedModel::start(Scenario::parse("fleet.toml", &slow).unwrap(), None).await.unwrap();
    let url = model.url();
    let env = [("ANTHROPIC_BASE_URL", Some(url.as_str())), ("ANTHROPIC_API_KEY", Some("test-key"))];
    // beta's loop ran to done before.
    let mut run = sandbox.baton(&beta);
    run.args(["run", "--headless"]).env("ANTHROPIC_BASE_URL", &url).env("ANTHROPIC_API_KEY", "k");
    let ran = tokio::task::spawn_blocking(move || run.output().unwrap()).await.unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stdout));
    let dirs: Vec<String> = [&alpha, &beta, &gamma].iter().map(|d| d.display().to_string()).collect();
    sandbox.run(home, &["fleet", "add", &dirs[0], &dirs[1], &dirs[2]]).ok();

    let mut screen = Screen::start(home, &root, &["fleet"], (120, 40), &env);
    let read = |t: &str| t.contains("3 projects") && !t.contains("reading…");
    let shown = screen.wait_until(read, "every row read", Duration::from_secs(20));
    assert!(row(&shown, "beta").contains("done"), "{shown}");
    // The top row is alpha (idle): s starts its loop, and its first review comes to the top.
    screen.send("s");
    screen.wait_for("alpha: loop started", Duration::from_secs(10));
    let shown = screen.wait_until(|t| row(t, "alpha").contains("review"), "alpha's review", Duration::from_secs(60));
    assert!(shown.lines().nth(1).unwrap().starts_with("┃! alpha review"), "a review waiting is at the top:\n{shown}");
    assert!(shown.contains("1 waits for you"), "{shown}");
    // gamma: started from the list, paused while its session runs.
    screen.send("j");
    screen.send("s");
    screen.wait_until(|t| row(t, "gamma").contains("running"), "gamma running", Duration::from_secs(30));
    screen.send("p");
    screen.wait_for("gamma: asked its loop", Duration::from_secs(10));
    // Paused, and its process gone (it lets go of the lock a moment after it says it stopped).
    let paused = |t: &str| row(t, "gamma").contains("paused") && t.contains("paused · no loop runs");
    let shown = screen.wait_until(paused, "gamma paused", Duration::from_secs(60));
    assert!(row(&shown, "gamma").contains("1/3"), "paused after the session it was in:\n{shown}");
    insta::assert_snapshot!("fleet_120x40", steady(&shown, &root));

    // Tab: the next project that waits for you. Enter: its own screen, attached to its loop.
    screen.send("\t");
    screen.send("\r");
    screen.wait_for("Review · session 1", Duration::from_secs(20));
    screen.send("y");
    // The verdict is the journal's to say.
    let approved = || {
        common::fleet::records(&alpha)
            .iter()
            .any(|r| matches!(r, baton::project::journal::Record::Verdict { number: 1, .. }))
    };
    let asked = std::time::Instant::now();
    while !approved() {
        assert!(asked.elapsed() < Duration::from_secs(20), "y was not taken:\n{}", screen.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    screen.send("\x1b");
    let back = screen.wait_for("back from alpha", Duration::from_secs(20));
    assert!(back.contains("baton fleet · 3 projects"), "{back}");
    assert_eq!(
        common::fleet::records(&alpha)
            .iter()
            .filter(|r| matches!(r, baton::project::journal::Record::Verdict { number: 1, .. }))
            .count(),
        1
    );

    // The same fleet at 80×24, once alpha's second session waits for its verdict.
    let mut small = Screen::start(home, &root, &["fleet"], (80, 24), &env);
    let shown = small.wait_until(
        |t| t.contains("session 2 waits for a verdict") && row(t, "beta").contains("done"),
        "alpha's second review",
        Duration::from_secs(60),
    );
    insta::assert_snapshot!("fleet_80x24", steady(&shown, &root));
    small.send("q");
    assert!(small.wait_exit(Duration::from_secs(10)));
    assert!(small.restored());

    // x stops alpha's loop (it asks first); its row says so, and the fleet's screen quits.
    screen.send("x");
    screen.wait_for("Stop alpha's loop?", Duration::from_secs(5));
    screen.send("y");
    screen.wait_for("alpha: stopping its loop", Duration::from_secs(5));
    screen.wait_until(|t| t.contains("no loop runs"), "alpha's loop gone", Duration::from_secs(30));
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(10)));
    assert!(screen.restored());
    let list = sandbox.run(home, &["fleet", "list", "--json"]).ok().json();
    assert!(list.as_array().unwrap().iter().all(|p| p["loop_pid"].is_null()), "{list}");
}

#[test]
fn the_fleet_demo_runs_three_demo_projects_under_a_cap_of_two_with_no_key_and_no_network() {
    let sandbox = Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("fleet");
    // No browser here, so a second greeter stands in for the web demo; no key at all.
    let env = [("BATON_PLAYWRIGHT_MCP", None), ("ANTHROPIC_BASE_URL", None), ("CLAUDE_CODE_OAUTH_TOKEN", None)];
    let args = ["demo", "--fleet", dir.to_str().unwrap(), "--pace", "fast"];
    let mut screen = Screen::start(sandbox.home.path(), parent.path(), &args, (120, 40), &env);
    let shown = screen.wait_for("3 wait for you", Duration::from_secs(120));
    assert!(shown.contains("baton fleet · 3 projects"), "{shown}");
    for name in ["tally", "greet", "hello"] {
        assert!(row(&shown, name).contains("review"), "{name}'s first session waits for its review:\n{shown}");
    }
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(30)));
    assert!(screen.restored());
    // The journals: never more than two sessions at once, and the third loop waited its turn.
    let all: Vec<_> = ["tally", "greet", "hello"].iter().flat_map(|n| common::fleet::intervals(&dir.join(n))).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(common::fleet::most_at_once(&all), 2, "{all:?}");
    let waited = ["tally", "greet", "hello"].iter().filter(|n| {
        common::fleet::records(&dir.join(n))
            .iter()
            .any(|r| matches!(r, baton::project::journal::Record::SlotWait { max: 2, .. }))
    });
    assert_eq!(waited.count(), 1);
    // Its fleet is its own: the user's list is untouched, and no loop outlived the screen.
    assert!(!sandbox.home.path().join(".config/baton/fleet.toml").exists());
    for n in ["tally", "greet", "hello"] {
        let status = sandbox.run(&dir.join(n), &["status", "--json"]).ok().json();
        assert!(status["loop_pid"].is_null(), "{status}");
    }
}
