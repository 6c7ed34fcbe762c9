//! How baton tells its own journal records from anything else. Each record baton writes ends in a
//! seal: its number in the chain (`seq`), the start of the previous record's tag (`prev`) and its
//! own tag, an HMAC-SHA256 under the journal's key (which no agent can read) of everything before
//! the tag. A line whose tag does not match was written or changed by someone else; a record whose
//! `prev` is not the last good record's says records are missing before it; a record written again
//! keeps its old number. Lines from before sealing began (an older baton's) are kept, and the
//! first sealed record holds their digest, so they cannot be changed either. None of this is
//! secret but the key: anyone may read the journal, nobody else may write it unnoticed.

use ring::digest;
use serde::{Deserialize, Serialize};

use super::keys::{Head, Key, hex};

/// The lines before the first sealed record: how many bytes, and their SHA-256.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Legacy {
    pub bytes: u64,
    pub sha256: String,
}

impl Legacy {
    pub fn of(bytes: &[u8]) -> Legacy {
        Legacy { bytes: bytes.len() as u64, sha256: hex(digest::digest(&digest::SHA256, bytes).as_ref()) }
    }
}

/// Something in the journal that baton did not write: named by its line, never acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The line it is on (from 1).
    pub line: usize,
    /// Its byte offset, which names it across processes.
    pub at: u64,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// The suffix of a sealed line after its signed part: `"tag":"<64 hex>"}`.
const TAG_SUFFIX: usize = "\"tag\":\"\"}".len() + 64;

/// The seal's fields, read from a line.
#[derive(Deserialize)]
struct SealFields {
    seq: Option<u64>,
    #[serde(default)]
    prev: String,
    legacy: Option<Legacy>,
    /// The record's type, to name it.
    #[serde(rename = "type", default)]
    kind: String,
}

/// `body` (an entry's JSON object, masked) sealed as record `seq` after the record tagged `prev`.
pub fn seal(key: &Key, body: &str, seq: u64, prev: &str, legacy: Option<&Legacy>) -> String {
    let mut line = body.strip_suffix('}').unwrap_or(body).to_owned();
    line.push_str(&format!(",\"seq\":{seq},\"prev\":\"{prev}\","));
    if let Some(l) = legacy {
        line.push_str(&format!("\"legacy\":{{\"bytes\":{},\"sha256\":\"{}\"}},", l.bytes, l.sha256));
    }
    let tag = key.tag(line.as_bytes());
    line.push_str(&format!("\"tag\":\"{tag}\"}}"));
    line
}

/// The signed part of a sealed line and its tag; `None` for a line with no seal at its end.
fn split(line: &[u8]) -> Option<(&[u8], &str)> {
    let cut = line.len().checked_sub(TAG_SUFFIX)?;
    let (signed, rest) = line.split_at(cut);
    let tag = rest.strip_prefix(b"\"tag\":\"")?.strip_suffix(b"\"}")?;
    let tag = std::str::from_utf8(tag).ok().filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))?;
    signed.ends_with(b",").then_some((signed, tag))
}

/// What to make of one line.
#[derive(Debug)]
pub enum Verdict {
    /// From before sealing began: trusted once the first sealed record vouches for it (or when
    /// sealing never began).
    Legacy,
    /// The first sealed record; `false` when the lines before it are not what it vouches for.
    Start(bool),
    /// Baton's: read it.
    Good,
    /// Not baton's: named, never acted on.
    Forged(Problem),
    /// Baton's, but records it chained to are missing before it: read it, and name the gap.
    AfterGap(Problem),
}

/// Where a reader of the journal stands in its chain.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    /// The first sealed record has been read: from here on every line must be sealed.
    pub started: bool,
    /// The last good sealed record's number and the start of its tag.
    pub last: Option<(u64, String)>,
    /// The digest of what came before sealing began, as read so far.
    legacy: LegacyDigest,
    /// Problems already said in a `journal_tampered` record, by offset.
    pub reported: std::collections::HashSet<u64>,
}

#[derive(Clone)]
struct LegacyDigest(digest::Context, u64);

impl Default for LegacyDigest {
    fn default() -> Self {
        LegacyDigest(digest::Context::new(&digest::SHA256), 0)
    }
}

impl std::fmt::Debug for LegacyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "LegacyDigest({} bytes)", self.1)
    }
}

