//! What a session left in `.git/` that would steer the operator's own `git`: git reads
//! `.git/commondir` (and, through it, another directory's config and hooks), `.git/config.worktree`
//! and the repositories under `.git/modules/` and `.git/worktrees/` as its own control files. The
//! sandbox keeps `.git/config`, `.git/hooks/` and `.git/info/` read-only, but `.git/` itself must
//! stay writable for commits, so a new name there is looked at after each session: anything that
//! was not there before and is not state git writes for itself is moved out of `.git/`, into
//! `.baton/quarantine/`, and the review says so. A repository below the top of the project is
//! git's too (the operator's `git status` runs git in a submodule, with its config): one the
//! session made is moved out whole, and one that was there is swept as `.git/` is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What git writes at the top of `.git/` for itself: refs, objects, the index, a merge or rebase
/// in progress, locks. Anything else new is moved out.
const GIT_STATE: &[&str] = &[
    "HEAD",
    "ORIG_HEAD",
    "FETCH_HEAD",
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "MERGE_RR",
    "AUTO_MERGE",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "REBASE_HEAD",
    "BISECT_LOG",
    "BISECT_START",
    "BISECT_TERMS",
    "BISECT_EXPECTED_REV",
    "BISECT_ANCESTORS_OK",
    "BISECT_NAMES",
    "BISECT_RUN",
    "COMMIT_EDITMSG",
    "TAG_EDITMSG",
    "SQUASH_MSG",
    "index",
    "objects",
    "refs",
    "logs",
    "packed-refs",
    "shallow",
    "description",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
    "rr-cache",
    "gc.log",
    "gc.pid",
    "lost-found",
    "branches",
    // git-lfs's objects: data, not settings.
    "lfs",
];

/// What `.git/` held before a session: the names at its top, and the repositories below the top
/// of the project. Kept in `.baton/` while the session runs, so a baton killed in it sweeps on
/// its next start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Before {
    names: Vec<String>,
    nested: Vec<Nested>,
}

/// A repository below the top of the project, as it was before a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Nested {
    /// Its `.git` (a directory, or a file or link naming one), from the top of the project.
    git: PathBuf,
    /// Which one that is: one put in its place is another repository.
    id: Option<Id>,
    names: Vec<String>,
}

/// The top of `.git/` in `root`, and the repositories below it, as they are now.
pub fn before(root: &Path) -> Before {
    let nested = nested(root)
        .into_iter()
        .map(|git| Nested { id: id(&git), names: names(&git), git: git.strip_prefix(root).unwrap_or(&git).to_owned() })
        .collect();
    Before { names: names(&root.join(".git")), nested }
}

fn names(git: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(git)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Which `.git` is at `path`: its file, and (a file or link naming a directory) what it names,
/// since a file put in the place of one just removed can have its number.
fn id(path: &Path) -> Option<Id> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    let target = if meta.is_symlink() {
        std::fs::read_link(path).ok().map(|p| p.into_os_string().into_encoded_bytes())
    } else if meta.is_file() {
        // A `.git` file is one line; a large one is read as far as that.
        std::fs::File::open(path).ok().and_then(|f| {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut text).ok().map(|_| text)
        })
    } else {
        None
    };
    Some(Id { file: (meta.dev(), meta.ino()), target })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Id {
    file: (u64, u64),
    target: Option<Vec<u8>>,
}

