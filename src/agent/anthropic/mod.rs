//! The `anthropic` backend: baton's own agent over the Messages API, for Anthropic and for every
//! server that speaks it (Ollama, llama.cpp, vLLM, LM Studio, OpenRouter). No SDK: a small client
//! on reqwest and server-sent events.

pub mod client;
pub mod request;
pub mod stream;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

pub use crate::agent::native::endpoint::SetupError;
pub use crate::agent::native::http::{RequestError, RetryPolicy};

use super::native::Agent;
use super::native::endpoint::Endpoint;
use super::{AgentEvent, Backend, SessionEnd, SessionRequest};
use crate::project::config;

pub struct AnthropicBackend(Agent);

impl AnthropicBackend {
    /// A backend on `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY` as the official SDKs read them,
    /// else `[agent] base_url`, `api_key_env` and `auth`.
    pub fn from_config(config: &config::Config) -> Result<Self, SetupError> {
        Self::at(Endpoint::resolve(&client::PROVIDER, &config.agent)?, config)
    }

    /// A backend on the server at `base_url`, sending `api_key` as `x-api-key`.
    pub fn new(base_url: &str, api_key: &str, config: &config::Config) -> Result<Self, SetupError> {
        Self::at(Endpoint::new(&client::PROVIDER, base_url, api_key), config)
    }

    pub fn at(endpoint: Endpoint, config: &config::Config) -> Result<Self, SetupError> {
        Ok(AnthropicBackend(Agent::new(Box::new(client::Client::new(endpoint)?), config)))
    }

    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        AnthropicBackend(self.0.with_retry(retry))
    }
}

impl Backend for AnthropicBackend {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        self.0.model()
    }

    fn run(&self, request: SessionRequest, events: UnboundedSender<AgentEvent>) -> BoxFuture<'_, SessionEnd> {
        self.0.run(request, events)
    }
}
