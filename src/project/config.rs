//! baton's settings: `.baton/config.toml` in the project, over `config.toml` in the user's config
//! directory, over built-in defaults. Every key has a default; `assets/config.toml` documents each
//! one and is what `baton init` writes, commented out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The documented defaults, written by `baton init` with every setting commented out.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../assets/config.toml");

pub use super::config_edit::{allow_in_project, commented_defaults};
pub use super::config_load::{project_config_path, user_config_path};
pub use super::prices::Price;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {}", path.display(), message.trim_end())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Not a plain file, a byte-order mark, bytes that are not UTF-8.
    #[error(transparent)]
    File(#[from] super::fsio::ReadError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub files: Files,
    pub agent: Agent,
    pub run: Run,
    pub evaluate: Evaluate,
    pub policy: Policy,
    pub sandbox: Sandbox,
    pub mcp: super::mcp::Mcp,
    pub screen: Screen,
    pub notify: Notify,
    /// USD per million tokens, by model name.
    pub prices: BTreeMap<String, Price>,
}

impl Default for Config {
    /// The built-in settings, with the price table documented in `assets/config.toml`.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct PricesOnly {
            #[serde(default)]
            prices: BTreeMap<String, Price>,
        }
        let prices = toml::from_str::<PricesOnly>(DEFAULT_CONFIG_TOML).map(|p| p.prices).unwrap_or_default();
        Config {
            files: Files::default(),
            agent: Agent::default(),
            run: Run::default(),
            evaluate: Evaluate::default(),
            policy: Policy::default(),
            sandbox: Sandbox::default(),
            mcp: super::mcp::Mcp::default(),
            screen: Screen::default(),
            notify: Notify::default(),
            prices,
        }
    }
}

/// Names of the carried-state files, relative to the project root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Files {
    pub spec: PathBuf,
    pub features: PathBuf,
    pub progress: PathBuf,
    pub init: PathBuf,
}

