//! The `anthropic` backend: baton's own agent over the Messages API, for Anthropic and for every
//! server that speaks it (Ollama, llama.cpp, vLLM, LM Studio, OpenRouter). No SDK: a small client
//! on reqwest and server-sent events.

pub mod client;
pub mod request;
pub mod stream;

pub use crate::agent::native::endpoint::SetupError;
pub use crate::agent::native::http::{RequestError, RetryPolicy};

/// baton's own agent on the Messages API: `AnthropicBackend::from_config` reads
/// `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY` as the official SDKs do, else `[agent] base_url`,
/// `api_key_env` and `auth`; `AnthropicBackend::new` takes a server and a key (sent as
/// `x-api-key`).
pub type AnthropicBackend = crate::agent::native::Agent<client::Messages>;
