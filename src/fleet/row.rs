//! A project's row in the fleet: what state its loop is in, read from its journal the way attach
//! reads one (from a byte offset, as it grows), with its feature count, its cost, the last thing
//! that happened and its loop's pid. The journal is folded as it is read: nothing of it is kept
//! but what the row shows, so fifty long journals cost little.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::Place;
pub use super::state::{State, ago, clock};
use crate::project::Project;
use crate::project::journal::{self, Record};
use crate::project::session::SessionKind;
use crate::project::state::FeatureCount;

/// Something that happened, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Happened {
    pub what: String,
    pub at: Timestamp,
}

/// One project of the fleet as the screen and `fleet status` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub place: Place,
    pub name: String,
    pub state: State,
    pub features: Option<FeatureCount>,
    /// What every session of the project cost.
    pub cost_usd: f64,
    pub last: Option<Happened>,
    /// The process running the loop, if one does.
    pub loop_pid: Option<u32>,
}

/// What the journal has said so far, folded.
#[derive(Debug, Default)]
struct Fold {
    kinds: BTreeMap<u32, SessionKind>,
    running: Option<(u32, SessionKind, Timestamp)>,
    review: Option<(u32, Timestamp)>,
    decided: BTreeSet<u32>,
    questions: BTreeMap<u32, (u32, String, Timestamp)>,
    /// How the last run stopped (cleared when a run starts).
    stop: Option<(String, Option<String>, Timestamp)>,
    tripped: Option<(Option<usize>, String)>,
    limit: Option<(i64, Option<String>)>,
    slot: Option<(u32, Timestamp)>,
    step_mode: bool,
    cost: f64,
    last: Option<Happened>,
    /// A record that may have changed the feature list came.
    features_changed: bool,
}

impl Fold {
    /// Folds one record in; what happened, when it is worth saying.
    fn take(&mut self, at: Timestamp, record: Record) -> Option<Happened> {
        let said = |what: String| Some(Happened { what, at });
        let last = match record {
            Record::SessionStarted { number, kind, .. } => {
                self.kinds.insert(number, kind);
                self.running = Some((number, kind, at));
                (self.limit, self.slot) = (None, None);
                said(format!("session {number} started ({kind})"))
            }
            Record::SessionEnded(r) => {
                if self.running.is_some_and(|(n, ..)| n == r.number) {
                    self.running = None;
                }
                self.questions.retain(|_, (s, ..)| *s != r.number);
                self.cost += r.cost_usd;
                self.features_changed = true;
                said(format!("session {} ended: {} (${:.2})", r.number, r.outcome, r.cost_usd))
            }
            Record::ReviewWaiting { number } if !self.decided.contains(&number) => {
                self.review = Some((number, at));
                said(format!("session {number} waits for a verdict"))
            }
            Record::ReviewWaiting { .. } => None,
            Record::Verdict { number, verdict, .. } => {
                self.decided.insert(number);
                if self.review.is_some_and(|(n, _)| n == number) {
                    self.review = None;
                }
                self.features_changed = true;
                said(format!("session {number} {verdict}"))
            }
            Record::Asked { number, session, command, .. } => {
                let what = format!("question {number}: may it run `{}`?", crate::words::clip(&command, 60));
                self.questions.insert(number, (session, command, at));
                said(what)
            }
            Record::Answered { number, answer } => {
                self.questions.remove(&number);
                said(format!("question {number}: {answer}"))
            }
            Record::Evaluated(e) => {
                self.features_changed = true;
                said(format!("evaluation of session {}: {}", e.session, e.summary()))
            }
            Record::JournalTampered { problems } => {
                said(format!("the journal was changed behind baton's back ({} lines not baton's)", problems.len()))
            }
            Record::RunStarted { pid, mode, .. } => {
                (self.stop, self.tripped, self.limit, self.slot) = (None, None, None, None);
                self.step_mode = mode == "step";
                said(format!("loop started (pid {pid})"))
            }
            Record::RunStopped { reason, detail } => {
                let what = format!("run stopped: {}", detail.as_deref().unwrap_or(&reason));
                self.stop = Some((reason, detail, at));
                (self.limit, self.slot) = (None, None);
                said(what)
            }
            Record::LimitWait { until, kind, reason } => {
                self.limit = Some((until, kind));
                said(format!("waiting: {reason}"))
            }
            Record::LimitWaited { .. } => {
                self.limit = None;
                None
            }
            Record::SlotWait { max, reason } => {
                self.slot = Some((max, at));
                said(format!("waiting for a fleet slot: {reason}"))
            }
            Record::BreakerTripped { feature, detail, .. } => {
                let what = format!("circuit breaker: {detail}");
                self.tripped = Some((feature, detail));
                said(what)
            }
            Record::FeatureMarked { feature, passes, .. } => {
                self.features_changed = true;
                said(format!("feature {feature} marked {}", if passes { "passing" } else { "failing" }))
            }
            Record::FeatureEdited { feature, added, .. } => {
                self.features_changed = true;
                said(format!("feature {feature} {}", if added { "added" } else { "edited" }))
            }
            Record::FeatureSkipped { feature, .. } => {
                self.features_changed = true;
                said(format!("feature {feature} skipped for now"))
            }
            Record::NoteGiven { .. } => said("a note for the next session".into()),
            Record::ReviewRequested { .. }
            | Record::MarkRequested { .. }
            | Record::Requested { .. }
            | Record::RequestTaken { .. } => None,
        };
        if last.is_some() {
            self.last.clone_from(&last);
        }
        last
    }
}

