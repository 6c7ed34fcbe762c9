//! The operator's files are never committed as a session's work and never lost: a project in the
//! quickstart's layout, with its notes left untracked, through a session that does nothing and
//! one that commits everything it sees, each vetoed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::project::journal;
use baton::project::session::{Outcome, Verdict};
use std::path::Path;

/// A coding session that reads and says it is done, touching nothing.
const IDLE: &str = r#"
name = "idle"
[[turns]]
id = "look"
start = "one of many agent sessions"
text = "Reading the notes; nothing to do this time."
tools = [{ name = "bash", input = { command = "cat claude-progress.txt && git status --short" } }]
[[turns]]
id = "done"
text = "Done."
"#;

/// A coding session that stages and commits everything in the work tree, as `git add -A` does.
const GREEDY: &str = r#"
name = "greedy"
[[turns]]
id = "commit-all"
start = "one of many agent sessions"
text = "Committing everything I see."
tools = [{ name = "bash", input = { command = "echo 'echo hi' > hello.sh && git add -A && git commit -q -m 'Everything'" } }]
[[turns]]
id = "done"
text = "Done."
"#;

const NOTES: &str = "Operator's own notes: feature 1 needs a retry. Not for the agent.\n";

/// The quickstart's layout: spec, features and init.sh committed; the progress notes untracked,
/// and an operator's edit to init.sh not committed either.
fn quickstart() -> tempfile::TempDir {
    let (dir, _repo) = common::quickstart_repo();
    std::fs::remove_file(dir.path().join("claude-progress.txt")).ok();
    let repo = git2::Repository::open(dir.path()).unwrap();
    let mut index = repo.index().unwrap();
    index.remove_path(Path::new("claude-progress.txt")).ok();
    index.write().unwrap();
    common::commit_all(&repo, "The notes are not tracked");
    std::fs::write(dir.path().join("claude-progress.txt"), NOTES).unwrap();
    std::fs::write(dir.path().join("init.sh"), "#!/bin/sh\n# the operator's edit, not committed\n").unwrap();
    dir
}

/// Runs one session of `scenario` and vetoes it; returns its summary.
async fn one_vetoed_session(dir: &Path, scenario: &str) -> journal::SessionSummary {
    common::one_session(dir, scenario, Some("not this way")).await.0
}

fn status_of(dir: &Path, path: &str) -> git2::Status {
    git2::Repository::open(dir).unwrap().status_file(Path::new(path)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_did_nothing_is_no_progress_and_its_veto_leaves_the_operators_files_as_they_were() {
    let dir = quickstart();
    let head = git2::Repository::open(dir.path()).unwrap().head().unwrap().target().unwrap();
    let s = one_vetoed_session(dir.path(), IDLE).await;
    assert_eq!(s.outcome(), Some(Outcome::NoProgress), "the operator's files are not the session's progress: {s:?}");
    let commits = &s.end.as_ref().unwrap().commits;
    assert!(commits.is_empty(), "nothing was committed for the session: {commits:?}");
    assert_eq!(s.verdict, Some(Verdict::Vetoed));
    let repo = git2::Repository::open(dir.path()).unwrap();
    assert_eq!(repo.head().unwrap().target().unwrap(), head);
    assert_eq!(std::fs::read_to_string(dir.path().join("claude-progress.txt")).unwrap(), NOTES);
    assert!(status_of(dir.path(), "claude-progress.txt").is_wt_new(), "still untracked");
    assert!(status_of(dir.path(), "init.sh").is_wt_modified(), "the operator's edit is still uncommitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_veto_of_a_session_that_committed_the_operators_files_puts_them_back_uncommitted() {
    let dir = quickstart();
    let init_before = std::fs::read(dir.path().join("init.sh")).unwrap();
    let s = one_vetoed_session(dir.path(), GREEDY).await;
    assert_eq!(s.outcome(), Some(Outcome::Completed));
    assert_eq!(s.end.as_ref().unwrap().commits.len(), 1, "{s:?}");
    // The session's own work is gone with the veto, kept under refs/baton/vetoed/.
    assert!(!dir.path().join("hello.sh").exists());
    let repo = git2::Repository::open(dir.path()).unwrap();
    let tip = repo.find_reference("refs/baton/vetoed/session-0001").unwrap().peel_to_commit().unwrap();
    assert!(tip.tree().unwrap().get_path(Path::new("hello.sh")).is_ok());
    // The operator's files are back, byte for byte, and uncommitted as before.
    assert_eq!(std::fs::read_to_string(dir.path().join("claude-progress.txt")).unwrap(), NOTES);
    assert_eq!(std::fs::read(dir.path().join("init.sh")).unwrap(), init_before);
    assert!(status_of(dir.path(), "claude-progress.txt").is_wt_new());
    assert!(status_of(dir.path(), "init.sh").is_wt_modified());
}

#[test]
fn init_commits_the_spec_it_writes_in_the_operators_name() {
    let sandbox = common::Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("my_spec.txt");
    std::fs::write(&spec, "Build a greeter.\n").unwrap();
    let project = dir.path().join("app");
    std::fs::create_dir(&project).unwrap();
    let repo = git2::Repository::init(&project).unwrap();
    repo.config().unwrap().set_str("user.name", "Ada Operator").unwrap();
    repo.config().unwrap().set_str("user.email", "ada@example.com").unwrap();
    let out = sandbox.run(&project, &["init", "--spec", spec.to_str().unwrap()]).ok();
    assert!(out.stdout.contains("committed it"), "{}", out.stdout);
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(head.author().name().unwrap(), "Ada Operator");
    assert!(head.tree().unwrap().get_path(Path::new("app_spec.txt")).is_ok());
    assert!(status_of(&project, "app_spec.txt").is_empty(), "nothing left for a session to commit");
}
