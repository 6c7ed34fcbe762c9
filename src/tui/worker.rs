//! The worker: a thread that does the screen's git and file work, so nothing slow runs where the
//! screen is drawn. It answers requests and watches the feature list, the notes, the journal and
//! HEAD, sending fresh data only when something changed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedSender;

use super::app::{JournalView, Reply, Request};
use super::panes::features::Row;
use super::panes::gitlog::{LogRow, Mark};
use crate::agent::AgentEvent;
use crate::harness::Command;
use crate::project::Project;
use crate::project::features::FeatureList;
use crate::project::journal;
use crate::project::session::Verdict;

/// How many commits one page of the log holds.
pub const PAGE: usize = 200;

fn stamp(p: &PathBuf) -> Option<(SystemTime, u64)> {
    std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))
}

pub fn spawn(
    project: Project,
    requests: Receiver<Request>,
    replies: UnboundedSender<Reply>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen: HashMap<PathBuf, Option<(SystemTime, u64)>> = HashMap::new();
        let watched = [
            project.features_path(),
            project.progress().path().to_owned(),
            project.journal_path(),
            project.root().join(".git/logs/HEAD"),
        ];
        let mut first = true;
        let mut first_pass = true;
        // How much of the log the screen has asked for: one page, then a page more each time its
        // cursor reaches the end.
        let mut log_limit = PAGE;
        loop {
            // The first pass reads everything at once; then changes are looked for every 400 ms.
            let wait = if first { Duration::ZERO } else { Duration::from_millis(400) };
            let req = match requests.recv_timeout(wait) {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if matches!(req, Some(Request::MoreLog)) {
                log_limit += PAGE;
            }
            if let Some(Request::SaveMode(mode)) = &req
                && let Err(e) = crate::project::last_mode::save(&project.baton_dir(), *mode)
            {
                tracing::warn!("cannot keep the mode in {}: {e}", project.baton_dir().display());
            }
            // An operator command first, so the journal read below already shows what it did.
            if let Some(Request::Operator(cmd)) = &req
                && replies.send(operator(&project, cmd.clone())).is_err()
            {
                return;
            }
            let refresh = matches!(req, Some(Request::Refresh | Request::Operator(_)));
            let mut changed = first || refresh || matches!(req, Some(Request::MoreLog));
            let mut journal_changed = first || refresh;
            first = false;
            for p in &watched {
                let now = stamp(p);
                if seen.get(p) != Some(&now) {
                    seen.insert(p.clone(), now);
                    changed = true;
                    journal_changed |= *p == project.journal_path();
                }
            }
            let send = |r: Reply| replies.send(r).is_ok();
            // The feature list is read once a pass, for the status and for its pane.
            let list = if changed || journal_changed { Some(project.features()) } else { None };
            let listed = list.as_ref().and_then(|l| l.as_ref().ok()).and_then(Option::as_ref);
            if journal_changed {
                let view = journal_view(&project, listed);
                // On the first pass, the last session's transcript too, so a screen opened on a
                // project shows what happened last, whatever can run here.
                let last = match &view {
                    Reply::Journal(v) if first_pass => v.last.map(|(n, _)| n),
                    _ => None,
                };
                if !send(view) {
                    return;
                }
                if let Some(last) = last
                    && let Reply::Transcript { number, events, .. } = transcript(&project, last)
                    && !send(Reply::Transcript { number, events, last: true })
                {
                    return;
                }
            }
            first_pass = false;
            if let Some(list) = list
                && changed
                && !(send(features(list)) && send(progress(&project)) && send(log(&project, log_limit)))
            {
                return;
            }
            let reply = match req {
                Some(Request::Diff { title, from, to }) => Some(diff(&project, title, from, to)),
                Some(Request::Transcript(n)) => Some(transcript(&project, n)),
                Some(Request::Sessions) => Some(match project.journal() {
                    Ok(r) => Reply::Sessions(journal::sessions(&r.entries)),
                    Err(e) => Reply::Error(e.to_string()),
                }),
                Some(Request::Stats) => Some(match project.journal() {
                    Ok(r) => Reply::Stats(Box::new(crate::project::report::report(&r.entries))),
                    Err(e) => Reply::Error(e.to_string()),
                }),
                Some(Request::Refresh | Request::MoreLog | Request::Operator(_) | Request::SaveMode(_)) | None => None,
            };
            if let Some(r) = reply
                && !send(r)
            {
                return;
            }
        }
    })
}

/// What the journal says: the state, the pending review (with its commits, read from git), and
/// every verdict given.
fn journal_view(project: &Project, list: Option<&FeatureList>) -> Reply {
    let status = match crate::project::state::Status::with_features(project, list) {
        Ok(s) => s,
        Err(e) => return Reply::Error(e.to_string()),
    };
    let pending = status
        .sessions
        .iter()
        .rev()
        .find(|s| s.verdict == Some(Verdict::Pending))
        .and_then(|s| project.repo().ok().and_then(|repo| crate::harness::review::build(project, &repo, s).ok()))
        .map(Box::new);
    Reply::Journal(JournalView {
        last: status.sessions.last().map(|s| (s.number, s.kind)),
        state: status.state.to_string(),
        costs: status.sessions.iter().filter(|s| s.end.is_some()).map(|s| (s.number, s.cost_usd())).collect(),
        unpriced: status.sessions.iter().filter(|s| s.end.is_some() && !s.usage().priced()).map(|s| s.number).collect(),
        running_since: status.sessions.iter().rev().find(|s| s.end.is_none()).map(|s| (s.number, s.started_at)),
        pending,
        decided: status
            .sessions
            .iter()
            .filter_map(|s| s.verdict.filter(|v| *v != Verdict::Pending).map(|v| (s.number, v)))
            .collect(),
        done: status.state == crate::project::state::RunState::Done,
        loop_pid: status.loop_pid,
        runs_started: status.runs_started,
    })
}

