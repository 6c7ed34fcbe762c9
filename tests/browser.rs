//! Browser testing through MCP, with real parts: the Playwright MCP server from the npm registry
//! driving Debian's Chromium, against a page the session serves on its own loopback. The scripted
//! model navigates, reads the page, clicks and takes a screenshot; the tests check what the page
//! showed, not just that calls happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::Limits;
use baton::project::config::Config;

const PAGE: &str = "<html><body><h1 id=t>Count: 0</h1>\
<button onclick=\"document.getElementById('t').textContent='Count: 1'\">Add</button></body></html>\n";

/// A project with the page and a Playwright server configured as `baton init --browser` does.
fn project(extra: &str) -> tempfile::TempDir {
    let dir = common::temp_repo();
    std::fs::write(dir.path().join("index.html"), PAGE).unwrap();
    std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
    let config = format!(
        "[[mcp.servers]]\nname = \"playwright\"\ncommand = {:?}\nargs = [\"--headless\", \"--isolated\", \"--no-sandbox\", \"--executable-path\", {:?}, \"--output-dir\", \"${{TMPDIR}}/playwright\"]\n{extra}",
        common::playwright_mcp().display().to_string(),
        common::chromium().display().to_string(),
    );
    std::fs::write(dir.path().join(".baton/config.toml"), config).unwrap();
    dir
}

/// Serve, look, click, look again, take a picture.
const SCENARIO: &str = r#"
name = "browser"
[[turns]]
id = "serve"
start = "Test the page"
tools = [{ name = "bash", input = { command = "(python3 -m http.server 8140 --bind 127.0.0.1 > server.log 2>&1 &) && for i in $(seq 100); do python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8140/')\" 2>/dev/null && break; sleep 0.1; done && echo serving" } }]
[[turns]]
id = "open"
tools = [{ name = "mcp__playwright__browser_navigate", input = { url = "http://127.0.0.1:8140/" } }]
[[turns]]
id = "look"
tools = [{ name = "mcp__playwright__browser_snapshot", input = {} }]
[[turns]]
id = "click"
tools = [{ name = "mcp__playwright__browser_click", input = { element = "Add button", target = "e3" } }]
[[turns]]
id = "look-again"
tools = [{ name = "mcp__playwright__browser_snapshot", input = {} }]
[[turns]]
id = "picture"
tools = [{ name = "mcp__playwright__browser_take_screenshot", input = {} }]
[[turns]]
id = "done"
text = "The counter works in the browser."
"#;

