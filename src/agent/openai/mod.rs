//! The `openai` backend: baton's own agent over OpenAI's chat completions, the lingua franca of
//! OpenAI, DeepSeek, Groq, Together, Mistral, Gemini's compatible endpoint, vLLM, llama.cpp,
//! Ollama, LM Studio and OpenRouter. Thin serde types over the server-sent events baton already
//! reads, tolerant of what those servers really send (see [`stream`]).

pub mod client;
pub mod request;
pub mod stream;

pub use crate::agent::native::endpoint::SetupError;
pub use crate::agent::native::http::RetryPolicy;

/// baton's own agent on chat completions: `OpenAiBackend::from_config` reads `OPENAI_BASE_URL` and
/// `OPENAI_API_KEY` as the official SDKs do, else `[agent] base_url`, `api_key_env` and `auth`;
/// `OpenAiBackend::new` takes a server (with its `/v1`) and a key (sent as a bearer token).
pub type OpenAiBackend = crate::agent::native::Agent<client::Chat>;
