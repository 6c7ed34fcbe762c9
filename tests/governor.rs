//! The governor on the real `claude` CLI, signed in as a subscriber, against the scripted model
//! serving the API's real rate-limit shapes: a plan's usage limit is waited out to its reset and
//! the run goes on by itself; server throttling is backed off from, not waited for; words about a
//! limit in a tool's output trip nothing; a limit nearly used up holds the next session back. And
//! baton's own agent paced by the `anthropic-ratelimit-*` headers without a single 429.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Harness, HarnessEvent, RunOptions, StopReason};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal::{self, Entry, Record, SessionSummary};
use baton::project::session::Outcome;

const FEATURES: &str = r#"[
  {"category": "functional", "description": "feature one", "steps": ["cat f1.txt"], "passes": false},
  {"category": "functional", "description": "feature two", "steps": ["cat f2.txt"], "passes": false}
]
"#;

/// A coding session that builds the next feature and marks it passing: `EXTRA` goes on its first
/// turn, `LAST` on its last, `TOOL_SAID` is what its command prints and `SAY` its last word.
const SESSION: &str = r#"
name = "governor"
[[turns]]
id = "build"
start = "one of many agent sessions"
text = "Building the next feature."
tools = [{ name = "bash", input = { command = "echo built >> built.txt && sed -i '0,/\"passes\": false/s//\"passes\": true/' feature_list.json && git add -A && git commit -qm Feature && echo TOOL_SAID" } }]
EXTRA

[[turns]]
id = "built"
text = "SAY"
LAST
"#;

fn scenario(extra: &str, tool_said: &str, say: &str) -> Scenario {
    // Usage headers come with every reply, as the API sends them.
    let last = if extra.starts_with("usage") { extra } else { "" };
    let text =
        SESSION.replace("EXTRA", extra).replace("LAST", last).replace("TOOL_SAID", tool_said).replace("SAY", say);
    Scenario::parse("governor.toml", &text).unwrap()
}

fn project() -> tempfile::TempDir {
    let config = "[evaluate]\nmode = \"off\"\n[run]\nlimit_margin_seconds = 1\nbackoff_seconds = 1\n";
    common::checklist_project(FEATURES, &[], config)
}

/// The real CLI signed in as a subscriber (an OAuth token, no API key): only then does it read
/// the API's usage-limit headers and say `rate_limit_event`.
fn subscriber(
    project: &Project,
    url: &str,
    home: &Path,
    env: &[(&str, &str)],
) -> std::sync::Arc<dyn baton::agent::Backend> {
    let cli = common::claude(project.config(), home)(url)
        .with_env([
            ("ANTHROPIC_API_KEY".to_owned(), String::new()),
            ("CLAUDE_CODE_OAUTH_TOKEN".to_owned(), "test-oauth-token".to_owned()),
        ])
        .with_env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    std::sync::Arc::new(cli)
}

struct Ran {
    reason: StopReason,
    events: Vec<HarnessEvent>,
    entries: Vec<Entry>,
    sessions: Vec<SessionSummary>,
}

/// Runs up to `sessions` sessions on `scenario` with the subscriber CLI (or baton's own agent),
/// continuous, approving everything.
async fn run(dir: &Path, scenario: Scenario, sessions: u32, cli: bool) -> (Ran, ScriptedModel) {
    run_with(dir, scenario, sessions, cli, &[]).await
}

/// [`run`], with `env` set for the CLI.
async fn run_with(
    dir: &Path,
    scenario: Scenario,
    sessions: u32,
    cli: bool,
    env: &[(&str, &str)],
) -> (Ran, ScriptedModel) {
    let model = ScriptedModel::start(scenario, None).await.unwrap();
    let project = Project::open(dir).unwrap();
    let home = tempfile::tempdir().unwrap();
    let backend = if cli {
        subscriber(&project, &model.url(), home.path(), env)
    } else {
        common::backend(&project, &model.url(), false, home.path())
    };
    let mut opts = RunOptions::from_config(project.config());
    opts.mode = Mode::Continuous;
    opts.approve = ApprovePolicy::Auto;
    opts.max_sessions = Some(sessions);
    let (harness, mut handles) = Harness::new(project, backend, opts).unwrap();
    let task = tokio::spawn(harness.run());
    let mut events = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(90), handles.events.recv()).await.unwrap() {
        events.push(ev);
    }
    let reason = task.await.unwrap().unwrap();
    let entries = Project::open(dir).unwrap().journal().unwrap().entries;
    let sessions = journal::sessions(&entries);
    (Ran { reason, events, entries, sessions }, model)
}

