//! What each command-line command does. Output goes to the writer given, so tests read it.

pub mod answer;
pub mod browser;
pub mod demo;
pub mod features;
pub mod fleet;
pub mod fleet_demo;
pub mod init;
pub mod report;
pub mod review;
pub mod run;
pub mod sandbox;
pub mod screen;
pub mod sessions;
pub mod status;

use std::io::Write;

use color_eyre::Result;

/// Prints `value` as pretty JSON followed by a newline.
pub(crate) fn print_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints the journal lines that had to be skipped, so the operator knows, without failing.
pub(crate) fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

pub(crate) use crate::words::clip;

pub(crate) fn short(id: Option<&str>) -> &str {
    id.map_or("-", |s| &s[..s.len().min(7)])
}

/// `name` as found on `PATH`.
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