/// Every `.git` below the top of the project (not the project's own, nothing in `.baton/` or in
/// another `.git`), links not followed. The operator's `git status` runs git in each one the index
/// names as a submodule, with that repository's config: a `core.fsmonitor` there runs (seen).
pub fn nested(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if dir == root && (name == ".git" || name == ".baton") {
                continue;
            }
            if name == ".git" {
                found.push(entry.path());
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// Moves what the session added that would steer the operator's git into `quarantine`: new names
/// at the top of `.git/` (and of a repository below it) git does not write for itself, and every
/// repository the session made below the top of the project. Says what it moved, for the review.
pub fn sweep(root: &Path, before: &Before, quarantine: &Path) -> Vec<String> {
    let git = root.join(".git");
    if !git.is_dir() {
        return Vec::new();
    }
    let mut moved = sweep_top(root, &git, &before.names, quarantine);
    for made in nested(root) {
        let rel = made.strip_prefix(root).unwrap_or(&made);
        match was_there(before, rel, &made) {
            Some(was) if std::fs::symlink_metadata(&made).is_ok_and(|m| m.is_dir()) => {
                moved.extend(sweep_top(root, &made, &was.names, &quarantined(quarantine, rel)));
            }
            Some(_) => {}
            None => moved.push(move_repository(root, &made, quarantine)),
        }
    }
    moved
}

/// The repository below the top at `made` (`rel` from the top) as it was before the session, if
/// that is the one there now.
fn was_there<'a>(before: &'a Before, rel: &Path, made: &Path) -> Option<&'a Nested> {
    before.nested.iter().find(|n| n.git == rel && n.id == id(made))
}

/// Moves the repository the session made at `made` (its `.git`) into `quarantine`, where git does
/// not take it for one: `<its directory>/git`.
fn move_repository(root: &Path, made: &Path, quarantine: &Path) -> String {
    let rel = made.strip_prefix(root).unwrap_or(made);
    format!(
        "{} (a repository the session made, {})",
        rel.display(),
        move_out(root, made, &quarantined(quarantine, rel))
    )
}

/// Where what comes from the repository whose `.git` is at `rel` (from the top) goes in
/// `quarantine`: `<its directory>/git`, since a directory named `.git` there would be a
/// repository again.
fn quarantined(quarantine: &Path, rel: &Path) -> PathBuf {
    quarantine.join(rel.parent().unwrap_or(Path::new(""))).join("git")
}

/// What steers the operator's git the moment it exists at the top of `.git/`: a `commondir` (another
/// directory's config and hooks), a `config.worktree`, `modules/` (submodules' repositories).
const STEERING: &[&str] = &["commondir", "config.worktree", "modules"];

/// The sweep while a session runs, for an operator who runs git in the project meanwhile (lazygit
/// runs `git status` every few seconds): what steers git at the top of `.git/`, and a repository
/// at a path the index names as a submodule, are moved out as they appear. The rest waits for
/// [`sweep`], after the session, so the agent's own git is not disturbed.
#[derive(Debug, Default)]
pub struct Live {
    /// The index as last read (its file, when it changed, its size), and the submodules it names.
    index: Option<(u64, i64, i64, u64)>,
    submodules: Vec<PathBuf>,
}

impl Live {
    pub fn sweep(&mut self, root: &Path, before: &Before, quarantine: &Path) -> Vec<String> {
        let git = root.join(".git");
        let mut moved = Vec::new();
        // The project's own repository's, and those of the repositories that were below it.
        let tops = std::iter::once((git.clone(), &before.names, quarantine.to_owned()))
            .chain(before.nested.iter().map(|n| (root.join(&n.git), &n.names, quarantined(quarantine, &n.git))));
        for (dir, names, to) in tops {
            for name in STEERING.iter().filter(|name| !names.iter().any(|n| n == *name)) {
                let from = dir.join(name);
                if std::fs::symlink_metadata(&from).is_ok() {
                    let what = from.strip_prefix(root).unwrap_or(&from).display().to_string();
                    moved.push(format!("{what} ({})", move_out(root, &from, &to.join(name))));
                }
            }
        }
        self.read_index(&git);
        for path in &self.submodules {
            let made = root.join(path).join(".git");
            if std::fs::symlink_metadata(&made).is_ok() && was_there(before, &path.join(".git"), &made).is_none() {
                moved.push(move_repository(root, &made, quarantine));
            }
        }
        moved
    }

    /// The submodules the index names, read again when the index changed.
    fn read_index(&mut self, git: &Path) {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let path = git.join("index");
        let stamp = std::fs::metadata(&path).ok().map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.size()));
        if stamp == self.index {
            return;
        }
        self.index = stamp;
        self.submodules = git2::Index::open(&path)
            .map(|index| {
                index
                    .iter()
                    .filter(|e| e.mode == 0o160000)
                    .map(|e| PathBuf::from(std::ffi::OsStr::from_bytes(&e.path)))
                    .collect()
            })
            .unwrap_or_default();
    }
}

