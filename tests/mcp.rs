//! MCP servers that misbehave: one crashes at start, one never answers, one answers garbage, one
//! dies in the middle of a call. Each gives the session a clear note or tool error and baton a log
//! line; the session goes on with the servers that work, and no process is left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use baton::agent::{EndReason, Limits};
use baton::project::config::Config;

/// The fake server's script, where a session sees it (not under /tmp, which its view covers, when
/// the checkout lies there).
fn fake() -> String {
    static COPY: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = COPY.get_or_init(|| {
        let dir = common::outside_tmp();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/fake_server.py");
        std::fs::copy(script, dir.path().join("fake_server.py")).unwrap();
        dir
    });
    dir.path().join("fake_server.py").display().to_string()
}

const SCENARIO: &str = r#"
name = "misbehaving servers"
[[turns]]
id = "echo"
start = "Go"
tools = [{ name = "mcp__good__echo", input = { text = "hello" } }]
[[turns]]
id = "broken"
tools = [{ name = "mcp__crash__anything", input = {} }]
[[turns]]
id = "die"
tools = [{ name = "mcp__good__die", input = {} }]
[[turns]]
id = "after"
tools = [{ name = "mcp__good__echo", input = { text = "again" } }]
[[turns]]
id = "undeclared"
tools = [{ name = "mcp__nowhere__echo", input = {} }]
[[turns]]
id = "done"
text = "Done."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_crashes_hangs_or_talks_garbage_is_left_out_and_the_session_goes_on() {
    let dir = common::temp_repo();
    std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
    let server = |name: &str, command: &str, args: &str| {
        format!("[[mcp.servers]]\nname = \"{name}\"\ncommand = \"{command}\"\nargs = [{args}]\n")
    };
    let config = [
        "[mcp]\nstartup_timeout_seconds = 2\n".to_owned(),
        server("good", "python3", &format!("{:?}", fake())),
        server("crash", "sh", "\"-c\", \"echo the server broke >&2; exit 3\""),
        server("hang", "sleep", "\"600\""),
        server("garbage", "python3", &format!("{:?}, \"garbage\"", fake())),
    ]
    .concat();
    std::fs::write(dir.path().join(".baton/config.toml"), config).unwrap();
    let config = Config::load(dir.path()).unwrap();
    let limits = Limits { max_turns: 10, wall_time: Duration::from_secs(60) };
    let ran = common::session_of(common::agent(&config), dir.path(), "Go.", SCENARIO, limits, |_| {}).await;
    let (end, events, session) = (ran.end, ran.events, ran.session);
    assert_eq!(end.reason, EndReason::Completed, "{events:#?}");
    let notices = common::notices(&events);
    let note = |name: &str| notices.iter().find(|n| n.contains(&format!("MCP server `{name}` did not start")));
    assert!(note("crash").is_some_and(|n| n.contains("the server broke")), "its stderr is told: {notices:?}");
    assert!(note("hang").is_some_and(|n| n.contains("no answer within 2 s")), "{notices:?}");
    assert!(note("garbage").is_some(), "{notices:?}");
    assert!(note("good").is_none(), "{notices:?}");
    assert!(
        notices
            .iter()
            .any(|n| n.contains("left out 1 tool whose names the API does not accept: mcp__good__dotted.name")),
        "{notices:?}"
    );

    let results = common::tool_results(&events);
    assert_eq!(results.len(), 5, "{results:#?}");
    assert_eq!(results[0], ("echo: hello".to_owned(), false));
    assert!(
        results[1].1
            && results[1].0.contains("MCP server `crash` did not start this session")
            && results[1].0.contains("the server broke"),
        "the agent hears why: {results:?}"
    );
    assert!(results[2].1 && results[2].0.contains("MCP server `good` failed"), "{results:?}");
    assert!(results[3].1 && results[3].0.contains("is not running"), "{results:?}");
    // A server nobody configured is the policy's to refuse.
    assert!(results[4].1 && results[4].0.contains("not an allowed MCP tool"), "{results:?}");
    // Only the working server's tools were offered.
    let offered: Vec<String> = ran.requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().filter(|n| n.starts_with("mcp__")).map(str::to_owned))
        .collect();
    assert_eq!(offered, ["mcp__good__echo", "mcp__good__die"]);
    std::thread::sleep(Duration::from_millis(300));
    let left = common::marked_processes(&session);
    assert!(left.is_empty(), "no server outlives the session: {left:?}");
}

/// An interrupt while a server is slow to start ends the session at once, and the server with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_does_not_wait_for_a_server_that_is_slow_to_start() {
    let dir = common::temp_repo();
    std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
    std::fs::write(
        dir.path().join(".baton/config.toml"),
        "[mcp]\nstartup_timeout_seconds = 60\n[[mcp.servers]]\nname = \"slow\"\ncommand = \"sleep\"\nargs = [\"600\"]\n",
    )
    .unwrap();
    let config = Config::load(dir.path()).unwrap();
    let limits = Limits { max_turns: 10, wall_time: Duration::from_secs(120) };
    let started = std::time::Instant::now();
    let ran = common::session_of(common::agent(&config), dir.path(), "Go.", SCENARIO, limits, |r| {
        let cancel = r.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            cancel.cancel();
        });
    })
    .await;
    let (end, session) = (ran.end, ran.session);
    assert_eq!(end.reason, EndReason::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(20), "it did not wait out the start: {:?}", started.elapsed());
    assert!(ran.requests.is_empty(), "no turn was asked for");
    std::thread::sleep(Duration::from_millis(500));
    assert!(common::marked_processes(&session).is_empty(), "{:?}", common::marked_processes(&session));
}
