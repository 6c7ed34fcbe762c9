//! What the project's repository holds, kept where no agent can reach it: a bare mirror under
//! `.baton/mirror.git` (`.baton/` is read-only to every session) with the repository's refs and
//! objects as they were before the last session, the branch HEAD was on, a copy of `.git/config`
//! and `.git/info/exclude`, and the operator's uncommitted files. It is brought up to date before
//! each session by copying the objects it lacks (the new commits' own trees and blobs: a session's
//! worth, not the repository's) and never garbage-collected, so a
//! session that rewrote history, expired the reflog and pruned, or removed `.git` altogether cannot
//! take the operator's commits with it.

use std::path::{Path, PathBuf};

use git2::{AutotagOption, FetchOptions, Oid, Repository};

use super::repo::{Repo, RepoError};
use super::uncommitted::Uncommitted;

/// The namespaces of refs the mirror keeps.
pub const KEPT: [&str; 3] = ["refs/heads/", "refs/tags/", "refs/baton/"];

/// The mirror of one project's repository.
pub struct Mirror {
    git: Repository,
    dir: PathBuf,
}

fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> RepoError {
    let context = context.into();
    move |source| RepoError::Git { context, source }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RepoError {
    let context = context.into();
    move |source| RepoError::Io { context, source }
}

impl Mirror {
    /// The mirror in `baton_dir` (`.baton/`), made if there is none.
    pub fn open(baton_dir: &Path) -> Result<Mirror, RepoError> {
        let dir = baton_dir.join("mirror.git");
        let git = match Repository::open_bare(&dir) {
            Ok(g) => g,
            Err(_) => Repository::init_bare(&dir).map_err(git(format!("making the mirror {}", dir.display())))?,
        };
        Ok(Mirror { git, dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the mirror what `repo` is now: every ref under [`KEPT`] (and no other), the objects
    /// they reach (only the new ones are copied), the branch HEAD is on, `.git/config` and
    /// `.git/info/exclude`; and the operator's uncommitted files in `theirs`.
    pub fn keep(&self, repo: &Repo, theirs: &[Uncommitted]) -> Result<(), RepoError> {
        let refs = repo.kept_refs()?;
        let kept = self.refs()?;
        match kept.is_empty() {
            // The first time, the whole history: one pack, through git's local transport.
            true => self.fetch_from(repo)?,
            // Then only what is new, object by object: a session's worth.
            false => self.copy_from(repo, &refs)?,
        }
        // Only the refs that moved are written.
        for (name, oid) in &refs {
            if !kept.contains(&(name.clone(), *oid)) {
                self.git.reference(name, *oid, true, "baton: kept").map_err(git(format!("keeping {name}")))?;
            }
        }
        // Refs the repository no longer has go from the mirror (their objects stay).
        for (name, _) in &kept {
            if !refs.iter().any(|(n, _)| n == name)
                && let Ok(mut r) = self.git.find_reference(name)
            {
                r.delete().map_err(git(format!("forgetting {name} in the mirror")))?;
            }
        }
        let head = match repo.branch() {
            Some(branch) if self.branch().as_deref() != Some(branch.as_str()) => {
                self.git.set_head(&format!("refs/heads/{branch}"))
            }
            Some(_) => Ok(()),
            None => match repo.head()? {
                Some(oid) => self.git.set_head_detached(oid),
                None => Ok(()),
            },
        };
        head.map_err(git("keeping the branch in the mirror"))?;
        for (name, kept) in [("config", "project-config"), ("info/exclude", "project-exclude")] {
            let path = self.dir.join(kept);
            match std::fs::read(repo.git_dir().join(name)) {
                Ok(bytes) if std::fs::read(&path).is_ok_and(|k| k == bytes) => {}
                Ok(bytes) => super::fsio::atomic_write(&path, &bytes).map_err(io(format!("keeping .git/{name}")))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("reading .git/{name}"))(e)),
            }
        }
        for u in theirs {
            if let Some(blob) = u.blob.as_deref().and_then(|b| Oid::from_str(b).ok())
                && let Some(data) = repo.blob(blob)
            {
                self.git.blob(&data).map_err(git(format!("keeping {}", u.path)))?;
            }
        }
        Ok(())
    }

    /// Every ref the mirror keeps, with what it points at, by name.
    pub fn refs(&self) -> Result<Vec<(String, Oid)>, RepoError> {
        let mut out = Vec::new();
        for r in self.git.references().map_err(git("listing the mirror's refs"))? {
            let r = r.map_err(git("listing the mirror's refs"))?;
            if let (Ok(name), Some(target)) = (r.name(), r.target())
                && KEPT.iter().any(|ns| name.starts_with(ns))
            {
                out.push((name.to_owned(), target));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The branch HEAD was on when the mirror was last brought up to date.
    pub fn branch(&self) -> Option<String> {
        let head = self.git.find_reference("HEAD").ok()?;
        head.symbolic_target().ok()??.strip_prefix("refs/heads/").map(str::to_owned)
    }

    /// What the branch pointed at then.
    pub fn branch_tip(&self) -> Option<Oid> {
        let branch = self.branch()?;
        self.git.find_reference(&format!("refs/heads/{branch}")).ok()?.target()
    }

    /// A blob the mirror holds (an uncommitted file kept before a session).
    pub fn blob(&self, oid: Oid) -> Option<Vec<u8>> {
        self.git.find_blob(oid).ok().map(|b| b.content().to_vec())
    }

    /// The copy of `.git/config` (`"config"`) or `.git/info/exclude` (`"exclude"`) kept.
    pub fn kept_file(&self, which: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(format!("project-{which}"))).ok()
    }

    /// Copies every object the mirror holds into `repo` (only what it lacks), under a namespace
    /// of refs that is removed afterwards: what a session pruned comes back.
    pub fn give_back(&self, repo: &Repo) -> Result<(), RepoError> {
        let source = self.dir.to_string_lossy().into_owned();
        let mut remote = repo.remote(&source)?;
        let mut options = FetchOptions::new();
        options.download_tags(AutotagOption::None).update_fetchhead(false);
        let specs: Vec<String> = KEPT.iter().map(|ns| format!("+{ns}*:refs/baton-mirror/{ns}*")).collect();
        remote.fetch(&specs, Some(&mut options), None).map_err(git("copying the mirror back into the repository"))?;
        repo.forget_refs("refs/baton-mirror/")
    }
}

impl Mirror {
    /// Everything the repository's refs reach, as one pack.
    fn fetch_from(&self, repo: &Repo) -> Result<(), RepoError> {
        let source = repo.git_dir().to_string_lossy().into_owned();
        let mut remote = self.git.remote_anonymous(&source).map_err(git("reaching the repository from the mirror"))?;
        let mut options = FetchOptions::new();
        options.download_tags(AutotagOption::None).update_fetchhead(false);
        let specs: Vec<String> = KEPT.iter().map(|ns| format!("+{ns}*:{ns}*")).collect();
        remote.fetch(&specs, Some(&mut options), None).map_err(git("copying the repository into the mirror"))
    }

    /// Copies into the mirror every object the repository's `refs` reach that it lacks: the
    /// commits the mirror has not seen, oldest first, each written after what it points at, so an
    /// object the mirror has always comes with all it reaches.
    fn copy_from(&self, repo: &Repo, refs: &[(String, Oid)]) -> Result<(), RepoError> {
        let (src, dst) = (repo.odb()?, self.git.odb().map_err(git("opening the mirror's objects"))?);
        let mut walk = repo.git().revwalk().map_err(git("walking the repository"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE).map_err(git("walking the repository"))?;
        let mut pushed = false;
        for (name, oid) in refs {
            // An annotated tag: the tag object, then what it tags.
            let target = match repo.git().find_tag(*oid) {
                Ok(tag) => {
                    let target = tag.target_id();
                    self.copy_commit_or_object(repo, &src, &dst, target)?;
                    copy_one(&src, &dst, *oid)?;
                    target
                }
                Err(_) => *oid,
            };
            if !dst.exists(target) && repo.git().find_commit(target).is_ok() {
                walk.push(target).map_err(git(format!("walking {name}")))?;
                pushed = true;
            }
        }
        if !pushed {
            return Ok(());
        }
        for (_, kept) in self.refs()? {
            let _ = walk.hide(kept);
        }
        for oid in walk {
            let oid = oid.map_err(git("walking the repository"))?;
            self.copy_commit_or_object(repo, &src, &dst, oid)?;
        }
        Ok(())
    }

    /// A commit with its tree (a commit's parents are copied before it by the walk), or any other
    /// object as it is.
    fn copy_commit_or_object(&self, repo: &Repo, src: &git2::Odb, dst: &git2::Odb, oid: Oid) -> Result<(), RepoError> {
        if dst.exists(oid) {
            return Ok(());
        }
        if let Ok(commit) = repo.git().find_commit(oid) {
            copy_tree(repo, src, dst, commit.tree_id())?;
        }
        copy_one(src, dst, oid)
    }
}

/// `oid` from `src` into `dst`, unless it is there.
fn copy_one(src: &git2::Odb, dst: &git2::Odb, oid: Oid) -> Result<(), RepoError> {
    if dst.exists(oid) {
        return Ok(());
    }
    let object = src.read(oid).map_err(git(format!("reading {oid}")))?;
    dst.write(object.kind(), object.data()).map_err(git(format!("keeping {oid}")))?;
    Ok(())
}

/// A tree and everything in it, the tree last; a tree the mirror has is whole already.
fn copy_tree(repo: &Repo, src: &git2::Odb, dst: &git2::Odb, tree: Oid) -> Result<(), RepoError> {
    if dst.exists(tree) {
        return Ok(());
    }
    let t = repo.git().find_tree(tree).map_err(git(format!("reading the tree {tree}")))?;
    for entry in t.iter() {
        match entry.kind() {
            Some(git2::ObjectType::Tree) => copy_tree(repo, src, dst, entry.id())?,
            Some(git2::ObjectType::Blob) => copy_one(src, dst, entry.id())?,
            // A submodule's commit lives in another repository.
            _ => {}
        }
    }
    copy_one(src, dst, tree)
}

impl Repo {
    /// Every ref under the mirror's namespaces, with what it points at.
    fn kept_refs(&self) -> Result<Vec<(String, Oid)>, RepoError> {
        let mut out = Vec::new();
        for r in self.git().references().map_err(git("listing the repository's refs"))? {
            let r = r.map_err(git("listing the repository's refs"))?;
            if let (Ok(name), Some(target)) = (r.name(), r.target())
                && KEPT.iter().any(|ns| name.starts_with(ns))
            {
                out.push((name.to_owned(), target));
            }
        }
        Ok(out)
    }

    fn odb(&self) -> Result<git2::Odb<'_>, RepoError> {
        self.git().odb().map_err(git("opening the repository's objects"))
    }

    /// An anonymous remote at `url`, for the mirror.
    fn remote(&self, url: &str) -> Result<git2::Remote<'_>, RepoError> {
        self.git().remote_anonymous(url).map_err(git("reaching the mirror from the repository"))
    }

    /// Deletes every ref under `prefix`.
    fn forget_refs(&self, prefix: &str) -> Result<(), RepoError> {
        let names: Vec<String> = self
            .git()
            .references_glob(&format!("{prefix}*"))
            .map_err(git(format!("listing {prefix}")))?
            .filter_map(|r| r.ok().and_then(|r| r.name().ok().map(str::to_owned)))
            .collect();
        for name in names {
            if let Ok(mut r) = self.git().find_reference(&name) {
                r.delete().map_err(git(format!("deleting {name}")))?;
            }
        }
        Ok(())
    }

    /// The content of blob `oid`, if the repository has it.
    pub fn blob(&self, oid: Oid) -> Option<Vec<u8>> {
        self.git().find_blob(oid).ok().map(|b| b.content().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(commits: usize) -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let (repo, _) = Repo::open_or_init(dir.path()).unwrap();
        for i in 0..commits {
            std::fs::write(dir.path().join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
            let path = format!("f{i}.txt");
            repo.commit_paths(&[Path::new(&path)], &format!("commit {i}"), super::super::repo::Author::Baton).unwrap();
        }
        (dir, repo)
    }

    #[test]
    fn a_repository_with_no_commit_yet_is_kept_too() {
        let (dir, repo) = repo_with(0);
        let mirror = Mirror::open(&dir.path().join(".baton")).unwrap();
        mirror.keep(&repo, &[]).unwrap();
        assert!(mirror.refs().unwrap().is_empty());
        assert_eq!(mirror.branch(), repo.branch());
    }

    #[test]
    fn the_mirror_holds_the_refs_exactly_and_the_objects_for_good() {
        let (dir, repo) = repo_with(2);
        let mirror = Mirror::open(&dir.path().join(".baton")).unwrap();
        let tip = repo.head().unwrap().unwrap();
        repo.set_ref("refs/baton/vetoed/session-0001", tip, "t").unwrap();
        mirror.keep(&repo, &[]).unwrap();
        let branch = format!("refs/heads/{}", repo.branch().unwrap());
        let names: Vec<String> = mirror.refs().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["refs/baton/vetoed/session-0001".to_owned(), branch]);
        assert_eq!(mirror.branch_tip(), Some(tip));
        // A ref the repository no longer has goes from the mirror; its commits stay.
        repo.git().find_reference("refs/baton/vetoed/session-0001").unwrap().delete().unwrap();
        mirror.keep(&repo, &[]).unwrap();
        assert_eq!(mirror.refs().unwrap().len(), 1);
        assert!(mirror.git.find_commit(tip).is_ok());

        // Later keeps copy only what is new, whole: the commit, its tree, its blob, a tag.
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/new.txt"), "new\n").unwrap();
        let next = repo.commit_paths(&[Path::new("sub/new.txt")], "next", super::super::repo::Author::Baton).unwrap();
        let sig = git2::Signature::now("a", "a@b").unwrap();
        let object = repo.git().find_object(next, None).unwrap();
        repo.git().tag("v1", &object, &sig, "a tag", false).unwrap();
        mirror.keep(&repo, &[]).unwrap();
        let kept = mirror.git.find_commit(next).unwrap();
        let blob = kept.tree().unwrap().get_path(Path::new("sub/new.txt")).unwrap().id();
        assert_eq!(mirror.blob(blob).unwrap(), b"new\n");
        assert_eq!(mirror.git.find_reference("refs/tags/v1").unwrap().peel_to_commit().unwrap().id(), next);
        assert_eq!(mirror.branch_tip(), Some(next));
    }
}
