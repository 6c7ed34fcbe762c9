//! The guard judges the feature list as the file really is: a session that puts a directory, a
//! FIFO or a symlink in its place, or takes it out of git, is caught, reported, and the list put
//! back as a plain, committed file. Each case is a real session of baton's own agent (its
//! commands run for real, through the policy) against a scripted model on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use baton::harness::HarnessEvent;
use baton::project::journal;
use std::path::Path;

/// One coding session that runs `command`, then says it is done.
fn scenario(command: &str) -> String {
    format!(
        r#"
name = "tamper"
[[turns]]
id = "tamper"
start = "one of many agent sessions"
text = "Changing the list."
tools = [{{ name = "bash", input = {{ command = {command:?} }} }}]
[[turns]]
id = "done"
text = "Done."
"#
    )
}

/// Runs one session of `command` in `dir`, to its review; returns its report. The policy must
/// let the tampering run: it is the guard that is tested.
async fn one_session(dir: &Path, command: &str) -> journal::SessionReport {
    let (summary, events) = common::one_session(dir, &scenario(command), None).await;
    let denied: Vec<&HarnessEvent> = events
        .iter()
        .filter(|e| matches!(e, HarnessEvent::Agent { event: baton::agent::AgentEvent::PolicyDenied { .. }, .. }))
        .collect();
    assert!(denied.is_empty(), "the policy let the tampering run: {denied:?}");
    summary.end.expect("the session ended")
}

/// The list is back: a plain file with the content it started with (bar `passes` flips), and
/// HEAD holds it as a regular file with those same bytes.
fn assert_restored(dir: &Path, original: &[u8]) {
    let path = dir.join("feature_list.json");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_file(), "a plain file again: {:?}", meta.file_type());
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk, original, "the list as it was");
    let repo = git2::Repository::open(dir).unwrap();
    let tree = repo.head().unwrap().peel_to_tree().unwrap();
    let entry = tree.get_path(Path::new("feature_list.json")).unwrap();
    assert_eq!(entry.filemode(), 0o100644, "committed as a regular file");
    assert_eq!(repo.find_blob(entry.id()).unwrap().content(), &on_disk[..], "committed as it is on disk");
    assert!(!repo.status_file(Path::new("feature_list.json")).unwrap().is_ignored(), "tracked, so not ignored");
}

fn original(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("feature_list.json")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_in_the_lists_place_is_removed_and_the_list_restored() {
    let (dir, _repo) = common::quickstart_repo();
    let before = original(dir.path());
    let s =
        one_session(dir.path(), "rm feature_list.json && mkdir feature_list.json && touch feature_list.json/x").await;
    assert!(s.violations.iter().any(|v| v.contains("replaced by a directory")), "reported: {:?}", s.violations);
    assert_restored(dir.path(), &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_the_lists_place_neither_hangs_the_loop_nor_stays() {
    let (dir, _repo) = common::quickstart_repo();
    let before = original(dir.path());
    let s = one_session(dir.path(), "rm feature_list.json && python3 -c \"import os; os.mkfifo('feature_list.json')\"")
        .await;
    assert!(s.violations.iter().any(|v| v.contains("replaced by a FIFO")), "reported: {:?}", s.violations);
    assert_restored(dir.path(), &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_to_a_list_elsewhere_is_judged_by_what_it_shows_and_replaced_by_the_file() {
    let (dir, _repo) = common::quickstart_repo();
    let before = original(dir.path());
    // The copy elsewhere loses its last feature: that is judged as if done in place.
    let cmd = "mkdir -p notes && python3 -c \"import json; l = json.load(open('feature_list.json')); json.dump(l[:-1], open('notes/list.json', 'w'), indent=2)\" && rm feature_list.json && ln -s notes/list.json feature_list.json && git add -A && git commit -q -m 'Link the list'";
    let s = one_session(dir.path(), cmd).await;
    assert!(
        s.violations.iter().any(|v| v.contains("replaced by a symlink to notes/list.json")),
        "reported: {:?}",
        s.violations
    );
    assert!(
        s.violations.iter().any(|v| v.contains("was removed")),
        "what the link showed was judged: {:?}",
        s.violations
    );
    assert_restored(dir.path(), &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_taken_out_of_git_is_committed_again() {
    let (dir, _repo) = common::quickstart_repo();
    let before = original(dir.path());
    let s = one_session(
        dir.path(),
        "git rm -q --cached feature_list.json && echo feature_list.json >> .gitignore && git add .gitignore && git commit -q -m 'Tidy'",
    )
    .await;
    assert!(
        s.violations.iter().any(|v| v.contains("untracked and ignored by .gitignore")),
        "reported: {:?}",
        s.violations
    );
    assert_restored(dir.path(), &before);
}