impl Default for Files {
    fn default() -> Self {
        Files {
            spec: "app_spec.txt".into(),
            features: "feature_list.json".into(),
            progress: "claude-progress.txt".into(),
            init: "init.sh".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// baton's own agent over the Messages API (Anthropic, and every server that speaks it).
    Anthropic,
    /// baton's own agent over OpenAI's chat completions.
    Openai,
    /// The `claude` CLI, with your Claude login or key.
    ClaudeCode,
}

/// How an API key is sent to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyHeader {
    /// The backend's own way: `x-api-key` for `anthropic`, `Authorization: Bearer` for `openai`.
    #[default]
    Auto,
    XApiKey,
    Bearer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Agent {
    pub backend: BackendKind,
    pub model: String,
    pub max_tokens: u32,
    pub max_turns: u32,
    /// Path to the `claude` binary; empty means look it up on `PATH`.
    pub claude_bin: String,
    /// For claude-code: an MCP config file (`--mcp-config`), e.g. a browser server for testing
    /// web apps as a user would.
    pub mcp_config: String,
    /// For claude-code: tools of those MCP servers the agent may use, e.g. `mcp__playwright`.
    pub mcp_tools: Vec<String>,
    /// For anthropic and openai: the model server's address (`http://localhost:11434`,
    /// `https://openrouter.ai/api/v1`); empty, the provider's own. `ANTHROPIC_BASE_URL` or
    /// `OPENAI_BASE_URL` win over it, as the SDKs read them.
    pub base_url: String,
    /// The environment variable that holds the key; empty, `ANTHROPIC_API_KEY` or `OPENAI_API_KEY`.
    pub api_key_env: String,
    /// How the key is sent.
    pub auth: KeyHeader,
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            backend: BackendKind::Anthropic,
            model: "claude-sonnet-4-5".into(),
            max_tokens: 16_000,
            max_turns: 150,
            claude_bin: String::new(),
            mcp_config: String::new(),
            mcp_tools: Vec::new(),
            base_url: String::new(),
            api_key_env: String::new(),
            auth: KeyHeader::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovePolicy {
    /// The operator approves or vetoes every session.
    Manual,
    /// Every session is approved as it ends.
    Auto,
    /// Approved when the verify command passes and the guard found nothing; else left for review.
    Checks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Wait for the operator before each session.
    Step,
    /// Start the next session as soon as the last one is reviewed.
    Continuous,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Run {
    pub approve: ApprovePolicy,
    pub mode: Mode,
    /// Stop after this many sessions in one run; 0 for no cap.
    pub max_sessions: u32,
    /// Stop when the run has cost this much; 0 for no budget.
    pub budget_usd: f64,
    pub session_timeout_minutes: u64,
    /// A shell command run in the project after each session; empty for none.
    pub verify: String,
    pub verify_timeout_seconds: u64,
    /// How many features the initializer should write; 0 lets the spec decide.
    pub feature_count: u32,
    /// Pause after this many sessions in a row with no new passing feature and no commit.
    pub no_progress_sessions: u32,
    /// Longest wait between sessions that failed for outside reasons (rate limits, API errors).
    pub max_backoff_seconds: u64,
    /// First wait after a session failed for outside reasons; doubles each time.
    pub backoff_seconds: u64,
    /// On a plan's usage limit, wait for its reset and go on (else the run stops).
    pub wait_for_limits: bool,
    /// Waited past a limit's reset time, for clocks that disagree.
    pub limit_margin_seconds: u64,
    /// A session is not started while a usage limit is more used than this (0 to 1): it could not
    /// finish before the limit ends it. The loop waits for the reset instead.
    pub limit_threshold: f64,
    /// The circuit breaker: pause when the same feature was attempted in this many sessions in a
    /// row without passing; 0 turns it off.
    pub same_feature_sessions: u32,
    /// The circuit breaker: stop a session that makes the same failing tool call this many times;
    /// 0 turns it off.
    pub repeated_failures: u32,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            approve: ApprovePolicy::Manual,
            mode: Mode::Step,
            max_sessions: 0,
            budget_usd: 0.0,
            session_timeout_minutes: 60,
            verify: String::new(),
            verify_timeout_seconds: 600,
            feature_count: 0,
            no_progress_sessions: 3,
            max_backoff_seconds: 600,
            backoff_seconds: 30,
            wait_for_limits: true,
            limit_margin_seconds: 60,
            limit_threshold: 0.9,
            same_feature_sessions: 3,
            repeated_failures: 5,
        }
    }
}

/// What a command that is neither allowed nor denied gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unknown {
    Deny,
    /// Put to the operator, who allows it once, allows it for good, or denies it with a word.
    Ask,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Commands allowed on top of the built-in development allowlist.
    pub allow: Vec<String>,
    /// Commands refused even if the allowlist has them.
    pub deny: Vec<String>,
    /// A command off the allowlist: `deny`, or `ask` the operator (on the screen; headless only
    /// with `--ask`).
    pub unknown: Unknown,
    /// A question nobody answers in this long is denied.
    pub ask_timeout_seconds: u64,
    /// MCP tools an agent may call (`mcp__server`, `mcp__server__tool`, `mcp__server__prefix*`);
    /// empty: every configured server's tools.
    pub mcp_allow: Vec<String>,
    /// MCP tools refused whatever `mcp_allow` says.
    pub mcp_deny: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow: Vec::new(),
            deny: Vec::new(),
            unknown: Unknown::Deny,
            ask_timeout_seconds: 600,
            mcp_allow: Vec::new(),
            mcp_deny: Vec::new(),
        }
    }
}

/// What an agent's commands may reach outside the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sandbox {
    /// `on`: every command of a session runs confined, and a session does not start where the
    /// kernel cannot confine it. `off`: commands run unconfined (the policy still applies).
    pub mode: SandboxMode,
    /// Whether commands reach the network; `off` leaves them their own loopback only.
    pub network: Network,
    /// Paths outside the project an agent may write (e.g. a package cache); `~` is the home
    /// directory. The system's temporary directory is always writable.
    pub writable: Vec<String>,
    /// Paths an agent may not read or list: keys and credentials.
    pub hidden: Vec<String>,
    /// Environment variables a session's processes keep besides the allowlist (`PATH`, `HOME`,
    /// `LANG`, `LC_*`, `TERM`, `USER`, `SHELL`, `TMPDIR`, ...): never a credential.
    pub env: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    On,
    Off,
}

