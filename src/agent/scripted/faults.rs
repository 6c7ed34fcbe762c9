//! The faults the scripted model injects before a turn, on either API: the servers' error answers
//! (429 for throttling or for a plan's usage limit, 529 or 503, 500, 400, 401, a context overflow,
//! an unanswered tool call), a connection reset, a stream cut short or carrying an error.

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::profile::{Api, Refusal};
use super::scenario::{Fault, FaultKind};
use super::{Server, limits};

impl Server {
    /// Answers with fault `f`. Returns whether the connection may be kept.
    pub(super) async fn fault(
        &self,
        out: &mut TcpStream,
        api: Api,
        f: &Fault,
        model: &str,
        input_tokens: u64,
    ) -> std::io::Result<bool> {
        let retry_after = f.retry_after.map(|s| format!("retry-after: {s}\r\n")).unwrap_or_default();
        let refusal = |status, kind, message: &str| Refusal { status, kind, message: message.to_owned(), code: None };
        let (r, headers) = match f.kind {
            FaultKind::RateLimit => {
                (refusal(429, "rate_limit_error", "Number of requests has exceeded your rate limit"), retry_after)
            }
            FaultKind::UsageLimit => {
                let kind = f.limit.as_deref().unwrap_or("five_hour");
                let headers = limits::unified("rejected", kind, f.reset_in.unwrap_or(3.0), None);
                (refusal(429, "rate_limit_error", "Number of requests has exceeded your rate limit"), headers)
            }
            // Chat completions servers say an overload with 503.
            FaultKind::Overloaded => match api {
                Api::Messages => (refusal(529, "overloaded_error", "Overloaded"), retry_after),
                Api::Chat => (refusal(503, "server_error", "The server is overloaded or not ready yet."), retry_after),
            },
            FaultKind::ServerError => (refusal(500, "api_error", "Internal server error"), retry_after),
            FaultKind::BadRequest => (
                refusal(400, "invalid_request_error", "messages: the scripted model refuses this request"),
                String::new(),
            ),
            FaultKind::Unauthorized => (refusal(401, "authentication_error", "invalid x-api-key"), String::new()),
            FaultKind::ContextOverflow => (self.profile().overflow(api), String::new()),
            FaultKind::UnansweredToolCall => (self.profile().unanswered(api, "toolu_0000000000000001"), String::new()),
            FaultKind::Reset => {
                out.set_zero_linger()?;
                return Ok(false);
            }
            FaultKind::StreamCut | FaultKind::ErrorEvent => {
                let error = f.kind == FaultKind::ErrorEvent;
                match api {
                    Api::Messages => self.broken_stream(out, error, model, input_tokens).await?,
                    Api::Chat => self.broken_chat(out, model, error).await?,
                }
                return Ok(false);
            }
        };
        out.write_all(&self.refusal(api, &r, &headers)).await?;
        Ok(true)
    }

    async fn broken_stream(
        &self,
        out: &mut TcpStream,
        error: bool,
        model: &str,
        input_tokens: u64,
    ) -> std::io::Result<()> {
        let msg_id = format!("msg_{}", self.ids(1).remove(0));
        let mut sse = self.start_stream(out, &msg_id, model, input_tokens, "").await?;
        sse.event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        )
        .await?;
        sse.event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "I will st"}}),
        )
        .await?;
        if error {
            sse.event(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            )
            .await?;
            sse.end().await?;
        }
        // A cut: the connection closes with the response unfinished.
        out.flush().await?;
        out.shutdown().await
    }
}
