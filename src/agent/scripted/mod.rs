//! The scripted model: a server on 127.0.0.1 that speaks the Messages API, streaming server-sent
//! events as the real API does, and plays a scenario. Any client of the API can talk to it (baton's
//! own backend, the `claude` CLI); nothing in a client knows it is not the real thing. It is what
//! `baton demo` and the tests run against: the HTTP, SSE, tool and git paths all run for real,
//! only the model is scripted.

mod faults;
mod limits;
pub mod scenario;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub use scenario::{Fault, FaultKind, Pace, Scenario, ScenarioError};

use scenario::{Vars, substitute, substitute_str, text_of};

/// What the server has seen, for tests and the demo to look at.
#[derive(Debug, Default)]
struct Shared {
    /// Every Messages API request body, in order.
    requests: Vec<Value>,
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

    /// The base URL to give a client (`ANTHROPIC_BASE_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every Messages API request received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// Requests answered 429 because they came past the scenario's rate limits.
    pub fn throttled(&self) -> u32 {
        self.lock().window.as_ref().map_or(0, |w| w.throttled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    keep_alive: bool,
}

async fn read_request<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> std::io::Result<Option<Request>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    let mut keep_alive = true;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse().unwrap_or(0),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => keep_alive = !v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body).await?;
    }
    Ok(Some(Request { method, path, body, keep_alive }))
}

fn json_response(status: u16, reason: &str, body: &Value, extra: &str) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nrequest-id: req_scripted\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn api_error(status: u16, reason: &str, kind: &str, message: &str, extra: &str) -> Vec<u8> {
    json_response(status, reason, &json!({"type": "error", "error": {"type": kind, "message": message}}), extra)
}

/// Writes server-sent events as one chunked HTTP response.
struct Sse<'a> {
    out: &'a mut TcpStream,
    delay: Duration,
}

