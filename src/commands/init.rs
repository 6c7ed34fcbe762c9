//! `baton init [DIR] [--spec FILE]`: make a directory a baton project. Running it again changes
//! nothing and says so; it never overwrites a file.

use std::io::Write;
use std::path::Path;

use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};

use crate::project::BATON_EXCLUDE;
use crate::project::config::{Config, commented_defaults, project_config_path};
use crate::project::fsio::{atomic_write, read_plain, read_text};
use crate::project::repo::{Author, Repo};

pub fn run(dir: &Path, spec: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    // Check everything first, so a refusal leaves the directory as it was.
    // A FIFO or a device given as the spec is an error at once, never a wait.
    let spec_text = match spec {
        Some(path) => {
            Some(read_plain(path)?.ok_or_else(|| eyre!("cannot read the spec {}: no such file", path.display()))?)
        }
        None => None,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(eyre!("{} exists and is not a directory", dir.display()));
    }
    let config_path = project_config_path(dir);
    // An existing config must be valid: init should not bless a broken project.
    let spec_name = match read_text(&config_path)? {
        Some(text) => Config::parse(&config_path, &text)?.files.spec,
        None => Config::default().files.spec,
    };
    let spec_target = dir.join(&spec_name);
    if let (Some(new), Some(old)) = (&spec_text, read_plain(&spec_target)?)
        && *new != old
    {
        return Err(eyre!(
            "{} already exists and differs from {}; not overwriting it (edit it, or remove it first)",
            spec_target.display(),
            spec.map(Path::display).map(|d| d.to_string()).unwrap_or_default()
        ));
    }

    let mut did = Vec::new();
    if !dir.exists() {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
        did.push(format!("created {}", dir.display()));
    }
    let (repo, created) = Repo::open_or_init(dir)?;
    if created {
        did.push("initialised a git repository".to_owned());
    }
    if !config_path.exists() {
        std::fs::create_dir_all(dir.join(".baton")).wrap_err("cannot create .baton/")?;
        atomic_write(&config_path, commented_defaults().as_bytes())
            .wrap_err_with(|| format!("cannot write {}", config_path.display()))?;
        did.push("wrote .baton/config.toml (every setting, commented out, with its default)".to_owned());
    }
    if let Some(text) = &spec_text
        && !spec_target.exists()
    {
        atomic_write(&spec_target, text).wrap_err_with(|| format!("cannot write {}", spec_target.display()))?;
        // Committed here, in the operator's name: left uncommitted, the first session would commit
        // it as its own work, and a veto of that session would take it away.
        let commit = repo.commit_paths(
            &[spec_name.as_path()],
            &format!("Add the spec, {}\n\nWritten by baton init.\n", spec_name.display()),
            Author::Operator,
        )?;
        did.push(format!("copied the spec to {} and committed it ({})", spec_name.display(), &commit.to_string()[..7]));
    }
    if repo.exclude(BATON_EXCLUDE)? {
        did.push(format!("added {BATON_EXCLUDE} to .git/info/exclude"));
    }

    if did.is_empty() {
        writeln!(out, "{} is already a baton project; nothing changed", dir.display())?;
        return Ok(());
    }
    for line in &did {
        writeln!(out, "{line}")?;
    }
    if !spec_target.exists() {
        writeln!(out, "next: describe what to build in {}", spec_target.display())?;
    }
    Ok(())
}
