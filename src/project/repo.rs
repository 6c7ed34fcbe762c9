//! The project's git repository, through libgit2 (no git subprocesses): HEAD, the log read page by
//! page, commits of chosen files, diffstats, hard resets and baton's own refs under `refs/baton/`.

use std::path::{Path, PathBuf};

use git2::{
    Diff, DiffFormat, ErrorCode, Index, IndexAddOption, IndexEntry, IndexTime, ObjectType, Oid, Repository, ResetType,
    Signature, Sort, StatusOptions, Tree,
};
use serde::{Deserialize, Serialize};

/// The identity baton commits under when it commits on its own account, or when the operator has
/// no git identity configured.
pub const BATON_NAME: &str = "baton";
pub const BATON_EMAIL: &str = "baton@localhost";

/// Where baton keeps refs of its own (vetoed tips and the like).
pub const REF_PREFIX: &str = "refs/baton/";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{} is not a git repository (run `baton init` there first)", path.display())]
    NotARepository { path: PathBuf },
    #[error("git: {context}: {}", source.message())]
    Git { context: String, source: git2::Error },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("refusing to touch {name}: baton only writes refs under {REF_PREFIX}")]
    ForeignRef { name: String },
}

trait Context<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, RepoError>;
}

impl<T> Context<T> for Result<T, git2::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, RepoError> {
        self.map_err(|source| RepoError::Git { context: context(), source })
    }
}

/// Who a commit is made in the name of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The operator's own git identity (`user.name`, `user.email`), or baton's when none is set.
    Operator,
    /// baton itself: commits it makes on its own account (work left uncommitted, guard repairs).
    Baton,
}

/// One commit, as the log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub id: String,
    pub summary: String,
    pub message: String,
    pub author: String,
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
    pub parents: Vec<String>,
}

impl CommitInfo {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(7)]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileStat {
    pub path: String,
    pub insertions: usize,
    pub deletions: usize,
}

/// What changed between two commits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffStat {
    pub files: Vec<FileStat>,
    pub insertions: usize,
    pub deletions: usize,
}

pub struct Repo {
    git: Repository,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Repo").field("path", &self.git.path()).finish()
    }
}

impl Repo {
    /// Opens the repository whose work tree is `dir` (no search upwards: a project is its own repo).
    pub fn open(dir: &Path) -> Result<Self, RepoError> {
        match Repository::open(dir) {
            Ok(git) => Ok(Repo { git }),
            Err(e) if e.code() == ErrorCode::NotFound => Err(RepoError::NotARepository { path: dir.to_owned() }),
            Err(e) => Err(e).ctx(|| format!("opening {}", dir.display())),
        }
    }

    /// Opens the repository at `dir`, creating it if there is none. Says whether it was created.
    pub fn open_or_init(dir: &Path) -> Result<(Self, bool), RepoError> {
        match Self::open(dir) {
            Ok(repo) => Ok((repo, false)),
            Err(RepoError::NotARepository { .. }) => {
                let git = Repository::init(dir).ctx(|| format!("git init {}", dir.display()))?;
                Ok((Repo { git }, true))
            }
            Err(e) => Err(e),
        }
    }

    /// The libgit2 repository, for the other parts of the project layer.
    pub(super) fn git(&self) -> &Repository {
        &self.git
    }

    pub fn workdir(&self) -> &Path {
        self.git.workdir().unwrap_or_else(|| self.git.path())
    }

    /// The `.git` directory.
    pub fn git_dir(&self) -> &Path {
        self.git.path()
    }

