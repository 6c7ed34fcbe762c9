//! The progress notes (`claude-progress.txt` by default): what each session leaves for the next.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::fsio::ReadError;

#[derive(Debug, Clone)]
pub struct ProgressNotes {
    path: PathBuf,
}

impl ProgressNotes {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ProgressNotes { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file; a missing file reads as empty notes (no session has written any yet). A
    /// FIFO, a directory or a device in its place is an error naming the file, at once. Secrets
    /// an agent wrote into the notes are masked.
    pub fn read(&self) -> Result<String, ReadError> {
        match super::fsio::read_plain(&self.path)? {
            // Notes are written by an agent: never refuse to show them over a bad byte.
            Some(bytes) => Ok(super::secrets::global().redact(&String::from_utf8_lossy(&bytes)).into_owned()),
            None => Ok(String::new()),
        }
    }

    /// The last `n` lines, for a glance.
    pub fn tail(&self, n: usize) -> Result<Vec<String>, ReadError> {
        let text = self.read()?;
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(n);
        Ok(lines[start..].iter().map(|l| l.to_string()).collect())
    }

    /// Appends `text` as its own paragraph, creating the file if needed.
    pub fn append(&self, text: &str) -> std::io::Result<()> {
        let existing = self.read().map_err(std::io::Error::other)?;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        if !existing.is_empty() && !existing.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        file.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_reads_empty_and_append_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let notes = ProgressNotes::new(dir.path().join("claude-progress.txt"));
        assert_eq!(notes.read().unwrap(), "");
        notes.append("Session 1: set up the project").unwrap();
        std::fs::write(notes.path(), "Session 1: set up the project").unwrap();
        notes.append("Session 2: feature 1 works").unwrap();
        assert_eq!(notes.read().unwrap(), "Session 1: set up the project\nSession 2: feature 1 works\n");
        assert_eq!(notes.tail(1).unwrap(), vec!["Session 2: feature 1 works"]);
    }

    #[test]
    fn a_fifo_in_the_notes_place_is_an_error_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let notes = ProgressNotes::new(dir.path().join("claude-progress.txt"));
        let c = std::ffi::CString::new(notes.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = notes.read().unwrap_err().to_string();
        assert!(e.contains("claude-progress.txt: it is a FIFO, not a file"), "{e}");
    }

    #[test]
    fn invalid_utf8_is_shown_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let notes = ProgressNotes::new(dir.path().join("notes"));
        std::fs::write(notes.path(), b"ok \xff done\n").unwrap();
        assert_eq!(notes.read().unwrap(), "ok \u{fffd} done\n");
    }
}
