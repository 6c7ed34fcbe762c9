//! The git layer on real repositories in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use baton::project::repo::{Author, BATON_NAME, Repo, RepoError};

fn new_repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let (repo, created) = Repo::open_or_init(dir.path()).unwrap();
    assert!(created);
    let git = git2::Repository::open(dir.path()).unwrap();
    let mut config = git.config().unwrap();
    config.set_str("user.name", "Ada Operator").unwrap();
    config.set_str("user.email", "ada@example.com").unwrap();
    (dir, repo)
}

fn write(dir: &Path, name: &str, text: &str) {
    if let Some(parent) = dir.join(name).parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(dir.join(name), text).unwrap();
}

#[test]
fn open_refuses_a_directory_that_is_not_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Repo::open(dir.path()), Err(RepoError::NotARepository { .. })));
    let (_, created) = Repo::open_or_init(dir.path()).unwrap();
    assert!(created);
    let (_, created) = Repo::open_or_init(dir.path()).unwrap();
    assert!(!created, "a second open finds the repository");
}

#[test]
fn head_is_none_before_the_first_commit_and_commits_chain() {
    let (dir, repo) = new_repo();
    assert_eq!(repo.head().unwrap(), None);
    assert_eq!(repo.log_page(0, 10).unwrap(), vec![]);
    write(dir.path(), "a.txt", "one\n");
    let first = repo.commit_paths(&[Path::new("a.txt")], "First", Author::Operator).unwrap();
    assert_eq!(repo.head().unwrap(), Some(first));
    write(dir.path(), "a.txt", "two\n");
    let second = repo.commit_paths(&[Path::new("a.txt")], "Second", Author::Operator).unwrap();
    let info = repo.commit_info(second).unwrap();
    assert_eq!(info.parents, vec![first.to_string()]);
    assert_eq!((info.author.as_str(), info.summary.as_str()), ("Ada Operator", "Second"));
    let git = git2::Repository::open(dir.path()).unwrap();
    let head_ref = git.head().unwrap();
    let expected = head_ref.name().unwrap().strip_prefix("refs/heads/").unwrap().to_owned();
    assert_eq!(repo.branch(), Some(expected));
}

#[test]
fn the_log_is_read_page_by_page_newest_first() {
    let (dir, repo) = new_repo();
    let mut ids = Vec::new();
    for i in 0..250 {
        write(dir.path(), "n.txt", &format!("{i}\n"));
        ids.push(repo.commit_paths(&[Path::new("n.txt")], &format!("Commit {i}"), Author::Operator).unwrap());
    }
    let page1 = repo.log_page(0, 100).unwrap();
    let page3 = repo.log_page(200, 100).unwrap();
    assert_eq!(page1.len(), 100);
    assert_eq!(page3.len(), 50);
    assert_eq!(page1[0].summary, "Commit 249");
    assert_eq!(page1[99].summary, "Commit 150");
    assert_eq!(page3[49].id, ids[0].to_string());
    let all: Vec<_> = repo.walk(None).unwrap().map(|c| c.unwrap().id).collect();
    assert_eq!(all.len(), 250);
    let between = repo.commits_between(Some(ids[244]), ids[249]).unwrap();
    assert_eq!(
        between.iter().map(|c| c.summary.as_str()).collect::<Vec<_>>(),
        ["Commit 249", "Commit 248", "Commit 247", "Commit 246", "Commit 245"]
    );
}