/// New names at the top of the git directory `git`, but git's own state, moved into `quarantine`.
fn sweep_top(root: &Path, git: &Path, before: &[String], quarantine: &Path) -> Vec<String> {
    let mut moved = Vec::new();
    for name in names(git) {
        let from = git.join(&name);
        let own = GIT_STATE.contains(&name.as_str()) || name.ends_with(".lock");
        // A rebase left half done whose next steps run commands: the operator's
        // `git rebase --continue` would run them, outside any sandbox.
        let runs = name == "rebase-merge" && runs_commands(&from);
        if before.contains(&name) || (own && !runs) {
            continue;
        }
        let what = from.strip_prefix(root).unwrap_or(&from).display().to_string();
        moved.push(format!("{what} ({})", move_out(root, &from, &quarantine.join(&name))));
    }
    moved
}

/// Whether the rebase in `dir` (`.git/rebase-merge`) has an `exec` step still to come.
fn runs_commands(dir: &Path) -> bool {
    let todo = std::fs::read_to_string(dir.join("git-rebase-todo")).unwrap_or_default();
    todo.lines().any(|l| matches!(l.split_whitespace().next(), Some("exec" | "x")))
}

/// Moves `from` to `to` (or a free name beside it): how that went, for the review.
fn move_out(root: &Path, from: &Path, to: &Path) -> String {
    let to = unique(to);
    let done = to.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::rename(from, &to));
    match done {
        Ok(()) => format!("moved to {}", to.strip_prefix(root).unwrap_or(&to).display()),
        Err(e) => format!("could not be moved: {e}; remove it before running git here"),
    }
}

