//! The fleet's list, `fleet.toml` in the user's config directory: the projects, in the order the
//! operator added them, and the cap on sessions running at once across them. Changed under a
//! lock and replaced whole, so two commands adding at once both count; a file that does not read
//! is never overwritten.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Dirs, Place};

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read the fleet's list {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write the fleet's list {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("no user config directory (HOME is not set?): the fleet's list has nowhere to live")]
    NoDirs,
    #[error("{0}")]
    Place(String),
}

/// The projects of the fleet and its cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    /// Sessions running at once across the fleet; 0: no cap.
    pub max: u32,
    pub projects: Vec<Place>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    max: u32,
    #[serde(default, rename = "project")]
    projects: Vec<Member>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Member {
    place: Place,
}

const HEADER: &str = "# baton's fleet: the projects `baton fleet` shows and runs (`baton fleet add DIR`, `baton fleet remove DIR`).\n# max: sessions running at once across them (`baton fleet run --max N` sets it); 0 for no cap.\n";

impl Fleet {
    /// The fleet in `dirs`; an empty one when there is no list yet.
    pub fn load(dirs: &Dirs) -> Result<Fleet, FleetError> {
        read(&dirs.list_path())
    }

    /// Changes the list with `change`, under the list's lock, and writes it back; the list as
    /// written.
    pub fn update(dirs: &Dirs, change: impl FnOnce(&mut Fleet)) -> Result<Fleet, FleetError> {
        let path = dirs.list_path();
        let write = |source| FleetError::Write { path: path.clone(), source };
        let _lock = super::lock_file(&dirs.config.join(".fleet.lock")).map_err(write)?;
        let mut fleet = read(&path)?;
        change(&mut fleet);
        let form = FileForm {
            max: fleet.max,
            projects: fleet.projects.iter().cloned().map(|place| Member { place }).collect(),
        };
        let text = toml::to_string(&form).map_err(|e| write(std::io::Error::other(e)))?;
        super::replace_file(&path, format!("{HEADER}{text}").as_bytes()).map_err(write)?;
        Ok(fleet)
    }

    /// Whether `place` is one of the fleet's projects.
    pub fn has(&self, place: &Place) -> bool {
        self.projects.contains(place)
    }
}

fn read(path: &Path) -> Result<Fleet, FleetError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Fleet::default()),
        Err(source) => return Err(FleetError::Read { path: path.to_owned(), source }),
    };
    let form: FileForm = toml::from_str(&text).map_err(|e| FleetError::Invalid {
        path: path.to_owned(),
        message: e.to_string().trim_end().replace('\n', " "),
    })?;
    Ok(Fleet { max: form.max, projects: form.projects.into_iter().map(|m| m.place).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_added_once_in_order_and_the_file_reads_back() {
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::at(root.path());
        assert_eq!(Fleet::load(&dirs).unwrap(), Fleet::default());
        let a = Place::Local("/srv/a".into());
        let b = Place::Local("/srv/b".into());
        Fleet::update(&dirs, |f| {
            f.projects.push(b.clone());
            f.projects.push(a.clone());
            f.max = 2;
        })
        .unwrap();
        let fleet = Fleet::load(&dirs).unwrap();
        assert_eq!((fleet.max, fleet.projects), (2, vec![b, a]));
        let text = std::fs::read_to_string(dirs.list_path()).unwrap();
        assert!(text.starts_with("# baton's fleet"), "{text}");
    }

    #[test]
    fn a_list_that_does_not_read_is_named_with_its_line_and_never_overwritten() {
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::at(root.path());
        std::fs::create_dir_all(&dirs.config).unwrap();
        let bad = "max = 2\n[[project]]\nplace = \"relative/dir\"\n";
        std::fs::write(dirs.list_path(), bad).unwrap();
        let err = Fleet::load(&dirs).unwrap_err().to_string();
        assert!(err.contains("fleet.toml") && err.contains("line 3") && err.contains("absolute path"), "{err}");
        assert!(Fleet::update(&dirs, |f| f.max = 3).is_err());
        assert_eq!(std::fs::read_to_string(dirs.list_path()).unwrap(), bad, "left as it was");
    }
}
