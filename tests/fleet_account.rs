//! One account, one limit: a plan's usage limit hit in one project's loop holds the other loops on
//! the same account (the same claude login) until its reset, instead of each running into it,
//! while a loop on another account goes on. Three loops at once, each driving the real `claude`
//! CLI signed in as a subscriber against a scripted model of its own; what they share goes
//! through the fleet's state directory only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::fleet::Dirs;
use baton::fleet::account::Account;
use baton::harness::{Harness, RunOptions, StopReason};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal::{self, Record, SessionSummary};
use baton::project::session::Outcome;
use common::fleet::SCENARIO;

type Task = tokio::task::JoinHandle<Result<StopReason, baton::harness::HarnessError>>;

struct Loop {
    dir: tempfile::TempDir,
    _home: tempfile::TempDir,
    _model: ScriptedModel,
}

/// A loop of `sessions` sessions on a project of as many features, the real CLI signed in with
/// `token`, sharing what it learns of its account through `fleet`.
async fn start(fleet: &Dirs, token: &str, faults: &str, sessions: u32) -> (Loop, Task) {
    let config = "[evaluate]\nmode = \"off\"\n[run]\nlimit_margin_seconds = 1\n";
    let dir = common::checklist_project(&common::fleet::features(sessions as usize), &[], config);
    let model =
        ScriptedModel::start(Scenario::parse("account.toml", &SCENARIO.replace("# FAULTS", faults)).unwrap(), None)
            .await
            .unwrap();
    let home = tempfile::tempdir().unwrap();
    let project = Project::open(dir.path()).unwrap();
    let env = [
        ("ANTHROPIC_API_KEY".to_owned(), String::new()),
        ("CLAUDE_CODE_OAUTH_TOKEN".to_owned(), token.to_owned()),
        ("HOME".to_owned(), home.path().display().to_string()),
    ];
    let cli = common::claude(project.config(), home.path())(&model.url()).with_env(env.clone());
    let mut opts = RunOptions::from_config(project.config());
    opts.mode = Mode::Continuous;
    opts.approve = ApprovePolicy::Auto;
    opts.max_sessions = Some(sessions);
    opts.fleet = Some(fleet.clone());
    // The account as baton names it from the environment the CLI runs with.
    opts.account = Some(Account::of_claude(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())));
    let (harness, handles) = Harness::new(project, std::sync::Arc::new(cli), opts).unwrap();
    // Nobody steers these loops; the command side stays open while they run.
    tokio::spawn(async move {
        let mut handles = handles;
        while handles.events.recv().await.is_some() {}
    });
    (Loop { dir, _home: home, _model: model }, tokio::spawn(harness.run()))
}

fn sessions(dir: &Path) -> Vec<SessionSummary> {
    journal::sessions(&Project::open(dir).unwrap().journal().unwrap().entries)
}