#[test]
fn commit_paths_leaves_other_staged_work_out() {
    let (dir, repo) = new_repo();
    write(dir.path(), "list.json", "[]\n");
    write(dir.path(), "other.txt", "operator's work\n");
    repo.commit_paths(&[Path::new("list.json")], "Base", Author::Operator).unwrap();
    // The operator stages other.txt by hand; baton commits only list.json.
    let git = git2::Repository::open(dir.path()).unwrap();
    let mut index = git.index().unwrap();
    index.add_path(Path::new("other.txt")).unwrap();
    index.write().unwrap();
    write(dir.path(), "list.json", "[1]\n");
    let oid = repo.commit_paths(&[Path::new("list.json")], "Mark", Author::Operator).unwrap();
    let tree = git.find_commit(oid).unwrap().tree().unwrap();
    assert!(tree.get_path(Path::new("other.txt")).is_err(), "other.txt stays out of baton's commit");
    let stat = repo
        .diffstat(repo.commit_info(oid).unwrap().parents.first().map(|p| git2::Oid::from_str(p).unwrap()), oid)
        .unwrap();
    assert_eq!(stat.files.len(), 1);
    assert_eq!((stat.insertions, stat.deletions), (1, 1));
    // ... and it is still staged for the operator.
    let index = git.index().unwrap();
    assert!(index.get_path(Path::new("other.txt"), 0).is_some());
}

#[test]
fn commit_paths_records_deletions_executables_and_nested_paths() {
    let (dir, repo) = new_repo();
    write(dir.path(), "src/deep/x.sh", "echo hi\n");
    write(dir.path(), "gone.txt", "bye\n");
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path().join("src/deep/x.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let paths = [Path::new("src/deep/x.sh"), Path::new("gone.txt")];
    let first = repo.commit_paths(&paths, "Add", Author::Operator).unwrap();
    fs::remove_file(dir.path().join("gone.txt")).unwrap();
    let second = repo.commit_paths(&[Path::new("gone.txt")], "Remove", Author::Operator).unwrap();
    let git = git2::Repository::open(dir.path()).unwrap();
    let tree = git.find_commit(second).unwrap().tree().unwrap();
    assert!(tree.get_path(Path::new("gone.txt")).is_err());
    let entry = tree.get_path(Path::new("src/deep/x.sh")).unwrap();
    assert_eq!(entry.filemode(), 0o100755);
    let stat = repo.diffstat(Some(first), second).unwrap();
    assert_eq!(stat.files[0].path, "gone.txt");
    assert_eq!(stat.deletions, 1);
    assert!(common::is_clean(&git));
}

#[test]
fn commit_all_commits_everything_and_nothing_when_clean() {
    let (dir, repo) = new_repo();
    write(dir.path(), ".gitignore", "build/\n");
    write(dir.path(), "a.txt", "a\n");
    write(dir.path(), "build/out.bin", "ignored\n");
    let first = repo.commit_all("Everything", Author::Baton).unwrap().unwrap();
    let info = repo.commit_info(first).unwrap();
    assert_eq!(info.author, BATON_NAME, "baton commits on its own account under its own name");
    assert!(repo.is_clean().unwrap());
    assert_eq!(repo.commit_all("Nothing", Author::Baton).unwrap(), None);
    fs::remove_file(dir.path().join("a.txt")).unwrap();
    write(dir.path(), "b.txt", "b\nc\n");
    assert!(!repo.is_clean().unwrap());
    let second = repo.commit_all("Change", Author::Baton).unwrap().unwrap();
    let stat = repo.diffstat(Some(first), second).unwrap();
    let paths: Vec<_> = stat.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.txt", "b.txt"]);
    assert_eq!((stat.insertions, stat.deletions), (2, 1));
    let diff = repo.diff_text(Some(first), second).unwrap();
    assert!(diff.contains("-a\n") && diff.contains("+b\n"), "{diff}");
    // The first commit's diffstat is against the empty tree.
    assert_eq!(repo.diffstat(None, first).unwrap().files.len(), 2);
}

#[test]
fn reset_hard_moves_the_branch_and_the_work_tree_and_refs_keep_the_tip() {
    let (dir, repo) = new_repo();
    write(dir.path(), "a.txt", "base\n");
    let base = repo.commit_all("Base", Author::Operator).unwrap().unwrap();
    write(dir.path(), "a.txt", "agent's work\n");
    write(dir.path(), "new.txt", "new\n");
    let tip = repo.commit_all("Agent", Author::Operator).unwrap().unwrap();

    repo.set_ref("refs/baton/vetoed/session-0002", tip, "veto").unwrap();
    repo.reset_hard(base).unwrap();
    assert_eq!(repo.head().unwrap(), Some(base));
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "base\n");
    assert_eq!(repo.read_ref("refs/baton/vetoed/session-0002").unwrap(), Some(tip));
    assert_eq!(repo.read_ref("refs/baton/vetoed/session-0009").unwrap(), None);
    assert_eq!(repo.baton_refs("vetoed/").unwrap(), vec![("refs/baton/vetoed/session-0002".to_owned(), tip)]);
    assert!(matches!(repo.set_ref("refs/heads/main", tip, "x"), Err(RepoError::ForeignRef { .. })));
}

