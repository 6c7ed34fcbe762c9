//! Attaching to a loop that runs in another baton process. The journal stays the single record:
//! the follower reads it (and the running session's transcript, from a byte offset) as it grows,
//! and turns what it reads into the [`HarnessEvent`]s the loop itself would send, so a screen
//! drives an attached loop exactly as it drives its own. [`Command`]s go the other way as request
//! records appended to the journal, which the loop takes up (and says so, with `request_taken`).
//! Any number of screens may follow one loop; when the loop's process goes, however it goes, the
//! follower says so and ends.

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::{Command, Handles, HarnessEvent, StopReason, review};
use crate::agent::AgentEvent;
use crate::project::Project;
use crate::project::journal::{self, Entry, Journal, Record};
use crate::project::session::Verdict;
use crate::project::watch::DirWatch;

/// Follows the loop that `pid` runs on `project`. The handles work as a local loop's: events
/// come in, commands go out; dropping the command side (or sending `Quit`) detaches, and the loop
/// goes on.
pub fn connect(project: Project, pid: String) -> Result<Handles, super::HarnessError> {
    let journal = project.open_journal()?;
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = Follower {
        model: project.config().agent.model.clone(),
        project,
        pid,
        events: ev_tx,
        journal,
        cursor: journal::Cursor::default(),
        transcript: None,
        asked: Vec::new(),
        words: String::new(),
    };
    tokio::spawn(follower.run(cmd_rx));
    Ok(Handles { commands: cmd_tx, events: ev_rx })
}

struct Follower {
    project: Project,
    pid: String,
    model: String,
    events: UnboundedSender<HarnessEvent>,
    /// For appending requests.
    journal: Journal,
    /// How far the journal has been read.
    cursor: journal::Cursor,
    /// The running session's number and how far its transcript has been read.
    transcript: Option<(u32, u64)>,
    /// Requests sent and not yet taken: their id and what they asked.
    asked: Vec<(String, Command)>,
    /// The running session's latest words, for its questions.
    words: String,
}

