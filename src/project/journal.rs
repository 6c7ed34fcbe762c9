//! The journal (`.baton/journal.jsonl`): one JSON record a line, appended and fsynced one at a
//! time. The loop's state is what the journal says, so a killed baton resumes where it stopped and
//! `baton status` in another terminal agrees with the running loop.
//!
//! Every record baton writes is sealed with a key no agent can read (see [`seal`]): a line baton
//! did not write, a record changed or written again, records taken out or a journal cut short are
//! named (in [`JournalRead::problems`], in a `journal_tampered` record, on the screen, in `baton
//! status`) and never acted on; the loop goes on from its last good record. A journal written before
//! sealing began reads as it always did, and its lines are vouched for by the first sealed record.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

pub mod keys;
mod records;
pub mod seal;

pub use super::summary::{Question, SessionSummary, sessions};
pub use records::{Answer, Entry, Flip, Record, Remote, SessionReport, VerifyResult};
pub use seal::Problem;

use keys::{Head, Key};
use seal::{Chain, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot append to the journal {}: {source}", path.display())]
    Append { path: PathBuf, source: io::Error },
    /// A FIFO, a directory or a device where the journal should be.
    #[error(transparent)]
    File(#[from] super::fsio::ReadError),
    #[error("cannot keep the journal's key in {}: {source}", keys::dir().unwrap_or_default().display())]
    Key { source: io::Error },
}

/// The journal opened for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// This process's place in the journal: appends chain to the last good record.
    cursor: Cursor,
    /// What this writer named in `journal_tampered` records and nobody was told of yet.
    noted: Vec<Problem>,
    /// The journal's key, once found.
    key: Option<std::sync::Arc<Key>>,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`. A last line cut off by a crash is closed
    /// with a newline first, so the next record starts on a line of its own.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let open_err = |source| JournalError::Open { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(open_err)?;
        }
        let options = &mut OpenOptions::new();
        let Some(mut file) = super::fsio::open_plain(path, options.create(true).read(true).append(true))? else {
            return Err(open_err(io::ErrorKind::NotFound.into()));
        };
        let len = file.metadata().map_err(open_err)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(open_err)?;
            file.read_exact(&mut last).map_err(open_err)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(open_err)?;
                file.sync_data().map_err(open_err)?;
            }
        }
        Ok(Journal { path: path.to_owned(), file, cursor: Cursor::default(), noted: Vec::new(), key: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, stamped now, sealed, and makes it durable before returning. Lines it
    /// finds that baton did not write are named first, in a `journal_tampered` record of their own.
    pub fn append(&mut self, record: Record) -> Result<Entry, JournalError> {
        let entry = Entry { at: Timestamp::now(), record };
        self.append_entry(&entry)?;
        Ok(entry)
    }

    pub fn append_entry(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let key = match &self.key {
            Some(k) => k.clone(),
            None => std::sync::Arc::new(Key::find_or_make(&self.path).map_err(|source| JournalError::Key { source })?),
        };
        self.key = Some(key.clone());
        let _lock = key.lock(true).map_err(|source| JournalError::Key { source })?;
        self.catch_up(&key)?;
        self.write_sealed(&key, entry, key.head().as_ref())
    }

    /// What this writer named in `journal_tampered` records since it was last asked.
    pub fn take_noted(&mut self) -> Vec<Problem> {
        std::mem::take(&mut self.noted)
    }

    /// Catches up with what others appended and names, in a `journal_tampered` record, what baton
    /// did not write there (unless another baton process already did). Returns what it named.
    pub fn note_problems(&mut self) -> Result<Vec<Problem>, JournalError> {
        let Some(key) = Key::find(&self.path).map_err(|source| JournalError::Key { source })? else {
            return Ok(Vec::new());
        };
        let _lock = key.lock(true).map_err(|source| JournalError::Key { source })?;
        self.catch_up(&key)
    }

    /// Reads what other processes appended since this writer last did, checked, so the chain goes
    /// on from the last good record whatever else was written; what baton did not write and no
    /// baton process named yet is named now, in a sealed `journal_tampered` record. The caller
    /// holds the key's lock.
    fn catch_up(&mut self, key: &Key) -> Result<Vec<Problem>, JournalError> {
        let head = key.head();
        let read = scan(&self.path, &mut self.cursor, Some(key), head.as_ref(), true)?;
        let new: Vec<Problem> =
            read.problems.into_iter().filter(|p| !self.cursor.chain.reported.contains(&p.at)).collect();
        if !new.is_empty() {
            let said = Entry { at: Timestamp::now(), record: Record::JournalTampered { problems: new.clone() } };
            self.write_sealed(key, &said, head.as_ref())?;
            self.noted.extend(new.iter().cloned());
        }
        Ok(new)
    }

    /// Writes `entry` sealed as the next record, and moves the high-water mark to it.
    fn write_sealed(&mut self, key: &Key, entry: &Entry, head: Option<&Head>) -> Result<(), JournalError> {
        let err = |source| JournalError::Append { path: self.path.clone(), source };
        let body = serde_json::to_string(entry).map_err(|e| err(e.into()))?;
        // Secrets from the environment never reach disk.
        let body = super::secrets::global().redact(&body);
        let (seq, prev, legacy) = self.cursor.chain.next(head);
        let mut line = seal::seal(key, &body, seq, &prev, legacy.as_ref()).into_bytes();
        line.push(b'\n');
        // One write call per record: with O_APPEND a concurrent reader never sees two records
        // interleaved.
        let at = self.file.seek(SeekFrom::End(0)).map_err(err)?;
        self.file.write_all(&line).map_err(err)?;
        self.file.sync_data().map_err(err)?;
        // Read back as any reader would, so this process's chain goes on from it.
        self.cursor.offset = at;
        scan(&self.path, &mut self.cursor, Some(key), None, true)?;
        let tag = self.cursor.chain.last.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
        let legacy = match (head, legacy) {
            (Some(h), None) => h.legacy.clone(),
            (_, Some(l)) => l,
            (None, None) => Default::default(),
        };
        key.set_head(&Head { seq, tag, legacy }).map_err(err)
    }
}

/// What reading a journal found: the records, the lines it had to skip, and what baton did not
/// write.
#[derive(Debug, Default)]
pub struct JournalRead {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
    /// Lines baton did not write (or records of its own gone), ignored.
    pub problems: Vec<Problem>,
}

/// Where a reader of the journal is: the byte after the last line it read, and its place in the
/// chain of sealed records.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    offset: u64,
    /// Lines read so far, so a problem is named by its line in the file.
    lines: usize,
    chain: Chain,
}

impl Cursor {
    /// How far into the file it has read (bytes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether a `journal_tampered` record this cursor read already names `problem`.
    pub fn reported(&self, problem: &Problem) -> bool {
        self.chain.reported.contains(&problem.at)
    }
}

/// Reads every record of the journal at `path`. A missing journal has no records. A line that does
/// not parse (a last line cut off by a crash, a record from a newer baton) is skipped with a
/// warning; a line baton did not write is named in `problems`; reading never fails on content.
pub fn read(path: &Path) -> Result<JournalRead, JournalError> {
    read_from(path, &mut Cursor::default(), true)
}

/// Reads the whole journal (but a line still being written), and where to follow it from.
pub fn follow(path: &Path) -> Result<(JournalRead, Cursor), JournalError> {
    let mut cursor = Cursor::default();
    let read = read_from(path, &mut cursor, false)?;
    Ok((read, cursor))
}

/// The records after `cursor`, which moves past them. A follower (the running loop looking for
/// requests from other processes) passes `take_torn: false` so a line still being written is left
/// for next time.
pub fn read_from(path: &Path, cursor: &mut Cursor, take_torn: bool) -> Result<JournalRead, JournalError> {
    let key = Key::find(path).map_err(|source| JournalError::Key { source })?;
    // Shared with writers' exclusive hold: a record and its high-water mark are seen together.
    let _lock = match &key {
        Some(k) => Some(k.lock(false).map_err(|source| JournalError::Key { source })?),
        None => None,
    };
    let head = key.as_ref().and_then(Key::head);
    let from_start = cursor.offset == 0;
    let mut read = scan(path, cursor, key.as_ref(), head.as_ref(), take_torn)?;
    if key.is_none() && from_start && cursor.offset > 0 && sealed_somewhere(path) {
        read.warnings.push(format!(
            "{}: sealed with a key that is not in {} (was the project moved here?): read unchecked; baton seals it anew",
            path.display(),
            keys::dir().unwrap_or_default().display()
        ));
    }
    Ok(read)
}

/// Whether any line of the journal carries a seal (cheap: only for a warning).
fn sealed_somewhere(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.windows(8).any(|w| w == b",\"seq\":1"))
}

/// Reads the lines after `cursor` and judges each against `key`.
fn scan(
    path: &Path,
    cursor: &mut Cursor,
    key: Option<&Key>,
    head: Option<&Head>,
    take_torn: bool,
) -> Result<JournalRead, JournalError> {
    let err = |source| JournalError::Open { path: path.to_owned(), source };
    let Some(file) = super::fsio::open_plain(path, OpenOptions::new().read(true))? else {
        let mut out = JournalRead::default();
        out.problems.extend(cursor.chain.finish(head, 0, 0));
        return Ok(out);
    };
    let len = file.metadata().map_err(err)?.len();
    if len < cursor.offset {
        // Shorter than it was: cut or replaced. Read again from the start, for the chain.
        *cursor = Cursor::default();
    }
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(cursor.offset)).map_err(err)?;
    let mut out = JournalRead::default();
    // Lines from before sealing began wait for the first sealed record to vouch for them.
    let mut legacy: Vec<Entry> = Vec::new();
    let mut line = Vec::new();
    let mut number = cursor.lines;
    let starting = cursor.offset == 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(err)? == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with(b"\n");
        if !complete && !take_torn {
            break;
        }
        let at = cursor.offset;
        cursor.offset += line.len() as u64;
        cursor.lines = number;
        let text = line.trim_ascii();
        let verdict = if text.is_empty() { None } else { Some(cursor.chain.judge(key, &line, number, at)) };
        let parsed = (!text.is_empty()).then(|| serde_json::from_slice::<Entry>(text));
        let entry = match parsed {
            None => continue,
            Some(Ok(entry)) => Some(entry),
            Some(Err(e)) => {
                let why = match (complete, serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()) {
                    (false, _) => "the line is incomplete (cut off mid-write)".to_owned(),
                    (true, false) => "the line is not JSON (cut off by a crash?)".to_owned(),
                    (true, true) => format!("not a record baton knows ({e})"),
                };
                let warning = format!("{}:{number}: {why}; skipped", path.display());
                tracing::warn!("{warning}");
                out.warnings.push(warning);
                None
            }
        };
        match verdict {
            Some(Verdict::Legacy) => legacy.extend(entry),
            Some(Verdict::Start(vouched)) => {
                if vouched {
                    out.entries.append(&mut legacy);
                } else if starting && (!legacy.is_empty() || at > 0) {
                    legacy.clear();
                    out.problems.push(Problem {
                        line: number,
                        at,
                        what: "the lines before baton began sealing its records were changed since (or the sealed ones lost): they are ignored".into(),
                    });
                }
                out.entries.extend(entry);
            }
            Some(Verdict::Good) | None => out.entries.extend(entry),
            Some(Verdict::AfterGap(mut p)) => {
                // The gap's first record is baton's own word on it (the journal was cut): said so.
                if let Some(Entry { record: Record::JournalTampered { problems }, .. }) = &entry
                    && let Some(said) = problems.iter().find(|q| q.at == p.at)
                {
                    p.what = said.what.clone();
                }
                out.problems.push(p);
                out.entries.extend(entry);
            }
            // A line that is not even JSON is a crash's leftover, not a forgery: warned about.
            Some(Verdict::Forged(p)) if serde_json::from_slice::<serde::de::IgnoredAny>(text).is_err() => {
                let _ = p;
            }
            Some(Verdict::Forged(p)) => {
                tracing::warn!("{}: {p}", path.display());
                out.problems.push(p);
            }
        }
        if let Some(Entry { record: Record::JournalTampered { problems }, .. }) = out.entries.last() {
            cursor.chain.reported.extend(problems.iter().map(|p| p.at));
        }
    }
    // No sealed record vouched for the lines read: trusted only if sealing never began.
    if !cursor.chain.started {
        match head.filter(|h| h.seq > 0) {
            None => out.entries.append(&mut legacy),
            Some(_) => legacy.clear(),
        }
    }
    if take_torn || line.is_empty() || line.ends_with(b"\n") {
        out.problems.extend(cursor.chain.finish(head, cursor.lines, cursor.offset));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