impl Sse<'_> {
    async fn event(&mut self, name: &str, data: Value) -> std::io::Result<()> {
        let payload = format!("event: {name}\ndata: {data}\n\n");
        let chunk = format!("{:x}\r\n{payload}\r\n", payload.len());
        self.out.write_all(chunk.as_bytes()).await?;
        self.out.flush().await
    }

    async fn pause(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

fn chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

impl Server {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
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
                    stream.write_all(&json_response(200, "OK", &json!({"input_tokens": n}), "")).await?;
                    true
                }
                ("POST", "/v1/messages") => self.messages(stream, &body, req.body.len()).await?,
                _ => {
                    let msg = format!("the scripted model has no {} {}", req.method, path);
                    stream.write_all(&api_error(404, "Not Found", "not_found_error", &msg, "")).await?;
                    true
                }
            };
            if !keep || !req.keep_alive {
                break;
            }
        }
        Ok(())
    }

    /// Answers one Messages API request. Returns whether the connection may be kept.
    async fn messages(&self, out: &mut TcpStream, body: &Value, size: usize) -> std::io::Result<bool> {
        self.lock().requests.push(body.clone());
        tracing::trace!("scripted model request: {body}");
        let model = body["model"].as_str().unwrap_or("scripted").to_owned();
        let streaming = body["stream"].as_bool().unwrap_or(false);
        let input_tokens = (size / 4).max(1) as u64;
        // The API key's limits: a request past them is answered 429, as the API does.
        let window = self.lock().window.as_mut().map(|w| w.admit(input_tokens));
        let limit_headers = match window {
            Some(Err(wait)) => {
                let retry = format!("retry-after: {}\r\n", wait.ceil().max(1.0));
                let message = "Number of request tokens has exceeded your per-minute rate limit";
                out.write_all(&api_error(429, "Too Many Requests", "rate_limit_error", message, &retry)).await?;
                return Ok(true);
            }
            Some(Ok(headers)) => headers,
            None => String::new(),
        };

        let Some((turn_index, vars)) = self.scenario.plan(body) else {
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
            return self.reply(out, body, &turn, &Vars::new(), &model, streaming, input_tokens, &limit_headers).await;
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
            return self.fault(out, &f, &model, input_tokens).await;
        }
        let mut headers = limit_headers;
        if let Some(u) = &turn.usage {
            headers.push_str(&limits::usage_headers(u));
        }
        self.reply(out, body, turn, &vars, &model, streaming, input_tokens, &headers).await
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
    fn content(&self, turn: &scenario::Turn, vars: &Vars, request: &Value) -> Vec<Value> {
        let mut content = Vec::new();
        if let Some(t) = &turn.thinking {
            content.push(
                json!({"type": "thinking", "thinking": substitute_str(t, vars), "signature": "scripted-signature"}),
            );
        }
        if let Some(t) = &turn.text {
            content.push(json!({"type": "text", "text": substitute_str(t, vars)}));
        }
        let ids = self.ids(turn.tools.len());
        for (tool, id) in turn.tools.iter().zip(ids) {
            let input = substitute(&serde_json::to_value(&tool.input).unwrap_or(Value::Null), vars);
            let (name, input) = adapt_tool(&tool.name, input, request);
            content.push(json!({"type": "tool_use", "id": format!("toolu_{id}"), "name": name, "input": input}));
        }
        content
    }

    #[allow(clippy::too_many_arguments)]
    async fn reply(
        &self,
        out: &mut TcpStream,
        request: &Value,
        turn: &scenario::Turn,
        vars: &Vars,
        model: &str,
        streaming: bool,
        input_tokens: u64,
        headers: &str,
    ) -> std::io::Result<bool> {
        let content = self.content(turn, vars, request);
        let stop_reason = turn
            .stop_reason
            .clone()
            .unwrap_or_else(|| if turn.tools.is_empty() { "end_turn" } else { "tool_use" }.to_owned());
        let output_tokens = (content.iter().map(|b| b.to_string().len()).sum::<usize>() / 4).max(1) as u64;
        let msg_id = format!("msg_{}", self.ids(1).remove(0));
        if !streaming {
            let body = json!({
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            });
            out.write_all(&json_response(200, "OK", &body, headers)).await?;
            return Ok(true);
        }
        let mut sse = self.start_stream(out, &msg_id, model, input_tokens, headers).await?;
        for (index, block) in content.iter().enumerate() {
            self.stream_block(&mut sse, index, block).await?;
        }
        sse.event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}})).await?;
        sse.event("message_stop", json!({"type": "message_stop"})).await?;
        out.write_all(b"0\r\n\r\n").await?;
        out.flush().await?;
        Ok(true)
    }

    async fn start_stream<'a>(
        &self,
        out: &'a mut TcpStream,
        msg_id: &str,
        model: &str,
        input_tokens: u64,
        headers: &str,
    ) -> std::io::Result<Sse<'a>> {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nrequest-id: req_scripted\r\n{headers}\r\n"
        );
        out.write_all(head.as_bytes()).await?;
        let mut sse = Sse { out, delay: Duration::from_millis(self.pace.delay_ms) };
        sse.event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            }}),
        )
        .await?;
        sse.event("ping", json!({"type": "ping"})).await?;
        Ok(sse)
    }

    async fn stream_block(&self, sse: &mut Sse<'_>, index: usize, block: &Value) -> std::io::Result<()> {
        let n = self.pace.chunk_chars;
        match block["type"].as_str().unwrap_or("") {
            "text" => {
                sse.event("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})).await?;
                for piece in chunks(block["text"].as_str().unwrap_or(""), n) {
                    sse.pause().await;
                    sse.event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})).await?;
                }
            }
            "thinking" => {
                sse.event("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})).await?;
                for piece in chunks(block["thinking"].as_str().unwrap_or(""), n) {
                    sse.pause().await;
                    sse.event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": piece}})).await?;
                }
                sse.event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": block["signature"]}})).await?;
            }
            _ => {
                let start = json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}});
                sse.event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index, "content_block": start}),
                )
                .await?;
                for piece in chunks(&block["input"].to_string(), n.max(8)) {
                    sse.pause().await;
                    sse.event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}})).await?;
                }
            }
        }
        sse.event("content_block_stop", json!({"type": "content_block_stop", "index": index})).await
    }
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
