//! The journal (`.baton/journal.jsonl`): one JSON record a line, appended and fsynced one at a
//! time. The loop's state is what the journal says, so a killed baton resumes where it stopped and
//! `baton status` in another terminal agrees with the running loop.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::session::{Outcome, SessionKind, Usage, Verdict};
pub use super::summary::{Question, SessionSummary, sessions};
use super::uncommitted::Uncommitted;

/// A feature whose `passes` a session changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flip {
    /// Numbered from 1.
    pub feature: usize,
    pub passes: bool,
    pub description: String,
}

/// What the project's verify command said after a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResult {
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The end of its output.
    pub output: String,
}

/// Everything known about a session once it is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    pub number: u32,
    pub outcome: Outcome,
    pub head: Option<String>,
    #[serde(default)]
    pub usage: Usage,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub turns: u32,
    #[serde(default)]
    pub duration_ms: u64,
    /// How the backend said it ended, when that says more than the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Commits from base to head, newest first.
    #[serde(default)]
    pub commits: Vec<String>,
    #[serde(default)]
    pub flipped: Vec<Flip>,
    /// What the guard found and repaired.
    #[serde(default)]
    pub violations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyResult>,
    /// The usage limit that ended the session, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<crate::project::session::UsageLimit>,
}

impl SessionReport {
    pub fn new(number: u32, outcome: Outcome) -> Self {
        SessionReport {
            number,
            outcome,
            head: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            turns: 0,
            duration_ms: 0,
            detail: None,
            commits: Vec::new(),
            flipped: Vec::new(),
            violations: Vec::new(),
            verify: None,
            limit: None,
        }
    }
}

/// One line of the journal: when, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: Timestamp,
    #[serde(flatten)]
    pub record: Record,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    SessionStarted {
        number: u32,
        kind: SessionKind,
        backend: String,
        model: String,
        /// HEAD when the session started; `None` in a repository with no commit yet.
        base: Option<String>,
        /// What differed from HEAD then: the operator's files, never the session's work.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        uncommitted: Vec<Uncommitted>,
        /// The feature the session is meant to finish (the first failing one), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<usize>,
    },
    /// The session is over and reviewable: everything the review shows.
    SessionEnded(SessionReport),
    Verdict {
        number: u32,
        verdict: Verdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The operator marked a feature by hand.
    FeatureMarked { feature: usize, passes: bool, commit: Option<String> },
    /// The operator edited a feature, or added one.
    FeatureEdited { feature: usize, added: bool, commit: Option<String> },
    /// Another baton process asks the running loop to approve or veto a session.
    ReviewRequested {
        number: u32,
        approve: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Another baton process asks the running loop to mark a feature at the next boundary.
    MarkRequested { feature: usize, passes: bool },
    /// A screen attached to the loop from another process asks it to do something.
    Requested {
        /// Unique to the request, so the screen can tell when it was taken.
        id: String,
        /// The asking process.
        from: u32,
        command: Remote,
    },
    /// The loop took up request `id` (what it did shows in the records that follow).
    RequestTaken { id: String },
    /// The loop waits for a verdict on session `number` (the approve policy did not decide it).
    ReviewWaiting { number: u32 },
    /// Session `session` asks the operator whether a tool call may run (question `number`).
    Asked { number: u32, session: u32, tool: String, command: String, reason: String },
    /// The operator's answer to question `number` (or the timeout's).
    Answered { number: u32, answer: Answer },
    /// The evaluator judged a coding session's claims (and, under `enforce`, flipped the false
    /// ones back).
    Evaluated(super::evaluation::Evaluation),
    /// A loop started in this process.
    RunStarted { pid: u32, backend: String, approve: String, mode: String },
    /// A loop stopped, and why (`done`, `session_cap`, `budget`, `paused`, `no_progress`, ...).
    RunStopped {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The loop waits for a usage limit to reset (Unix seconds) before the next session.
    LimitWait {
        until: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        reason: String,
    },
    /// The wait is over (the reset came, or the operator went on).
    LimitWaited { seconds: u64 },
    /// The loop waits for one of its fleet's session slots: `max` sessions run at once across the
    /// fleet's projects, and all are taken (by whom, in `reason`).
    SlotWait { max: u32, reason: String },
    /// The circuit breaker paused the run.
    BreakerTripped {
        rule: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        feature: Option<usize>,
        detail: String,
    },
    /// The operator skipped a feature for now: moved to the end of the list, marked `skipped`.
    FeatureSkipped { feature: usize, to: usize, commit: Option<String> },
    /// A note from the operator for the next coding session's prompt.
    NoteGiven { text: String },
}

/// The operator's answer to a question about a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// Run it this once.
    Once,
    /// Run it, and add its programs to the project's `[policy] allow`.
    Always,
    /// Do not run it; `message` goes to the agent as the tool's result.
    Deny { message: String },
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Answer::Once => f.write_str("allowed once"),
            Answer::Always => f.write_str("allowed always"),
            Answer::Deny { message } => write!(f, "denied: {message}"),
        }
    }
}

