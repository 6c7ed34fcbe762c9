//! The scripted model's HTTP: reading a request, writing a JSON answer or a stream of
//! server-sent events as chunked HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

pub async fn read_request<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> std::io::Result<Option<Request>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = BTreeMap::new();
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
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0usize);
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let keep_alive = !headers.get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
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
    Ok(Some(Request { method, path, headers, body, keep_alive }))
}

pub fn json_response(status: u16, body: &Value, extra: &str) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nrequest-id: req_scripted\r\n{extra}\r\n{body}",
        super::profile::reason_phrase(status),
        body.len()
    )
    .into_bytes()
}

/// The head of a streamed answer.
pub fn stream_head(headers: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nrequest-id: req_scripted\r\n{headers}\r\n"
    )
}

/// Writes server-sent events as one chunked HTTP response.
pub struct Sse<'a> {
    pub out: &'a mut TcpStream,
    pub delay: Duration,
}

impl Sse<'_> {
    /// A named event (the Messages API's).
    pub async fn event(&mut self, name: &str, data: Value) -> std::io::Result<()> {
        self.write(&format!("event: {name}\ndata: {data}\n\n")).await
    }

    /// An unnamed `data:` event (chat completions').
    pub async fn data(&mut self, data: &str) -> std::io::Result<()> {
        self.write(&format!("data: {data}\n\n")).await
    }

    pub async fn write(&mut self, payload: &str) -> std::io::Result<()> {
        let chunk = format!("{:x}\r\n{payload}\r\n", payload.len());
        self.out.write_all(chunk.as_bytes()).await?;
        self.out.flush().await
    }

    /// The end of the response.
    pub async fn end(&mut self) -> std::io::Result<()> {
        self.out.write_all(b"0\r\n\r\n").await?;
        self.out.flush().await
    }

    pub async fn pause(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

pub fn chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}
