//! Helpers for the fleet's tests: projects whose loops build one feature a session, paced so that
//! sessions overlap unless something stops them, and what their journals say of when each session
//! ran.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use baton::project::Project;
use baton::project::journal::{self, Record};

/// A coding session that takes about a second: it builds the next failing feature, marks it
/// passing and commits. `# FAULTS` is where a test puts the faults of its first turn.
pub const SCENARIO: &str = r#"
name = "fleet"
pace = { chunk_chars = 4, delay_ms = 30 }
[[turns]]
id = "build"
start = "one of many agent sessions"
text = "Building the next feature, one small step at a time, as the notes say."
tools = [{ name = "bash", input = { command = "echo built >> built.txt && sed -i '0,/\"passes\": false/s//\"passes\": true/' feature_list.json && git add -A && git commit -qm Feature && echo committed" } }]
# FAULTS

[[turns]]
id = "built"
text = "The feature is built, tested and committed; the notes say what comes next for the next one."
"#;

/// `n` features, none passing.
pub fn features(n: usize) -> String {
    let one = |i| {
        format!(
            r#"{{"category": "functional", "description": "feature {i}", "steps": ["cat f{i}.txt"], "passes": false}}"#
        )
    };
    format!("[\n  {}\n]\n", (1..=n).map(one).collect::<Vec<_>>().join(",\n  "))
}

fn config(extra: &str) -> String {
    let approve = if extra.contains("approve") { "" } else { "approve = \"auto\"\n" };
    format!("[evaluate]\nmode = \"off\"\n[run]\n{approve}{extra}\n")
}

/// A project past its initializer with `n` features, each session approved by itself, no
/// evaluator, and `extra` config lines under `[run]` (which may set `approve` again).
pub fn project(n: usize, extra: &str) -> tempfile::TempDir {
    super::checklist_project(&features(n), &[], &config(extra))
}

/// [`project`] in `dir`, a folder with a name of its own.
pub fn project_in(dir: &Path, n: usize, extra: &str) {
    super::checklist_project_in(dir, &features(n), &[], &config(extra));
}

/// When each session of the project in `dir` ran: (start, end) in Unix milliseconds, the end
/// `None` while it runs.
pub fn intervals(dir: &Path) -> Vec<(i64, Option<i64>)> {
    let entries = Project::open(dir).unwrap().journal().unwrap().entries;
    journal::sessions(&entries)
        .iter()
        .map(|s| (s.started_at.as_millisecond(), s.ended_at.map(|t| t.as_millisecond())))
        .collect()
}

/// The most sessions that ran at one moment among `all`.
pub fn most_at_once(all: &[(i64, Option<i64>)]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for (start, end) in all {
        edges.push((*start, 1));
        edges.push((end.unwrap_or(i64::MAX), -1));
    }
    // An end and a start at the same millisecond: the end first (the slot was let go).
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

/// The records of the project's journal.
pub fn records(dir: &Path) -> Vec<Record> {
    Project::open(dir).unwrap().journal().unwrap().entries.into_iter().map(|e| e.record).collect()
}

/// Ends the loops still running in `0`'s projects when dropped (a test that failed half way leaves
/// none behind: `baton fleet` starts them in sessions of their own).
pub struct LoopsEnd(pub Vec<std::path::PathBuf>);

impl Drop for LoopsEnd {
    fn drop(&mut self) {
        for dir in &self.0 {
            if let Some(pid) = baton::project::lock::holder(&dir.join(".baton")).and_then(|p| p.parse::<i32>().ok())
                && pid != std::process::id() as i32
            {
                // SAFETY: a signal to the loop this test's fleet started in one of its projects.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
    }
}
