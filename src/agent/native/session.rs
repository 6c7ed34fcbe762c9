//! The turn loop of a session: send the conversation, show the reply, run its tool calls through
//! the policy (asking the operator where the policy says so) and the sandbox, send the results
//! back, until the model ends its turn or a limit ends the session.

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::client::Format;
use super::conversation::{Block, Conversation, Message, Reply, Stop, ToolResult, Turn};
use super::http::RequestError;
use super::{Agent, bad_arguments, explain, progress_event, tool_definitions};
use crate::agent::mcp;
use crate::agent::policy::{self, Decision, Policy};
use crate::agent::tools::{self, ToolContext};
use crate::agent::{AgentEvent, EndReason, SessionRequest};
use crate::project::session::Usage;

/// Replies of one session cut at the output token limit before it ends as `max_tokens`.
const MAX_CUT_TURNS: u32 = 3;

#[derive(Default)]
pub(super) struct State {
    pub usage: Usage,
    pub cost: f64,
    pub turns: u32,
    /// Replies cut at the output token limit, each told to the agent.
    pub cut_turns: u32,
}

impl<F: Format> Agent<F> {
    pub(super) async fn session(
        &self,
        req: &SessionRequest,
        ctx: &ToolContext,
        servers: &mut mcp::Servers,
        events: &UnboundedSender<AgentEvent>,
        state: &mut State,
    ) -> EndReason {
        let mut policy = Policy::new(&req.workdir, &self.config)
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
        let mut conversation = Conversation {
            system: self.system_prompt(ctx, req.read_only),
            tools: tool_definitions(req.read_only, extra),
            messages: vec![Message::User(req.prompt.clone())],
        };
        loop {
            if state.turns >= req.limits.max_turns {
                return EndReason::MaxTurns;
            }
            state.turns += 1;
            let turn = Turn { conversation: &conversation, model: &self.model, max_tokens: self.max_tokens };
            let mut progress = |p| {
                let _ = events.send(progress_event(p));
            };
            let reply = match self.client.turn(turn, &req.cancel, &mut progress).await {
                Ok(r) => r,
                Err(RequestError::Cancelled) => return EndReason::Cancelled,
                Err(RequestError::RateLimited(message)) => return EndReason::RateLimited { message },
                Err(RequestError::Api { status, message }) => {
                    let server = explain::server_name(&self.client.endpoint.base_url);
                    let message = explain::refusal(status, &message, &server, &self.model);
                    let _ = events.send(AgentEvent::Notice { text: message.clone() });
                    return EndReason::ApiError { status, message };
                }
            };
            let (usage, cost) = self.account(&reply);
            state.usage.add(&usage);
            state.cost += cost;
            let _ = events.send(AgentEvent::Usage { usage, cost_usd: cost });

            let calls = reply.calls();
            match reply.stop {
                Stop::ToolUse if !calls.is_empty() => {}
                // Some servers say `stop` after tool calls: the calls are what counts.
                Stop::EndTurn | Stop::Other(_) if !calls.is_empty() => {}
                Stop::MaxTokens => {
                    if let Some(end) = self.cut(reply, &mut conversation, events, state) {
                        return end;
                    }
                    continue;
                }
                Stop::Refusal => {
                    let _ = events.send(AgentEvent::Notice { text: crate::agent::REFUSAL_NOTICE.into() });
                    return EndReason::Refused;
                }
                _ => return EndReason::Completed,
            }
            conversation.messages.push(Message::Assistant(reply.content));

            let mut results = Vec::new();
            for (id, name, input) in calls {
                let _ = events.send(AgentEvent::ToolCall { id: id.clone(), name: name.clone(), input: input.clone() });
                let (shown, result) = self.call(req, ctx, servers, &mut policy, events, &id, &name, &input).await;
                let _ =
                    events.send(AgentEvent::ToolResult { id: id.clone(), output: shown, is_error: result.is_error });
                results.push(result);
                if req.cancel.is_cancelled() {
                    return EndReason::Cancelled;
                }
            }
            conversation.messages.push(Message::Results(results));
        }
    }

    /// A reply cut at the output token limit: the agent is told and goes on; a tool call cut in
    /// half does not run. Ends the session once too many replies were cut.
    fn cut(
        &self,
        reply: Reply,
        conversation: &mut Conversation,
        events: &UnboundedSender<AgentEvent>,
        state: &mut State,
    ) -> Option<EndReason> {
        state.cut_turns += 1;
        let cut_call = !reply.calls().is_empty();
        let _ = events.send(AgentEvent::Notice {
            text: format!(
                "the reply was cut at the output token limit ({} tokens){}",
                self.max_tokens,
                if cut_call { " in the middle of a tool call, which did not run" } else { "" }
            ),
        });
        if state.cut_turns >= MAX_CUT_TURNS {
            return Some(EndReason::MaxTokens);
        }
        let mut kept: Vec<Block> = reply.content.into_iter().filter(|b| !matches!(b, Block::ToolCall { .. })).collect();
        if kept.is_empty() {
            kept.push(Block::Text("(cut off)".into()));
        }
        conversation.messages.push(Message::Assistant(kept));
        let told = format!(
            "Your last reply was cut off at the output token limit{}. Go on from where it stopped, in smaller steps (write a long file in parts).",
            if cut_call { ", so its tool call did not run" } else { "" }
        );
        conversation.messages.push(Message::User(told));
        None
    }

    /// Runs one tool call through the policy (and the operator, when it asks) and the sandbox:
    /// what the transcript shows, and the result for the model.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        req: &SessionRequest,
        ctx: &ToolContext,
        servers: &mut mcp::Servers,
        policy: &mut Policy,
        events: &UnboundedSender<AgentEvent>,
        id: &str,
        name: &str,
        input: &Value,
    ) -> (String, ToolResult) {
        if !input.is_object() {
            let text = bad_arguments(input);
            return (text.clone(), ToolResult::text(id, text, true));
        }
        let decision = match (policy.check_tool(name, input), &req.asker) {
            (Decision::Ask(programs), Some(asker)) => {
                match crate::agent::ask(asker, name, input, &programs, &req.cancel).await {
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
            (Decision::Ask(programs), None) => Decision::Deny(policy::ask_reason(&programs)),
            (d, _) => d,
        };
        let out = match decision {
            // Answered above; nothing asks here.
            Decision::Ask(programs) => {
                let reason = policy::ask_reason(&programs);
                tools::ToolOutput::error(format!("Refused by baton's policy: {reason}. This call did not run."))
            }
            Decision::Deny(reason) => {
                let _ = events.send(AgentEvent::PolicyDenied {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    reason: reason.clone(),
                });
                tools::ToolOutput::error(format!("Refused by baton's policy: {reason}. This call did not run."))
            }
            Decision::Allow if name.starts_with("mcp__") => return self.call_mcp(req, servers, id, name, input).await,
            Decision::Allow => tools::run(name, input, ctx).await,
        };
        if name == "bash"
            && out.is_error
            && ctx.sandbox().is_some()
            && let Some(reason) = crate::sandbox::denial(&out.output)
        {
            let _ = events.send(AgentEvent::SandboxDenied { id: id.to_owned(), reason });
        }
        (out.output.clone(), ToolResult::text(id, out.output, out.is_error))
    }
}
