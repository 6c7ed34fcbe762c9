//! Logs go to a file (the terminal belongs to the screen); `RUST_LOG` sets the level.

use std::path::PathBuf;

/// `baton.log` in the platform's state directory (`$XDG_STATE_HOME/baton/` on Linux), or its data
/// directory where there is no state directory.
pub fn log_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "baton")?;
    let dir = dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir());
    Some(dir.join("baton.log"))
}

/// Starts logging to [`log_path`]. Logging is a help, not a duty: if the file cannot be opened,
/// baton runs without it.
pub fn init() {
    let Some(path) = log_path() else { return };
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_err()
    {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}