impl Follower {
    async fn run(mut self, mut commands: UnboundedReceiver<Command>) {
        self.catch_up();
        let baton = self.project.baton_dir();
        // Watched before the first session makes it, so its transcript is followed as it grows.
        let _ = std::fs::create_dir_all(baton.join("sessions"));
        let mut watch = DirWatch::new(&[&baton, &baton.join("sessions")], Duration::from_millis(250));
        let mut alive = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Quit) => return,
                    Some(c) => self.request(c),
                },
                _ = watch.changed() => if !self.pump() { return },
                _ = alive.tick() => {
                    if crate::project::lock::holder(&baton).is_none() {
                        // It may have said goodbye just now.
                        if self.pump() {
                            let detail = format!(
                                "the loop in pid {} is gone without ending its run (killed?); it can run here now",
                                self.pid
                            );
                            self.emit(HarnessEvent::Notice { text: detail.clone() });
                            self.emit(HarnessEvent::Stopped { reason: StopReason::Paused, detail });
                        }
                        return;
                    }
                }
            }
        }
    }

    fn emit(&self, event: HarnessEvent) {
        let _ = self.events.send(event);
    }

    /// Appends `cmd` as a request for the loop.
    fn request(&mut self, cmd: Command) {
        let Some(command) = cmd.to_remote() else { return };
        let (id, record) = Record::request(command);
        match self.journal.append(record) {
            Ok(_) => {
                self.emit(HarnessEvent::Notice {
                    text: format!("sent to the loop in pid {}: {}", self.pid, what(&cmd)),
                });
                self.asked.push((id, cmd));
            }
            Err(e) => self.emit(HarnessEvent::Notice { text: format!("cannot send to the loop: {e}") }),
        }
    }

    /// Reads the journal as it is now, then tells the screen where the loop stands: its run, the
    /// session running (with its transcript so far), the review waiting.
    fn catch_up(&mut self) {
        let read = match journal::read_from(&self.project.journal_path(), &mut self.cursor, false) {
            Ok(r) => r,
            Err(e) => {
                self.emit(HarnessEvent::Notice { text: e.to_string() });
                return;
            }
        };
        if !read.problems.is_empty() {
            self.emit(HarnessEvent::Notice { text: tampered(&read.problems) });
        }
        if let Some(Record::RunStarted { backend, approve, mode, .. }) =
            read.entries.iter().rev().map(|e| &e.record).find(|r| matches!(r, Record::RunStarted { .. }))
        {
            let (backend, approve, mode) = (backend.clone(), approve.clone(), mode.clone());
            self.emit(HarnessEvent::RunStarted { backend, model: self.model.clone(), approve, mode });
        }
        let sessions = journal::sessions(&read.entries);
        if let Some(s) = sessions.last().filter(|s| s.end.is_none()) {
            self.emit(HarnessEvent::SessionStarted { number: s.number, kind: s.kind, base: s.base.clone() });
            self.transcript = Some((s.number, 0));
            self.follow_transcript();
            // The questions it waits on, asked before this screen came.
            let cwd = self.project.root().display().to_string();
            for q in s.questions.iter().filter(|q| q.answer.is_none()) {
                self.emit(HarnessEvent::Question {
                    number: q.number,
                    session: s.number,
                    tool: q.tool.clone(),
                    command: q.command.clone(),
                    reason: q.reason.clone(),
                    cwd: cwd.clone(),
                    words: self.words.trim().to_owned(),
                });
            }
        } else if let Some(number) = waiting(&read.entries, &sessions) {
            self.review_waiting(number);
        }
    }

    /// Takes in what was appended since the last look. `false` once the loop's run has ended.
    fn pump(&mut self) -> bool {
        let read = match journal::read_from(&self.project.journal_path(), &mut self.cursor, false) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot follow the journal: {e}");
                return true;
            }
        };
        for entry in read.entries {
            if !self.record(entry.record) {
                return false;
            }
        }
        self.follow_transcript();
        true
    }

    /// One journal record, as the event the loop sent with it.
    fn record(&mut self, record: Record) -> bool {
        match record {
            Record::RunStarted { backend, approve, mode, .. } => {
                self.emit(HarnessEvent::RunStarted { backend, model: self.model.clone(), approve, mode })
            }
            Record::SessionStarted { number, kind, base, .. } => {
                self.follow_transcript();
                self.transcript = Some((number, 0));
                self.words.clear();
                self.emit(HarnessEvent::SessionStarted { number, kind, base });
            }
            Record::SessionEnded(r) => {
                // Everything the session said comes before its end.
                self.follow_transcript();
                self.transcript = None;
                self.emit(HarnessEvent::SessionEnded {
                    number: r.number,
                    outcome: r.outcome,
                    usage: r.usage,
                    cost_usd: r.cost_usd,
                    duration_ms: r.duration_ms,
                });
            }
            Record::ReviewWaiting { number } => self.review_waiting(number),
            Record::Verdict { number, verdict, reason } => {
                self.emit(HarnessEvent::Verdict { number, verdict, reason });
                // A verdict this screen asked for and did not get: another screen (or the
                // command line) was first. Said after the verdict, so it is the last word.
                if let Some(i) = self.asked.iter().position(|(_, c)| verdict_on(c) == Some(number)) {
                    let (_, asked) = self.asked.remove(i);
                    let wanted = if matches!(asked, Command::Approve(_)) { Verdict::Approved } else { Verdict::Vetoed };
                    if wanted != verdict {
                        self.emit(HarnessEvent::Notice {
                            text: format!(
                                "session {number} was {verdict} first (from elsewhere); your {} was not taken",
                                what(&asked)
                            ),
                        });
                    }
                }
            }
            Record::Evaluated(evaluation) => self.emit(HarnessEvent::Evaluated { evaluation }),
            Record::LimitWait { until, kind, reason } => self.emit(HarnessEvent::LimitWait { until, kind, reason }),
            Record::SlotWait { max, reason } => self.emit(HarnessEvent::SlotWait { max, reason }),
            Record::BreakerTripped { rule, feature, detail } => {
                self.emit(HarnessEvent::Tripped { rule, feature, detail })
            }
            Record::FeatureMarked { .. } | Record::FeatureEdited { .. } | Record::FeatureSkipped { .. } => {
                if let Ok(Some(list)) = self.project.features() {
                    self.emit(HarnessEvent::FeaturesChanged { total: list.len(), passing: list.passing() });
                }
            }
            Record::RequestTaken { id } => {
                if let Some((_, c)) = self.asked.iter().find(|(i, _)| *i == id) {
                    self.emit(HarnessEvent::Notice { text: format!("the loop took it: {}", what(c)) });
                    if verdict_on(c).is_none() {
                        self.asked.retain(|(i, _)| *i != id);
                    }
                }
            }
            Record::RunStopped { reason, detail } => {
                self.emit(HarnessEvent::Stopped {
                    reason: StopReason::parse(&reason),
                    detail: detail.unwrap_or_default(),
                });
                return false;
            }
            Record::Asked { number, session, tool, command, reason } => {
                // What the agent said before it asked is in the transcript already.
                self.follow_transcript();
                let (cwd, words) = (self.project.root().display().to_string(), self.words.trim().to_owned());
                self.emit(HarnessEvent::Question { number, session, tool, command, reason, cwd, words });
            }
            Record::Answered { number, answer } => self.emit(HarnessEvent::Answered { number, answer }),
            Record::JournalTampered { problems } => self.emit(HarnessEvent::Notice { text: tampered(&problems) }),
            Record::Requested { .. }
            | Record::ReviewRequested { .. }
            | Record::MarkRequested { .. }
            | Record::LimitWaited { .. }
            | Record::NoteGiven { .. } => {}
        }
        true
    }

    /// The review of session `number`, built from the journal and git as the loop builds it.
    fn review_waiting(&mut self, number: u32) {
        let built = (|| {
            let sessions = journal::sessions(&self.project.journal()?.entries);
            let s = sessions.iter().find(|s| s.number == number && s.verdict == Some(Verdict::Pending));
            match s {
                Some(s) => {
                    Ok::<_, crate::project::ProjectError>(Some(review::build(&self.project, &self.project.repo()?, s)?))
                }
                None => Ok(None),
            }
        })();
        match built {
            Ok(Some(r)) => {
                self.emit(HarnessEvent::ReviewNeeded { review: Box::new(r), waiting: true });
                self.emit(HarnessEvent::Waiting { reason: format!("session {number} waits for a verdict") });
            }
            Ok(None) => {}
            Err(e) => {
                self.emit(HarnessEvent::Notice { text: format!("cannot show the review of session {number}: {e}") })
            }
        }
    }

    /// The running session's transcript lines written since the last look, as agent events.
    fn follow_transcript(&mut self) {
        let Some((number, offset)) = self.transcript else { return };
        let path = self.project.transcript_path(number);
        let (events, end) = read_transcript(&path, offset);
        self.transcript = Some((number, end));
        for event in events {
            match &event {
                AgentEvent::TextDelta { text } => super::ask::latest_words(&mut self.words, text),
                _ => super::ask::words_end(&mut self.words),
            }
            self.emit(HarnessEvent::Agent { number, event });
        }
    }
}

