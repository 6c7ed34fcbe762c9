//! The `openai` backend: baton's own agent over OpenAI's chat completions, the lingua franca of
//! OpenAI, DeepSeek, Groq, Together, Mistral, Gemini's compatible endpoint, vLLM, llama.cpp,
//! Ollama, LM Studio and OpenRouter. Thin serde types over the server-sent events baton already
//! reads, tolerant of what those servers really send (see [`stream`]).

pub mod client;
pub mod request;
pub mod stream;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

pub use crate::agent::native::endpoint::SetupError;
pub use crate::agent::native::http::RetryPolicy;

use super::native::Agent;
use super::native::endpoint::Endpoint;
use super::{AgentEvent, Backend, SessionEnd, SessionRequest};
use crate::project::config;

pub struct OpenAiBackend(Agent);

impl OpenAiBackend {
    /// A backend on `OPENAI_BASE_URL` and `OPENAI_API_KEY` as the official SDKs read them, else
    /// `[agent] base_url`, `api_key_env` and `auth`.
    pub fn from_config(config: &config::Config) -> Result<Self, SetupError> {
        Self::at(Endpoint::resolve(&client::PROVIDER, &config.agent)?, config)
    }

    /// A backend on the server at `base_url` (with its `/v1`), sending `api_key` as a bearer token.
    pub fn new(base_url: &str, api_key: &str, config: &config::Config) -> Result<Self, SetupError> {
        Self::at(Endpoint::new(&client::PROVIDER, base_url, api_key), config)
    }

    pub fn at(endpoint: Endpoint, config: &config::Config) -> Result<Self, SetupError> {
        Ok(OpenAiBackend(Agent::new(Box::new(client::Client::new(endpoint)?), config)))
    }

    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        OpenAiBackend(self.0.with_retry(retry))
    }
}

impl Backend for OpenAiBackend {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        self.0.model()
    }

    fn run(&self, request: SessionRequest, events: UnboundedSender<AgentEvent>) -> BoxFuture<'_, SessionEnd> {
        self.0.run(request, events)
    }
}
