//! After a session: did the operator's history survive it? Every ref the mirror kept must still be
//! there and only have moved forward (the branch a descendant of the session's base), HEAD must be
//! on the same branch, and the repository must open. When not, the history is put back from the
//! mirror: the repository rebuilt if it is gone or damaged, every commit that existed before the
//! session back on its ref, the work tree back to the branch with the operator's uncommitted
//! files, and what the session left kept under `refs/baton/rewritten/`.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::mirror::Mirror;
use super::repo::{Author, Repo, RepoError};
use super::uncommitted::Uncommitted;

/// A ref the session took back, moved sideways, broke or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub name: String,
    /// Where it pointed before the session.
    pub was: Oid,
    /// Where it points now, if it points at a commit at all.
    pub now: Option<Oid>,
}

/// What a session did to the history the mirror kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Why the repository cannot be used as it is (gone, damaged).
    pub broken: Option<String>,
    pub moved: Vec<Moved>,
    /// HEAD left the branch it was on: where it is now.
    pub head_moved: Option<String>,
}

impl Findings {
    pub fn is_clean(&self) -> bool {
        self.broken.is_none() && self.moved.is_empty() && self.head_moved.is_none()
    }
}

/// Compares the repository at `root` with what `mirror` kept before the session.
pub fn check(root: &Path, mirror: &Mirror) -> Result<Findings, RepoError> {
    let mut found = Findings::default();
    let repo = match Repository::open(root) {
        Ok(r) => r,
        Err(e) => {
            found.broken = Some(match root.join(".git").exists() {
                true => format!("the repository is damaged ({})", e.message()),
                false => "the repository is gone (.git was removed)".to_owned(),
            });
            return Ok(found);
        }
    };
    if let Err(e) = repo.head()
        && !matches!(e.code(), git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound)
    {
        found.broken = Some(format!("the repository is damaged: HEAD cannot be read ({})", e.message()));
        return Ok(found);
    }
    for (name, was) in mirror.refs()? {
        let now = match repo.find_reference(&name) {
            Ok(r) => r.target().filter(|t| repo.find_commit(*t).is_ok() || *t == was),
            Err(_) => None,
        };
        let kept = match now {
            Some(now) if now == was => true,
            // Only forward: what was there must still be reachable from it.
            Some(now) => repo.find_commit(was).is_ok() && repo.graph_descendant_of(now, was).unwrap_or(false),
            None => false,
        };
        if !kept {
            found.moved.push(Moved { name, was, now });
        }
    }
    let branch = repo
        .find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_owned))
        .and_then(|t| t.strip_prefix("refs/heads/").map(str::to_owned));
    if let Some(kept) = mirror.branch()
        && branch.as_deref() != Some(kept.as_str())
    {
        found.head_moved = Some(branch.map_or("a detached HEAD".to_owned(), |b| format!("the branch `{b}`")));
    }
    Ok(found)
}

/// What putting the history back did, in words for the review.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    pub words: Vec<String>,
    /// Where what the session left is kept.
    pub kept: Option<String>,
}

/// Puts back what `found` says the session took, from `mirror`, and keeps what the session left
/// at `refs/baton/rewritten/session-NNNN`. `theirs` are the operator's uncommitted files.
pub fn restore(
    root: &Path,
    baton_dir: &Path,
    mirror: &Mirror,
    found: &Findings,
    number: u32,
    theirs: &[Uncommitted],
) -> Result<Restored, RepoError> {
    let keep_as = format!("{}rewritten/session-{number:04}", super::repo::REF_PREFIX);
    let mut out = Restored::default();
    let branch = mirror.branch();
    let tip = mirror.branch_tip();
    let branch_ref = branch.as_ref().map(|b| format!("refs/heads/{b}"));
    // Only another ref was taken (a tag, a branch baton does not work on): it is put back, and the
    // session's work on its branch stays where it is.
    let branch_taken = found.broken.is_some()
        || found.head_moved.is_some()
        || found.moved.iter().any(|m| Some(&m.name) == branch_ref.as_ref());
    if !branch_taken {
        let repo = Repo::open(root)?;
        mirror.give_back(&repo)?;
        for m in &found.moved {
            repo.put_ref(&m.name, m.was)?;
            out.words.push(format!("the session deleted or moved {} (not its branch); put back", describe(&m.name)));
        }
        return Ok(out);
    }
    // What the session left, as a commit on top of where it left HEAD (or of the branch as it was,
    // when the repository went with it): kept before anything is put back.
    let left = if let Some(why) = &found.broken {
        let aside = rebuild(root, baton_dir, mirror, number)?;
        let repo = Repo::open(root)?;
        let left = repo.snapshot_work(tip, theirs, &format!("baton: what session {number} left when {why}"))?;
        out.words.push(match aside {
            Some(a) => format!(
                "{why}: baton rebuilt it from its mirror (the damaged one is kept at {}), every commit and the branch as they were before the session",
                a.display()
            ),
            None => format!("{why}: baton rebuilt it from its mirror, every commit and the branch as they were before the session"),
        });
        left
    } else {
        let repo = Repo::open(root)?;
        let now = repo.head().ok().flatten();
        let message = format!("baton: what session {number} left uncommitted when it rewrote history");
        let left = repo.snapshot_work(now, theirs, &message)?.or(now);
        mirror.give_back(&repo)?;
        left
    };
    let repo = Repo::open(root)?;
    for m in &found.moved {
        let dropped = repo.count_dropped(m.was, m.now);
        repo.put_ref(&m.name, m.was)?;
        let what = describe(&m.name);
        if found.broken.is_none() {
            out.words.push(match (m.now, dropped) {
                (None, _) => format!("the session deleted {what} (or broke it); put back"),
                (Some(_), 0) => format!("the session moved {what} sideways; put back"),
                (Some(_), 1) => format!("the session rewrote history: 1 commit of {what} dropped; put back"),
                (Some(_), n) => format!("the session rewrote history: {n} commits of {what} dropped; put back"),
            });
        }
    }
    if let Some(branch) = &branch {
        repo.point_head(branch)?;
        if let Some(h) = &found.head_moved
            && found.broken.is_none()
        {
            out.words.push(format!("the session left HEAD on {h}; put back on `{branch}`"));
        }
    }
    // The work tree as the branch is, with the operator's files as they were.
    if let Some(tip) = tip {
        repo.reset_hard(tip)?;
    }
    repo.clear_untracked(theirs)?;
    repo.restore_uncommitted(theirs)?;
    if let Some(left) = left
        && Some(left) != tip
    {
        repo.set_ref(&keep_as, left, &format!("baton: what session {number} left"))?;
        out.kept = Some(keep_as.clone());
        out.words.push(format!("what the session left is kept at {keep_as}"));
    }
    Ok(out)
}