fn limit_waits(entries: &[Entry]) -> Vec<(i64, Option<String>, String)> {
    entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::LimitWait { until, kind, reason } => Some((*until, kind.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn passes(dir: &Path) -> Vec<bool> {
    Project::open(dir).unwrap().features().unwrap().unwrap().features().iter().map(|f| f.passes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_limit_is_waited_out_to_its_reset_and_the_run_goes_on_by_itself() {
    let dir = project();
    // The first request is refused for the five-hour limit, which resets 3 s later.
    let faults = r#"faults = [{ kind = "usage_limit", reset_in = 3, limit = "five_hour" }]"#;
    let started = Instant::now();
    let (ran, _model) = run(dir.path(), scenario(faults, "committed", "Done."), 2, true).await;

    // Session 1 ends rate_limited, with the limit and its reset as the CLI's event said.
    let first = &ran.sessions[0];
    assert_eq!(first.outcome(), Some(Outcome::RateLimited), "{first:?}");
    let limit = first.end.as_ref().unwrap().limit.clone().expect("the limit is recorded");
    assert_eq!(limit.kind.as_deref(), Some("five_hour"));
    let resets = limit.resets_at.expect("the reset time is known");
    let detail = first.end.as_ref().unwrap().detail.clone().unwrap_or_default();
    assert!(detail.contains("five-hour limit is reached"), "{detail}");

    // The loop waited until the reset plus the margin, said so, and went on by itself.
    let waits = limit_waits(&ran.entries);
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(waits[0].0, resets + 1, "until the reset plus the 1 s margin");
    assert_eq!(waits[0].1.as_deref(), Some("five_hour"));
    assert!(ran.events.iter().any(|e| matches!(e, HarnessEvent::LimitWait { until, .. } if *until == resets + 1)));
    let second = &ran.sessions[1];
    assert!(second.started_at.as_second() >= resets, "session 2 started before the reset");
    assert_eq!(second.outcome(), Some(Outcome::Completed), "{second:?}");
    assert_eq!(passes(dir.path()), [true, false], "nothing was lost: the feature was built after the wait");
    assert_eq!(ran.reason, StopReason::SessionCap);
    assert!(started.elapsed() >= Duration::from_secs(2));

    // The report counts the wait.
    let report = baton::project::report::report(&ran.entries);
    assert_eq!(report.limits.waits, 1);
    assert!(report.limits.waited_seconds >= 1, "{:?}", report.limits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_throttling_is_backed_off_from_and_retried_not_waited_for_as_a_plan_limit() {
    let dir = project();
    // A 429 without the plan's headers: the server is throttling, not the plan's limit.
    let faults = r#"faults = [{ kind = "rate_limit" }]"#;
    // Throttling that outlasts the CLI's own retries (2.1.332 retries a 429 itself, and the
    // session then goes on as if nothing happened; 2.1.197 does not): none here.
    let retries = [("CLAUDE_CODE_MAX_RETRIES", "0")];
    let (ran, _model) = run_with(dir.path(), scenario(faults, "committed", "Done."), 2, true, &retries).await;
    let first = &ran.sessions[0];
    assert_eq!(first.outcome(), Some(Outcome::RateLimited), "{first:?}");
    assert_eq!(first.end.as_ref().unwrap().limit, None, "throttling is no plan limit");
    let detail = first.end.as_ref().unwrap().detail.clone().unwrap_or_default();
    assert!(detail.contains("not your usage limit"), "{detail}");
    assert!(limit_waits(&ran.entries).is_empty());
    assert!(
        ran.events.iter().any(|e| matches!(e, HarnessEvent::Backoff { seconds: 1, .. })),
        "a back-off of [run] backoff_seconds"
    );
    assert_eq!(ran.sessions[1].outcome(), Some(Outcome::Completed));
    assert_eq!(passes(dir.path()), [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_mentioned_in_tool_output_or_the_agents_words_trips_nothing() {
    let dir = project();
    let said = r#"\"You've hit your session limit · resets 3am (rate limit reached)\""#;
    let (ran, _model) =
        run(dir.path(), scenario("", said, "The test printed: You've hit your usage limit."), 2, true).await;
    let printed = ran.events.iter().any(|e| {
        matches!(e, HarnessEvent::Agent { event: baton::agent::AgentEvent::ToolResult { output, .. }, .. }
            if output.contains("You've hit your session limit"))
    });
    assert!(printed, "the command's output said it");
    assert!(ran.sessions.iter().all(|s| s.outcome() == Some(Outcome::Completed)), "{:?}", ran.sessions);
    assert!(ran.sessions.iter().all(|s| s.end.as_ref().unwrap().limit.is_none()));
    assert!(limit_waits(&ran.entries).is_empty());
    assert!(!ran.events.iter().any(|e| matches!(e, HarnessEvent::Backoff { .. })));
    assert_eq!(passes(dir.path()), [true, true]);
    assert_eq!(ran.reason, StopReason::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_nearly_used_up_holds_the_next_session_until_its_reset() {
    let dir = project();
    let usage = r#"usage = { status = "allowed_warning", utilization = 0.95, reset_in = 3 }"#;
    let (ran, _model) = run(dir.path(), scenario(usage, "committed", "Done."), 2, true).await;
    // The first session ran and finished; the API said the five-hour limit is 95% used.
    assert_eq!(ran.sessions[0].outcome(), Some(Outcome::Completed));
    let utilization = ran.events.iter().find_map(|e| match e {
        HarnessEvent::Agent { event: baton::agent::AgentEvent::Limit { limit }, .. } => limit.utilization,
        _ => None,
    });
    assert_eq!(utilization, Some(0.95));
    // Above the 0.9 threshold: the loop waited for the reset before starting the second.
    let waits = limit_waits(&ran.entries);
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0].2.contains("five-hour limit is 95% used"), "{}", waits[0].2);
    assert!(ran.sessions[1].started_at.as_second() >= waits[0].0 - 1, "session 2 started during the wait");
    assert_eq!(ran.sessions[1].outcome(), Some(Outcome::Completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_backend_is_paced_by_the_rate_limit_headers_and_never_gets_a_429() {
    // Two requests a 1.5 s window; the session makes five.
    let turn = |i: u32| {
        format!(
            "[[turns]]\nid = \"t{i}\"\n{}text = \"Step {i}.\"\ntools = [{{ name = \"bash\", input = {{ command = \"echo step {i}\" }} }}]\n",
            if i == 0 { "start = \"one of many agent sessions\"\n" } else { "" }
        )
    };
    let mut text = "name = \"paced\"\nrate_limits = { requests = 2, window_seconds = 1.5 }\n".to_owned();
    for i in 0..4 {
        text.push_str(&turn(i));
    }
    text.push_str("[[turns]]\nid = \"end\"\ntext = \"Done.\"\n");
    let dir = project();
    let started = Instant::now();
    let (ran, model) = run(dir.path(), Scenario::parse("paced.toml", &text).unwrap(), 1, false).await;
    assert_eq!(model.requests().len(), 5, "every request went through, once");
    assert_eq!(model.throttled(), 0, "the backend waited for the window instead of hitting a 429");
    assert!(started.elapsed() >= Duration::from_millis(2900), "two resets were waited for: {:?}", started.elapsed());
    let paced = ran
        .events
        .iter()
        .filter(|e| matches!(e, HarnessEvent::Agent { event: baton::agent::AgentEvent::Notice { text }, .. } if text.starts_with("paced:")))
        .count();
    assert_eq!(paced, 2, "a word in the transcript for each wait");
    // The session itself is unaffected.
    assert_eq!(ran.sessions[0].end.as_ref().unwrap().outcome, Outcome::NoProgress);

    // And the window is real: requests sent without pacing get a 429.
    let model = ScriptedModel::start(Scenario::parse("paced.toml", &text).unwrap(), None).await.unwrap();
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let body = serde_json::json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "one of many agent sessions"}]});
        let r = http.post(format!("{}/v1/messages", model.url())).json(&body).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(model.throttled(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_baton_still_waits_for_a_limit_the_last_session_hit() {
    let dir = project();
    // The journal of a baton that stopped while waiting: its last session hit the plan's limit,
    // which resets 2 s from now.
    let resets = baton::harness::governor::now_unix() + 2;
    let mut journal = Project::open(dir.path()).unwrap().open_journal().unwrap();
    journal
        .append(Record::SessionStarted {
            number: 1,
            kind: baton::project::session::SessionKind::Coding,
            backend: "claude-code".into(),
            model: "m".into(),
            base: None,
            uncommitted: Vec::new(),
            target: Some(1),
        })
        .unwrap();
    let limit = baton::agent::UsageLimit::reached(Some(resets), Some("seven_day".into()));
    let report = journal::SessionReport { limit: Some(limit), ..journal::SessionReport::new(1, Outcome::RateLimited) };
    journal.append(Record::SessionEnded(report)).unwrap();
    drop(journal);

    let (ran, _model) = run(dir.path(), scenario("", "committed", "Done."), 1, false).await;
    let waits = limit_waits(&ran.entries);
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!((waits[0].0, waits[0].1.as_deref()), (resets + 1, Some("seven_day")));
    assert!(waits[0].2.contains("weekly limit is reached"), "{}", waits[0].2);
    let second = &ran.sessions[1];
    assert!(second.started_at.as_millisecond() >= (resets + 1) * 1000, "started before the reset plus the margin");
    assert_eq!(second.outcome(), Some(Outcome::Completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wait_for_limits_off_a_plan_limit_stops_the_run() {
    let dir = project();
    let config = dir.path().join(".baton/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[run]\n", "[run]\nwait_for_limits = false\n")).unwrap();
    let faults = r#"faults = [{ kind = "usage_limit", reset_in = 3600 }]"#;
    let (ran, _model) = run(dir.path(), scenario(faults, "committed", "Done."), 3, true).await;
    assert_eq!(ran.reason, StopReason::UsageLimit);
    assert_eq!(ran.sessions.len(), 1);
    assert!(limit_waits(&ran.entries).is_empty());
    let detail = ran.events.iter().find_map(|e| match e {
        HarnessEvent::Stopped { detail, .. } => Some(detail.clone()),
        _ => None,
    });
    assert!(detail.unwrap().contains("wait_for_limits is off"));
    assert_eq!(StopReason::UsageLimit.exit_code(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_account_stops_the_run_at_once_and_says_so() {
    let dir = project();
    let faults = r#"faults = [{ kind = "unauthorized", times = 10 }]"#;
    let (ran, model) = run(dir.path(), scenario(faults, "committed", "Done."), 5, false).await;
    assert_eq!(ran.reason, StopReason::Account);
    assert_eq!(ran.sessions.len(), 1, "no second session: no later try can succeed");
    assert_eq!(model.requests().len(), 1, "a 401 is not retried");
    assert!(!ran.events.iter().any(|e| matches!(e, HarnessEvent::Backoff { .. })));
    let detail = ran.events.iter().find_map(|e| match e {
        HarnessEvent::Stopped { detail, .. } => Some(detail.clone()),
        _ => None,
    });
    let detail = detail.unwrap();
    assert!(detail.contains("the API refused the account") && detail.contains("invalid x-api-key"), "{detail}");
    assert_eq!(StopReason::Account.exit_code(), 5);
}

/// The real binary's screen in a pseudo-terminal, the real CLI as its backend: the wait for the
/// plan's limit counts down on the status line, then the run goes on to done by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_screen_a_limit_wait_counts_down_and_the_run_goes_on() {
    let sandbox = common::Sandbox::new();
    let claude = common::claude_bin();
    let config = format!(
        "[agent]\nbackend = \"claude-code\"\nclaude_bin = \"{}\"\n[evaluate]\nmode = \"off\"\n[run]\napprove = \"auto\"\nmode = \"continuous\"\nlimit_margin_seconds = 1\n",
        claude.display()
    );
    let dir = common::checklist_project(FEATURES, &[], &config);
    let faults = r#"faults = [{ kind = "usage_limit", reset_in = 4 }]"#;
    let model = ScriptedModel::start(scenario(faults, "committed", "Done."), None).await.unwrap();
    let url = model.url();
    let env = [
        ("ANTHROPIC_BASE_URL", Some(url.as_str())),
        ("CLAUDE_CODE_OAUTH_TOKEN", Some("test-oauth-token")),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", Some("1")),
    ];
    let mut screen = common::pty::Screen::start(sandbox.home.path(), dir.path(), &[], (120, 40), &env);
    // Waited for whole: a frame can be caught half drawn.
    let wanted = ["waiting for the five-hour limit: 00:00:0", "five-hour limit reached, resets at"];
    let shown = screen.wait_until(|t| wanted.iter().all(|w| t.contains(w)), "the wait", Duration::from_secs(30));
    assert!(shown.contains("five-hour limit reached, resets at"), "{shown}");
    screen.wait_for("done: every feature passes", Duration::from_secs(60));
    assert_eq!(passes(dir.path()), [true, true]);
    screen.send("q");
    assert!(screen.wait_exit(Duration::from_secs(20)));
}