#[test]
fn exclude_adds_a_line_once() {
    let (dir, repo) = new_repo();
    assert!(repo.exclude("/.baton/").unwrap());
    assert!(!repo.exclude("/.baton/").unwrap());
    let text = fs::read_to_string(dir.path().join(".git/info/exclude")).unwrap();
    assert_eq!(text.lines().filter(|l| *l == "/.baton/").count(), 1);
    write(dir.path(), ".baton/journal.jsonl", "{}\n");
    assert!(repo.is_clean().unwrap(), ".baton/ is invisible to git");
}

#[test]
fn the_screen_reads_the_log_a_page_at_a_time() {
    use baton::tui::app::Reply;
    let (dir, repo) = new_repo();
    for i in 0..250 {
        write(dir.path(), "n.txt", &format!("{i}\n"));
        repo.commit_paths(&[Path::new("n.txt")], &format!("Commit {i}"), Author::Operator).unwrap();
    }
    let project = baton::project::Project::open(dir.path()).unwrap();
    let Reply::Log { rows, more } = baton::tui::worker::log(&project, baton::tui::worker::PAGE) else { panic!() };
    assert_eq!((rows.len(), more), (200, true));
    let Reply::Log { rows, more } = baton::tui::worker::log(&project, 2 * baton::tui::worker::PAGE) else { panic!() };
    assert_eq!((rows.len(), more), (250, false));
    assert_eq!(rows[249].summary, "Commit 0");
}

#[test]
fn the_screens_log_places_a_vetoed_tip_by_its_time_not_at_the_top() {
    let (dir, repo) = common::quickstart_repo();
    let at = |secs: i64| git2::Signature::new("Ada Operator", "ada@example.com", &git2::Time::new(secs, 0)).unwrap();
    let commit = |msg: &str, secs: i64, parent: git2::Oid| {
        let tree = repo.find_commit(parent).unwrap().tree().unwrap();
        let parent = repo.find_commit(parent).unwrap();
        repo.commit(None, &at(secs), &at(secs), msg, &tree, &[&parent]).unwrap()
    };
    let base = repo.head().unwrap().target().unwrap();
    let vetoed = commit("Session 2: vetoed work", 2_000_000_000, base);
    repo.reference("refs/baton/vetoed/session-0002", vetoed, true, "vetoed").unwrap();
    let later = commit("Session 3: later work", 2_000_000_100, base);
    repo.reference("refs/heads/master", later, true, "on").unwrap();
    repo.set_head("refs/heads/master").unwrap();
    let project = baton::project::Project::open(dir.path()).unwrap();
    let baton::tui::app::Reply::Log { rows, .. } = baton::tui::worker::log(&project, 100) else { panic!("no log") };
    let order: Vec<&str> = rows.iter().map(|r| r.summary.as_str()).collect();
    assert_eq!(order, ["Session 3: later work", "Session 2: vetoed work", "Initial commit from the quickstart"]);
    assert!(matches!(rows[1].mark, Some(baton::tui::panes::gitlog::Mark::VetoedTip { number: 2 })));
}
