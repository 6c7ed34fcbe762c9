//! The `anthropic` backend: baton's own agent loop over the Messages API, with baton's built-in
//! tools and policy. No SDK: a small client on reqwest and server-sent events.

pub mod client;
mod pace;
pub mod stream;

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

pub use client::{Client, RequestError, RetryPolicy};

use super::mcp;
use super::policy::{Decision, Policy};
use super::tools::{self, ToolContext};
use super::{AgentEvent, Backend, EndReason, SessionEnd, SessionRequest};
use crate::project::config::{self, Price};
use crate::project::session::Usage;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("ANTHROPIC_API_KEY is not set: export your API key, or use the claude-code backend with your Claude login")]
    NoApiKey,
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

pub struct AnthropicBackend {
    client: Client,
    model: String,
    max_tokens: u32,
    price: Option<Price>,
    policy_config: config::Config,
}

impl AnthropicBackend {
    /// A backend on `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`, as the official SDKs read them.
    pub fn from_env(config: &config::Config) -> Result<Self, SetupError> {
        let key = std::env::var("ANTHROPIC_API_KEY").ok().filter(|k| !k.is_empty()).ok_or(SetupError::NoApiKey)?;
        let base = std::env::var("ANTHROPIC_BASE_URL")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| client::DEFAULT_BASE_URL.to_owned());
        Self::new(&base, &key, config)
    }

    pub fn new(base_url: &str, api_key: &str, config: &config::Config) -> Result<Self, SetupError> {
        Ok(AnthropicBackend {
            client: Client::new(base_url, api_key)?,
            model: config.agent.model.clone(),
            max_tokens: config.agent.max_tokens,
            price: config.price(&config.agent.model),
            policy_config: config.clone(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.client.retry = retry;
        self
    }

    fn cost(&self, usage: &Usage) -> f64 {
        self.price.map_or(0.0, |p| p.cost(usage))
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

    /// The request body for the conversation so far. The system prompt, the tools and the tail of
    /// the conversation are marked for prompt caching, so each turn re-reads the rest from cache.
    fn request(&self, system: &str, extra: &[Value], messages: &[Value], read_only: bool) -> Value {
        let mut tools = tools::definitions_for(read_only);
        tools.extend(extra.iter().cloned());
        if let Some(last) = tools.last_mut() {
            last["cache_control"] = json!({"type": "ephemeral"});
        }
        let mut messages = messages.to_vec();
        if let Some(last) = messages.last_mut()
            && let Some(block) = last["content"].as_array_mut().and_then(|c| c.last_mut())
        {
            block["cache_control"] = json!({"type": "ephemeral"});
        }
        json!({
            "model": self.model,
            "max_tokens": self.max_tokens,
            "stream": true,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "tools": tools,
            "messages": messages,
        })
    }

    /// The project's MCP servers for this session; those that do not start are told as notices.
    async fn start_servers(
        &self,
        req: &SessionRequest,
        profile: Option<&crate::sandbox::Profile>,
        events: &UnboundedSender<AgentEvent>,
    ) -> mcp::Servers {
        let list = match self.policy_config.mcp_servers(&req.workdir) {
            Ok(l) => l,
            Err(e) => {
                let _ = events.send(AgentEvent::Notice { text: format!("no MCP servers this session: {e}") });
                return mcp::Servers::default();
            }
        };
        if list.is_empty() {
            return mcp::Servers::default();
        }
        let m = &self.policy_config.mcp;
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
    /// session and the transcript names their files.
    async fn call_mcp(
        &self,
        req: &SessionRequest,
        servers: &mut mcp::Servers,
        name: &str,
        input: &Value,
    ) -> (String, Value, bool) {
        let answer = servers.call(name, input).await;
        let mut shown = answer.text.clone();
        let mut content = vec![
            json!({"type": "text", "text": if answer.text.is_empty() { "(no text)" } else { answer.text.as_str() }}),
        ];
        shown.push_str(&mcp::save_images(req.artifacts.as_deref(), &answer.images));
        for (media, data) in &answer.images {
            content.push(json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}));
        }
        (shown, Value::Array(content), answer.is_error)
    }

    async fn session(
        &self,
        req: &SessionRequest,
        ctx: &ToolContext,
        servers: &mut mcp::Servers,
        events: &UnboundedSender<AgentEvent>,
        state: &mut State,
    ) -> EndReason {
        let system = self.system_prompt(ctx, req.read_only);
        let mut policy = Policy::new(&req.workdir, &self.policy_config)
            .with_session(Some(req.session.clone()))
            .read_only(req.read_only)
            .asking(req.asker.is_some());
        if let Some(profile) = ctx.sandbox() {
            policy = policy.with_tmpdir(profile.tmp());
        }
        // MCP tools the policy refuses are not offered at all.
        let extra: Vec<Value> = servers
            .definitions()
            .into_iter()
            .filter(|t| {
                let name = t["name"].as_str().unwrap_or("");
                matches!(policy.check_tool(name, &json!({})), Decision::Allow)
            })
            .collect();
        let mut messages = vec![json!({"role": "user", "content": [{"type": "text", "text": req.prompt}]})];
        loop {
            if state.turns >= req.limits.max_turns {
                return EndReason::MaxTurns;
            }
            state.turns += 1;
            let body = self.request(&system, &extra, &messages, req.read_only);
            let result = self
                .client
                .message(&body, &req.cancel, |p| {
                    let _ = events.send(match p {
                        client::Progress::Delta(stream::Delta::Text(text)) => AgentEvent::TextDelta { text },
                        client::Progress::Delta(stream::Delta::Thinking(text)) => AgentEvent::ThinkingDelta { text },
                        client::Progress::Retry { reason, attempt, wait } => {
                            AgentEvent::Retry { reason, attempt, wait_ms: wait.as_millis() as u64 }
                        }
                        client::Progress::Paced { reason, wait } => AgentEvent::Notice {
                            text: format!(
                                "paced: waiting {:.1}s before the next request: {reason}",
                                wait.as_secs_f64()
                            ),
                        },
                    });
                })
                .await;
            let message = match result {
                Ok(m) => m,
                Err(RequestError::Cancelled) => return EndReason::Cancelled,
                Err(RequestError::RateLimited(message)) => {
                    return EndReason::RateLimited { message };
                }
                Err(RequestError::Api { status, message }) => {
                    let _ = events.send(AgentEvent::Notice { text: format!("the API refused the request: {message}") });
                    return EndReason::ApiError { status, message };
                }
            };
            let cost = self.cost(&message.usage);
            state.usage.add(&message.usage);
            state.cost += cost;
            let _ = events.send(AgentEvent::Usage { usage: message.usage, cost_usd: cost });

            let calls: Vec<(String, String, Value)> = message
                .content
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .map(|b| {
                    let s = |k: &str| b[k].as_str().unwrap_or("").to_owned();
                    (s("id"), s("name"), b["input"].clone())
                })
                .collect();
            match message.stop_reason.as_deref() {
                Some("tool_use") if !calls.is_empty() => {}
                Some("max_tokens") => {
                    // The agent is told and goes on; a tool call cut in half does not run.
                    state.cut_turns += 1;
                    let cut_call = !calls.is_empty();
                    let _ = events.send(AgentEvent::Notice {
                        text: format!(
                            "the reply was cut at the output token limit ({} tokens){}",
                            self.max_tokens,
                            if cut_call { " in the middle of a tool call, which did not run" } else { "" }
                        ),
                    });
                    if state.cut_turns >= MAX_CUT_TURNS {
                        return EndReason::MaxTokens;
                    }
                    let mut kept: Vec<Value> =
                        message.content.into_iter().filter(|b| b["type"] != "tool_use").collect();
                    if kept.is_empty() {
                        kept.push(json!({"type": "text", "text": "(cut off)"}));
                    }
                    messages.push(json!({"role": "assistant", "content": kept}));
                    let told = format!(
                        "Your last reply was cut off at the output token limit{}. Go on from where it stopped, in smaller steps (write a long file in parts).",
                        if cut_call { ", so its tool call did not run" } else { "" }
                    );
                    messages.push(json!({"role": "user", "content": [{"type": "text", "text": told}]}));
                    continue;
                }
                Some("refusal") => {
                    let _ = events.send(AgentEvent::Notice { text: crate::agent::REFUSAL_NOTICE.into() });
                    messages.push(json!({"role": "assistant", "content": message.content}));
                    return EndReason::Refused;
                }
                _ => return EndReason::Completed,
            }
            messages.push(json!({"role": "assistant", "content": message.content}));

            let mut results = Vec::new();
            for (id, name, input) in calls {
                let _ = events.send(AgentEvent::ToolCall { id: id.clone(), name: name.clone(), input: input.clone() });
                let decision = match (policy.check_tool(&name, &input), &req.asker) {
                    (Decision::Ask(programs), Some(asker)) => {
                        match crate::agent::ask(asker, &name, &input, &programs, &req.cancel).await {
                            crate::agent::Answer::Once => Decision::Allow,
                            crate::agent::Answer::Always => {
                                policy.allow_more(&programs);
                                Decision::Allow
                            }
                            crate::agent::Answer::Deny { message } => {
                                Decision::Deny(format!("the operator said no: {message}"))
                            }
                        }
                    }
                    (Decision::Ask(programs), None) => Decision::Deny(super::policy::ask_reason(&programs)),
                    (d, _) => d,
                };
                let out = match decision {
                    // Answered above; nothing asks here.
                    Decision::Ask(programs) => {
                        let reason = super::policy::ask_reason(&programs);
                        tools::ToolOutput::error(format!("Refused by baton's policy: {reason}. This call did not run."))
                    }
                    Decision::Deny(reason) => {
                        let _ = events.send(AgentEvent::PolicyDenied {
                            id: id.clone(),
                            name: name.clone(),
                            reason: reason.clone(),
                        });
                        tools::ToolOutput::error(format!("Refused by baton's policy: {reason}. This call did not run."))
                    }
                    Decision::Allow if name.starts_with("mcp__") => {
                        let (shown, content, is_error) = self.call_mcp(req, servers, &name, &input).await;
                        let _ = events.send(AgentEvent::ToolResult { id: id.clone(), output: shown, is_error });
                        results.push(
                            json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error}),
                        );
                        continue;
                    }
                    Decision::Allow => tools::run(&name, &input, ctx).await,
                };
                if name == "bash"
                    && out.is_error
                    && ctx.sandbox().is_some()
                    && let Some(reason) = crate::sandbox::denial(&out.output)
                {
                    let _ = events.send(AgentEvent::SandboxDenied { id: id.clone(), reason });
                }
                let _ = events.send(AgentEvent::ToolResult {
                    id: id.clone(),
                    output: out.output.clone(),
                    is_error: out.is_error,
                });
                results.push(
                    json!({"type": "tool_result", "tool_use_id": id, "content": out.output, "is_error": out.is_error}),
                );
                if req.cancel.is_cancelled() {
                    return EndReason::Cancelled;
                }
            }
            messages.push(json!({"role": "user", "content": results}));
        }
    }
}

