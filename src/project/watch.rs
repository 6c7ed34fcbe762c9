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
            if e.is_ok() {
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
        let mut fallback = tokio::time::interval(fallback);
        fallback.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        fallback.reset();
        DirWatch { _watcher: watcher, events, fallback }
    }

    /// Returns when something changed (or the poll came round); changes that came together
    /// wake it once.
    pub async fn changed(&mut self) {
        tokio::select! {
            _ = self.events.recv() => {}
            _ = self.fallback.tick() => {}
        }
        while self.events.try_recv().is_ok() {}
    }
}
