//! Ask mode: a command off the allowlist is put to the operator while its session waits. Allow
//! once runs it (and the same command asks again), allow always runs it and keeps its program in
//! the project's allowlist (the operator's comments kept), a denial's message reaches the model,
//! and a question nobody answers is denied at its timeout. Baton's own agent and the real
//! `claude` CLI (through its stdio permission prompt and baton's hook) alike; and headless, with
//! `baton answer` from another process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use baton::agent::Answer;
use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::harness::{Command, Harness, HarnessEvent, RunOptions};
use baton::project::Project;
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::journal::{self, Record};

/// `factor` is on no allowlist; the agent runs it twice, then another `factor`.
const FACTOR: &str = r#"
name = "factor"
[[turns]]
id = "first"
start = "one of many agent sessions"
text = "The primes of 84 tell me the layout; factor gives them at once."
tools = [{ name = "bash", input = { command = "factor 84" } }]
[[turns]]
id = "again"
tools = [{ name = "bash", input = { command = "factor 84" } }]
[[turns]]
id = "other"
tools = [{ name = "bash", input = { command = "factor 30" } }]
[[turns]]
id = "done"
text = "Done."
"#;

const CONFIG: &str =
    "# my own notes on this project's policy\n[policy]\n# tools we trust\nallow = [\"jq\"]   # jq is fine\n";

fn project(config: &str) -> tempfile::TempDir {
    let features = "[{\"category\": \"c\", \"description\": \"d\", \"steps\": [\"s\"], \"passes\": false}]\n";
    common::project_with(&[("app_spec.txt", "Numbers.\n"), ("feature_list.json", features)], config)
}

struct Ran {
    events: Vec<HarnessEvent>,
    requests: Vec<serde_json::Value>,
}

/// One coding session of `scenario` with questions on; `answer` answers each question (by its
/// order), or leaves it when it gives `None`.
async fn run(
    dir: &Path,
    scenario: &str,
    cli: bool,
    mut answer: impl FnMut(usize, &HarnessEvent) -> Option<Answer>,
) -> Ran {
    let model = ScriptedModel::start(Scenario::parse("ask.toml", scenario).unwrap(), None).await.unwrap();
    let project = Project::open(dir).unwrap();
    let home = tempfile::tempdir().unwrap();
    let backend = common::backend(&project, &model.url(), cli, home.path());
    let mut opts = RunOptions::from_config(project.config());
    opts.mode = Mode::Continuous;
    opts.approve = ApprovePolicy::Auto;
    opts.max_sessions = Some(1);
    opts.ask = true;
    let (harness, mut handles) = Harness::new(project, backend, opts).unwrap();
    let task = tokio::spawn(harness.run());
    let mut events = Vec::new();
    let mut asked = 0;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), handles.events.recv()).await.unwrap() {
        if let HarnessEvent::Question { number, .. } = &ev {
            if let Some(a) = answer(asked, &ev) {
                handles.commands.send(Command::Answer { number: *number, answer: a }).unwrap();
            }
            asked += 1;
        }
        events.push(ev);
    }
    task.await.unwrap().unwrap();
    Ran { events, requests: model.requests() }
}

