//! MCP servers, one configuration for both backends: `[[mcp.servers]]` in `.baton/config.toml`,
//! plus the servers of a Claude-style `.mcp.json` named by `[mcp] config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mcp {
    /// A Claude-style `.mcp.json` (`{"mcpServers": {...}}`) whose servers are added, relative to
    /// the project; empty for none.
    pub config: String,
    /// How long a server may take to start and list its tools.
    pub startup_timeout_seconds: u64,
    /// How long one tool call may take.
    pub call_timeout_seconds: u64,
    pub servers: Vec<McpServer>,
}

impl Default for Mcp {
    fn default() -> Self {
        Mcp { config: String::new(), startup_timeout_seconds: 30, call_timeout_seconds: 120, servers: Vec::new() }
    }
}

/// One server, spoken to over its standard input and output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    /// Its tools are offered as `mcp__<name>__<tool>`.
    pub name: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Whether it runs inside the session's network too (a browser there reaches the app the
    /// session started on loopback, and nothing else). A server that must reach the internet
    /// sets `false`: it keeps the host's network, and the rest of the wall (files, environment,
    /// signals) holds for it as for everything of a session.
    #[serde(default = "yes")]
    pub sandbox: bool,
}

fn yes() -> bool {
    true
}

/// `.mcp.json` as Claude Code writes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct McpJson {
    #[serde(default)]
    mcp_servers: BTreeMap<String, JsonServer>,
}

#[derive(Deserialize)]
struct JsonServer {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    url: Option<String>,
}

impl Mcp {
    /// The path of the `.mcp.json` to read, if one is set.
    pub fn config_path(&self, root: &Path) -> Option<PathBuf> {
        (!self.config.trim().is_empty()).then(|| root.join(&self.config))
    }

    /// Every configured server: `[[mcp.servers]]` first, then the `.mcp.json`'s. A bad file, a
    /// server without a command, or two servers of one name is an error naming the file.
    pub fn servers(&self, root: &Path) -> Result<Vec<McpServer>, ConfigError> {
        let mut out = self.servers.clone();
        if let Some(path) = self.config_path(root) {
            let bad = |message: String| ConfigError::Invalid { path: path.clone(), message };
            let text = match super::fsio::read_text(&path)? {
                Some(text) => text,
                None => {
                    let source = std::io::Error::from(std::io::ErrorKind::NotFound);
                    return Err(ConfigError::Read { path: path.clone(), source });
                }
            };
            let json: McpJson = serde_json::from_str(&text).map_err(|e| bad(super::features::json_error(&text, &e)))?;
            for (name, s) in json.mcp_servers {
                match (s.kind.as_deref(), s.command) {
                    (None | Some("stdio"), Some(command)) => {
                        out.push(McpServer { name, command, args: s.args, env: s.env, sandbox: true })
                    }
                    (kind, _) => {
                        return Err(bad(format!(
                            "server `{name}`: only stdio servers (with a `command`) are supported, not {}",
                            match (kind, s.url) {
                                (Some(k), Some(url)) => format!("`{k}` at {url}"),
                                (Some(k), None) => format!("`{k}`"),
                                (None, _) => "one without a command".to_owned(),
                            }
                        )));
                    }
                }
            }
        }
        let config = super::config::project_config_path(root);
        for (i, s) in out.iter().enumerate() {
            let bad = |message: String| ConfigError::Invalid { path: config.clone(), message };
            if s.name.is_empty()
                || s.name.contains("__")
                || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad(format!(
                    "MCP server name {:?}: use letters, digits, `-` and single `_` (its tools are `mcp__NAME__TOOL`)",
                    s.name
                )));
            }
            if s.command.trim().is_empty() {
                return Err(bad(format!("MCP server `{}` has no command", s.name)));
            }
            if out[..i].iter().any(|o| o.name == s.name) {
                return Err(bad(format!("two MCP servers are named `{}`", s.name)));
            }
        }
        Ok(out)
    }
}

/// The name a server's tool is offered under.
pub fn tool_name(server: &str, tool: &str) -> String {
    format!("mcp__{server}__{tool}")
}

/// Whether `tool` (`mcp__server__tool`) matches `pattern`: the tool itself, its server
/// (`mcp__server`), or a prefix ending in `*` (`mcp__playwright__browser_*`).
pub fn matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => tool == pattern || tool.strip_prefix(pattern).is_some_and(|rest| rest.starts_with("__")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_a_tool_its_server_or_a_prefix() {
        let t = "mcp__playwright__browser_click";
        assert!(matches("mcp__playwright", t));
        assert!(matches(t, t));
        assert!(matches("mcp__playwright__browser_*", t));
        assert!(!matches("mcp__play", t), "a server's name is matched whole");
        assert!(!matches("mcp__playwright__browser_clic", t));
        assert!(!matches("mcp__other", t));
    }

    #[test]
    fn a_claude_style_file_adds_its_servers_and_its_faults_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let mcp = Mcp { config: ".mcp.json".into(), ..Mcp::default() };
        std::fs::write(
            dir.path().join(".mcp.json"),
            r#"{"mcpServers": {"pw": {"command": "playwright-mcp", "args": ["--headless"], "env": {"A": "1"}}}}"#,
        )
        .unwrap();
        let servers = mcp.servers(dir.path()).unwrap();
        assert_eq!(servers.len(), 1);
        assert_eq!((servers[0].name.as_str(), servers[0].args.as_slice()), ("pw", &["--headless".to_owned()][..]));
        std::fs::write(
            dir.path().join(".mcp.json"),
            "{\"mcpServers\": {\"x\": {\"type\": \"http\", \"url\": \"http://h\"}}}",
        )
        .unwrap();
        let e = mcp.servers(dir.path()).unwrap_err().to_string();
        assert!(e.contains(".mcp.json") && e.contains("only stdio servers") && e.contains("http://h"), "{e}");
        std::fs::write(dir.path().join(".mcp.json"), "{\"mcpServers\": {\n  \"x\": tru\n}}").unwrap();
        let e = mcp.servers(dir.path()).unwrap_err().to_string();
        assert!(e.contains(".mcp.json: 2:8: expected ident"), "{e}");
        let twice = Mcp {
            servers: vec![
                McpServer {
                    name: "a".into(),
                    command: "x".into(),
                    args: vec![],
                    env: BTreeMap::new(),
                    sandbox: true
                };
                2
            ],
            ..Mcp::default()
        };
        assert!(twice.servers(dir.path()).unwrap_err().to_string().contains("two MCP servers are named `a`"));
        let mut odd = twice.clone();
        odd.servers.truncate(1);
        odd.servers[0].name = "a__b".into();
        assert!(odd.servers(dir.path()).unwrap_err().to_string().contains("single `_`"));
    }
}
