//! baton's own agent: one loop over either wire format (Anthropic's Messages API, OpenAI's chat
//! completions) with the same built-in tools, policy, sandbox, MCP servers and ask mode. A wire
//! format ([`client::Format`]) only writes a conversation its way and reads a reply back;
//! everything a session does between replies is here, once.

pub mod client;
pub mod conversation;
pub mod endpoint;
pub mod explain;
pub mod http;
mod pace;
mod session;

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::mcp;
use super::tools::ToolContext;
use super::{AgentEvent, Backend, EndReason, SessionEnd, SessionRequest};
use crate::project::config::{self, Price};
use crate::project::session::Usage;
use client::{Client, Format};
use conversation::{Part, Reply, ToolResult};
use endpoint::{Endpoint, SetupError};
use http::{Progress, RetryPolicy};

/// baton's own agent on wire format `F`.
pub struct Agent<F: Format> {
    client: Client<F>,
    model: String,
    max_tokens: u32,
    price: Option<Price>,
    config: config::Config,
}

impl<F: Format> Agent<F> {
    /// An agent on the server the environment names, as the official SDKs read it, else the one
    /// `[agent] base_url`, `api_key_env` and `auth` name, else the provider's own.
    pub fn from_config(config: &config::Config) -> Result<Self, SetupError> {
        Self::at(Endpoint::resolve(&F::PROVIDER, &config.agent)?, config)
    }

    /// An agent on the server at `base_url`, taking `api_key` the provider's way.
    pub fn new(base_url: &str, api_key: &str, config: &config::Config) -> Result<Self, SetupError> {
        Self::at(Endpoint::new(&F::PROVIDER, base_url, api_key), config)
    }

