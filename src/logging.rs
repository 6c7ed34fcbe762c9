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
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting(std::sync::Arc::new(std::sync::Mutex::new(file))))
        .with_ansi(false)
        .try_init();
}

/// Log lines with secrets from the environment masked.
struct Redacting(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

struct RedactingWriter(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = crate::project::secrets::global().redact(&text);
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Redacting {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.clone())
    }
}