/// Follows one project's journal and builds its row.
#[derive(Debug)]
pub struct Tracker {
    place: Place,
    project: Result<Project, String>,
    cursor: journal::Cursor,
    fold: Fold,
    features: Option<FeatureCount>,
    pid: Option<u32>,
}

impl Tracker {
    /// Reads the project at `place` as it is now.
    pub fn open(place: Place) -> Tracker {
        let project = match place.local_dir() {
            Some(dir) => Project::open_existing(dir).map_err(|e| e.to_string()),
            None => Err(format!("{place}: not on this machine")),
        };
        let mut t = Tracker {
            place,
            project,
            cursor: journal::Cursor::default(),
            fold: Fold::default(),
            features: None,
            pid: None,
        };
        t.fold.features_changed = true;
        // What happened before is the row's history, not news.
        let _ = t.refresh();
        t
    }

    /// The folder whose changes mean the row may have changed (`.baton/`).
    pub fn watched(&self) -> Option<PathBuf> {
        self.project.as_ref().ok().map(|p| p.baton_dir())
    }

    /// The pid of the project's loop, as last read.
    pub fn loop_pid(&self) -> Option<u32> {
        self.pid
    }

    /// Reads what was appended to the journal since the last look, the loop lock, and the
    /// feature list if a record says it may have changed; what happened meanwhile, in order.
    pub fn refresh(&mut self) -> Vec<Happened> {
        let mut happened = Vec::new();
        let Ok(project) = &self.project else { return happened };
        let path = project.journal_path();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() < self.cursor.offset()) {
            // Not appended to: written anew. Read again from the start.
            (self.cursor, self.fold) = (journal::Cursor::default(), Fold { features_changed: true, ..Fold::default() });
        }
        match journal::read_from(&path, &mut self.cursor, false) {
            Ok(read) => {
                happened.extend(read.entries.into_iter().filter_map(|e| self.fold.take(e.at, e.record)));
            }
            Err(e) => tracing::warn!("{e}"),
        }
        if std::mem::take(&mut self.fold.features_changed) {
            self.features = match project.features() {
                Ok(Some(l)) => Some(FeatureCount { total: l.len(), passing: l.passing() }),
                _ => None,
            };
        }
        self.pid = crate::project::lock::holder(&project.baton_dir()).and_then(|p| p.parse().ok());
        happened
    }

    /// The row as the journal, the feature list and the lock say now.
    pub fn row(&self) -> Row {
        let f = &self.fold;
        let state = match &self.project {
            Err(e) => State::Error { detail: e.clone(), since: None },
            Ok(project) => self.state(project),
        };
        Row {
            name: self.place.name(),
            place: self.place.clone(),
            state,
            features: self.features,
            cost_usd: f.cost,
            last: f.last.clone(),
            loop_pid: self.pid,
        }
    }

    fn state(&self, project: &Project) -> State {
        let f = &self.fold;
        // A run that said it stopped has ended, even before its process lets go of the lock.
        let alive = self.pid.is_some() && f.stop.is_none();
        if let Some((session, since)) = f.review {
            return State::Review { session, since };
        }
        if alive && let Some((number, (session, command, since))) = f.questions.iter().next() {
            return State::Question { number: *number, session: *session, command: command.clone(), since: *since };
        }
        if let Some((reason, detail, since)) = &f.stop {
            let detail = detail.clone().unwrap_or_else(|| reason.clone());
            match reason.as_str() {
                "no_progress" => {
                    let (feature, detail) = f.tripped.clone().unwrap_or((None, detail));
                    return State::Tripped { feature, detail, since: *since };
                }
                "account" | "outside_failures" | "usage_limit" => {
                    return State::Error { detail, since: Some(*since) };
                }
                _ => {}
            }
        }
        if let Some((session, kind, since)) = f.running {
            if alive {
                return State::Running { session, kind, since };
            }
            if f.stop.is_none() {
                let detail = format!(
                    "the loop went away in the middle of session {session} (killed?); starting it again records the session as interrupted"
                );
                return State::Error { detail, since: Some(since) };
            }
        }
        if alive && let Some((until, kind)) = &f.limit {
            return State::LimitWait { until: *until, kind: kind.clone() };
        }
        if alive && let Some((max, since)) = f.slot {
            return State::SlotWait { max, since };
        }
        let all_pass = self.features.is_some_and(|c| c.total > 0 && c.passing == c.total);
        let stopped_done = f.stop.as_ref().is_some_and(|(r, ..)| r == "done");
        if all_pass && (stopped_done || project.config().run.verify.trim().is_empty()) {
            return State::Done;
        }
        if let Some((reason, detail, since)) = &f.stop {
            let why = match reason.as_str() {
                "paused" => "paused".to_owned(),
                other => detail.clone().unwrap_or_else(|| other.replace('_', " ")),
            };
            return State::Paused { why, since: *since };
        }
        State::Idle { waiting_for_n: alive && f.step_mode }
    }
}