/// An operator's command as another process sends it to the loop through the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Remote {
    StartNext,
    Skip {
        feature: usize,
    },
    Note {
        text: String,
    },
    /// `step` or `continuous`.
    SetMode {
        mode: String,
    },
    Pause,
    /// Take back a pause not taken yet.
    Resume,
    Interrupt,
    Approve {
        number: u32,
    },
    Veto {
        number: u32,
        reason: String,
    },
    Mark {
        feature: usize,
        passes: bool,
    },
    Edit {
        number: Option<usize>,
        category: String,
        description: String,
        steps: Vec<String>,
    },
    Answer {
        number: u32,
        answer: Answer,
    },
}

impl Record {
    /// `command` as a request from this process for the loop, with the id its `request_taken`
    /// will carry.
    pub fn request(command: Remote) -> (String, Record) {
        let id = format!("{}.{:016x}", std::process::id(), fastrand::u64(..));
        (id.clone(), Record::Requested { id, from: std::process::id(), command })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot append to the journal {}: {source}", path.display())]
    Append { path: PathBuf, source: io::Error },
}

/// The journal opened for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`. A last line cut off by a crash is closed
    /// with a newline first, so the next record starts on a line of its own.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let open_err = |source| JournalError::Open { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(open_err)?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(path).map_err(open_err)?;
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
        Ok(Journal { path: path.to_owned(), file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, stamped now, and makes it durable before returning.
    pub fn append(&mut self, record: Record) -> Result<Entry, JournalError> {
        let entry = Entry { at: Timestamp::now(), record };
        self.append_entry(&entry)?;
        Ok(entry)
    }

    pub fn append_entry(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let err = |source| JournalError::Append { path: self.path.clone(), source };
        let line = serde_json::to_string(entry).map_err(|e| err(e.into()))?;
        // Secrets from the environment never reach disk.
        let mut line = super::secrets::global().redact(&line).into_owned().into_bytes();
        line.push(b'\n');
        // One write call per record: with O_APPEND a concurrent reader never sees two records
        // interleaved.
        self.file.write_all(&line).map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

/// What reading a journal found: the records, and the lines it had to skip.
#[derive(Debug, Default)]
pub struct JournalRead {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
}

/// Reads every record of the journal at `path`. A missing journal has no records. A line that does
/// not parse (a last line cut off by a crash, a record from a newer baton) is skipped with a
/// warning; reading never fails on content.
pub fn read(path: &Path) -> Result<JournalRead, JournalError> {
    Ok(read_from(path, 0, true)?.0)
}

/// The records after byte `offset`, and the offset to read on from. A follower (the running loop
/// looking for requests from other processes) reads only what was appended since it last looked;
/// it passes `take_torn: false` so a line still being written is left for next time.
pub fn read_from(path: &Path, offset: u64, take_torn: bool) -> Result<(JournalRead, u64), JournalError> {
    let err = |source| JournalError::Open { path: path.to_owned(), source };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((JournalRead::default(), 0)),
        Err(source) => return Err(err(source)),
    };
    file.seek(SeekFrom::Start(offset)).map_err(err)?;
    let mut out = JournalRead::default();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0;
    let mut end = offset;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(err)?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with(b"\n");
        if !complete && !take_torn {
            break;
        }
        end += n as u64;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Entry>(text) {
            Ok(entry) => out.entries.push(entry),
            Err(e) => {
                let why = if complete {
                    format!("not a record baton knows ({e})")
                } else {
                    "the line is incomplete (cut off mid-write)".to_owned()
                };
                let warning = format!("{}:{number}: {why}; skipped", path.display());
                tracing::warn!("{warning}");
                out.warnings.push(warning);
            }
        }
    }
    Ok((out, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(number: u32) -> Record {
        Record::SessionStarted {
            number,
            kind: SessionKind::Coding,
            backend: "anthropic".into(),
            model: "m".into(),
            base: Some("abc".into()),
            uncommitted: Vec::new(),
            target: None,
        }
    }

    fn ended(number: u32) -> Record {
        Record::SessionEnded(SessionReport {
            head: Some("def".into()),
            usage: Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() },
            cost_usd: 0.25,
            ..SessionReport::new(number, Outcome::Completed)
        })
    }

    #[test]
    fn records_round_trip_and_fold_into_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".baton/journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal.append(started(1)).unwrap();
        journal.append(ended(1)).unwrap();
        journal
            .append(Record::Verdict { number: 1, verdict: Verdict::Vetoed, reason: Some("no tests".into()) })
            .unwrap();
        journal.append(started(2)).unwrap();
        let read = read(&path).unwrap();
        assert!(read.warnings.is_empty());
        assert_eq!(read.entries.len(), 4);
        let s = sessions(&read.entries);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].outcome(), Some(Outcome::Completed));
        assert_eq!(s[0].verdict, Some(Verdict::Vetoed));
        assert_eq!(s[0].reason.as_deref(), Some("no tests"));
        assert_eq!((s[0].usage().input_tokens, s[0].cost_usd()), (10, 0.25));
        assert_eq!((s[1].outcome(), s[1].verdict), (None, None));
    }

