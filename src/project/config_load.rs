//! Loading baton's settings: the built-in defaults, then the user's file, then the project's,
//! each checked against the schema on its own so an error names the file and the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::config::{Config, ConfigError, DEFAULT_CONFIG_TOML, Price};

impl Config {
    /// The project's settings: built-in defaults, then the user's file, then the project's
    /// `.baton/config.toml`; a later file wins key by key. Missing files are fine.
    pub fn load(project_root: &Path) -> Result<Config, ConfigError> {
        // The documented file is the base, so its price table is the default one.
        let mut merged: toml::Table = toml::from_str(DEFAULT_CONFIG_TOML).unwrap_or_default();
        for path in [user_config_path(), Some(project_config_path(project_root))].into_iter().flatten() {
            if let Some(table) = read_checked(&path)? {
                merge(&mut merged, table);
            }
        }
        Config::deserialize(merged)
            .map_err(|e| ConfigError::Invalid { path: project_config_path(project_root), message: e.to_string() })
    }

    /// Parses one config file's text, as `load` checks each file.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid { path: path.to_owned(), message: e.to_string() })
    }

    /// Every MCP server the project configures (`[[mcp.servers]]`, then `[mcp] config`'s file,
    /// or the older `[agent] mcp_config`).
    pub fn mcp_servers(&self, root: &Path) -> Result<Vec<super::mcp::McpServer>, ConfigError> {
        let mut mcp = self.mcp.clone();
        if mcp.config.trim().is_empty() {
            mcp.config = self.agent.mcp_config.clone();
        }
        mcp.servers(root)
    }

    /// The MCP tools an agent may call: `[policy] mcp_allow`, or every configured server's, plus
    /// the older `[agent] mcp_tools`.
    pub fn mcp_allowed(&self, servers: &[super::mcp::McpServer]) -> Vec<String> {
        let mut allow = if self.policy.mcp_allow.is_empty() {
            servers.iter().map(|s| format!("mcp__{}", s.name)).collect()
        } else {
            self.policy.mcp_allow.clone()
        };
        allow.extend(self.agent.mcp_tools.iter().cloned());
        allow
    }

    /// The price of `model`, if the table has it (see [`super::prices::lookup`]).
    pub fn price(&self, model: &str) -> Option<Price> {
        super::prices::lookup(&self.prices, model)
    }
}

pub fn project_config_path(project_root: &Path) -> PathBuf {
    project_root.join(".baton").join("config.toml")
}

/// `config.toml` in the platform's config directory (`$XDG_CONFIG_HOME/baton/` on Linux).
pub fn user_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "baton").map(|d| d.config_dir().join("config.toml"))
}

/// Reads `path` and checks it against the schema (so an error names this file and the key), then
/// returns it as a table for merging. `None` if there is no such file.
fn read_checked(path: &Path) -> Result<Option<toml::Table>, ConfigError> {
    // A FIFO in its place is an error at once, not a wait for a writer.
    let Some(text) = super::fsio::read_text(path)? else { return Ok(None) };
    Config::parse(path, &text)?;
    let table =
        toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.to_owned(), message: e.to_string() })?;
    Ok(Some(table))
}

/// Deep merge: tables merge key by key, anything else in `over` replaces what `base` had.
pub(super) fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
