//! The scripted model: a server on 127.0.0.1 that speaks the Messages API and OpenAI's chat
//! completions, streaming server-sent events as the real servers do, and plays a scenario. Any
//! client of either API can talk to it (baton's own backends, the `claude` CLI); nothing in a
//! client knows it is not the real thing. It is what `baton demo` and the tests run against: the
//! HTTP, SSE, tool and git paths all run for real, only the model is scripted. A scenario's
//! profile makes it answer in the shapes of another server (Ollama, llama.cpp, vLLM, OpenRouter,
//! OpenAI: see [`profile`]).

mod chat;
mod faults;
mod http;
mod limits;
mod messages;
pub mod profile;
pub mod scenario;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub use profile::{Api, Profile, Quirks, UsageReport};
pub use scenario::{Fault, FaultKind, Pace, Scenario, ScenarioError};

use http::{Sse, chunks, json_response, read_request, stream_head};
use profile::Refusal;
use scenario::{Vars, substitute, substitute_str, text_of};

/// What the server has seen, for tests and the demo to look at.
#[derive(Debug, Default)]
struct Shared {
    /// Every request body to either API, in order, as it came.
    requests: Vec<Value>,
    /// Each request's headers, names lowercased.
    headers: Vec<BTreeMap<String, String>>,
    /// How many times each (turn, fault) has fired.
    fired: HashMap<(usize, usize), u32>,
    next_id: u64,
    /// The API key's request and token window, when the scenario has rate limits.
    window: Option<limits::Window>,
}