/// Replies of one session cut at the output token limit before it ends as `max_tokens`.
const MAX_CUT_TURNS: u32 = 3;

#[derive(Default)]
struct State {
    usage: Usage,
    cost: f64,
    turns: u32,
    /// Replies cut at the output token limit, each told to the agent.
    cut_turns: u32,
}

impl Backend for AnthropicBackend {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn run(&self, req: SessionRequest, events: UnboundedSender<AgentEvent>) -> BoxFuture<'_, SessionEnd> {
        Box::pin(async move {
            let opts = crate::sandbox::Options { read_only: req.read_only, ..Default::default() };
            let sandbox = match crate::sandbox::session(&req.workdir, &self.policy_config.sandbox, &opts) {
                Ok(s) => s,
                Err(e) => {
                    let message = e.to_string();
                    let _ = events.send(AgentEvent::Notice { text: message.clone() });
                    let reason = EndReason::Crashed { message };
                    return SessionEnd { reason, usage: Usage::default(), cost_usd: 0.0, turns: 0, notes: Vec::new() };
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
                    let reason = EndReason::Cancelled;
                    return SessionEnd { reason, usage: Usage::default(), cost_usd: 0.0, turns: 0, notes: Vec::new() };
                }
            };
            let mut state = State::default();
            let wall: Duration = req.limits.wall_time;
            let reason = tokio::select! {
                r = self.session(&req, &ctx, &mut servers, &events, &mut state) => r,
                _ = tokio::time::sleep(wall) => EndReason::TimedOut,
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