    #[test]
    fn a_last_line_cut_in_half_is_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal.append(started(1)).unwrap();
        journal.append(ended(1)).unwrap();
        drop(journal);
        // Cut the last record in half, as a crash mid-write would.
        let bytes = std::fs::read(&path).unwrap();
        let last_start = bytes[..bytes.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
        let cut = last_start + (bytes.len() - last_start) / 2;
        std::fs::write(&path, &bytes[..cut]).unwrap();

        let read1 = read(&path).unwrap();
        assert_eq!(read1.entries.len(), 1);
        assert_eq!(read1.warnings.len(), 1);
        assert!(read1.warnings[0].contains(":2: the line is incomplete"), "{:?}", read1.warnings);

        // Appending after the crash starts a fresh line; the torn one stays skipped.
        let mut journal = Journal::open(&path).unwrap();
        journal.append(ended(1)).unwrap();
        let read2 = read(&path).unwrap();
        assert_eq!(read2.entries.len(), 2);
        assert_eq!(read2.warnings.len(), 1);
        assert_eq!(sessions(&read2.entries)[0].outcome(), Some(Outcome::Completed));
    }

    #[test]
    fn a_follower_reads_only_what_was_appended_and_waits_for_a_line_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal.append(started(1)).unwrap();
        let (first, offset) = read_from(&path, 0, false).unwrap();
        assert_eq!(first.entries.len(), 1);
        journal.append(ended(1)).unwrap();
        // Another process is half-way through a line.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"at\":").unwrap();
        let (next, offset2) = read_from(&path, offset, false).unwrap();
        assert_eq!(next.entries.len(), 1);
        assert!(matches!(next.entries[0].record, Record::SessionEnded(_)));
        assert!(next.warnings.is_empty(), "the torn line is left for later, not warned about");
        let (later, _) = read_from(&path, offset2, false).unwrap();
        assert!(later.entries.is_empty());
    }

    #[test]
    fn missing_journal_has_no_records() {
        let dir = tempfile::tempdir().unwrap();
        let read = read(&dir.path().join("nope.jsonl")).unwrap();
        assert!(read.entries.is_empty() && read.warnings.is_empty());
    }
}