impl Serialize for Row {
    /// One object per project, as `fleet list --json` and `fleet status --json` print it.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde_json::{Value, json};
        let waiting = match &self.state {
            State::Review { session, since } => json!({"kind": "review", "session": session, "since": since}),
            State::Question { number, session, command, since } => {
                json!({"kind": "question", "number": number, "session": session, "command": command, "since": since})
            }
            State::Tripped { feature, detail, since } => {
                json!({"kind": "circuit_breaker", "feature": feature, "detail": detail, "since": since})
            }
            State::Error { detail, since } => json!({"kind": "error", "detail": detail, "since": since}),
            _ => Value::Null,
        };
        #[derive(Serialize)]
        struct Flat<'a> {
            name: &'a str,
            path: String,
            state: &'static str,
            waiting: Value,
            #[serde(skip_serializing_if = "Option::is_none")]
            session: Option<Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            limit_until: Option<i64>,
            features: Option<FeatureCount>,
            cost_usd: f64,
            loop_pid: Option<u32>,
            last: Option<&'a Happened>,
        }
        Flat {
            name: &self.name,
            path: self.place.to_string(),
            state: self.state.word(),
            waiting,
            session: match &self.state {
                State::Running { session, kind, since } => {
                    Some(json!({"number": session, "kind": kind, "since": since}))
                }
                _ => None,
            },
            limit_until: match &self.state {
                State::LimitWait { until, .. } => Some(*until),
                _ => None,
            },
            features: self.features,
            cost_usd: (self.cost_usd * 10_000.0).round() / 10_000.0,
            loop_pid: self.loop_pid,
            last: self.last.as_ref(),
        }
        .serialize(serializer)
    }
}