async fn run(dir: &Path, scenario: &str, artifacts: &Path) -> common::AgentRun {
    let config = Config::load(dir).unwrap();
    let limits = Limits { max_turns: 12, wall_time: Duration::from_secs(120) };
    common::session_of(common::agent(&config), dir, "Test the page.", scenario, limits, |r| {
        r.artifacts = Some(artifacts.to_owned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_s_agent_tests_a_page_in_a_real_browser() {
    let dir = project("[policy]\nmcp_deny = [\"mcp__playwright__browser_run_code_unsafe\"]\n");
    let artifacts = dir.path().join(".baton/sessions/0001");
    let ran = run(dir.path(), SCENARIO, &artifacts).await;
    assert_eq!(ran.end.reason, baton::agent::EndReason::Completed, "{:#?}", ran.events);
    let results = common::tool_results(&ran.events);
    assert_eq!(results.len(), 6, "{results:#?}");
    assert!(results.iter().all(|(_, is_error)| !is_error), "{results:#?}");
    // What the page showed, before and after the click.
    assert!(results[2].0.contains("Count: 0") && results[2].0.contains("button \"Add\""), "{}", results[2].0);
    assert!(results[4].0.contains("Count: 1"), "the click changed the page: {}", results[4].0);
    // The screenshot: saved with the session, named in the transcript, shown to the model.
    let saved = results[5].0.lines().find_map(|l| l.strip_prefix("[image saved: ")).expect("a saved image");
    let path = Path::new(saved.trim_end_matches(']'));
    assert!(path.starts_with(&artifacts), "{path:?}");
    assert_eq!(&std::fs::read(path).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let last = ran.requests.last().unwrap()["messages"].as_array().unwrap().last().unwrap().clone();
    let image = &last["content"][0]["content"][1];
    assert_eq!(image["type"], "image", "{last}");
    assert_eq!(image["source"]["media_type"], "image/png");
    // The tools were offered under their server's name, with the built-in ones.
    let offered: Vec<&str> =
        ran.requests[0]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(offered.contains(&"bash") && offered.contains(&"mcp__playwright__browser_click"), "{offered:?}");
    assert!(!offered.contains(&"mcp__playwright__browser_run_code_unsafe"), "a refused tool is not offered");
    assert!(!ran.requests[0]["tools"].to_string().contains("\"$schema\""), "no schema boilerplate each turn");
    // Nothing of the session is left: not the server, not the browser, not the page's server.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(common::marked_processes(&ran.session), Vec::<String>::new());
    assert!(!dir.path().join(".playwright-mcp").exists(), "the browser's files stayed out of the project");
}

/// The same test through the real `claude` CLI: the servers go to it as `--mcp-config`, started
/// the same way (in the session's sandbox, on its loopback), and the hook decides each call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claude_cli_tests_a_page_in_a_real_browser() {
    let dir = project("[policy]\nmcp_deny = [\"mcp__playwright__browser_run_code_unsafe\"]\n");
    let artifacts = dir.path().join(".baton/sessions/0001");
    let scenario = SCENARIO.replace(
        "id = \"done\"",
        "id = \"denied\"\ntools = [{ name = \"mcp__playwright__browser_run_code_unsafe\", input = { code = \"1\" } }]\n[[turns]]\nid = \"done\"",
    );
    let home = tempfile::tempdir().unwrap();
    let config = Config::load(dir.path()).unwrap();
    let limits = Limits { max_turns: 12, wall_time: Duration::from_secs(180) };
    let ran = common::session_of(
        common::claude(&config, home.path()),
        dir.path(),
        "Test the page.",
        &scenario,
        limits,
        |r| r.artifacts = Some(artifacts.clone()),
    )
    .await;
    let (end, events, session) = (ran.end, ran.events, ran.session);
    assert_eq!(end.reason, baton::agent::EndReason::Completed, "{events:#?}");
    let results = common::tool_results(&events);
    assert_eq!(results.len(), 7, "{results:#?}");
    assert!(results[2].0.contains("Count: 0"), "{}", results[2].0);
    assert!(results[4].0.contains("Count: 1"), "the click changed the page: {}", results[4].0);
    let saved = results[5].0.lines().find_map(|l| l.strip_prefix("[image saved: ")).expect("a saved image");
    assert_eq!(&std::fs::read(saved.trim_end_matches(']')).unwrap()[..4], b"\x89PNG");
    // The tool [policy] mcp_deny names is refused by the hook, and says why.
    assert!(results[6].1 && results[6].0.contains("mcp_deny"), "{:?}", results[6]);
    // The server and its browser end with the CLI; the page server the agent left running is the
    // loop's to end, as after every session.
    std::thread::sleep(Duration::from_millis(500));
    let left = common::marked_processes(&session);
    assert!(left.iter().all(|p| p.contains("http.server 8140")), "{left:?}");
    baton::sandbox::end_session(&session);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(common::marked_processes(&session), Vec::<String>::new());
}

/// `baton demo --web`: the scripted agent builds a one-page counter served on loopback by its
/// init.sh and tests each feature in the real browser: the transcript shows the navigation, the
/// clicks and the screenshots, and the app it leaves works. The evaluator re-tests each claim in
/// the browser too, on a copy of the page (the project is read-only to it): every review shows its
/// verdict, and none is an error.
#[test]
fn the_web_demo_builds_a_page_and_tests_it_in_the_browser() {
    let sandbox = common::Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let server = common::playwright_mcp();
    let chromium = common::chromium();
    let out = sandbox
        .baton(parent.path())
        .args(["demo", "counter", "--web", "--headless", "--pace", "fast"])
        .env("BATON_PLAYWRIGHT_MCP", &server)
        .env("BATON_CHROMIUM", &chromium)
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .unwrap();
    let run = common::Run::from(out).ok();
    assert!(run.stdout.contains("run ended: done: every feature passes; 3/3 features passing"), "{}", run.stdout);
    // Four navigations of the coding sessions, four of the evaluators'.
    assert_eq!(run.stdout.matches("▸ mcp__playwright__browser_navigate: http://127.0.0.1:8150/").count(), 8);
    for (session, evaluator, feature) in [(2, 3, 1), (4, 5, 2), (6, 7, 3)] {
        let said = format!("evaluation of session {session} (session {evaluator}): 1 pass");
        assert!(run.stdout.contains(&said), "{said}: {}", run.stdout);
        assert!(run.stdout.contains(&format!("  ✓ feature {feature} pass: ")), "{}", run.stdout);
        assert!(run.stdout.contains(&format!("review session {session}: ")), "{}", run.stdout);
    }
    assert_eq!(run.stdout.matches("  evaluator: 1 pass").count(), 3, "{}", run.stdout);
    assert!(!run.stdout.contains("no verdict") && !run.stdout.contains("error"), "{}", run.stdout);
    assert!(run.stdout.contains("▸ mcp__playwright__browser_click: the Reset button"), "{}", run.stdout);
    let dir = parent.path().join("counter");
    let shots: Vec<&str> = run.stdout.lines().filter_map(|l| l.trim().strip_prefix("image ")).collect();
    assert_eq!(shots.len(), 3, "one screenshot a feature: {}", run.stdout);
    for shot in shots {
        assert!(Path::new(shot).starts_with(dir.join(".baton/sessions")), "{shot}");
        assert_eq!(&std::fs::read(shot).unwrap()[..4], b"\x89PNG");
    }
    // The transcript on disk keeps the page as the browser read it after the click.
    let transcript = std::fs::read_to_string(dir.join(".baton/sessions/0002.jsonl")).unwrap();
    assert!(transcript.contains("Count: 1"), "the snapshot after the click");
    // The page the demo left is what the features say.
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.contains("id=\"reset\"") && page.contains("/api/count"), "{page}");
}

/// The web demo through the real `claude` CLI, on a machine whose git identity is global: the CLI
/// runs with a home of its own, so the demo's repository carries the identity itself, and the
/// scripted agent reads a file before it rewrites it, as the CLI requires.
#[test]
fn the_web_demo_runs_through_the_claude_cli_too() {
    let sandbox = common::Sandbox::new();
    std::fs::write(sandbox.home.path().join(".gitconfig"), "[user]\n\tname = Ada Global\n\temail = ada@example.com\n")
        .unwrap();
    let parent = tempfile::tempdir().unwrap();
    let out = sandbox
        .baton(parent.path())
        .args(["demo", "counter", "--web", "--headless", "--pace", "fast", "--backend", "claude-code"])
        .arg("--claude-bin")
        .arg(common::claude_bin())
        .env("BATON_PLAYWRIGHT_MCP", common::playwright_mcp())
        .env("BATON_CHROMIUM", common::chromium())
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .unwrap();
    let run = common::Run::from(out).ok();
    assert!(run.stdout.contains("run ended: done: every feature passes; 3/3 features passing"), "{}", run.stdout);
    assert!(!run.stdout.contains("File has not been read yet"), "{}", run.stdout);
    // The evaluator's turns play through the CLI too: every review shows a verdict.
    assert_eq!(run.stdout.matches("  evaluator: 1 pass").count(), 3, "{}", run.stdout);
    assert_eq!(run.stdout.lines().filter(|l| l.trim().starts_with("image ")).count(), 3, "{}", run.stdout);
    let repo = git2::Repository::open(parent.path().join("counter")).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(head.author().email().ok(), Some("ada@example.com"), "the machine's identity, kept in the repository");
}