fn unique(path: &Path) -> PathBuf {
    (0..)
        .map(|i| if i == 0 { path.to_owned() } else { PathBuf::from(format!("{}.{i}", path.display())) })
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_would_steer_git_is_moved_out_and_git_s_own_state_stays() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git2::Repository::init(root).unwrap();
        let before = before(root);
        for made in ["commondir", "config.worktree", "ORIG_HEAD", "index.lock", "COMMIT_EDITMSG"] {
            std::fs::write(root.join(".git").join(made), "../evil\n").unwrap();
        }
        std::fs::create_dir_all(root.join(".git/worktrees/x")).unwrap();
        // A rebase left half done: kept, unless a step still to come runs a command.
        std::fs::create_dir_all(root.join(".git/rebase-merge")).unwrap();
        std::fs::write(root.join(".git/rebase-merge/git-rebase-todo"), "pick 1234 a\n").unwrap();
        let quarantine = root.join(".baton/quarantine/0001");
        assert_eq!(sweep(root, &before, &quarantine).len(), 3);
        assert!(root.join(".git/rebase-merge").exists());
        std::fs::write(root.join(".git/rebase-merge/git-rebase-todo"), "pick 1234 a\nx touch ../../pwned\n").unwrap();
        let moved = sweep(root, &before, &quarantine);
        assert_eq!(moved, [".git/rebase-merge (moved to .baton/quarantine/0001/rebase-merge)"]);
        for name in ["commondir", "config.worktree", "worktrees"] {
            assert!(!root.join(".git").join(name).exists(), "{name}");
            assert!(quarantine.join(name).exists(), "{name}");
        }
        for kept in ["ORIG_HEAD", "index.lock", "COMMIT_EDITMSG", "config", "HEAD"] {
            assert!(root.join(".git").join(kept).exists(), "{kept}");
        }
        assert!(git2::Repository::open(root).is_ok(), "the repository still opens");
    }

    #[test]
    fn a_repository_the_session_made_below_the_top_is_moved_out_and_one_that_was_there_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git2::Repository::init(root).unwrap();
        git2::Repository::init(root.join("vendor/lib")).unwrap();
        std::fs::create_dir_all(root.join("vendor/other")).unwrap();
        std::fs::write(root.join("vendor/other/.git"), "gitdir: ../../.git/modules/other\n").unwrap();
        let before = before(root);
        assert_eq!(nested(root), [root.join("vendor/lib/.git"), root.join("vendor/other/.git")]);
        // Made by the session: a repository, a `.git` file naming a directory of the agent's, and
        // one put in the place of the vendored file.
        git2::Repository::init(root.join("src/sub")).unwrap();
        std::fs::create_dir_all(root.join("deep/er")).unwrap();
        std::fs::write(root.join("deep/er/.git"), "gitdir: ../../evil\n").unwrap();
        std::fs::remove_file(root.join("vendor/other/.git")).unwrap();
        std::fs::write(root.join("vendor/other/.git"), "gitdir: ../../evil\n").unwrap();
        std::fs::write(root.join("vendor/lib/.git/commondir"), "../../evil\n").unwrap();
        std::fs::write(root.join("vendor/lib/.git/ORIG_HEAD"), "0\n").unwrap();
        let quarantine = root.join(".baton/quarantine/0001");
        let moved = sweep(root, &before, &quarantine);
        assert_eq!(moved.len(), 4, "{moved:?}");
        for (made, to) in [
            ("src/sub/.git", "src/sub/git"),
            ("deep/er/.git", "deep/er/git"),
            ("vendor/other/.git", "vendor/other/git"),
            ("vendor/lib/.git/commondir", "vendor/lib/git/commondir"),
        ] {
            assert!(!root.join(made).exists(), "{made}");
            assert!(quarantine.join(to).exists(), "{to}");
            let said = format!("{made} (");
            assert!(moved.iter().any(|m| m.starts_with(&said) && m.contains(to)), "{made}: {moved:?}");
        }
        assert!(root.join("vendor/lib/.git/ORIG_HEAD").exists(), "git's own state stays");
        assert!(git2::Repository::open(root.join("vendor/lib")).is_ok());
        // What is in the quarantine is not a repository below the top any more.
        assert_eq!(nested(root), [root.join("vendor/lib/.git")]);
    }

    #[test]
    fn while_a_session_runs_what_steers_git_is_moved_as_it_appears_and_the_rest_waits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = git2::Repository::init(root).unwrap();
        git2::Repository::init(root.join("vendor/lib")).unwrap();
        let before = before(root);
        let quarantine = root.join(".baton/quarantine/0001");
        let mut live = Live::default();
        assert!(live.sweep(root, &before, &quarantine).is_empty(), "nothing yet");
        std::fs::write(root.join(".git/commondir"), "../evil\n").unwrap();
        std::fs::write(root.join("vendor/lib/.git/commondir"), "../../evil\n").unwrap();
        std::fs::write(root.join(".git/stray"), "").unwrap();
        // A repository, once the index names it as a submodule; another it does not name.
        let sub = git2::Repository::init(root.join("sub")).unwrap();
        git2::Repository::init(root.join("loose")).unwrap();
        let moved = live.sweep(root, &before, &quarantine);
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert!(quarantine.join("commondir").exists() && quarantine.join("vendor/lib/git/commondir").exists());
        let sig = git2::Signature::now("a", "a@x").unwrap();
        let tree = sub.find_tree(sub.index().unwrap().write_tree().unwrap()).unwrap();
        let head = sub.commit(Some("HEAD"), &sig, &sig, "s", &tree, &[]).unwrap();
        let mut index = repo.index().unwrap();
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o160000,
            uid: 0,
            gid: 0,
            file_size: 0,
            id: head,
            flags: 3,
            flags_extended: 0,
            path: b"sub".to_vec(),
        };
        index.add(&entry).unwrap();
        index.write().unwrap();
        let moved = live.sweep(root, &before, &quarantine);
        assert_eq!(moved, ["sub/.git (a repository the session made, moved to .baton/quarantine/0001/sub/git)"]);
        // The rest waits for the sweep after the session.
        assert!(root.join(".git/stray").exists() && root.join("loose/.git").exists());
        assert!(live.sweep(root, &before, &quarantine).is_empty(), "said once");
    }
}