/// Where keys and credentials live by default: ssh, cloud and registry logins, baton's own.
pub const DEFAULT_HIDDEN: &[&str] = &[
    "~/.ssh",
    "~/.gnupg",
    "~/.aws",
    "~/.azure",
    "~/.config/gcloud",
    "~/.kube",
    "~/.docker/config.json",
    "~/.config/baton",
    "~/.config/gh",
    "~/.git-credentials",
    "~/.config/git/credentials",
    "~/.netrc",
    "~/.npmrc",
    "~/.pypirc",
    "~/.config/pip",
    "~/.cargo/credentials",
    "~/.cargo/credentials.toml",
    "~/.claude/.credentials.json",
];

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            mode: SandboxMode::On,
            network: Network::Off,
            writable: Vec::new(),
            hidden: DEFAULT_HIDDEN.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Screen {
    /// Ring the terminal bell when a review waits or the run is done.
    pub bell: bool,
    /// Send a desktop notification (OSC 9) at the same moments.
    pub notify: bool,
}

/// What the evaluator does with a coding session's claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvaluateMode {
    /// No evaluator sessions.
    Off,
    /// The evaluator's verdicts join the review; nothing is changed.
    Report,
    /// A feature that fails evaluation is flipped back in a baton commit, and the evidence goes
    /// to the next coding session.
    Enforce,
}

/// The evaluator: a fresh, read-only session that re-tests every feature a coding session marked
/// passing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Evaluate {
    pub mode: EvaluateMode,
    /// Its backend; unset, the sessions' own (`[agent] backend`).
    pub backend: Option<BackendKind>,
    /// Its model; empty, the sessions' own (`[agent] model`).
    pub model: String,
    /// Most model turns of one evaluation.
    pub max_turns: u32,
    /// Its model server, its key's variable and how the key is sent, when its backend is another
    /// than the sessions' (a backend the same as theirs uses `[agent]`'s unless these are set).
    pub base_url: String,
    pub api_key_env: String,
    pub auth: KeyHeader,
}

impl Default for Evaluate {
    fn default() -> Self {
        Evaluate {
            mode: EvaluateMode::Report,
            backend: None,
            model: String::new(),
            max_turns: 60,
            base_url: String::new(),
            api_key_env: String::new(),
            auth: KeyHeader::Auto,
        }
    }
}

impl Config {
    /// The config the evaluator's backend is made from: the sessions' own, with `[evaluate]`'s
    /// backend and model where set.
    pub fn for_evaluator(&self) -> Config {
        let mut c = self.clone();
        if let Some(b) = self.evaluate.backend {
            // Another backend is another server: [agent]'s does not carry over.
            if b != self.agent.backend {
                c.agent.base_url = String::new();
                c.agent.api_key_env = String::new();
                c.agent.auth = KeyHeader::Auto;
            }
            c.agent.backend = b;
        }
        let e = &self.evaluate;
        if !e.base_url.trim().is_empty() {
            c.agent.base_url = e.base_url.clone();
        }
        if !e.api_key_env.trim().is_empty() {
            c.agent.api_key_env = e.api_key_env.clone();
        }
        if e.auth != KeyHeader::Auto {
            c.agent.auth = e.auth;
        }
        if !self.evaluate.model.trim().is_empty() {
            c.agent.model = self.evaluate.model.clone();
        }
        c
    }
}

/// A command of the operator's that hears about what needs them, wherever they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Notify {
    /// Run with `sh -c`, one JSON object on its stdin (`event`, `project`, `session`, `summary`),
    /// when a review waits, a session fails for outside reasons, the loop pauses, the run ends.
    pub command: String,
    /// A notify command still running after this long is ended (the loop never waits for it).
    pub timeout_seconds: u64,
}

impl Default for Notify {
    fn default() -> Self {
        Notify { command: String::new(), timeout_seconds: 10 }
    }
}

