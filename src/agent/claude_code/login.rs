//! The `claude` CLI's own state for one session: a settings directory of its own
//! (`CLAUDE_CONFIG_DIR`), so the CLI loads no settings, hooks, plugins or MCP servers an agent could
//! have written, and writes nothing another `claude` would load later. The operator's login is
//! copied in, and a login the CLI refreshed during the session is copied back, so a subscriber's
//! overnight run stays signed in. Also the environment the CLI gets: what it needs to reach the
//! model, nothing else of baton's.

use std::path::{Path, PathBuf};

/// The files of the operator's login that the CLI reads.
const CREDENTIALS: &str = ".credentials.json";
const GLOBAL: &str = ".claude.json";

/// The CLI's settings directory for one session, and where the operator's login came from.
#[derive(Debug)]
pub struct Login {
    dir: tempfile::TempDir,
    /// The operator's settings directory (`$CLAUDE_CONFIG_DIR`, or `~/.claude`).
    home_config: Option<PathBuf>,
    /// The login as it was copied in, to tell a refresh from it.
    seeded: Option<Vec<u8>>,
}

impl Login {
    /// A fresh settings directory holding a copy of the operator's login; `env` is the CLI's
    /// environment as baton would give it (its `HOME` and `CLAUDE_CONFIG_DIR` say where the
    /// operator's settings are).
    pub fn seed(env: &[(String, String)]) -> std::io::Result<Login> {
        let dir = tempfile::Builder::new().prefix("baton-claude-").tempdir()?;
        let var = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| PathBuf::from(v));
        let home = var("HOME");
        let home_config = var("CLAUDE_CONFIG_DIR").or_else(|| home.as_ref().map(|h| h.join(".claude")));
        let mut seeded = None;
        if let Some(config) = &home_config
            && let Ok(bytes) = std::fs::read(config.join(CREDENTIALS))
        {
            write_private(&dir.path().join(CREDENTIALS), &bytes)?;
            seeded = Some(bytes);
        }
        // The CLI's global state (the account a subscriber is signed in as): beside the settings
        // directory when it was moved, else in the home directory.
        let global = match var("CLAUDE_CONFIG_DIR") {
            Some(c) => Some(c.join(GLOBAL)),
            None => home.map(|h| h.join(GLOBAL)),
        };
        if let Some(bytes) = global.and_then(|g| std::fs::read(g).ok()) {
            write_private(&dir.path().join(GLOBAL), &bytes)?;
        }
        Ok(Login { dir, home_config, seeded })
    }

    /// The directory the CLI gets as `CLAUDE_CONFIG_DIR`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Copies a login the CLI refreshed back to the operator's settings, unless the operator's
    /// copy changed meanwhile too and is the newer one. Says what it did, for the log.
    pub fn sync_back(&self) -> Option<String> {
        let now = std::fs::read(self.dir.path().join(CREDENTIALS)).ok()?;
        if self.seeded.as_deref() == Some(now.as_slice()) || serde_json::from_slice::<serde_json::Value>(&now).is_err()
        {
            return None;
        }
        let config = self.home_config.as_ref()?;
        let target = config.join(CREDENTIALS);
        let theirs = std::fs::read(&target).ok();
        if theirs != self.seeded && expires(theirs.as_deref()) >= expires(Some(&now)) {
            return Some(format!("kept {}: it changed during the session and is the newer login", target.display()));
        }
        let tmp = config.join(format!("{CREDENTIALS}.baton-{}", std::process::id()));
        let done = std::fs::create_dir_all(config)
            .and_then(|()| write_private(&tmp, &now))
            .and_then(|()| std::fs::rename(&tmp, &target));
        Some(match done {
            Ok(()) => format!("the CLI refreshed its login; copied it back to {}", target.display()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                format!("the CLI refreshed its login, but it could not be copied back to {}: {e}", target.display())
            }
        })
    }
}

/// When the login's access token expires (milliseconds), 0 when unknown.
fn expires(bytes: Option<&[u8]>) -> i64 {
    bytes
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v["claudeAiOauth"]["expiresAt"].as_i64())
        .unwrap_or(0)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// Whether the CLI keeps `name` from baton's environment: what reaching the model takes (its
/// key or login, its address, a proxy and its certificates; a cloud provider's settings when the
/// CLI is set to use one) and the CLI's own switches; nothing else.
pub fn cli_keeps(name: &str, bedrock: bool, vertex: bool) -> bool {
    const PREFIXES: &[&str] = &["ANTHROPIC_", "CLAUDE_CODE_", "DISABLE_", "MCP_"];
    const NAMES: &[&str] = &[
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "MAX_THINKING_TOKENS",
        "MAX_MCP_OUTPUT_TOKENS",
        "BASH_DEFAULT_TIMEOUT_MS",
        "BASH_MAX_TIMEOUT_MS",
        "XDG_CONFIG_HOME",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || NAMES.contains(&name)
        || (bedrock && name.starts_with("AWS_"))
        || (vertex
            && (name.starts_with("CLOUD_ML_")
                || name.starts_with("VERTEX_REGION_")
                || name == "GOOGLE_APPLICATION_CREDENTIALS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(home: &Path) -> Vec<(String, String)> {
        vec![("HOME".into(), home.display().to_string())]
    }

    #[test]
    fn the_login_is_copied_in_and_a_refresh_copied_back() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".claude");
        std::fs::create_dir_all(&config).unwrap();
        let old = r#"{"claudeAiOauth":{"accessToken":"a1","refreshToken":"r1","expiresAt":1}}"#;
        std::fs::write(config.join(CREDENTIALS), old).unwrap();
        std::fs::write(home.path().join(GLOBAL), r#"{"oauthAccount":{}}"#).unwrap();
        let login = Login::seed(&env(home.path())).unwrap();
        assert_eq!(std::fs::read_to_string(login.dir().join(CREDENTIALS)).unwrap(), old);
        assert!(login.dir().join(GLOBAL).exists());
        assert_eq!(login.sync_back(), None, "nothing changed, nothing copied");
        let new = r#"{"claudeAiOauth":{"accessToken":"a2","refreshToken":"r2","expiresAt":2}}"#;
        std::fs::write(login.dir().join(CREDENTIALS), new).unwrap();
        assert!(login.sync_back().unwrap().contains("copied it back"));
        assert_eq!(std::fs::read_to_string(config.join(CREDENTIALS)).unwrap(), new);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(config.join(CREDENTIALS)).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_newer_login_of_the_operators_is_kept() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".claude");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join(CREDENTIALS), r#"{"claudeAiOauth":{"expiresAt":1}}"#).unwrap();
        let login = Login::seed(&env(home.path())).unwrap();
        std::fs::write(login.dir().join(CREDENTIALS), r#"{"claudeAiOauth":{"expiresAt":2}}"#).unwrap();
        std::fs::write(config.join(CREDENTIALS), r#"{"claudeAiOauth":{"expiresAt":3}}"#).unwrap();
        assert!(login.sync_back().unwrap().contains("kept"));
        assert!(std::fs::read_to_string(config.join(CREDENTIALS)).unwrap().contains(":3"));
    }

    #[test]
    fn the_cli_keeps_what_reaches_the_model_and_nothing_else() {
        for kept in ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_OAUTH_TOKEN", "HTTPS_PROXY"] {
            assert!(cli_keeps(kept, false, false), "{kept}");
        }
        for dropped in
            ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS"]
        {
            assert!(!cli_keeps(dropped, false, false), "{dropped}");
        }
        assert!(cli_keeps("AWS_SECRET_ACCESS_KEY", true, false), "Bedrock needs the AWS login");
    }
}