/// Rows in the order the operator should see them: what waits for them first (the longest
/// waiting first), then by state, then as listed.
pub fn by_attention(rows: &mut [Row]) {
    rows.sort_by_key(|r| {
        let since = if r.state.needs_operator() { r.state.since().map(|t| t.as_millisecond()) } else { None };
        (r.state.rank(), since.unwrap_or(i64::MAX))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::journal::{Journal, SessionReport};
    use crate::project::session::Outcome;

    /// A project with a two-feature list, one passing, and its journal.
    fn project() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
        std::fs::write(dir.path().join(".baton/config.toml"), "").unwrap();
        let list = r#"[{"category":"c","description":"a","steps":["s"],"passes":true},
                       {"category":"c","description":"b","steps":["s"],"passes":false}]"#;
        std::fs::write(dir.path().join("feature_list.json"), list).unwrap();
        let journal = Journal::open(&dir.path().join(".baton/journal.jsonl")).unwrap();
        (dir, journal)
    }

    fn tracker(dir: &std::path::Path) -> Tracker {
        Tracker::open(Place::Local(dir.to_owned()))
    }

    fn started(number: u32) -> Record {
        Record::SessionStarted {
            number,
            kind: SessionKind::Coding,
            backend: "anthropic".into(),
            model: "m".into(),
            base: None,
            uncommitted: Vec::new(),
            target: None,
        }
    }

    fn run_started() -> Record {
        Record::RunStarted {
            pid: std::process::id(),
            backend: "anthropic".into(),
            approve: "auto".into(),
            mode: "continuous".into(),
        }
    }

    #[test]
    fn a_loop_that_runs_waits_asks_and_goes_on_is_followed_record_by_record() {
        let (dir, mut journal) = project();
        let _lock = crate::project::lock::acquire(&dir.path().join(".baton")).unwrap();
        journal.append(run_started()).unwrap();
        let mut t = tracker(dir.path());
        assert_eq!(t.row().state, State::Idle { waiting_for_n: false });
        assert_eq!(t.row().loop_pid, Some(std::process::id()));
        assert_eq!(t.row().features, Some(FeatureCount { total: 2, passing: 1 }));

        journal.append(Record::SlotWait { max: 2, reason: "2 sessions of 2".into() }).unwrap();
        t.refresh();
        assert!(matches!(t.row().state, State::SlotWait { max: 2, .. }));

        journal.append(started(1)).unwrap();
        let asked = Record::Asked {
            number: 1,
            session: 1,
            tool: "bash".into(),
            command: "factor 84".into(),
            reason: "r".into(),
        };
        journal.append(asked).unwrap();
        t.refresh();
        let row = t.row();
        assert!(matches!(&row.state, State::Question { number: 1, command, .. } if command == "factor 84"), "{row:?}");
        assert!(row.state.needs_operator());
        journal.append(Record::Answered { number: 1, answer: crate::project::journal::Answer::Once }).unwrap();
        t.refresh();
        assert!(matches!(t.row().state, State::Running { session: 1, kind: SessionKind::Coding, .. }));

        let report = SessionReport { cost_usd: 0.25, ..SessionReport::new(1, Outcome::RateLimited) };
        journal.append(Record::SessionEnded(report)).unwrap();
        journal
            .append(Record::LimitWait { until: 4_000_000_000, kind: Some("five_hour".into()), reason: "r".into() })
            .unwrap();
        // Both are said, in order, though the row shows the last.
        let said: Vec<String> = t.refresh().into_iter().map(|h| h.what).collect();
        assert_eq!(said, ["session 1 ended: rate_limited ($0.25)", "waiting: r"]);
        let row = t.row();
        assert_eq!(row.state, State::LimitWait { until: 4_000_000_000, kind: Some("five_hour".into()) });
        assert_eq!(row.cost_usd, 0.25);
        assert_eq!(row.last.as_ref().map(|h| h.what.as_str()), Some("waiting: r"));
    }

    #[test]
    fn a_run_stopped_by_the_breaker_or_the_account_or_a_loop_gone_mid_session_needs_the_operator() {
        let (dir, mut journal) = project();
        journal.append(run_started()).unwrap();
        journal
            .append(Record::BreakerTripped {
                rule: "no_progress".into(),
                feature: Some(2),
                detail: "stuck on 2".into(),
            })
            .unwrap();
        journal.append(Record::RunStopped { reason: "no_progress".into(), detail: Some("long".into()) }).unwrap();
        let row = tracker(dir.path()).row();
        assert!(matches!(&row.state, State::Tripped { feature: Some(2), detail, .. } if detail == "stuck on 2"));

        journal.append(run_started()).unwrap();
        journal
            .append(Record::RunStopped { reason: "account".into(), detail: Some("the API refused the account".into()) })
            .unwrap();
        let row = tracker(dir.path()).row();
        assert!(matches!(&row.state, State::Error { detail, .. } if detail.contains("refused")), "{row:?}");

        journal.append(run_started()).unwrap();
        journal.append(started(3)).unwrap();
        let row = tracker(dir.path()).row();
        assert!(
            matches!(&row.state, State::Error { detail, .. } if detail.contains("went away in the middle of session 3"))
        );
        assert_eq!(row.loop_pid, None);
    }

    #[test]
    fn what_waits_for_the_operator_comes_first_the_longest_waiting_first() {
        let row = |name: &str, state: State| Row {
            place: Place::Local(format!("/{name}").into()),
            name: name.into(),
            state,
            features: None,
            cost_usd: 0.0,
            last: None,
            loop_pid: None,
        };
        let at = |s: i64| Timestamp::from_second(s).unwrap();
        let mut rows = vec![
            row("idle", State::Idle { waiting_for_n: false }),
            row("running", State::Running { session: 1, kind: SessionKind::Coding, since: at(5) }),
            row("new review", State::Review { session: 2, since: at(900) }),
            row("error", State::Error { detail: "x".into(), since: None }),
            row("old review", State::Review { session: 7, since: at(100) }),
            row("done", State::Done),
        ];
        by_attention(&mut rows);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["old review", "new review", "error", "running", "idle", "done"]);
    }
}