impl Default for Screen {
    fn default() -> Self {
        Screen { bell: true, notify: true }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::config_load::merge;
    use super::*;

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let documented = Config::parse(Path::new("assets/config.toml"), DEFAULT_CONFIG_TOML).unwrap();
        let builtin = Config { prices: documented.prices.clone(), ..Config::default() };
        assert_eq!(documented, builtin);
        assert!(!documented.prices.is_empty(), "the documented config lists model prices");
    }

    #[test]
    fn commented_defaults_parse_to_an_empty_override() {
        let text = commented_defaults();
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert!(table.values().all(|v| { v.as_table().is_some_and(|t| t.values().all(|v| v.is_table())) }));
        Config::parse(Path::new("config.toml"), &text).unwrap();
    }

    #[test]
    fn the_evaluator_runs_on_the_sessions_backend_and_model_unless_evaluate_names_others() {
        let same = Config::parse(Path::new("c.toml"), "[agent]\nmodel = \"m1\"\n").unwrap().for_evaluator();
        assert_eq!((same.agent.backend, same.agent.model.as_str()), (BackendKind::Anthropic, "m1"));
        let text = "[agent]\nmodel = \"m1\"\n[evaluate]\nbackend = \"claude-code\"\nmodel = \"m2\"\n";
        let other = Config::parse(Path::new("c.toml"), text).unwrap().for_evaluator();
        assert_eq!((other.agent.backend, other.agent.model.as_str()), (BackendKind::ClaudeCode, "m2"));
        let err = Config::parse(Path::new("c.toml"), "[evaluate]\nmode = \"strict\"\n").unwrap_err();
        assert!(err.to_string().contains("enforce"), "{err}");
    }

    #[test]
    fn an_evaluator_on_another_backend_does_not_take_the_sessions_server() {
        let text = "[agent]\nbackend = \"openai\"\nbase_url = \"http://localhost:11434/v1\"\nauth = \"bearer\"\n[evaluate]\nbackend = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\n";
        let e = Config::parse(Path::new("c.toml"), text).unwrap().for_evaluator();
        assert_eq!(
            (e.agent.backend, e.agent.base_url.as_str(), e.agent.auth),
            (BackendKind::Anthropic, "", KeyHeader::Auto)
        );
        let text = format!("{text}base_url = \"http://gpu:8080\"\napi_key_env = \"JUDGE_KEY\"\n");
        let e = Config::parse(Path::new("c.toml"), &text).unwrap().for_evaluator();
        assert_eq!((e.agent.base_url.as_str(), e.agent.api_key_env.as_str()), ("http://gpu:8080", "JUDGE_KEY"));
        // The same backend keeps [agent]'s server.
        let same =
            "[agent]\nbackend = \"openai\"\nbase_url = \"http://localhost:11434/v1\"\n[evaluate]\nmodel = \"small\"\n";
        let e = Config::parse(Path::new("c.toml"), same).unwrap().for_evaluator();
        assert_eq!((e.agent.base_url.as_str(), e.agent.model.as_str()), ("http://localhost:11434/v1", "small"));
    }

    #[test]
    fn merge_is_key_by_key() {
        let mut base: toml::Table = toml::from_str("[run]\nverify = \"make test\"\nmax_sessions = 3\n").unwrap();
        merge(&mut base, toml::from_str("[run]\nmax_sessions = 9\n").unwrap());
        let config = Config::deserialize(base).unwrap();
        assert_eq!(config.run.verify, "make test");
        assert_eq!(config.run.max_sessions, 9);
        assert_eq!(config.agent, Agent::default());
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = Config::parse(Path::new("/p/.baton/config.toml"), "[run]\nverfy = \"x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/p/.baton/config.toml: "), "{text}");
        assert!(text.contains("unknown field `verfy`"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn wrong_type_names_file_and_key() {
        let err = Config::parse(Path::new("c.toml"), "[agent]\nmax_turns = \"many\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("c.toml"), "{text}");
        assert!(text.contains("max_turns"), "{text}");
        let err = Config::parse(Path::new("c.toml"), "[run]\napprove = \"sometimes\"\n").unwrap_err();
        assert!(err.to_string().contains("manual"), "{err}");
    }
}
