//! Where a project keeps each piece of carried state.

use std::path::{Path, PathBuf};

use super::config::{Config, ConfigError, project_config_path};
use super::features::{FeatureError, FeatureList};
use super::journal::{self, Journal, JournalError, JournalRead};
use super::progress::ProgressNotes;
use super::repo::{Author, Repo, RepoError};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{} does not exist or is not a directory", path.display())]
    NoDirectory { path: PathBuf },
    #[error("{} is not a baton project: no .baton/config.toml, feature list, spec or git repository there (`baton init` makes it one, `baton demo` tries baton on a demo)", path.display())]
    NotAProject { path: PathBuf },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A project directory with its settings. Files are read when asked for, so a command only fails
/// on the files it needs.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
    config: Config,
}

impl Project {
    /// Opens the project at `dir`. A directory laid out by Anthropic's quickstart, with no
    /// `.baton/` yet, opens too, with default settings.
    pub fn open(dir: &Path) -> Result<Self, ProjectError> {
        if !dir.is_dir() {
            return Err(ProjectError::NoDirectory { path: dir.to_owned() });
        }
        let root = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        let config = Config::load(&root)?;
        Ok(Project { root, config })
    }

    /// Opens the project at `dir`, which must look like one: a baton config, a feature list, a
    /// spec or a git repository.
    pub fn open_existing(dir: &Path) -> Result<Self, ProjectError> {
        let project = Project::open(dir)?;
        if !project.looks_like_one() {
            return Err(ProjectError::NotAProject { path: project.root });
        }
        Ok(project)
    }

    /// Whether the directory looks like a project at all.
    pub fn looks_like_one(&self) -> bool {
        self.config_path().exists()
            || self.features_path().exists()
            || self.spec_path().exists()
            || self.root.join(".git").exists()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `.baton/`: baton's own state, kept out of git.
    pub fn baton_dir(&self) -> PathBuf {
        self.root.join(".baton")
    }

    pub fn config_path(&self) -> PathBuf {
        project_config_path(&self.root)
    }

    pub fn journal_path(&self) -> PathBuf {
        self.baton_dir().join("journal.jsonl")
    }

    /// Where session `number`'s full transcript is kept.
    pub fn transcript_path(&self, number: u32) -> PathBuf {
        self.baton_dir().join("sessions").join(format!("{number:04}.jsonl"))
    }

    pub fn spec_path(&self) -> PathBuf {
        self.root.join(&self.config.files.spec)
    }

    pub fn features_path(&self) -> PathBuf {
        self.root.join(&self.config.files.features)
    }

    pub fn init_script_path(&self) -> PathBuf {
        self.root.join(&self.config.files.init)
    }

    pub fn progress(&self) -> ProgressNotes {
        ProgressNotes::new(self.root.join(&self.config.files.progress))
    }

    /// The feature list; `None` before the initializer session has written one.
    pub fn features(&self) -> Result<Option<FeatureList>, ProjectError> {
        Ok(FeatureList::load_if_exists(&self.features_path())?)
    }

    pub fn repo(&self) -> Result<Repo, ProjectError> {
        Ok(Repo::open(&self.root)?)
    }

    /// Sets feature `number` of `list` aside for now (moved to the end, marked skipped), saves the
    /// list and commits it in the operator's name. Returns the feature's new number and the commit.
    pub fn skip_feature(
        &self,
        repo: &Repo,
        mut list: FeatureList,
        number: usize,
    ) -> Result<(usize, git2::Oid), ProjectError> {
        let description = list.get(number)?.description().to_owned();
        let to = list.skip(number)?;
        list.save()?;
        let message = super::features::skip_message(number, &description, to);
        let commit = repo.commit_paths(&[self.config.files.features.as_path()], &message, Author::Operator)?;
        Ok((to, commit))
    }

    pub fn journal(&self) -> Result<JournalRead, ProjectError> {
        Ok(journal::read(&self.journal_path())?)
    }

    /// Opens the journal for appending. `.baton/` is listed in `.git/info/exclude` first, so an
    /// agent's `git add -A` never commits baton's own state.
    pub fn open_journal(&self) -> Result<Journal, ProjectError> {
        if let Ok(repo) = self.repo() {
            repo.exclude(BATON_EXCLUDE)?;
        }
        Ok(Journal::open(&self.journal_path())?)
    }
}

/// The line `.git/info/exclude` gets for baton's directory.
pub const BATON_EXCLUDE: &str = "/.baton/";