/// The complete lines of the transcript at `path` after byte `offset`, as events, and the offset
/// after them (a line still being written is left for next time).
pub fn read_transcript(path: &Path, offset: u64) -> (Vec<AgentEvent>, u64) {
    use std::io::{Read, Seek};
    let Ok(mut file) = std::fs::File::open(path) else { return (Vec::new(), offset) };
    let mut bytes = Vec::new();
    if file.seek(std::io::SeekFrom::Start(offset)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return (Vec::new(), offset);
    }
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let events = bytes[..complete]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<AgentEvent>(l).ok())
        .collect();
    (events, offset + complete as u64)
}

/// The session whose review the loop waits for, from the journal: pending, and announced.
fn waiting(entries: &[Entry], sessions: &[journal::SessionSummary]) -> Option<u32> {
    let pending = sessions.iter().rev().find(|s| s.verdict == Some(Verdict::Pending))?.number;
    entries.iter().any(|e| matches!(e.record, Record::ReviewWaiting { number } if number == pending)).then_some(pending)
}

/// What the journal holds that baton did not write, in a line for the screen.
pub fn tampered(problems: &[journal::Problem]) -> String {
    let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("the journal was changed behind baton's back, and nothing acts on it: {}", said.join("; "))
}

fn verdict_on(c: &Command) -> Option<u32> {
    match c {
        Command::Approve(n) | Command::Veto(n, _) => Some(*n),
        _ => None,
    }
}

/// A command in a few words.
fn what(c: &Command) -> String {
    match c {
        Command::StartNext => "start the next session".into(),
        Command::SetMode(m) => {
            format!("{} mode", if *m == crate::project::config::Mode::Step { "step" } else { "continuous" })
        }
        Command::Pause => "pause".into(),
        Command::Resume => "take the pause back".into(),
        Command::Interrupt => "interrupt the session".into(),
        Command::Approve(n) => format!("approve session {n}"),
        Command::Veto(n, _) => format!("veto session {n}"),
        Command::Mark { feature, passes } => {
            format!("mark feature {feature} {}", if *passes { "passing" } else { "failing" })
        }
        Command::EditFeature { .. } => super::gate::describe_edit(c),
        Command::Answer { number, answer } => format!("question {number}: {answer}"),
        Command::Skip(n) => format!("skip feature {n} for now"),
        Command::Note(_) => "a note for the next session".into(),
        Command::Quit => "detach".into(),
    }
}
