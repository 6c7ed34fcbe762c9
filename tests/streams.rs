//! Streams in the shapes of OpenAI, vLLM, Ollama, llama.cpp and OpenRouter (chat completions) and of
//! Anthropic, Ollama and llama.cpp (Messages API), each served over loopback HTTP to baton's own
//! client, read as the same reply: the same text, the same tool calls, the same reason to stop, the
//! same token counts. Where each shape comes from: `tests/fixtures/streams/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use baton::agent::native::conversation::{Block, Reply, Stop};
use baton::agent::native::http::{Assemble, Delta, Http, Progress};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Serves `body` once, as a server-sent event stream, on a loopback port; returns its URL.
async fn serve_once(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stream", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // The request: its head, then as many bytes as it says.
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&seen).to_lowercase();
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
        let start = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        while seen.len() < start + length {
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(reply.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        socket.shutdown().await.unwrap();
    });
    url
}

/// The fixture `name` read by baton's client with assembler `A`: the reply and what streamed.
async fn read<A: Assemble>(name: &str) -> (Reply, Vec<Delta>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams").join(name);
    let url = serve_once(std::fs::read(path).unwrap()).await;
    let http = Http::new().unwrap();
    let build = || http.client().post(&url).json(&json!({"stream": true}));
    let mut deltas = Vec::new();
    let mut progress = |p| {
        if let Progress::Delta(d) = p {
            deltas.push(d);
        }
    };
    let reply = http.stream::<A>(&build, 0, &CancellationToken::new(), &mut progress).await.unwrap();
    (reply, deltas)
}

fn joined(deltas: &[Delta], thinking: bool) -> String {
    deltas
        .iter()
        .filter_map(|d| match d {
            Delta::Text(t) if !thinking => Some(t.as_str()),
            Delta::Thinking(t) if thinking => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// What every fixture says, whatever its shape.
fn says_the_same(name: &str, reply: &Reply, deltas: &[Delta], reasoning: bool) {
    assert_eq!(reply.stop, Stop::ToolUse, "{name}");
    assert_eq!(joined(deltas, false), "Looking at the files.", "{name}");
    let thinking = if reasoning { "Let me look." } else { "" };
    assert_eq!(joined(deltas, true), thinking, "{name}");
    let texts: Vec<&Block> = reply.content.iter().filter(|b| matches!(b, Block::Text(_))).collect();
    assert_eq!(texts, [&Block::Text("Looking at the files.".into())], "{name}");
    let calls = reply.calls();
    let named: Vec<(&str, serde_json::Value)> = calls.iter().map(|(_, n, i)| (n.as_str(), i.clone())).collect();
    assert_eq!(named, [("bash", json!({"command": "ls -la"})), ("read_file", json!({"path": "README.md"}))], "{name}");
    assert!(!calls[0].0.is_empty() && calls[0].0 != calls[1].0, "{name}: each call keeps its own id: {calls:?}");
    let usage = reply.usage.unwrap_or_else(|| panic!("{name}: the stream reports usage"));
    assert_eq!((usage.input_tokens + usage.cache_read_input_tokens, usage.output_tokens), (120, 40), "{name}");
}

#[tokio::test]
async fn chat_completion_streams_of_every_server_read_as_the_same_reply() {
    use baton::agent::openai::stream::Assembler;
    for (name, reasoning) in [
        ("chat-openai.sse", false),
        ("chat-vllm.sse", true),
        ("chat-ollama.sse", true),
        ("chat-llamacpp.sse", true),
        ("chat-openrouter.sse", true),
    ] {
        let (reply, deltas) = read::<Assembler>(name).await;
        says_the_same(name, &reply, &deltas, reasoning);
    }
    // The cached part of the prompt, where the server says it; OpenRouter's own cost.
    let (openai, _) = read::<Assembler>("chat-openai.sse").await;
    assert_eq!(openai.usage.unwrap().cache_read_input_tokens, 64);
    let (openrouter, _) = read::<Assembler>("chat-openrouter.sse").await;
    assert_eq!(openrouter.cost_usd, Some(0.0000964));
    // Ollama numbers its parallel calls all 0: told apart by id.
    let (ollama, _) = read::<Assembler>("chat-ollama.sse").await;
    assert_eq!(ollama.calls()[1].0, "call_m4q1tn7w");
}

#[tokio::test]
async fn messages_streams_of_every_server_read_as_the_same_reply() {
    use baton::agent::anthropic::stream::Assembler;
    for name in ["messages-anthropic.sse", "messages-ollama.sse", "messages-llamacpp.sse"] {
        let (reply, deltas) = read::<Assembler>(name).await;
        says_the_same(name, &reply, &deltas, true);
    }
    // Anthropic signs its thinking; Ollama and llama.cpp do not, and the block is kept all the same.
    let (anthropic, _) = read::<Assembler>("messages-anthropic.sse").await;
    assert!(matches!(&anthropic.content[0], Block::Thinking { signature, .. } if signature.starts_with("EqQB")));
    let (llama, _) = read::<Assembler>("messages-llamacpp.sse").await;
    assert_eq!(llama.content[0], Block::Thinking { text: "Let me look.".into(), signature: String::new() });
    assert_eq!(llama.usage.unwrap().cache_read_input_tokens, 64);
}
