//! `baton init --browser`: a browser for the project's sessions, as an MCP server both backends
//! use: `@playwright/mcp` driving the machine's own Chromium (headless, no browser download at run
//! time), inside each session's sandbox.

use std::io::Write;
use std::path::{Path, PathBuf};

use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};

use crate::project::config::{Config, commented_defaults, project_config_path};
use crate::project::fsio::atomic_write;

/// The version `baton init --browser` tells the user to install, the one baton is tested with.
pub const PLAYWRIGHT_MCP: &str = "@playwright/mcp@0.0.83";

/// The Playwright MCP server: `BATON_PLAYWRIGHT_MCP`, the project's own `node_modules`, or PATH.
fn playwright(dir: &Path) -> Option<PathBuf> {
    let set = std::env::var_os("BATON_PLAYWRIGHT_MCP").filter(|p| !p.is_empty()).map(PathBuf::from);
    set.into_iter()
        .chain([dir.join("node_modules/.bin/playwright-mcp")])
        .find(|p| p.is_file())
        .or_else(|| super::on_path("playwright-mcp"))
}

fn chromium() -> Option<PathBuf> {
    let set = std::env::var_os("BATON_CHROMIUM").filter(|p| !p.is_empty()).map(PathBuf::from);
    set.filter(|p| p.is_file()).or_else(|| {
        ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"].into_iter().find_map(super::on_path)
    })
}

/// The `[[mcp.servers]]` entry for the browser.
pub fn server_toml(playwright: &Path, chromium: &Path) -> String {
    format!(
        "\n# A browser for testing the app as a user would (baton init --browser): the Playwright MCP\n\
         # server driving this machine's Chromium, headless, inside each session's sandbox.\n\
         [[mcp.servers]]\n\
         name = \"playwright\"\n\
         command = {:?}\n\
         args = [\"--headless\", \"--isolated\", \"--no-sandbox\", \"--executable-path\", {:?}, \"--output-dir\", \"${{TMPDIR}}/playwright\"]\n",
        playwright.display().to_string(),
        chromium.display().to_string()
    )
}

/// Finds the server and the browser, before anything is written: a missing one changes nothing.
pub fn find(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let playwright = playwright(dir).ok_or_else(|| {
        eyre!("cannot find the Playwright MCP server (`playwright-mcp`): install it with `npm install -g {PLAYWRIGHT_MCP}` (or set BATON_PLAYWRIGHT_MCP to its path); nothing changed")
    })?;
    let chromium = chromium().ok_or_else(|| {
        eyre!("cannot find Chromium: install it with `apt-get install chromium` (or set BATON_CHROMIUM to a Chrome or Chromium binary); nothing changed")
    })?;
    Ok((playwright, chromium))
}

/// Adds the browser server to the project's config, keeping what the file says (comments too).
pub fn add(dir: &Path, (playwright, chromium): &(PathBuf, PathBuf), out: &mut dyn Write) -> Result<()> {
    let path = project_config_path(dir);
    let existing = std::fs::read_to_string(&path).ok();
    if let Some(text) = &existing {
        let config = Config::parse(&path, text)?;
        if config.mcp.servers.iter().any(|s| s.name == "playwright") {
            writeln!(out, "{} already has a `playwright` MCP server; nothing changed", path.display())?;
            return Ok(());
        }
    }
    let text = format!("{}{}", existing.unwrap_or_else(commented_defaults), server_toml(playwright, chromium));
    // What is written must read back: never leave a config baton cannot load.
    Config::parse(&path, &text)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).wrap_err_with(|| format!("cannot create {}", parent.display()))?;
    }
    atomic_write(&path, text.as_bytes()).wrap_err_with(|| format!("cannot write {}", path.display()))?;
    writeln!(
        out,
        "added a browser to {}: the Playwright MCP server ({}) with Chromium ({}); sessions test web features through it",
        path.display(),
        playwright.display(),
        chromium.display()
    )?;
    Ok(())
}