fn questions(ran: &Ran) -> Vec<(String, String)> {
    ran.events
        .iter()
        .filter_map(|e| match e {
            HarnessEvent::Question { command, reason, .. } => Some((command.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn results(ran: &Ran) -> Vec<(String, bool)> {
    ran.events
        .iter()
        .filter_map(|e| match e {
            HarnessEvent::Agent { event: baton::agent::AgentEvent::ToolResult { output, is_error, .. }, .. } => {
                Some((output.clone(), *is_error))
            }
            _ => None,
        })
        .collect()
}

async fn once_then_always(cli: bool) {
    let dir = project(CONFIG);
    let ran = run(dir.path(), FACTOR, cli, |i, _| Some(if i == 0 { Answer::Once } else { Answer::Always })).await;
    // Asked twice about the same command (once is once), not about the third: `factor` is
    // allowed now.
    let asked = questions(&ran);
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|(c, r)| c == "factor 84" && r == "`factor` is not on the allowlist"), "{asked:?}");
    // The dialog shows what the agent said before it asked.
    let words = ran.events.iter().find_map(|e| match e {
        HarnessEvent::Question { words, .. } => Some(words.clone()),
        _ => None,
    });
    assert!(words.is_some_and(|w| w.contains("factor gives them at once")), "{:?}", ran.events.first());
    let out = results(&ran);
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].0.contains("84: 2 2 3 7") && !out[0].1, "{out:?}");
    assert!(out[1].0.contains("84: 2 2 3 7") && !out[1].1, "{out:?}");
    assert!(out[2].0.contains("30: 2 3 5") && !out[2].1, "{out:?}");
    // The config keeps every word of the operator's, with `factor` added.
    let config = std::fs::read_to_string(dir.path().join(".baton/config.toml")).unwrap();
    assert_eq!(
        config, "# my own notes on this project's policy\n[policy]\n# tools we trust\nallow = [\"jq\", \"factor\"]\n",
        "{config}"
    );
    // The journal records each question and answer with the session.
    let project = Project::open(dir.path()).unwrap();
    let s = journal::sessions(&project.journal().unwrap().entries);
    let answers: Vec<Option<Answer>> = s[0].questions.iter().map(|q| q.answer.clone()).collect();
    assert_eq!(answers, [Some(Answer::Once), Some(Answer::Always)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_once_runs_it_and_asks_again_allow_always_keeps_it() {
    once_then_always(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_claude_cli_allow_once_and_always_work_alike() {
    once_then_always(true).await;
}

async fn denied(cli: bool) {
    let dir = project(CONFIG);
    let say = "use python3 -c to factor it instead";
    let ran = run(dir.path(), FACTOR, cli, |_, _| Some(Answer::Deny { message: say.into() })).await;
    let out = results(&ran);
    assert!(out[0].1 && out[0].0.contains(say), "the operator's words are the result: {out:?}");
    assert!(!out[0].0.contains("84: 2 2 3 7"), "it did not run: {out:?}");
    // The model was sent them.
    let sent = ran.requests.iter().any(|r| r.to_string().contains(say));
    assert!(sent, "the denial's message reached the model");
    assert!(std::fs::read_to_string(dir.path().join(".baton/config.toml")).unwrap() == CONFIG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_sends_the_operators_message_to_the_model() {
    denied(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_claude_cli_a_denial_sends_the_message_too() {
    denied(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_nobody_answers_is_denied_at_its_timeout() {
    let dir = project(&format!("{CONFIG}ask_timeout_seconds = 1\n"));
    let ran = run(dir.path(), FACTOR, false, |_, _| None).await;
    let out = results(&ran);
    assert!(out[0].1 && out[0].0.contains("nobody answered within 1 s"), "{out:?}");
    let answered = ran.events.iter().any(|e| {
        matches!(e, HarnessEvent::Answered { answer: Answer::Deny { message }, .. } if message.contains("nobody answered"))
    });
    assert!(answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_asks_only_with_ask_and_baton_answer_answers_from_another_process() {
    let dir = project(CONFIG);
    let model = ScriptedModel::start(Scenario::parse("ask.toml", FACTOR).unwrap(), None).await.unwrap();
    let sandbox = common::Sandbox::new();
    let run = |ask: bool| {
        let mut cmd = sandbox.baton(dir.path());
        cmd.args(["run", "--headless", "--approve", "auto", "--sessions", "1"]);
        if ask {
            cmd.arg("--ask");
        }
        cmd.env("ANTHROPIC_BASE_URL", model.url())
            .env("ANTHROPIC_API_KEY", "test-key")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Without --ask nobody is asked: refused.
    let out = run(false).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("⛔ policy refused bash: `factor` is not on the allowlist"), "{text}");
    assert!(!text.contains("? question"), "{text}");

    // With --ask: each question printed, answered with `baton answer` from elsewhere.
    let mut child = run(true);
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut answers = vec![("allow", None), ("deny", Some("not twice")), ("always", None)].into_iter();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("? question ") {
            let number = rest.split_whitespace().next().unwrap().to_owned();
            let (word, message) = answers.next().expect("three questions");
            let mut args = vec!["answer", number.as_str(), word];
            if let Some(m) = message {
                args.extend(["--message", m]);
            }
            let answered = sandbox.run(dir.path(), &args).ok();
            assert!(answered.stdout.contains(&format!("question {number}: ")), "{}", answered.stdout);
        }
        seen.push(line);
    }
    assert!(child.wait().unwrap().success());
    let all = seen.join("\n");
    assert!(all.contains("may it run `factor 84`? `factor` is not on the allowlist"), "{all}");
    assert!(all.contains("question 1: allowed once") && all.contains("question 2: denied: not twice"), "{all}");
    assert!(all.contains("question 3: allowed always"), "{all}");
    let transcript = std::fs::read_to_string(dir.path().join(".baton/sessions/0002.jsonl")).unwrap();
    assert!(transcript.contains("30: 2 3 5"), "the allowed command ran");
    let project = Project::open(dir.path()).unwrap();
    let asked = project.journal().unwrap().entries.iter().filter(|e| matches!(e.record, Record::Asked { .. })).count();
    assert_eq!(asked, 3, "{all}");
    assert!(std::fs::read_to_string(dir.path().join(".baton/config.toml")).unwrap().contains("\"factor\"]"));
}