    /// The commit HEAD points at; `None` before the first commit.
    pub fn head(&self) -> Result<Option<Oid>, RepoError> {
        match self.git.head() {
            Ok(r) => Ok(r.target()),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e).ctx(|| "reading HEAD".into()),
        }
    }

    /// The branch HEAD is on (`main`), or `None` when detached.
    pub fn branch(&self) -> Option<String> {
        let head = self.git.find_reference("HEAD").ok()?;
        let target = head.symbolic_target().ok()??;
        target.strip_prefix("refs/heads/").map(str::to_owned)
    }

    /// Commits reachable from `from` (HEAD when `None`), newest first, read lazily: taking the first
    /// page of a long history costs only that page.
    pub fn walk(
        &self,
        from: Option<Oid>,
    ) -> Result<impl Iterator<Item = Result<CommitInfo, RepoError>> + '_, RepoError> {
        let start = match from {
            Some(oid) => Some(oid),
            None => self.head()?,
        };
        let mut walk = self.git.revwalk().ctx(|| "starting the log".into())?;
        walk.set_sorting(Sort::NONE).ctx(|| "starting the log".into())?;
        if let Some(oid) = start {
            walk.push(oid).ctx(|| format!("starting the log at {oid}"))?;
        }
        Ok(walk.map(move |oid| {
            let oid = oid.ctx(|| "walking the log".into())?;
            self.commit_info(oid)
        }))
    }

    /// One page of the log from HEAD: `limit` commits after skipping `skip`.
    pub fn log_page(&self, skip: usize, limit: usize) -> Result<Vec<CommitInfo>, RepoError> {
        self.walk(None)?.skip(skip).take(limit).collect()
    }

    pub fn commit_info(&self, oid: Oid) -> Result<CommitInfo, RepoError> {
        let c = self.git.find_commit(oid).ctx(|| format!("reading commit {oid}"))?;
        let author = c.author();
        // What an agent wrote into a commit is shown, never a secret it copied there.
        let shown = |text: Option<&str>| super::secrets::global().redact(text.unwrap_or("")).into_owned();
        Ok(CommitInfo {
            id: oid.to_string(),
            summary: shown(c.summary().ok().flatten()),
            message: shown(c.message().ok()),
            author: shown(author.name().ok()),
            email: shown(author.email().ok()),
            time: c.time().seconds(),
            parents: c.parent_ids().map(|p| p.to_string()).collect(),
        })
    }

    /// Commits between `base` (exclusive) and `head` (inclusive), newest first.
    pub fn commits_between(&self, base: Option<Oid>, head: Oid) -> Result<Vec<CommitInfo>, RepoError> {
        let mut walk = self.git.revwalk().ctx(|| "walking commits".into())?;
        walk.push(head).ctx(|| format!("walking from {head}"))?;
        if let Some(base) = base {
            walk.hide(base).ctx(|| format!("walking from {base}"))?;
        }
        walk.map(|oid| self.commit_info(oid.ctx(|| "walking commits".into())?)).collect()
    }

    fn signature(&self, author: Author) -> Result<Signature<'static>, RepoError> {
        if author == Author::Operator
            && let Ok(sig) = self.git.signature()
        {
            return Ok(sig.to_owned());
        }
        Signature::now(BATON_NAME, BATON_EMAIL).ctx(|| "making baton's signature".into())
    }

    fn head_tree(&self) -> Result<Option<Tree<'_>>, RepoError> {
        match self.head()? {
            Some(oid) => {
                let commit = self.git.find_commit(oid).ctx(|| format!("reading commit {oid}"))?;
                Ok(Some(commit.tree().ctx(|| format!("reading the tree of {oid}"))?))
            }
            None => Ok(None),
        }
    }

    /// Commits the current content of `paths` (relative to the work tree; a missing file, or
    /// something that is not a file, is a deletion) on top of HEAD, leaving anything else the
    /// operator has staged out of it.
    pub fn commit_paths(&self, paths: &[&Path], message: &str, author: Author) -> Result<Oid, RepoError> {
        let mut real = self.git.index().ctx(|| "reading the index".into())?;
        let tree_id = self.tree_with(self.head_tree()?.as_ref(), paths, Some(&mut real))?;
        let oid = self.commit_tree(tree_id, message, author)?;
        real.write().ctx(|| "writing the index".into())?;
        Ok(oid)
    }

    /// Commits the current content of `paths` on top of `parent` (none: a first commit) without
    /// moving any ref or touching the index: a commit kept aside.
    pub(super) fn commit_paths_on(
        &self,
        parent: Option<Oid>,
        paths: &[&Path],
        message: &str,
        author: Author,
    ) -> Result<Oid, RepoError> {
        let parent = match parent {
            Some(p) => Some(self.git.find_commit(p).ctx(|| format!("reading commit {p}"))?),
            None => None,
        };
        let base = parent.as_ref().map(|c| c.tree()).transpose().ctx(|| "reading the parent's tree".into())?;
        let tree_id = self.tree_with(base.as_ref(), paths, None)?;
        let tree = self.git.find_tree(tree_id).ctx(|| "reading the new tree".into())?;
        let sig = self.signature(author)?;
        let parents: Vec<_> = parent.iter().collect();
        self.git.commit(None, &sig, &sig, message, &tree, &parents).ctx(|| "keeping a commit aside".into())
    }

    /// The tree `base` with `paths` as the work tree has them now; `real`, the repository's index,
    /// is updated alike when given.
    fn tree_with(
        &self,
        base: Option<&Tree<'_>>,
        paths: &[&Path],
        mut real: Option<&mut Index>,
    ) -> Result<Oid, RepoError> {
        let mut index = Index::new().ctx(|| "making an index".into())?;
        if let Some(tree) = base {
            index.read_tree(tree).ctx(|| "reading HEAD's tree".into())?;
        }
        for path in paths {
            let full = self.workdir().join(path);
            let io = |source| RepoError::Io { context: format!("reading {}", full.display()), source };
            match std::fs::symlink_metadata(&full) {
                // A directory, FIFO, socket or device is no file git can hold: the file that was
                // there is gone. (Reading a FIFO would block until someone writes to it.)
                Ok(meta) if !meta.is_file() && !meta.file_type().is_symlink() => {
                    let _ = index.remove_path(path);
                    if let Some(real) = real.as_deref_mut() {
                        let _ = real.remove_path(path);
                    }
                }
                Ok(meta) => {
                    use std::os::unix::fs::PermissionsExt;
                    let (data, mode) = if meta.file_type().is_symlink() {
                        let target = std::fs::read_link(&full).map_err(io)?;
                        (target.into_os_string().into_encoded_bytes(), 0o120000)
                    } else {
                        let exec = meta.permissions().mode() & 0o111 != 0;
                        (std::fs::read(&full).map_err(io)?, if exec { 0o100755 } else { 0o100644 })
                    };
                    let id = self.git.blob(&data).ctx(|| format!("storing {}", path.display()))?;
                    // A directory that stood here in HEAD goes: a path is a file or a tree.
                    let _ = index.remove_dir(path, 0);
                    index
                        .add(&index_entry(path, id, mode, data.len()))
                        .ctx(|| format!("staging {}", path.display()))?;
                    if let Some(real) = real.as_deref_mut() {
                        let _ = real.remove_dir(path, 0);
                        real.add_path(path).ctx(|| format!("staging {}", path.display()))?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = index.remove_path(path);
                    if let Some(real) = real.as_deref_mut() {
                        let _ = real.remove_path(path);
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        index.write_tree_to(&self.git).ctx(|| "writing the tree".into())
    }

    /// Commits everything in the work tree (new, changed and deleted files, `.gitignore` obeyed),
    /// as `git add -A && git commit` would. `None` when there is nothing to commit.
    pub fn commit_all(&self, message: &str, author: Author) -> Result<Option<Oid>, RepoError> {
        let mut index = self.git.index().ctx(|| "reading the index".into())?;
        index.add_all(["*"], IndexAddOption::DEFAULT, None).ctx(|| "staging all files".into())?;
        index.update_all(["*"], None).ctx(|| "staging deletions".into())?;
        index.write().ctx(|| "writing the index".into())?;
        let tree_id = index.write_tree().ctx(|| "writing the tree".into())?;
        if let Some(tree) = self.head_tree()?
            && tree.id() == tree_id
        {
            return Ok(None);
        }
        self.commit_tree(tree_id, message, author).map(Some)
    }

    fn commit_tree(&self, tree_id: Oid, message: &str, author: Author) -> Result<Oid, RepoError> {
        let tree = self.git.find_tree(tree_id).ctx(|| "reading the new tree".into())?;
        let sig = self.signature(author)?;
        let parent = match self.head()? {
            Some(oid) => Some(self.git.find_commit(oid).ctx(|| format!("reading commit {oid}"))?),
            None => None,
        };
        let parents: Vec<_> = parent.iter().collect();
        self.git
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .ctx(|| format!("committing \"{}\"", message.lines().next().unwrap_or("")))
    }

    /// Whether the work tree has no changes and no untracked files (ignored files aside).
    pub fn is_clean(&self) -> Result<bool, RepoError> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true).exclude_submodules(true);
        let statuses = self.git.statuses(Some(&mut opts)).ctx(|| "reading git status".into())?;
        Ok(statuses.is_empty())
    }

    fn diff(&self, from: Option<Oid>, to: Oid) -> Result<Diff<'_>, RepoError> {
        let tree_of =
            |oid: Oid| self.git.find_commit(oid).and_then(|c| c.tree()).ctx(|| format!("reading the tree of {oid}"));
        let old = from.map(tree_of).transpose()?;
        let new = tree_of(to)?;
        self.git.diff_tree_to_tree(old.as_ref(), Some(&new), None).ctx(|| "diffing".into())
    }

    /// Files changed between `from` (the empty tree when `None`) and `to`, with line counts.
    pub fn diffstat(&self, from: Option<Oid>, to: Oid) -> Result<DiffStat, RepoError> {
        let diff = self.diff(from, to)?;
        let mut stat = DiffStat::default();
        for i in 0..diff.deltas().len() {
            let Some(patch) = git2::Patch::from_diff(&diff, i).ctx(|| "reading a patch".into())? else {
                continue;
            };
            let (_, insertions, deletions) = patch.line_stats().ctx(|| "counting lines".into())?;
            let delta = patch.delta();
            let path = delta.new_file().path().or_else(|| delta.old_file().path());
            stat.files.push(FileStat {
                path: path.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
                insertions,
                deletions,
            });
            stat.insertions += insertions;
            stat.deletions += deletions;
        }
        Ok(stat)
    }

    /// The unified diff between `from` and `to`, as `git diff` prints it.
    pub fn diff_text(&self, from: Option<Oid>, to: Oid) -> Result<String, RepoError> {
        let diff = self.diff(from, to)?;
        let mut out = String::new();
        diff.print(DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                out.push(line.origin());
            }
            out.push_str(&String::from_utf8_lossy(line.content()));
            true
        })
        .ctx(|| "printing the diff".into())?;
        Ok(super::secrets::global().redact(&out).into_owned())
    }

    /// Moves the branch to `oid` and makes the index and work tree match it (`git reset --hard`).
    pub fn reset_hard(&self, oid: Oid) -> Result<(), RepoError> {
        let obj = self.git.find_object(oid, Some(ObjectType::Commit)).ctx(|| format!("finding {oid}"))?;
        self.git.reset(&obj, ResetType::Hard, None).ctx(|| format!("resetting to {oid}"))
    }

    /// Points `name` (which must be under `refs/baton/`) at `oid`, replacing what was there.
    pub fn set_ref(&self, name: &str, oid: Oid, log_message: &str) -> Result<(), RepoError> {
        if !name.starts_with(REF_PREFIX) {
            return Err(RepoError::ForeignRef { name: name.to_owned() });
        }
        self.git.reference(name, oid, true, log_message).ctx(|| format!("writing {name}"))?;
        Ok(())
    }

    /// Where `name` points, or `None` if there is no such ref.
    pub fn read_ref(&self, name: &str) -> Result<Option<Oid>, RepoError> {
        match self.git.find_reference(name) {
            Ok(r) => Ok(r.target()),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).ctx(|| format!("reading {name}")),
        }
    }

    /// Every ref under `refs/baton/<prefix>`, with its target, sorted by name.
    pub fn baton_refs(&self, prefix: &str) -> Result<Vec<(String, Oid)>, RepoError> {
        let glob = format!("{REF_PREFIX}{prefix}*");
        let refs = self.git.references_glob(&glob).ctx(|| format!("listing {glob}"))?;
        let mut out = Vec::new();
        for r in refs {
            let r = r.ctx(|| format!("listing {glob}"))?;
            if let (Ok(name), Some(target)) = (r.name(), r.target()) {
                out.push((name.to_owned(), target));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn index_entry(path: &Path, id: Oid, mode: u32, size: usize) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: size as u32,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_os_str().as_encoded_bytes().to_vec(),
    }
}

impl Repo {
    /// Adds `pattern` to `.git/info/exclude` unless a line already says it. Says whether it added.
    pub fn exclude(&self, pattern: &str) -> Result<bool, RepoError> {
        let path = self.git.path().join("info").join("exclude");
        let io = |source| RepoError::Io { context: format!("updating {}", path.display()), source };
        let existing = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let bare = pattern.trim_end_matches('/');
        if existing
            .lines()
            .map(str::trim)
            .any(|l| l == pattern || l == bare || l == format!("/{pattern}") || l == format!("/{bare}"))
        {
            return Ok(false);
        }
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(pattern);
        text.push('\n');
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        super::fsio::atomic_write(&path, text.as_bytes()).map_err(io)?;
        Ok(true)
    }
}

impl Repo {
    /// The content of `path` in commit `oid`, if the file is there.
    pub fn file_at(&self, oid: Oid, path: &Path) -> Result<Option<Vec<u8>>, RepoError> {
        let commit = self.git.find_commit(oid).ctx(|| format!("reading commit {oid}"))?;
        let tree = commit.tree().ctx(|| format!("reading the tree of {oid}"))?;
        let Ok(entry) = tree.get_path(path) else { return Ok(None) };
        let blob = self.git.find_blob(entry.id()).ctx(|| format!("reading {}", path.display()))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// Whether HEAD holds `path` as a regular file with exactly `content`.
    pub fn head_has_file(&self, path: &Path, content: &[u8]) -> Result<bool, RepoError> {
        let Some(tree) = self.head_tree()? else { return Ok(false) };
        let Ok(entry) = tree.get_path(path) else { return Ok(false) };
        if !matches!(entry.filemode(), 0o100644 | 0o100755) {
            return Ok(false);
        }
        let blob = self.git.find_blob(entry.id()).ctx(|| format!("reading {}", path.display()))?;
        Ok(blob.content() == content)
    }

    /// Whether `.gitignore` (or `.git/info/exclude`) ignores `path`.
    pub fn is_ignored(&self, path: &Path) -> bool {
        self.git.is_path_ignored(path).unwrap_or(false)
    }

    /// Takes the branch back to before its first commit: the branch ref goes, and the files the
    /// commit `tip` tracked leave the index and the work tree (untracked files stay).
    pub fn reset_to_unborn(&self, tip: Oid) -> Result<(), RepoError> {
        let tree = self.git.find_commit(tip).and_then(|c| c.tree()).ctx(|| format!("reading the tree of {tip}"))?;
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob) {
                paths.push(PathBuf::from(format!("{dir}{}", entry.name().unwrap_or(""))));
            }
            git2::TreeWalkResult::Ok
        })
        .ctx(|| "listing tracked files".into())?;
        for p in &paths {
            let _ = std::fs::remove_file(self.workdir().join(p));
        }
        let mut index = self.git.index().ctx(|| "reading the index".into())?;
        index.clear().ctx(|| "clearing the index".into())?;
        index.write().ctx(|| "writing the index".into())?;
        if let Some(branch) = self.branch() {
            let name = format!("refs/heads/{branch}");
            if let Ok(mut r) = self.git.find_reference(&name) {
                r.delete().ctx(|| format!("deleting {name}"))?;
            }
        }
        Ok(())
    }
}
