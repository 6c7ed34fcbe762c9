//! The faults the scripted model injects before a turn: the API's error answers (429 for throttling
//! or for a plan's usage limit, 529, 500, 400, 401), a connection reset, a stream cut short or
//! carrying an error event.

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::scenario::{Fault, FaultKind};
use super::{Server, api_error, limits};

impl Server {
    /// Answers with fault `f`. Returns whether the connection may be kept.
    pub(super) async fn fault(
        &self,
        out: &mut TcpStream,
        f: &Fault,
        model: &str,
        input_tokens: u64,
    ) -> std::io::Result<bool> {
        let retry_after = f.retry_after.map(|s| format!("retry-after: {s}\r\n")).unwrap_or_default();
        let answer = match f.kind {
            FaultKind::RateLimit => api_error(
                429,
                "Too Many Requests",
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
                &retry_after,
            ),
            FaultKind::UsageLimit => {
                let kind = f.limit.as_deref().unwrap_or("five_hour");
                let headers = limits::unified("rejected", kind, f.reset_in.unwrap_or(3.0), None);
                let message = "Number of requests has exceeded your rate limit";
                api_error(429, "Too Many Requests", "rate_limit_error", message, &headers)
            }
            FaultKind::Overloaded => api_error(529, "Overloaded", "overloaded_error", "Overloaded", &retry_after),
            FaultKind::ServerError => {
                api_error(500, "Internal Server Error", "api_error", "Internal server error", &retry_after)
            }
            FaultKind::BadRequest => api_error(
                400,
                "Bad Request",
                "invalid_request_error",
                "messages: the scripted model refuses this request",
                "",
            ),
            FaultKind::Unauthorized => api_error(401, "Unauthorized", "authentication_error", "invalid x-api-key", ""),
            FaultKind::Reset => {
                out.set_zero_linger()?;
                return Ok(false);
            }
            FaultKind::StreamCut | FaultKind::ErrorEvent => {
                self.broken_stream(out, f.kind, model, input_tokens).await?;
                return Ok(false);
            }
        };
        out.write_all(&answer).await?;
        Ok(true)
    }

    async fn broken_stream(
        &self,
        out: &mut TcpStream,
        kind: FaultKind,
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
        if kind == FaultKind::ErrorEvent {
            sse.event(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            )
            .await?;
            out.write_all(b"0\r\n\r\n").await?;
        }
        // A cut: the connection closes with the response unfinished.
        out.flush().await?;
        out.shutdown().await
    }
}