    pub fn at(endpoint: Endpoint, config: &config::Config) -> Result<Self, SetupError> {
        Ok(Agent {
            client: Client::new(endpoint)?,
            model: config.agent.model.clone(),
            max_tokens: config.agent.max_tokens,
            price: config.price(&config.agent.model),
            config: config.clone(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.client.http.retry = retry;
        self
    }

    /// Paces requests by the server's rate-limit headers together with every other loop on the
    /// same key (the account's ledger in the fleet's state directory `dirs`).
    pub fn with_shared_pacing(mut self, dirs: &crate::fleet::Dirs) -> Self {
        let endpoint = &self.client.endpoint;
        let account =
            crate::fleet::account::Account::of_api_key(&endpoint.base_url, endpoint.key.as_deref().unwrap_or(""));
        self.client.http.share_pacing(crate::fleet::account::Ledger::new(dirs, &account));
        self
    }

    /// What a reply used and cost: the server's own figure, else the configured price. A turn
    /// whose tokens or price are unknown is counted as such, never as free.
    fn account(&self, reply: &Reply) -> (Usage, f64) {
        let mut usage = reply.usage.unwrap_or_default();
        if reply.usage.is_none() {
            usage.unreported_turns = 1;
        }
        let cost = match (reply.cost_usd, reply.usage, self.price) {
            (Some(c), _, _) => c,
            (None, Some(u), Some(p)) => p.cost(&u),
            _ => {
                usage.unpriced_turns = 1;
                0.0
            }
        };
        (usage, cost)
    }

    fn system_prompt(&self, ctx: &ToolContext, read_only: bool) -> String {
        if read_only {
            return format!(
                "You are a careful, skeptical tester of the project in {}. You may read every file and \
                 run commands there (start the app, run its tests, use the browser tools if you have \
                 them), but you may not change the project: its files are read-only to you, and \
                 scratch files go under $TMPDIR. Every path you give is relative to that directory.",
                ctx.root().display()
            );
        }
        format!(
            "You are a careful software engineer working alone in the project directory {}. \
             Use the tools to read, change and run things there; every path you give is relative to \
             that directory. Shell commands are checked against the project's policy: if one is \
             refused, do not try to get around it; find another way or say what you need.",
            ctx.root().display()
        )
    }

    /// The project's MCP servers for this session; those that do not start are told as notices.
    async fn start_servers(
        &self,
        req: &SessionRequest,
        profile: Option<&crate::sandbox::Profile>,
        events: &UnboundedSender<AgentEvent>,
    ) -> mcp::Servers {
        let list = match self.config.mcp_servers(&req.workdir) {
            Ok(l) => l,
            Err(e) => {
                let _ = events.send(AgentEvent::Notice { text: format!("no MCP servers this session: {e}") });
                return mcp::Servers::default();
            }
        };
        if list.is_empty() {
            return mcp::Servers::default();
        }
        let m = &self.config.mcp;
        let how = mcp::Start {
            workdir: &req.workdir,
            profile,
            env: vec![(super::policy::procs::SESSION_ENV.to_owned(), req.session.clone())],
            startup_timeout: Duration::from_secs(m.startup_timeout_seconds.max(1)),
            call_timeout: Duration::from_secs(m.call_timeout_seconds.max(1)),
        };
        let servers = mcp::Servers::start(&list, &how).await;
        for failure in &servers.failures {
            let _ = events.send(AgentEvent::Notice { text: failure.clone() });
        }
        servers
    }

    /// Runs an MCP tool call: its text and images go to the model; the images are saved with the
    /// session and the transcript names their files. Returns what the transcript shows.
    async fn call_mcp(
        &self,
        req: &SessionRequest,
        servers: &mut mcp::Servers,
        id: &str,
        name: &str,
        input: &Value,
    ) -> (String, ToolResult) {
        let answer = servers.call(name, input).await;
        let mut shown = answer.text.clone();
        let text = if answer.text.is_empty() { "(no text)".to_owned() } else { answer.text.clone() };
        let mut content = vec![Part::Text(text)];
        shown.push_str(&mcp::save_images(req.artifacts.as_deref(), &answer.images));
        for (media, data) in &answer.images {
            content.push(Part::Image { media_type: media.clone(), data: data.clone() });
        }
        (shown, ToolResult { id: id.to_owned(), content, is_error: answer.is_error })
    }
}

impl<F: Format> Backend for Agent<F> {
    fn name(&self) -> &'static str {
        F::BACKEND
    }

    fn model(&self) -> &str {
        &self.model
    }

    /// Runs one session to its end, reporting what happens on `events`.
    fn run(&self, req: SessionRequest, events: UnboundedSender<AgentEvent>) -> BoxFuture<'_, SessionEnd> {
        Box::pin(async move {
            let ended =
                |reason| SessionEnd { reason, usage: Usage::default(), cost_usd: 0.0, turns: 0, notes: Vec::new() };
            // Its MCP servers' programs stay readable where the session's view covers them (in /tmp).
            let servers = self.config.mcp_servers(&req.workdir).unwrap_or_default();
            let expose = servers
                .iter()
                .flat_map(|s| crate::sandbox::program_dirs(std::path::Path::new(&s.command), &req.workdir));
            let opts =
                crate::sandbox::Options { read_only: req.read_only, expose: expose.collect(), ..Default::default() };
            let sandbox = match crate::sandbox::session(&req.workdir, &self.config.sandbox, &opts) {
                Ok(s) => s,
                Err(e) => {
                    let message = e.to_string();
                    let _ = events.send(AgentEvent::Notice { text: message.clone() });
                    return ended(EndReason::Crashed { message });
                }
            };
            let mut ctx = ToolContext::new(&req.workdir, req.cancel.clone())
                .with_session(req.session.clone())
                .with_sandbox(sandbox.as_ref().map(|s| s.profile.clone()));
            if let Some(path) = &req.pid_file {
                ctx = ctx.with_group_file(path.clone());
            }
            let _ = events.send(AgentEvent::Started { model: self.model.clone(), session_id: None });
            // An interrupt does not wait for a server that is slow to start.
            let mut servers = tokio::select! {
                s = self.start_servers(&req, ctx.sandbox(), &events) => s,
                _ = req.cancel.cancelled() => {
                    ctx.kill_leftovers();
                    return ended(EndReason::Cancelled);
                }
            };
            let mut state = session::State::default();
            let reason = tokio::select! {
                r = self.session(&req, &ctx, &mut servers, &events, &mut state) => r,
                _ = tokio::time::sleep(req.limits.wall_time) => EndReason::TimedOut,
                _ = req.cancel.cancelled() => EndReason::Cancelled,
            };
            // Whatever a tool left running (a server started in the background) ends with the session.
            ctx.kill_leftovers();
            servers.stop().await;
            let notes = crate::agent::cut_notes(state.cut_turns);
            SessionEnd { reason, usage: state.usage, cost_usd: state.cost, turns: state.turns, notes }
        })
    }
}

/// The conversation's tool definitions: baton's own, then the MCP tools the policy allows.
fn tool_definitions(read_only: bool, extra: Vec<Value>) -> Vec<Value> {
    let mut tools = super::tools::definitions_for(read_only);
    tools.extend(extra);
    tools
}

/// What a turn's progress becomes in the transcript.
fn progress_event(p: Progress) -> AgentEvent {
    match p {
        Progress::Delta(http::Delta::Text(text)) => AgentEvent::TextDelta { text },
        Progress::Delta(http::Delta::Thinking(text)) => AgentEvent::ThinkingDelta { text },
        Progress::Retry { reason, attempt, wait } => {
            AgentEvent::Retry { reason, attempt, wait_ms: wait.as_millis() as u64 }
        }
        Progress::Paced { reason, wait } => AgentEvent::Notice {
            text: format!("paced: waiting {:.1}s before the next request: {reason}", wait.as_secs_f64()),
        },
        Progress::Notice(text) => AgentEvent::Notice { text },
    }
}

/// The answer to a call whose arguments were not a JSON object.
fn bad_arguments(input: &Value) -> String {
    let written = match input {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let shown: String = written.chars().take(200).collect();
    format!(
        "This call did not run: its arguments must be a JSON object, and they were {}. Call the tool again with valid JSON arguments.",
        json!(shown)
    )
}
