//! What the evaluator costs and what it catches, on the demo: its share of the coding sessions'
//! tokens on a whole demo run, and its catch rate on seeded false claims (each of the demo's eight
//! features built wrong in turn, its own test reduced to `true`, and marked passing anyway).

use std::sync::Arc;

use baton::agent::anthropic::AnthropicBackend;
use baton::agent::scripted::{Scenario, ScriptedModel};
use baton::commands::demo::{self, DemoPace};
use baton::harness::{Command, Harness, HarnessEvent, RunOptions};
use baton::project::config::{ApprovePolicy, Mode};
use baton::project::evaluation::{Evaluation, Judgement};
use baton::project::journal;
use baton::project::session::SessionKind;

/// How each feature's build goes wrong: a replacement in its turn of the demo scenario.
const SABOTAGE: [(usize, &str, &str, &str); 8] = [
    (1, "f1", "$1 == name { $2 += 1; found = 1 }", "$1 == name { $2 += 2; found = 1 }"),
    (2, "f2", "-v by=\"${2:-1}\"", "-v by=1"),
    (3, "f3-build", "sort -k1,1 \"$TALLY_FILE\"", "cat \"$TALLY_FILE\""),
    (4, "f4", ": > \"$TALLY_FILE\"", ":"),
    (5, "f5", "awk -v name=\"$1\" '$1 != name'", "awk -v name=\"$1\" '1'"),
    (6, "f6", "sort -k2,2nr -k1,1", "sort -k2,2n -k1,1"),
    (7, "f7", "exit 2", "exit 1"),
    (8, "f8", "  tally remove NAME    forget one name\n", ""),
];

/// The demo scenario with feature `k` built wrong and its own test reduced to `true`.
fn sabotaged(k: usize) -> String {
    let (_, turn, from, to) = SABOTAGE[k - 1];
    let text = demo::SCENARIO;
    let start = text.find(&format!("id = \"{turn}\"\n")).unwrap();
    let end = text[start..].find("\n[[turns]]").map_or(text.len(), |e| start + e);
    let body = &text[start..end];
    assert!(body.contains(from), "feature {k}'s turn holds what is to be broken");
    let test = format!("path = \"tests/test_{k}.sh\", content = '''");
    let t0 = body.find(&test).unwrap() + test.len();
    let t1 = t0 + body[t0..].find("'''").unwrap();
    let body = format!("{}\ntrue\n{}", &body[..t0], &body[t1..]).replace(from, to);
    // Feature 6's first attempt is a false claim of the demo's own; here it is built wrong the
    // other way, every time.
    let text = text.replace("goto = \"f6-quick\"", "goto = \"f6\"");
    let start = text.find(&format!("id = \"{turn}\"\n")).unwrap();
    let end = text[start..].find("\n[[turns]]").map_or(text.len(), |e| start + e);
    format!("{}{}{}", &text[..start], body, &text[end..])
}

/// Runs the demo on `scenario` under `enforce` until feature `stop_at` has been evaluated (or to
/// the end); returns every evaluation and the project's sessions.
async fn demo_run(scenario: &str, stop_at: Option<usize>) -> (Vec<Evaluation>, Vec<journal::SessionSummary>) {
    let parent = tempfile::tempdir().unwrap();
    let project = demo::create(Some(&parent.path().join("tally")), false, &mut std::io::sink()).unwrap();
    let root = project.root().to_owned();
    let mut s = Scenario::parse("demo.toml", scenario).unwrap();
    s.pace = DemoPace::Fast.pace();
    let model = ScriptedModel::start(s, None).await.unwrap();
    let backend = AnthropicBackend::new(&model.url(), "k", project.config()).unwrap();
    let mut opts = RunOptions::from_config(project.config());
    opts.approve = ApprovePolicy::Auto;
    opts.mode = Mode::Continuous;
    let (h, mut handles) = Harness::new(project, Arc::new(backend), opts).unwrap();
    let task = tokio::spawn(h.run());
    let mut evaluations = Vec::new();
    while let Some(ev) = handles.events.recv().await {
        if let HarnessEvent::Evaluated { evaluation } = ev {
            let done = stop_at.is_some_and(|k| evaluation.features.iter().any(|f| f.feature == k));
            evaluations.push(evaluation);
            if done {
                let _ = handles.commands.send(Command::Quit);
            }
        }
    }
    task.await.unwrap().unwrap();
    let sessions = journal::sessions(&baton::project::Project::open(&root).unwrap().journal().unwrap().entries);
    (evaluations, sessions)
}

fn tokens(s: &journal::SessionSummary) -> u64 {
    let u = s.usage();
    u.input_tokens + u.output_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
}

pub fn evaluator(report: impl Fn(&str, String, &str)) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // The evaluator's share of a whole demo run.
        let (_, sessions) = demo_run(demo::SCENARIO, None).await;
        let of = |kind| sessions.iter().filter(|s| s.kind == kind).map(tokens).sum::<u64>();
        let (evaluator, coding) = (of(SessionKind::Evaluator), of(SessionKind::Coding));
        report(
            "evaluator tokens / coding tokens (demo)",
            format!("{:.1}% ({evaluator} / {coding})", 100.0 * evaluator as f64 / coding as f64),
            "< 33%",
        );
        // Seeded false claims: feature k built wrong, each run up to its evaluation.
        let (mut caught, mut false_claims, mut failed_honest, mut honest) = (0, 0, 0, 0);
        for (k, ..) in SABOTAGE {
            let (evaluations, _) = demo_run(&sabotaged(k), Some(k)).await;
            for f in evaluations.iter().flat_map(|e| &e.features) {
                if f.feature == k {
                    false_claims += 1;
                    caught += usize::from(f.judgement == Judgement::Fail);
                } else {
                    honest += 1;
                    failed_honest += usize::from(f.judgement != Judgement::Pass);
                }
            }
        }
        report("evaluator: seeded false claims caught", format!("{caught}/{false_claims}"), "all");
        report("evaluator: honest claims failed", format!("{failed_honest}/{honest}"), "none");
    });
}