/// A running scripted model; stops when dropped.
pub struct ScriptedModel {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Server {
    scenario: Scenario,
    pace: Pace,
    shared: Arc<Mutex<Shared>>,
}

impl ScriptedModel {
    /// Starts serving `scenario` on a free loopback port. `pace` overrides the scenario's own.
    pub async fn start(scenario: Scenario, pace: Option<Pace>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared =
            Arc::new(Mutex::new(Shared { window: scenario.rate_limits.map(limits::Window::new), ..Shared::default() }));
        let server = Arc::new(Server { pace: pace.unwrap_or(scenario.pace), scenario, shared: shared.clone() });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    if let Err(e) = server.connection(stream).await {
                        tracing::debug!("scripted model connection ended: {e}");
                    }
                });
            }
        });
        Ok(ScriptedModel { addr, shared, task })
    }

    /// Starts serving `scenario` as `profile`'s server does.
    pub async fn start_as(mut scenario: Scenario, pace: Option<Pace>, profile: Profile) -> std::io::Result<Self> {
        scenario.profile = profile;
        Self::start(scenario, pace).await
    }

    /// The base URL to give a client (`ANTHROPIC_BASE_URL`; chat completions are under `/v1`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, as it came.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// Every request's headers, names lowercased.
    pub fn headers(&self) -> Vec<BTreeMap<String, String>> {
        self.lock().headers.clone()
    }

    /// Requests answered 429 because they came past the scenario's rate limits.
    pub fn throttled(&self) -> u32 {
        self.lock().window.as_ref().map_or(0, |w| w.throttled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a reply is made of, before a wire writes it.
struct Content {
    blocks: Vec<Value>,
    /// `end_turn`, `tool_use`, `max_tokens`, `refusal`.
    stop_reason: String,
    input_tokens: u64,
    output_tokens: u64,
}

impl Server {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn profile(&self) -> Profile {
        self.scenario.profile
    }

    async fn connection(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        while let Some(req) = read_request(&mut reader).await? {
            let path = req.path.split('?').next().unwrap_or("").to_owned();
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let stream = reader.get_mut();
            let keep = match (req.method.as_str(), path.as_str()) {
                ("POST", "/v1/messages/count_tokens") => {
                    let n = req.body.len() / 4;
                    stream.write_all(&json_response(200, &json!({"input_tokens": n}), "")).await?;
                    true
                }
                ("POST", "/v1/messages") => {
                    self.answer(stream, Api::Messages, &body, req.headers, req.body.len()).await?
                }
                ("POST", "/v1/chat/completions" | "/chat/completions") => {
                    self.answer(stream, Api::Chat, &body, req.headers, req.body.len()).await?
                }
                _ => {
                    let message = format!("the scripted model has no {} {}", req.method, path);
                    let r = Refusal { status: 404, kind: "not_found_error", message, code: None };
                    stream.write_all(&self.refusal(Api::Messages, &r, "")).await?;
                    true
                }
            };
            if !keep || !req.keep_alive {
                break;
            }
        }
        Ok(())
    }

    /// `r` in the profile's shape for `api`.
    fn refusal(&self, api: Api, r: &Refusal, extra: &str) -> Vec<u8> {
        json_response(r.status, &self.profile().error_body(api, r), extra)
    }

    /// What the server refuses in this request before any model runs: a model it does not have,
    /// what the scenario's quirks refuse, a tool call sent back without its result.
    fn check(&self, api: Api, raw: &Value, body: &Value, model: &str) -> Option<Refusal> {
        let (p, s) = (self.profile(), &self.scenario);
        if !s.models.is_empty() && p.checks_model() && !s.models.iter().any(|m| m == model) {
            return Some(p.no_model(api, model));
        }
        for what in &s.quirks.refuse {
            let carried = match what.as_str() {
                "tools" => body["tools"].as_array().is_some_and(|t| !t.is_empty()),
                "thinking" => body["messages"].as_array().into_iter().flatten().any(|m| {
                    m["content"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|b| matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")))
                }),
                "cache_control" => api == Api::Messages && raw.to_string().contains("\"cache_control\""),
                other => raw.get(other).is_some(),
            };
            if carried {
                return Some(if what == "tools" { p.no_tools(model) } else { p.refuses(what) });
            }
        }
        unanswered(body).map(|id| p.unanswered(api, &id))
    }

    /// Answers one request to either API. Returns whether the connection may be kept.
    async fn answer(
        &self,
        out: &mut TcpStream,
        api: Api,
        raw: &Value,
        headers: BTreeMap<String, String>,
        size: usize,
    ) -> std::io::Result<bool> {
        {
            let mut shared = self.lock();
            shared.requests.push(raw.clone());
            shared.headers.push(headers);
        }
        tracing::trace!("scripted model request: {raw}");
        // One vocabulary for choosing turns: a chat request read as a Messages one.
        let body = match api {
            Api::Messages => raw.clone(),
            Api::Chat => chat::as_messages(raw),
        };
        let model = body["model"].as_str().unwrap_or("scripted").to_owned();
        let streaming = raw["stream"].as_bool().unwrap_or(false);
        let input_tokens = (size / 4).max(1) as u64;
        // The API key's limits: a request past them is answered 429, as the API does.
        let window = self.lock().window.as_mut().map(|w| w.admit(input_tokens));
        let limit_headers = match window {
            Some(Err(wait)) => {
                let retry = format!("retry-after: {}\r\n", wait.ceil().max(1.0));
                let message = "Number of request tokens has exceeded your per-minute rate limit".to_owned();
                let r = Refusal { status: 429, kind: "rate_limit_error", message, code: Some("rate_limit_exceeded") };
                out.write_all(&self.refusal(api, &r, &retry)).await?;
                return Ok(true);
            }
            Some(Ok(headers)) => headers,
            None => String::new(),
        };
        if let Some(r) = self.check(api, raw, &body, &model) {
            out.write_all(&self.refusal(api, &r, "")).await?;
            return Ok(true);
        }

        let Some((turn_index, vars)) = self.scenario.plan(&body) else {
            // Nothing scripted for this conversation (a client's side request, say): a short reply.
            let first = body["messages"].as_array().and_then(|m| m.first()).map(text_of).unwrap_or_default();
            tracing::debug!("scripted model: no turn for a conversation starting {first:?}");
            let turn = scenario::Turn {
                id: "unscripted".into(),
                start: None,
                thinking: None,
                text: Some("OK.".into()),
                tools: Vec::new(),
                next: Vec::new(),
                faults: Vec::new(),
                stop_reason: None,
                usage: None,
            };
            let content = self.content(&turn, &Vars::new(), &body, input_tokens);
            return self.reply(out, api, &content, &model, streaming, &limit_headers).await;
        };
        let turn = &self.scenario.turns[turn_index];

        // A fault fires `times` times for this turn, then the request goes through.
        let fault = {
            let mut shared = self.lock();
            let mut chosen = None;
            for (i, f) in turn.faults.iter().enumerate() {
                let fired = shared.fired.entry((turn_index, i)).or_insert(0);
                if *fired < f.times {
                    *fired += 1;
                    chosen = Some(f.clone());
                    break;
                }
            }
            chosen
        };
        if let Some(f) = fault {
            tracing::debug!("scripted model: {:?} before turn {}", f.kind, turn.id);
            return self.fault(out, api, &f, &model, input_tokens).await;
        }
        let mut headers = limit_headers;
        if let Some(u) = &turn.usage {
            headers.push_str(&limits::usage_headers(u));
        }
        let content = self.content(turn, &vars, &body, input_tokens);
        self.reply(out, api, &content, &model, streaming, &headers).await
    }

    async fn reply(
        &self,
        out: &mut TcpStream,
        api: Api,
        content: &Content,
        model: &str,
        streaming: bool,
        headers: &str,
    ) -> std::io::Result<bool> {
        match api {
            Api::Messages => self.messages_reply(out, content, model, streaming, headers).await,
            Api::Chat => self.chat_reply(out, content, model, streaming, headers).await,
        }
    }

    fn ids(&self, n: usize) -> Vec<String> {
        let mut shared = self.lock();
        (0..n)
            .map(|_| {
                shared.next_id += 1;
                format!("{:016x}", shared.next_id)
            })
            .collect()
    }

    /// The content blocks of a turn, with variables filled in and fresh ids.
    fn content(&self, turn: &scenario::Turn, vars: &Vars, request: &Value, input_tokens: u64) -> Content {
        let mut blocks = Vec::new();
        if let Some(t) = &turn.thinking {
            blocks.push(
                json!({"type": "thinking", "thinking": substitute_str(t, vars), "signature": "scripted-signature"}),
            );
        }
        if let Some(t) = &turn.text {
            blocks.push(json!({"type": "text", "text": substitute_str(t, vars)}));
        }
        let ids = self.ids(turn.tools.len());
        for (tool, id) in turn.tools.iter().zip(ids) {
            let input = substitute(&serde_json::to_value(&tool.input).unwrap_or(Value::Null), vars);
            let (name, input) = adapt_tool(&tool.name, input, request);
            blocks.push(json!({"type": "tool_use", "id": format!("toolu_{id}"), "name": name, "input": input}));
        }
        let stop_reason = turn
            .stop_reason
            .clone()
            .unwrap_or_else(|| if turn.tools.is_empty() { "end_turn" } else { "tool_use" }.to_owned());
        let output_tokens = (blocks.iter().map(|b| b.to_string().len()).sum::<usize>() / 4).max(1) as u64;
        Content { blocks, stop_reason, input_tokens, output_tokens }
    }
}

/// The first tool call in `body` (a Messages-shaped conversation) sent back without its result.
fn unanswered(body: &Value) -> Option<String> {
    let messages = body["messages"].as_array()?;
    for (i, m) in messages.iter().enumerate().filter(|(_, m)| m["role"] == "assistant") {
        let Some(next) = messages.get(i + 1) else { continue };
        let answered: Vec<&str> = next["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "tool_result")
            .filter_map(|b| b["tool_use_id"].as_str())
            .collect();
        let calls = m["content"].as_array().into_iter().flatten().filter(|b| b["type"] == "tool_use");
        if let Some(id) = calls.filter_map(|b| b["id"].as_str()).find(|id| !answered.contains(id)) {
            return Some(id.to_owned());
        }
    }
    None
}

/// The working directory a client announces in its system prompt: Claude Code's "Primary working
/// directory: /path", or baton's own "project directory /path.".
fn client_cwd(request: &Value) -> Option<String> {
    let system = match &request["system"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    };
    let re = regex::Regex::new(
        r"(?:Primary working directory:|working directory:|project directory)\s*(/[^\s]+?)\.?(?:\s|$)",
    )
    .ok()?;
    re.captures(&system).map(|c| c[1].to_owned())
}

/// Scenarios name baton's tools (`bash`, `read_file`, ...). A client with other tools, such as
/// Claude Code (`Bash`, `Read`, `Write`, `Edit` with absolute paths), gets the same call in its own
/// terms, so one scenario drives either backend.
pub fn adapt_tool(name: &str, input: Value, request: &Value) -> (String, Value) {
    let tools: Vec<&str> =
        request["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    if tools.contains(&name) || !tools.contains(&"Bash") {
        return (name.to_owned(), input);
    }
    let cwd = client_cwd(request).unwrap_or_else(|| ".".to_owned());
    let abs = |p: &Value| {
        let p = p.as_str().unwrap_or("");
        Value::String(if p.starts_with('/') { p.to_owned() } else { format!("{cwd}/{p}") })
    };
    let s = |k: &str| input.get(k).cloned().unwrap_or(Value::Null);
    let mut out = serde_json::Map::new();
    let name = match name {
        "bash" => {
            out.insert("command".into(), s("command"));
            if let Some(t) = input.get("timeout").and_then(Value::as_u64) {
                out.insert("timeout".into(), json!(t * 1000));
            }
            "Bash"
        }
        "read_file" => {
            out.insert("file_path".into(), abs(&s("path")));
            for k in ["offset", "limit"] {
                if let Some(v) = input.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            "Read"
        }
        "write_file" => {
            out.insert("file_path".into(), abs(&s("path")));
            out.insert("content".into(), s("content"));
            "Write"
        }
        "edit" => {
            out.insert("file_path".into(), abs(&s("path")));
            for k in ["old_string", "new_string", "replace_all"] {
                if let Some(v) = input.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            "Edit"
        }
        "list" => {
            let path = input.get("path").and_then(Value::as_str).unwrap_or(".");
            out.insert("command".into(), json!(format!("ls -p {path}")));
            "Bash"
        }
        "glob" => {
            let pattern = input.get("pattern").and_then(Value::as_str).unwrap_or("*");
            out.insert("command".into(), json!(format!("find . -path './{pattern}' -not -path './.git/*'")));
            "Bash"
        }
        "grep" => {
            let pattern = input.get("pattern").and_then(Value::as_str).unwrap_or("");
            let path = input.get("path").and_then(Value::as_str).unwrap_or(".");
            out.insert(
                "command".into(),
                json!(format!("grep -rn --exclude-dir=.git -e '{}' {path}", pattern.replace('\'', "'\\''"))),
            );
            "Bash"
        }
        other => return (other.to_owned(), input),
    };
    (name.to_owned(), Value::Object(out))
}