fn limit_waits(dir: &Path) -> Vec<(i64, String)> {
    common::fleet::records(dir)
        .into_iter()
        .filter_map(|r| match r {
            Record::LimitWait { until, reason, .. } => Some((until, reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_hit_in_one_loop_holds_the_others_on_its_account_until_the_reset_and_not_the_rest() {
    let state = tempfile::tempdir().unwrap();
    let fleet = Dirs::at(state.path());
    // A hits the five-hour limit at its first request; it resets 20 s later.
    let fault = r#"faults = [{ kind = "usage_limit", reset_in = 20, limit = "five_hour" }]"#;
    let (a, ta) = start(&fleet, "token-of-ada", fault, 2).await;
    let (b, tb) = start(&fleet, "token-of-ada", "", 3).await;
    let (c, tc) = start(&fleet, "token-of-cy", "", 3).await;
    for task in [ta, tb, tc] {
        let reason = tokio::time::timeout(Duration::from_secs(150), task).await;
        let reason = reason.unwrap().unwrap().unwrap();
        assert!(matches!(reason, StopReason::SessionCap | StopReason::Done), "{reason:?}");
    }

    // A's first session hit the limit; when it did and when the limit resets.
    let a_sessions = sessions(a.dir.path());
    let hit = &a_sessions[0];
    assert_eq!(hit.outcome(), Some(Outcome::RateLimited), "{hit:?}");
    let resets = hit.end.as_ref().unwrap().limit.as_ref().unwrap().resets_at.unwrap();
    let hit_at = hit.ended_at.unwrap().as_millisecond();
    let held = |s: &SessionSummary| {
        let at = s.started_at.as_millisecond();
        at > hit_at && at < resets * 1000
    };

    // B, on the same login, started nothing between the hit and the reset: it waited for the same
    // reset, said whose session hit it, and then went on.
    let a_name = a.dir.path().file_name().unwrap().to_string_lossy().into_owned();
    let b_sessions = sessions(b.dir.path());
    assert!(!b_sessions.iter().any(held), "B ran into A's limit: {b_sessions:#?}, hit at {hit_at}, resets {resets}");
    let waits = limit_waits(b.dir.path());
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(waits[0].0, resets + 1, "until the same reset, plus the margin");
    assert!(waits[0].1.contains(&format!("a session of {a_name} on this account hit it")), "{}", waits[0].1);
    assert!(b_sessions.iter().all(|s| s.outcome() == Some(Outcome::Completed)), "B never hit the limit itself");
    assert!(b_sessions.iter().any(|s| s.started_at.as_second() >= resets), "B went on after the reset");

    // C, on another login, went on meanwhile.
    let c_sessions = sessions(c.dir.path());
    assert!(limit_waits(c.dir.path()).is_empty());
    assert!(c_sessions.iter().any(held), "C should have run during A's limit: {c_sessions:#?}");
    assert!(c_sessions.iter().all(|s| s.outcome() == Some(Outcome::Completed)));

    // A waited for its own limit once, not a second time for its own word in the ledger.
    assert_eq!(limit_waits(a.dir.path()).len(), 1);
    assert_eq!(a_sessions[1].outcome(), Some(Outcome::Completed));
}

/// Five requests a session, through a window of three requests each 1.5 s.
fn paced_scenario() -> Scenario {
    let mut text = "name = \"paced\"\nrate_limits = { requests = 3, window_seconds = 1.5 }\n".to_owned();
    for i in 0..4 {
        let start = if i == 0 { "start = \"pace\"\n" } else { "" };
        text.push_str(&format!(
            "[[turns]]\nid = \"t{i}\"\n{start}tools = [{{ name = \"bash\", input = {{ command = \"echo step {i}\" }} }}]\n"
        ));
    }
    text.push_str("[[turns]]\nid = \"end\"\ntext = \"Done.\"\n");
    Scenario::parse("paced.toml", &text).unwrap()
}

/// Two sessions at once, each of its own backend (as two loops' processes are), on one API key;
/// `shared` gives both the account's ledger. Returns the requests that came past the window.
async fn two_at_once(shared: Option<&Dirs>) -> (usize, u32) {
    use baton::agent::anthropic::AnthropicBackend;
    use baton::agent::{Backend, Limits, SessionRequest};
    let model = ScriptedModel::start(paced_scenario(), None).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let dir = common::temp_repo();
        let config = baton::project::config::Config::default();
        let mut backend = AnthropicBackend::new(&model.url(), "one-key", &config).unwrap();
        if let Some(dirs) = shared {
            backend = backend.with_shared_pacing(dirs);
        }
        let limits = Limits { max_turns: 20, wall_time: Duration::from_secs(60) };
        runs.push(tokio::spawn(async move {
            let request = SessionRequest::new("pace", dir.path(), limits, tokio_util::sync::CancellationToken::new());
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let end = backend.run(request, tx).await;
            drop(dir);
            end
        }));
    }
    for r in runs {
        tokio::time::timeout(Duration::from_secs(60), r).await.unwrap().unwrap();
    }
    (model.requests().len(), model.throttled())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_on_one_api_key_pace_together_by_its_headers_and_never_get_a_429() {
    let state = tempfile::tempdir().unwrap();
    let (requests, throttled) = two_at_once(Some(&Dirs::at(state.path()))).await;
    assert_eq!((requests, throttled), (10, 0), "every request once, none past the window");
    // Each pacing alone, the two run past the window they share.
    let (_, alone) = two_at_once(None).await;
    assert!(alone > 0, "without the ledger the two loops should have met a 429");
}