/// A ref in words: "the branch `main`", "the tag `v1`".
fn describe(name: &str) -> String {
    if let Some(short) = name.strip_prefix("refs/heads/") {
        format!("the branch `{short}`")
    } else if let Some(short) = name.strip_prefix("refs/tags/") {
        format!("the tag `{short}`")
    } else {
        format!("`{name}`")
    }
}

/// A new repository at `root` from `mirror`: its objects, refs, branch, config and excludes. A
/// damaged `.git` is moved aside into `baton_dir` first; returns where.
fn rebuild(root: &Path, baton_dir: &Path, mirror: &Mirror, number: u32) -> Result<Option<PathBuf>, RepoError> {
    let io = |context: String| move |source| RepoError::Io { context, source };
    let dot_git = root.join(".git");
    let mut aside = None;
    if std::fs::symlink_metadata(&dot_git).is_ok() {
        let to = baton_dir.join("damaged").join(format!("session-{number:04}.git"));
        std::fs::create_dir_all(to.parent().unwrap_or(baton_dir)).map_err(io(format!("making {}", to.display())))?;
        let _ = std::fs::remove_dir_all(&to);
        std::fs::rename(&dot_git, &to).map_err(io(format!("moving the damaged {} aside", dot_git.display())))?;
        aside = Some(to);
    }
    let git = Repository::init(root)
        .map_err(|source| RepoError::Git { context: "rebuilding the repository".into(), source })?;
    for (kept, name) in [("config", "config"), ("exclude", "info/exclude")] {
        if let Some(bytes) = mirror.kept_file(kept) {
            let path = git.path().join(name);
            super::fsio::atomic_write(&path, &bytes).map_err(io(format!("restoring {}", path.display())))?;
        }
    }
    drop(git);
    let repo = Repo::open(root)?;
    repo.exclude(super::BATON_EXCLUDE)?;
    mirror.give_back(&repo)?;
    for (name, oid) in mirror.refs()? {
        repo.put_ref(&name, oid)?;
    }
    if let Some(branch) = mirror.branch() {
        repo.point_head(&branch)?;
    }
    // The index as the branch is; the work tree is left for the caller to keep first.
    repo.reset_index()?;
    Ok(aside)
}

impl Repo {
    /// Commits what differs from HEAD and is not the operator's (`theirs`, unchanged) on top of
    /// `parent`, without moving any ref. `None` when there is nothing.
    fn snapshot_work(
        &self,
        parent: Option<Oid>,
        theirs: &[Uncommitted],
        message: &str,
    ) -> Result<Option<Oid>, RepoError> {
        let paths = self.not_theirs(theirs)?;
        if paths.is_empty() {
            return Ok(None);
        }
        let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        self.commit_paths_on(parent, &paths, message, Author::Baton).map(Some)
    }

    /// How many commits reachable from `was` are not from `now`.
    fn count_dropped(&self, was: Oid, now: Option<Oid>) -> usize {
        let Ok(mut walk) = self.git().revwalk() else { return 0 };
        if walk.push(was).is_err() {
            return 0;
        }
        if let Some(now) = now {
            let _ = walk.hide(now);
        }
        walk.count()
    }

    /// Points `name` at `oid`, whatever stands there now (a ref file an agent wrote over is
    /// replaced).
    fn put_ref(&self, name: &str, oid: Oid) -> Result<(), RepoError> {
        if let Ok(mut r) = self.git().find_reference(name) {
            let _ = r.delete();
        }
        let file = self.git_dir().join(name);
        if std::fs::symlink_metadata(&file).is_ok_and(|m| !m.is_dir()) {
            let _ = std::fs::remove_file(&file);
        }
        self.git()
            .reference(name, oid, true, "baton: put back from the mirror")
            .map_err(|source| RepoError::Git { context: format!("putting back {name}"), source })?;
        Ok(())
    }

    /// Puts HEAD on `branch`.
    fn point_head(&self, branch: &str) -> Result<(), RepoError> {
        self.git()
            .set_head(&format!("refs/heads/{branch}"))
            .map_err(|source| RepoError::Git { context: format!("putting HEAD back on {branch}"), source })
    }

    /// The index as HEAD's tree (a rebuilt repository has none).
    fn reset_index(&self) -> Result<(), RepoError> {
        let Some(head) = self.head()? else { return Ok(()) };
        let obj = self
            .git()
            .find_object(head, None)
            .map_err(|source| RepoError::Git { context: format!("finding {head}"), source })?;
        self.git()
            .reset(&obj, git2::ResetType::Mixed, None)
            .map_err(|source| RepoError::Git { context: "rebuilding the index".into(), source })
    }
}
