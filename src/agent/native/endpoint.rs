//! Where baton's own agent finds its model server and how it shows its key: the environment as the
//! official SDKs read it (`ANTHROPIC_BASE_URL`, `OPENAI_API_KEY`, ...), else `[agent] base_url`,
//! `api_key_env` and `auth`, else the provider's own address.

use crate::project::config::{self, KeyHeader};

/// A wire format's provider defaults.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// The backend's name (`anthropic`, `openai`).
    pub backend: &'static str,
    pub url_env: &'static str,
    pub key_env: &'static str,
    pub default_url: &'static str,
    pub header: Header,
}

/// How the key goes to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// `x-api-key: KEY` (Anthropic's own).
    XApiKey,
    /// `Authorization: Bearer KEY` (OpenAI's, and most servers').
    Bearer,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{var} is not set: export your API key, or use the claude-code backend with your Claude login")]
    NoAnthropicKey { var: String },
    #[error(
        "{var} is not set: export the API key for {server} (or set [agent] api_key_env to the variable that holds it)"
    )]
    NoKey { var: String, server: String },
    #[error("{var}, which [agent] api_key_env names, is not set: export the API key for {server} in it")]
    NamedKeyMissing { var: String, server: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A model server to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base_url: String,
    pub key: Option<String>,
    pub header: Header,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Endpoint {
    /// The server `agent` names for `provider`. A key is needed for the provider's own server and
    /// whenever `api_key_env` names a variable; a server of one's own (Ollama, llama.cpp) may
    /// take none.
    pub fn resolve(provider: &Provider, agent: &config::Agent) -> Result<Endpoint, SetupError> {
        Self::resolve_with(provider, agent, var)
    }

    /// As [`Endpoint::resolve`], reading the environment through `var`.
    pub fn resolve_with(
        provider: &Provider,
        agent: &config::Agent,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Endpoint, SetupError> {
        let base_url = var(provider.url_env)
            .or_else(|| Some(agent.base_url.trim().to_owned()).filter(|u| !u.is_empty()))
            .unwrap_or_else(|| provider.default_url.to_owned());
        let named = agent.api_key_env.trim();
        let key_var = if named.is_empty() { provider.key_env } else { named };
        let key = var(key_var);
        let own = base_url.trim_end_matches('/') == provider.default_url;
        if key.is_none() && (own || !named.is_empty()) {
            let (var, server) = (key_var.to_owned(), super::explain::server_name(&base_url));
            return Err(match named.is_empty() {
                false => SetupError::NamedKeyMissing { var, server },
                true if var == "ANTHROPIC_API_KEY" => SetupError::NoAnthropicKey { var },
                true => SetupError::NoKey { var, server },
            });
        }
        let header = match agent.auth {
            KeyHeader::Auto => provider.header,
            KeyHeader::XApiKey => Header::XApiKey,
            KeyHeader::Bearer => Header::Bearer,
        };
        Ok(Endpoint { base_url: base_url.trim_end_matches('/').to_owned(), key, header })
    }

    /// A server at `base_url` taking `key` the provider's way.
    pub fn new(provider: &Provider, base_url: &str, key: &str) -> Endpoint {
        let key = Some(key.to_owned()).filter(|k| !k.is_empty());
        Endpoint { base_url: base_url.trim_end_matches('/').to_owned(), key, header: provider.header }
    }

    /// `request` with the key, when there is one.
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.key, self.header) {
            (None, _) => request,
            (Some(k), Header::XApiKey) => request.header("x-api-key", k),
            (Some(k), Header::Bearer) => request.bearer_auth(k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI: Provider = Provider {
        backend: "openai",
        url_env: "OPENAI_BASE_URL",
        key_env: "OPENAI_API_KEY",
        default_url: "https://api.openai.com/v1",
        header: Header::Bearer,
    };

    fn agent(toml: &str) -> config::Agent {
        config::Config::parse(std::path::Path::new("c.toml"), toml).unwrap().agent
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_environment_wins_over_the_file_and_the_file_over_the_default() {
        let a = agent("[agent]\nbase_url = \"http://localhost:11434/v1/\"\n");
        let e = Endpoint::resolve_with(&OPENAI, &a, env(&[])).unwrap();
        assert_eq!((e.base_url.as_str(), e.key.as_deref()), ("http://localhost:11434/v1", None));
        let e = Endpoint::resolve_with(&OPENAI, &a, env(&[("OPENAI_BASE_URL", "http://gpu:8000/v1")])).unwrap();
        assert_eq!(e.base_url, "http://gpu:8000/v1");
        let e = Endpoint::resolve_with(&OPENAI, &agent(""), env(&[("OPENAI_API_KEY", "sk-1")])).unwrap();
        assert_eq!(
            (e.base_url.as_str(), e.key.as_deref(), e.header),
            ("https://api.openai.com/v1", Some("sk-1"), Header::Bearer)
        );
    }

    #[test]
    fn a_key_is_needed_by_the_providers_own_server_and_when_a_variable_is_named() {
        let err = Endpoint::resolve_with(&OPENAI, &agent(""), env(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("OPENAI_API_KEY is not set: export the API key for api.openai.com"),
            "{err}"
        );
        let a = agent("[agent]\nbase_url = \"https://openrouter.ai/api/v1\"\napi_key_env = \"OPENROUTER_API_KEY\"\n");
        let err = Endpoint::resolve_with(&OPENAI, &a, env(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("OPENROUTER_API_KEY, which [agent] api_key_env names, is not set"),
            "{err}"
        );
        let e = Endpoint::resolve_with(&OPENAI, &a, env(&[("OPENROUTER_API_KEY", "or-1")])).unwrap();
        assert_eq!(e.key.as_deref(), Some("or-1"));
        let a = agent("[agent]\nbase_url = \"http://localhost:8080\"\nauth = \"x-api-key\"\n");
        assert_eq!(Endpoint::resolve_with(&OPENAI, &a, env(&[])).unwrap().header, Header::XApiKey);
    }
}
