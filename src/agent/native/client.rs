//! A wire format's client: one turn as a streamed request to the server, sent again once without
//! what a 400 says the server refused (`cache_control`, thinking, `stream_options`, ...), which is
//! then left out of every request for the rest of the backend's life.

use std::marker::PhantomData;
use std::sync::Mutex;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::conversation::{Reply, Turn};
use super::endpoint::{Endpoint, Provider};
use super::explain::server_name;
use super::http::{Assemble, Http, Progress, RequestError};

/// What makes one wire format: where a turn goes, how it is written, how its stream is read, and
/// what a server may refuse of it.
pub trait Format: Send + Sync + 'static {
    /// The backend's name (`anthropic`, `openai`).
    const BACKEND: &'static str;
    /// Where the provider's own server is and how it takes a key.
    const PROVIDER: Provider;
    type Assembler: Assemble;
    /// What a server refused, left out of requests from then on.
    type Leave: Copy + Default + Send + Sync + 'static;
    /// The address of a turn at a server whose base address is `base_url`.
    fn url(base_url: &str) -> String;
    /// The request with the headers the format needs.
    fn headers(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
    }
    /// The request body for `turn`, streamed, without what `leave` leaves out.
    fn body(turn: &Turn, leave: Self::Leave) -> Value;
    /// What a refused request's `message` says the server refused, and what to leave out
    /// instead; `None` when it is nothing the format can leave out.
    fn refused(message: &str, leave: Self::Leave) -> Option<(Self::Leave, &'static str)>;
}

pub struct Client<F: Format> {
    pub(super) http: Http,
    pub(super) endpoint: Endpoint,
    leave: Mutex<F::Leave>,
    format: PhantomData<F>,
}

impl<F: Format> Client<F> {
    pub fn new(endpoint: Endpoint) -> Result<Self, reqwest::Error> {
        Ok(Client { http: Http::new()?, endpoint, leave: Mutex::default(), format: PhantomData })
    }

    fn leave(&self) -> F::Leave {
        *self.leave.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `turn` and reads the whole reply, telling `progress` what streams in.
    pub async fn turn(
        &self,
        turn: Turn<'_>,
        cancel: &CancellationToken,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Reply, RequestError> {
        let mut refused_once = false;
        loop {
            let leave = self.leave();
            let body = F::body(&turn, leave);
            // About four bytes a token: the request's input, to weigh against what is left.
            let tokens = body.to_string().len() as u64 / 4;
            let url = F::url(&self.endpoint.base_url);
            let build = || {
                let request = self.endpoint.authorize(self.http.client().post(&url));
                F::headers(request).header("content-type", "application/json").json(&body)
            };
            let result = self.http.stream::<F::Assembler>(&build, tokens, cancel, progress).await;
            let Err(RequestError::Api { status: Some(400 | 422), message }) = &result else {
                return result;
            };
            let Some((without, what)) = F::refused(message, leave).filter(|_| !refused_once) else {
                return result;
            };
            refused_once = true;
            progress(Progress::Notice(format!(
                "the server at {} refused {what}; asking again without it, and leaving it out from now on ({message})",
                server_name(&self.endpoint.base_url)
            )));
            *self.leave.lock().unwrap_or_else(|e| e.into_inner()) = without;
        }
    }
}