impl LegacyDigest {
    fn now(&self) -> Legacy {
        Legacy { bytes: self.1, sha256: hex(self.0.clone().finish().as_ref()) }
    }
}

impl Chain {
    /// The seal of the next record: its number, `prev`, and (for the first) what the lines before
    /// it are. `head` is the high-water mark kept beside the key: when sealing began before and
    /// the sealed records are gone (the file was emptied or replaced), the first record of the
    /// new chain vouches for nothing before it.
    pub fn next(&self, head: Option<&Head>) -> (u64, String, Option<Legacy>) {
        let last = self.last.as_ref().map_or(0, |(seq, _)| *seq);
        let seq = last.max(head.map_or(0, |h| h.seq)) + 1;
        let prev = self.last.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
        let legacy = match (self.started, head) {
            (true, _) => None,
            (false, Some(h)) if h.seq > 0 => Some(Legacy::default()),
            (false, _) => Some(self.legacy.now()),
        };
        (seq, prev, legacy)
    }

    /// Judges one line: `raw` as read (its newline too), number `number`, at byte `at`, under
    /// `key` (`None` when this user has no key for the journal: every line is read unchecked).
    pub fn judge(&mut self, key: Option<&Key>, raw: &[u8], number: usize, at: u64) -> Verdict {
        let Some(key) = key else { return Verdict::Good };
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let fields = serde_json::from_slice::<SealFields>(line).ok();
        let kind = fields.as_ref().map(|f| f.kind.clone()).filter(|k| !k.is_empty());
        let record = kind.map_or("a line".to_owned(), |k| format!("a `{k}` record"));
        let forged = |what: String| Verdict::Forged(Problem { line: number, at, what });
        let sealed = split(line).filter(|(signed, tag)| key.verify(signed, tag));
        match (self.started, sealed, fields) {
            (false, Some((_, tag)), Some(SealFields { seq: Some(seq), legacy: Some(legacy), .. })) => {
                self.started = true;
                self.last = Some((seq, tag[..16].to_owned()));
                Verdict::Start(legacy == self.legacy.now())
            }
            (false, _, _) => {
                self.legacy.0.update(raw);
                self.legacy.1 += raw.len() as u64;
                Verdict::Legacy
            }
            (true, None, _) if split(line).is_none() => {
                forged(format!("{record} without baton's seal, after baton began sealing its records: ignored"))
            }
            (true, None, _) => forged(format!(
                "{record} whose seal does not match: written or changed by someone other than baton; ignored"
            )),
            (true, Some((_, tag)), Some(SealFields { seq: Some(seq), prev, .. })) => {
                let (last_seq, last_tag) = self.last.clone().unwrap_or_default();
                if seq <= last_seq {
                    return forged(format!("{record} baton wrote before (number {seq}), written again: ignored"));
                }
                self.last = Some((seq, tag[..16].to_owned()));
                if prev == last_tag && seq == last_seq + 1 {
                    return Verdict::Good;
                }
                let what = match seq - last_seq - 1 {
                    0 => "the record before this one is not the one baton chained it to".to_owned(),
                    1 => "1 record baton wrote is missing before this line".to_owned(),
                    n => format!("{n} records baton wrote are missing before this line"),
                };
                Verdict::AfterGap(Problem { line: number, at, what })
            }
            (true, Some(_), _) => forged(format!("{record} with a seal baton cannot read: ignored")),
        }
    }

    /// After the last complete line (at `end`, line `lines`): a journal with fewer records than
    /// were sealed lost its last ones, or was emptied or replaced.
    pub fn finish(&self, head: Option<&Head>, lines: usize, end: u64) -> Option<Problem> {
        let head = head.filter(|h| h.seq > 0)?;
        let last = self.last.as_ref().map_or(0, |(seq, _)| *seq);
        if last >= head.seq {
            return None;
        }
        let what = match (self.started, head.seq - last) {
            (false, _) => format!(
                "none of the {} records baton sealed are in the journal: it was emptied or replaced, and what it holds is ignored",
                head.seq
            ),
            (true, 1) => "the journal was cut: the last record baton wrote is gone".to_owned(),
            (true, n) => format!("the journal was cut: the last {n} records baton wrote are gone"),
        };
        Some(Problem { line: lines + 1, at: end, what })
    }
}
