//! What a session left in `.git/` that would steer the operator's own `git`: git reads
//! `.git/commondir` (and, through it, another directory's config and hooks), `.git/config.worktree`
//! and the repositories under `.git/modules/` and `.git/worktrees/` as its own control files. The
//! sandbox keeps `.git/config`, `.git/hooks/` and `.git/info/` read-only, but `.git/` itself must
//! stay writable for commits, so a new name there is looked at after each session: anything that
//! was not there before and is not state git writes for itself is moved out of `.git/`, into
//! `.baton/quarantine/`, and the review says so.

use std::path::{Path, PathBuf};

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
];

/// The names at the top of `.git/` before a session.
#[derive(Debug, Clone, Default)]
pub struct Before {
    names: Vec<String>,
}

/// The top of `.git/` in `root` as it is now.
pub fn before(root: &Path) -> Before {
    Before { names: names(&root.join(".git")) }
}

fn names(git: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(git)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Moves what the session added at the top of `.git/` and git does not write for itself into
/// `quarantine`; says what it moved, for the review.
pub fn sweep(root: &Path, before: &Before, quarantine: &Path) -> Vec<String> {
    let git = root.join(".git");
    if !git.is_dir() {
        return Vec::new();
    }
    let mut moved = Vec::new();
    for name in names(&git) {
        if before.names.contains(&name) || GIT_STATE.contains(&name.as_str()) || name.ends_with(".lock") {
            continue;
        }
        let from = git.join(&name);
        let to = unique(&quarantine.join(&name));
        let done = std::fs::create_dir_all(quarantine).and_then(|()| std::fs::rename(&from, &to));
        moved.push(match done {
            Ok(()) => format!(".git/{name} (moved to {})", to.strip_prefix(root).unwrap_or(&to).display()),
            Err(e) => format!(".git/{name} (could not be moved: {e}; remove it before running git here)"),
        });
    }
    moved
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
        let quarantine = root.join(".baton/quarantine/0001");
        let moved = sweep(root, &before, &quarantine);
        assert_eq!(moved.len(), 3, "{moved:?}");
        for name in ["commondir", "config.worktree", "worktrees"] {
            assert!(!root.join(".git").join(name).exists(), "{name}");
            assert!(quarantine.join(name).exists(), "{name}");
        }
        for kept in ["ORIG_HEAD", "index.lock", "COMMIT_EDITMSG", "config", "HEAD"] {
            assert!(root.join(".git").join(kept).exists(), "{kept}");
        }
        assert!(git2::Repository::open(root).is_ok(), "the repository still opens");
    }
}
