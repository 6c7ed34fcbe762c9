//! Waking a task when files change: inotify through the `notify` crate where the kernel offers it,
//! and a slow poll in any case, so a missed or unsupported event only costs latency.

use std::path::Path;
use std::time::Duration;

use notify::Watcher;

/// Wakes its owner when something in the watched directories changes, or after `fallback`.
pub struct DirWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    events: tokio::sync::mpsc::UnboundedReceiver<()>,
    fallback: tokio::time::Interval,
}

impl DirWatch {
    /// Watches `dirs` (not recursively); those that do not exist yet are left to the poll.
    pub fn new(dirs: &[&Path], fallback: Duration) -> Self {
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            // Reading a file is an event too (open, close): waking on those, the reader would
            // wake itself for ever.
            if e.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                let _ = tx.send(());
            }
        })
        .ok()
        .map(|mut w| {
            for d in dirs {
                if let Err(e) = w.watch(d, notify::RecursiveMode::NonRecursive) {
                    tracing::debug!("cannot watch {}: {e}; polling it", d.display());
                }
            }
            w
        });
        // Its first tick comes at once: what changed before the watch began is looked at too.
        let mut fallback = tokio::time::interval(fallback);
        fallback.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        DirWatch { _watcher: watcher, events, fallback }
    }

    /// Returns when something changed (or the poll came round; the first call returns at once);
    /// changes that came together wake it once.
    pub async fn changed(&mut self) {
        tokio::select! {
            // Without a watcher the channel is closed: only the poll wakes it.
            Some(()) = self.events.recv() => {}
            _ = self.fallback.tick() => {}
        }
        while self.events.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_append_wakes_the_watch_before_the_poll_would() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("journal.jsonl");
        std::fs::write(&file, "a\n").unwrap();
        let mut watch = DirWatch::new(&[dir.path()], Duration::from_secs(30));
        watch.changed().await;
        let started = std::time::Instant::now();
        let writer = {
            let file = file.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
                writeln!(f, "b").unwrap();
            })
        };
        watch.changed().await;
        writer.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "woken by the append, not the poll");
        // Reading wakes nothing.
        let read = tokio::time::timeout(Duration::from_millis(300), async {
            let _ = std::fs::read_to_string(&file);
            watch.changed().await;
        })
        .await;
        assert!(read.is_err(), "a read woke the watch");
    }
}
