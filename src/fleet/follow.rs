//! Following every project of a fleet at once, as attach follows one: each project's row is sent
//! when it changes. Woken by inotify on each project's `.baton/` (its journal grew, its loop took
//! the lock) and by the end of each loop's process (a pidfd): nothing is polled. Runs as a task
//! of its own, so the files are read off the thread that draws.

use std::collections::HashMap;
use std::path::PathBuf;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use notify::Watcher;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::Place;
use super::row::{Happened, Row, Tracker};

/// Row `index` (in the order the places were given) is now `row`; `happened` is what its journal
/// said since the last update, in order (a row shows only the last of it).
#[derive(Debug, Clone)]
pub struct Update {
    pub index: usize,
    pub row: Row,
    pub happened: Vec<Happened>,
}

/// Follows `places` until the receiver is dropped: every row once as read at the start, then
/// each row again whenever it changes. Must be called inside a tokio runtime.
pub fn follow(places: Vec<Place>) -> UnboundedReceiver<Update> {
    let (tx, rx) = unbounded_channel();
    tokio::spawn(run(places, tx));
    rx
}

async fn run(places: Vec<Place>, tx: UnboundedSender<Update>) {
    let mut trackers = Vec::with_capacity(places.len());
    let mut sent: Vec<Row> = Vec::with_capacity(places.len());
    for (index, place) in places.into_iter().enumerate() {
        let t = Tracker::open(place);
        let row = t.row();
        if tx.send(Update { index, row: row.clone(), happened: Vec::new() }).is_err() {
            return;
        }
        trackers.push(t);
        sent.push(row);
    }
    let (wake_tx, mut woken) = unbounded_channel::<usize>();
    let dirs: HashMap<PathBuf, usize> =
        trackers.iter().enumerate().filter_map(|(i, t)| t.watched().map(|d| (d, i))).collect();
    let _watcher = watch(dirs, wake_tx);
    let mut ends = FuturesUnordered::new();
    let mut armed: Vec<Option<u32>> = vec![None; trackers.len()];
    let arm = |i: usize, pid: Option<u32>, armed: &mut Vec<Option<u32>>, ends: &mut FuturesUnordered<_>| {
        if let Some(pid) = pid.filter(|p| armed[i] != Some(*p)) {
            armed[i] = Some(pid);
            ends.push(async move {
                super::pid::exited(pid as i32).await;
                i
            });
        }
    };
    for (i, t) in trackers.iter().enumerate() {
        arm(i, t.loop_pid(), &mut armed, &mut ends);
    }
    loop {
        let mut changed = Vec::new();
        tokio::select! {
            Some(i) = woken.recv() => {
                changed.push(i);
                // Changes that came together are read once.
                while let Ok(i) = woken.try_recv() {
                    changed.push(i);
                }
            }
            Some(i) = ends.next(), if !ends.is_empty() => {
                armed[i] = None;
                changed.push(i);
            }
            _ = tx.closed() => return,
        }
        changed.sort_unstable();
        changed.dedup();
        for i in changed {
            let t = &mut trackers[i];
            let happened = t.refresh();
            arm(i, t.loop_pid(), &mut armed, &mut ends);
            let row = t.row();
            if row != sent[i] || !happened.is_empty() {
                sent[i] = row.clone();
                if tx.send(Update { index: i, row, happened }).is_err() {
                    return;
                }
            }
        }
    }
}

/// One inotify watch per project's `.baton/`; each change sends the project's index.
fn watch(dirs: HashMap<PathBuf, usize>, wake: UnboundedSender<usize>) -> Option<notify::RecommendedWatcher> {
    let paths: Vec<PathBuf> = dirs.keys().cloned().collect();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        let Ok(e) = e else { return };
        // Reading is an event too (open, close): waking on those, the follower would wake itself.
        // A file written and closed is not: a loop letting go of its lock closes `loop.lock`,
        // which is how a run that stopped in a process that goes on (a screen) is heard.
        use notify::event::{AccessKind, AccessMode, EventKind};
        if matches!(e.kind, EventKind::Access(k) if k != AccessKind::Close(AccessMode::Write)) {
            return;
        }
        for p in &e.paths {
            let index = dirs.get(p).or_else(|| p.parent().and_then(|d| dirs.get(d)));
            if let Some(i) = index {
                let _ = wake.send(*i);
            }
        }
    })
    .map_err(|e| tracing::warn!("cannot watch the fleet's journals: {e}"))
    .ok()?;
    for p in paths {
        if let Err(e) = watcher.watch(&p, notify::RecursiveMode::NonRecursive) {
            tracing::warn!("cannot watch {}: {e}", p.display());
        }
    }
    Some(watcher)
}
