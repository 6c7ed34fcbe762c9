//! One account, one limit: loops on the same account (the same claude login, the same API key)
//! share what the governor learns of its limits, through a small file per account in the user's
//! state directory: the plan's limit a session hit (the others wait for the same reset instead of
//! each running into it), how used the limit is (the others hold back too), and what the API's
//! rate-limit headers said is left of the request window (requests pace together). An account is
//! named by a hash of what identifies it, never by a secret.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::Dirs;
use crate::project::session::UsageLimit;

/// Whose limits a loop's sessions count against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account(String);

const DEFAULT_API: &str = "https://api.anthropic.com";

fn digest(parts: &[&str]) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(b"baton account\0");
    for p in parts {
        hash.update(p.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Account {
    /// An account as someone names it (the demo's scripted model is one account).
    pub fn named(name: &str) -> Account {
        Account(name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect())
    }

    /// The account of an API key at `base_url`.
    pub fn of_api_key(base_url: &str, key: &str) -> Account {
        Account(format!("key-{}", digest(&[base_url.trim_end_matches('/'), key])))
    }

    /// The account the `claude` CLI runs on, from its environment (`var`) as the CLI reads it: an
    /// API key first, then an OAuth token, then the login in its config (`.claude.json`'s
    /// account), then the config folder itself (one login per folder).
    pub fn of_claude(var: impl Fn(&str) -> Option<String>) -> Account {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(key) = set("ANTHROPIC_API_KEY") {
            return Account::of_api_key(&set("ANTHROPIC_BASE_URL").unwrap_or_else(|| DEFAULT_API.into()), &key);
        }
        if let Some(token) = set("CLAUDE_CODE_OAUTH_TOKEN") {
            return Account(format!("login-{}", digest(&[&token])));
        }
        let home = set("HOME").unwrap_or_default();
        let config = set("CLAUDE_CONFIG_DIR").map(PathBuf::from);
        let file = match &config {
            Some(dir) => dir.join(".claude.json"),
            None => Path::new(&home).join(".claude.json"),
        };
        if let Some(uuid) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.pointer("/oauthAccount/accountUuid")?.as_str().map(str::to_owned))
        {
            return Account(format!("login-{}", digest(&[&uuid])));
        }
        let folder = config.unwrap_or_else(|| Path::new(&home).join(".claude"));
        Account(format!("login-{}", digest(&[&folder.display().to_string()])))
    }

    /// The account a backend called `backend` runs on, from this process's environment.
    pub fn from_env(backend: &str) -> Option<Account> {
        let var = |name: &str| std::env::var(name).ok();
        match backend {
            "claude-code" => Some(Account::of_claude(var)),
            "anthropic" => {
                let key = var("ANTHROPIC_API_KEY").filter(|k| !k.is_empty())?;
                Some(Account::of_api_key(&var("ANTHROPIC_BASE_URL").unwrap_or_else(|| DEFAULT_API.into()), &key))
            }
            _ => None,
        }
    }

    pub fn id(&self) -> &str {
        &self.0
    }
}

/// Something the API said, where and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heard {
    pub limit: UsageLimit,
    /// The project whose session heard it.
    pub place: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// What is left of one of the API's windows, and when it resets (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    pub remaining: u64,
    pub reset_ms: i64,
}

/// What the rate-limit headers last said is left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Left>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<Left>,
}

/// What the loops on one account share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    /// The last plan limit a session hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Heard>,
    /// What the API last said of the account's usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Heard>,
    #[serde(default)]
    pub pace: Pace,
}

impl Shared {
    /// A plan limit hit and not reset yet at `now` (Unix seconds).
    pub fn limit_in_force(&self, now: i64) -> Option<&Heard> {
        self.limit.as_ref().filter(|h| h.limit.resets_at.is_some_and(|r| r > now))
    }
}

/// The file one account's loops share: `accounts/ID.json`.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
    lock: PathBuf,
}

impl Ledger {
    pub fn new(dirs: &Dirs, account: &Account) -> Ledger {
        let dir = dirs.accounts_dir();
        Ledger { path: dir.join(format!("{}.json", account.id())), lock: dir.join(format!(".{}.lock", account.id())) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the loops said so far; nothing when the file is missing or unreadable (said in the log).
    pub fn read(&self) -> Shared {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("{}: not an account's shared state ({e}); ignored", self.path.display());
                Shared::default()
            }),
            Err(_) => Shared::default(),
        }
    }

    /// Changes the shared state with `change`, one process at a time.
    pub fn update(&self, change: impl FnOnce(&mut Shared)) -> std::io::Result<()> {
        let _lock = super::lock_file(&self.lock)?;
        let mut shared = self.read();
        change(&mut shared);
        let bytes = serde_json::to_vec_pretty(&shared).map_err(std::io::Error::other)?;
        super::replace_file(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn an_account_is_named_by_a_hash_never_by_the_secret() {
        let a = Account::of_claude(env(&[("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat-secret"), ("HOME", "/h")]));
        let same = Account::of_claude(env(&[("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat-secret"), ("HOME", "/other")]));
        let other = Account::of_claude(env(&[("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat-else")]));
        assert_eq!(a, same);
        assert_ne!(a, other);
        assert!(!a.id().contains("secret") && a.id().starts_with("login-"), "{a:?}");
        // A key the CLI is given counts against the key's account, as baton's own agent does.
        let key = Account::of_claude(env(&[("ANTHROPIC_API_KEY", "k1"), ("ANTHROPIC_BASE_URL", "http://x/")]));
        assert_eq!(key, Account::of_api_key("http://x", "k1"));
        assert_ne!(key, Account::of_api_key("http://x", "k2"));
    }

    #[test]
    fn the_login_in_the_clis_config_is_the_account() {
        let home = tempfile::tempdir().unwrap();
        let json = r#"{"oauthAccount": {"accountUuid": "4b1e", "emailAddress": "a@b"}}"#;
        std::fs::write(home.path().join(".claude.json"), json).unwrap();
        let h = home.path().display().to_string();
        let a = Account::of_claude(env(&[("HOME", &h)]));
        let other_home = tempfile::tempdir().unwrap();
        let o = other_home.path().display().to_string();
        std::fs::write(other_home.path().join(".claude.json"), json).unwrap();
        assert_eq!(a, Account::of_claude(env(&[("HOME", &o)])), "the same login in two homes");
        std::fs::write(other_home.path().join(".claude.json"), "{}").unwrap();
        assert_ne!(a, Account::of_claude(env(&[("HOME", &o)])));
    }

    #[test]
    fn the_ledger_keeps_what_each_loop_said() {
        let root = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(&Dirs::at(root.path()), &Account::named("demo"));
        assert_eq!(ledger.read(), Shared::default());
        let limit = UsageLimit::reached(Some(2_000), Some("five_hour".into()));
        ledger.update(|s| s.limit = Some(Heard { limit, place: "/a".into(), session: Some(3), at_ms: 1 })).unwrap();
        ledger.update(|s| s.pace.requests = Some(Left { remaining: 0, reset_ms: 5 })).unwrap();
        let shared = ledger.read();
        assert_eq!(shared.limit_in_force(1_999).map(|h| h.place.as_str()), Some("/a"));
        assert!(shared.limit_in_force(2_000).is_none(), "reset");
        assert_eq!(shared.pace.requests, Some(Left { remaining: 0, reset_ms: 5 }));
    }
}