/// Carries out a verdict or a mark the way the command line does: through the journal when a loop
/// runs elsewhere, else at once under the loop lock.
fn operator(project: &Project, cmd: Command) -> Reply {
    let mut out = Vec::new();
    let done = match cmd {
        Command::Approve(_) => crate::commands::review::run(project, true, None, &mut out),
        Command::Veto(_, reason) => crate::commands::review::run(project, false, Some(reason), &mut out),
        Command::Mark { feature, passes } => crate::commands::features::mark(project, feature, passes, &mut out),
        Command::Skip(feature) => crate::commands::features::skip(project, feature, &mut out),
        Command::Note(text) => crate::commands::features::note(project, &text, &mut out),
        _ => return Reply::Error("that needs a loop running here".into()),
    };
    match done {
        Ok(()) => Reply::Notice(String::from_utf8_lossy(&out).split_whitespace().collect::<Vec<_>>().join(" ")),
        Err(e) => Reply::Error(e.to_string()),
    }
}

fn features(list: Result<Option<FeatureList>, crate::project::ProjectError>) -> Reply {
    match list {
        Ok(list) => Reply::Features(list.map(|l| {
            l.features()
                .iter()
                .enumerate()
                .map(|(i, f)| Row {
                    number: i + 1,
                    passes: f.passes(),
                    skipped: crate::project::features::is_skipped(f),
                    category: f.category().to_owned(),
                    description: f.description().to_owned(),
                    steps: f.steps().map(str::to_owned).collect(),
                })
                .collect()
        })),
        Err(e) => Reply::Error(e.to_string()),
    }
}

fn progress(project: &Project) -> Reply {
    Reply::Progress(project.progress().read().unwrap_or_default())
}

/// The first `limit` commits of the log, with each session's last commit and vetoed tips marked.
pub fn log(project: &Project, limit: usize) -> Reply {
    let repo = match project.repo() {
        Ok(r) => r,
        Err(e) => return Reply::Error(e.to_string()),
    };
    let sessions = project.journal().map(|r| journal::sessions(&r.entries)).unwrap_or_default();
    let mut heads: HashMap<String, (u32, String)> = HashMap::new();
    for s in &sessions {
        if let (Some(h), Some(v)) = (s.head(), s.verdict)
            && s.base.as_deref() != Some(h)
        {
            heads.insert(h.to_owned(), (s.number, v.to_string()));
        }
    }
    // Vetoed tips are not on the branch: each goes where its time puts it among the commits.
    let mut vetoed: Vec<(i64, LogRow)> = Vec::new();
    if let Ok(refs) = repo.baton_refs("vetoed/") {
        for (name, oid) in refs {
            let number = name.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            if let Ok(c) = repo.commit_info(oid) {
                let mark = Some(Mark::VetoedTip { number });
                vetoed.push((c.time, LogRow { id: c.id, summary: c.summary, author: c.author, mark }));
            }
        }
    }
    vetoed.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
    let mut vetoed = std::collections::VecDeque::from(vetoed);
    let mut rows = Vec::new();
    let mut more = false;
    match repo.walk(None) {
        Ok(walk) => {
            for (i, c) in walk.enumerate() {
                if i == limit {
                    more = true;
                    break;
                }
                let Ok(c) = c else { break };
                while vetoed.front().is_some_and(|(t, _)| *t > c.time) {
                    rows.extend(vetoed.pop_front().map(|(_, r)| r));
                }
                let mark = heads
                    .get(&c.id)
                    .map(|(number, verdict)| Mark::SessionHead { number: *number, verdict: verdict.clone() });
                rows.push(LogRow { id: c.id, summary: c.summary, author: c.author, mark });
            }
        }
        Err(e) => return Reply::Error(e.to_string()),
    }
    if !more {
        rows.extend(vetoed.into_iter().map(|(_, r)| r));
    }
    Reply::Log { rows, more }
}

fn diff(project: &Project, title: String, from: Option<String>, to: String) -> Reply {
    let run = || -> Result<String, String> {
        let repo = project.repo().map_err(|e| e.to_string())?;
        let to = git2::Oid::from_str(&to).map_err(|e| e.to_string())?;
        let from = match from {
            Some(f) => Some(git2::Oid::from_str(&f).map_err(|e| e.to_string())?),
            // A single commit: against its first parent.
            None => repo
                .commit_info(to)
                .map_err(|e| e.to_string())?
                .parents
                .first()
                .and_then(|p| git2::Oid::from_str(p).ok()),
        };
        let info = repo.commit_info(to).map_err(|e| e.to_string())?;
        let body = repo.diff_text(from, to).map_err(|e| e.to_string())?;
        Ok(format!(
            "commit {}\nAuthor: {} <{}>\n\n    {}\n\n{body}",
            info.id,
            info.author,
            info.email,
            info.message.trim().replace('\n', "\n    ")
        ))
    };
    match run() {
        Ok(text) => Reply::Diff { title, text },
        Err(e) => Reply::Error(format!("cannot show the diff: {e}")),
    }
}

fn transcript(project: &Project, number: u32) -> Reply {
    let path = project.transcript_path(number);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return Reply::Error(format!("cannot read {}: {e}", path.display())),
    };
    let events = text.lines().filter_map(|l| serde_json::from_str::<AgentEvent>(l).ok()).collect();
    Reply::Transcript { number, events, last: false }
}
