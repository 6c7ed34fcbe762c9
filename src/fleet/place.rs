//! Where a project of the fleet is. Today a folder on this machine; a loop on another machine (over
//! ssh, in a pod) would be another kind of place, so the screen and the commands ask a place for
//! what they need (its name, the command that opens its screen) and never assume a local path.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    /// A project folder on this machine, as an absolute path.
    Local(PathBuf),
}

impl Place {
    /// The place `text` names: a folder (relative to `base`). A URL of a place baton cannot reach
    /// yet (`ssh://`, ...) is refused with the reason.
    pub fn parse(text: &str, base: &Path) -> Result<Place, String> {
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "{text}: a project on another machine ({scheme}://) cannot be a fleet row yet; run `baton run --headless` there and `ssh HOST -t baton -C DIR attach`"
            ));
        }
        if text.trim().is_empty() {
            return Err("an empty place: give the project's folder".into());
        }
        let path = base.join(text);
        let path = std::fs::canonicalize(&path).unwrap_or_else(|_| std::path::absolute(&path).unwrap_or(path));
        Ok(Place::Local(path))
    }

    /// The folder of a local place.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            Place::Local(p) => Some(p),
        }
    }

    /// What the operator calls it: the folder's name.
    pub fn name(&self) -> String {
        match self {
            Place::Local(p) => p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into()),
        }
    }

    /// baton itself, run on this place's project (`baton -C DIR ...`).
    pub fn baton(&self) -> std::io::Result<std::process::Command> {
        let exe = std::env::current_exe()?;
        let mut cmd = std::process::Command::new(exe);
        match self {
            Place::Local(p) => {
                cmd.arg("-C").arg(p);
            }
        }
        Ok(cmd)
    }

    /// The project's full screen, opened from the fleet's: attached to its loop, or running it.
    pub fn screen_command(&self) -> std::io::Result<std::process::Command> {
        let mut cmd = self.baton()?;
        cmd.env(super::CHILD_ENV, "1");
        Ok(cmd)
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Place::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Serialize for Place {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Place {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if !text.contains("://") && !Path::new(&text).is_absolute() {
            return Err(serde::de::Error::custom(format!("{text}: a project's place must be an absolute path")));
        }
        Place::parse(&text, Path::new("/")).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_a_place_and_a_url_is_refused_with_the_way_to_reach_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        let place = Place::parse("app", dir.path()).unwrap();
        assert_eq!(place.name(), "app");
        assert_eq!(place.local_dir(), Some(std::fs::canonicalize(dir.path().join("app")).unwrap().as_path()));
        let err = Place::parse("ssh://build-box/srv/app", dir.path()).unwrap_err();
        assert!(err.contains("cannot be a fleet row yet") && err.contains("attach"), "{err}");
    }
}
