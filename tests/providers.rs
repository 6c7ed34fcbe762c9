//! The servers that speak the Messages API besides Anthropic's (Ollama, llama.cpp), played by the
//! scripted model, driven by the `anthropic` backend; what they refuse (cache_control, thinking),
//! what they leave out (usage), how they take a key; and the refusals of every server on both
//! wires said in words that name the server and the model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use baton::agent::anthropic::AnthropicBackend;
use baton::agent::native::endpoint::Endpoint;
use baton::agent::openai::OpenAiBackend;
use baton::agent::scripted::{Api, Profile};
use baton::agent::{AgentEvent, Backend, EndReason, Limits};
use baton::project::config::Config;
use tokio_util::sync::CancellationToken;

use common::Scripted as Ran;

fn config(extra: &str) -> Config {
    Config::parse(Path::new("c.toml"), &format!("[agent]\nmodel = \"qwen3:8b\"\n{extra}")).unwrap()
}

/// One session of `scenario` on `api` against the scripted model playing `profile`.
async fn run(api: Api, scenario: &str, dir: &Path, profile: Profile, config: &Config) -> Ran {
    let backend = |url: &str| -> Box<dyn Backend> {
        match api {
            // The endpoint as the config gives it (auth), at the scripted model's address.
            Api::Messages => {
                let key = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "test-key".to_owned());
                let provider = &baton::agent::anthropic::client::PROVIDER;
                let mut endpoint = Endpoint::resolve_with(provider, &config.agent, key).unwrap();
                endpoint.base_url = url.to_owned();
                Box::new(AnthropicBackend::at(endpoint, config).unwrap())
            }
            Api::Chat => Box::new(OpenAiBackend::new(&format!("{url}/v1"), "test-key", config).unwrap()),
        }
    };
    let limits = Limits { max_turns: 20, wall_time: Duration::from_secs(60) };
    common::scripted(backend, profile, scenario, dir, limits, CancellationToken::new()).await
}

/// Look around thinking, write a file, then say done: three turns.
const GREETER: &str = r#"
name = "greeter"
pace = { chunk_chars = 6 }

[[turns]]
id = "look"
start = "Build the greeter"
thinking = "I should look around first."
text = "Let me get my bearings."
tools = [{ name = "bash", input = { command = "git status --short && echo clean" } }]

[[turns]]
id = "write"
text = "Writing the script."
tools = [{ name = "write_file", input = { path = "greet.sh", content = "echo hello\n" } }]

[[turns]]
id = "done"
text = "Done."
"#;

#[tokio::test]
async fn the_anthropic_backend_runs_a_session_against_ollamas_and_llama_cpps_messages_endpoints() {
    for profile in [Profile::Ollama, Profile::LlamaCpp] {
        let dir = common::temp_repo();
        let ran = run(Api::Messages, GREETER, dir.path(), profile, &config("")).await;
        assert_eq!(ran.end.reason, EndReason::Completed, "{profile:?}: {:#?}", ran.events);
        assert_eq!(std::fs::read_to_string(dir.path().join("greet.sh")).unwrap(), "echo hello\n");
        assert_eq!(common::thinking_of(&ran.events), "I should look around first.", "{profile:?}");
        assert!(common::text_of(&ran.events).ends_with("Done."));
        // Usage without cache fields still counts; the thinking went back unsigned, as it came.
        assert!(ran.end.usage.input_tokens > 0 && ran.end.usage.output_tokens > 0, "{profile:?}: {:?}", ran.end.usage);
        assert_eq!(ran.end.usage.unreported_turns, 0);
        assert_eq!(ran.requests[1]["messages"][1]["content"][0]["signature"], "", "{profile:?}");
        // qwen3:8b has no price: the cost is unknown, not $0.
        assert_eq!(ran.end.usage.unpriced_turns, 3, "{profile:?}");
    }
}

#[tokio::test]
async fn a_refused_cache_control_is_left_out_after_one_retry_for_the_rest_of_the_backends_life() {
    let dir = common::temp_repo();
    let scenario = format!("{GREETER}\n[quirks]\nrefuse = [\"cache_control\"]\n");
    let ran = run(Api::Messages, &scenario, dir.path(), Profile::Anthropic, &config("")).await;
    assert_eq!(ran.end.reason, EndReason::Completed, "{:#?}", ran.events);
    let marked: Vec<bool> = ran.requests.iter().map(|r| r.to_string().contains("cache_control")).collect();
    assert_eq!(marked, [true, false, false, false], "refused once, then never sent");
    let told = common::notices(&ran.events);
    assert!(told.iter().any(|n| n.contains("refused prompt caching (cache_control)")), "{told:?}");
}

#[tokio::test]
async fn refused_thinking_blocks_are_left_out_after_one_retry() {
    let dir = common::temp_repo();
    let scenario = format!("{GREETER}\n[quirks]\nrefuse = [\"thinking\"]\n");
    let ran = run(Api::Messages, &scenario, dir.path(), Profile::Anthropic, &config("")).await;
    assert_eq!(ran.end.reason, EndReason::Completed, "{:#?}", ran.events);
    let sent_thinking: Vec<bool> =
        ran.requests.iter().map(|r| r["messages"].to_string().contains("\"thinking\"")).collect();
    // The first request has no reply to send back yet; the second carried thinking and was refused.
    assert_eq!(sent_thinking, [false, true, false, false]);
    assert!(common::notices(&ran.events).iter().any(|n| n.contains("refused thinking blocks")));
}

#[tokio::test]
async fn a_server_that_reports_no_usage_leaves_tokens_and_price_unknown_on_both_wires() {
    let scenario = format!("{GREETER}\n[quirks]\nusage = \"none\"\n");
    for api in [Api::Messages, Api::Chat] {
        let dir = common::temp_repo();
        // A priced model: without usage there is still nothing to price.
        let ran = run(
            api,
            &scenario,
            dir.path(),
            Profile::Ollama,
            &config("[prices.\"qwen3:8b\"]\ninput = 1.0\noutput = 1.0\n"),
        )
        .await;
        assert_eq!(ran.end.reason, EndReason::Completed, "{api:?}");
        let u = ran.end.usage;
        assert_eq!((u.input_tokens, u.output_tokens, u.unreported_turns, u.unpriced_turns), (0, 0, 3, 3), "{api:?}");
        let shown: Vec<&baton::project::session::Usage> = ran
            .events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Usage { usage, .. } => Some(usage),
                _ => None,
            })
            .collect();
        assert!(shown.iter().all(|u| u.unreported_turns == 1), "each turn says so as it ends: {shown:?}");
    }
}

#[tokio::test]
async fn the_key_goes_the_way_the_config_says() {
    let dir = common::temp_repo();
    let ran = run(Api::Messages, GREETER, dir.path(), Profile::Anthropic, &config("")).await;
    assert!(ran.headers.iter().all(|h| h.get("x-api-key").map(String::as_str) == Some("test-key")));
    let dir = common::temp_repo();
    let ran = run(Api::Messages, GREETER, dir.path(), Profile::LlamaCpp, &config("auth = \"bearer\"\n")).await;
    assert_eq!(ran.end.reason, EndReason::Completed);
    assert!(ran.headers.iter().all(|h| h.get("authorization").map(String::as_str) == Some("Bearer test-key")));
    assert!(ran.headers.iter().all(|h| !h.contains_key("x-api-key")));
}

/// The message a session that ended on a refused request left.
fn refusal(ran: &Ran) -> String {
    match &ran.end.reason {
        EndReason::ApiError { message, .. } => message.clone(),
        other => panic!("expected a refused request, got {other:?}: {:#?}", ran.events),
    }
}

#[tokio::test]
async fn a_missing_model_is_named_with_its_server_on_every_server() {
    // The server has another model than the one asked for.
    let scenario = GREETER.replacen("name = \"greeter\"\n", "name = \"m\"\nmodels = [\"qwen3:32b\"]\n", 1);
    for (api, profile) in [
        (Api::Messages, Profile::Anthropic),
        (Api::Messages, Profile::Ollama),
        (Api::Chat, Profile::OpenAi),
        (Api::Chat, Profile::Vllm),
        (Api::Chat, Profile::Ollama),
        (Api::Chat, Profile::OpenRouter),
    ] {
        let dir = common::temp_repo();
        let ran = run(api, &scenario, dir.path(), profile, &config("")).await;
        let said = refusal(&ran);
        let want = format!("the server at {} has no model `qwen3:8b`", ran.server);
        assert!(said.starts_with(&want), "{api:?} {profile:?}: {said}");
        assert_eq!(ran.requests.len(), 1, "{api:?} {profile:?}: not retried");
        assert!(common::notices(&ran.events).contains(&said.as_str()), "the transcript says it too");
    }
    // llama.cpp serves whatever it loaded, whatever the name.
    let dir = common::temp_repo();
    let ran = run(Api::Messages, &scenario, dir.path(), Profile::LlamaCpp, &config("")).await;
    assert_eq!(ran.end.reason, EndReason::Completed);
}

#[tokio::test]
async fn a_context_overflow_and_an_unanswered_tool_call_are_named_with_server_and_model() {
    for (api, profile) in [
        (Api::Messages, Profile::Anthropic),
        (Api::Chat, Profile::OpenAi),
        (Api::Chat, Profile::Vllm),
        (Api::Chat, Profile::LlamaCpp),
    ] {
        for (fault, want) in [
            ("context_overflow", "the conversation no longer fits model `qwen3:8b`'s context window at"),
            (
                "unanswered_tool_call",
                "refused the conversation (400) because a tool call of model `qwen3:8b` went unanswered",
            ),
        ] {
            let dir = common::temp_repo();
            let scenario = GREETER.replace(
                "text = \"Writing the script.\"",
                &format!("text = \"Writing the script.\"\nfaults = [{{ kind = \"{fault}\" }}]"),
            );
            let ran = run(api, &scenario, dir.path(), profile, &config("")).await;
            let said = refusal(&ran);
            assert!(said.contains(want) && said.contains(&ran.server), "{api:?} {profile:?} {fault}: {said}");
            assert_eq!(ran.requests.len(), 2, "{api:?} {profile:?} {fault}: not retried");
        }
    }
}

#[tokio::test]
async fn a_server_without_tool_calls_is_named_and_told_what_to_change() {
    let scenario = format!("{GREETER}\n[quirks]\nrefuse = [\"tools\"]\n");
    for (api, profile, hint) in [
        (Api::Messages, Profile::Ollama, "does not support tools"),
        (Api::Messages, Profile::LlamaCpp, "--jinja"),
        (Api::Chat, Profile::Vllm, "--enable-auto-tool-choice"),
        (Api::Chat, Profile::OpenRouter, "No endpoints found that support tool use"),
    ] {
        let dir = common::temp_repo();
        let ran = run(api, &scenario, dir.path(), profile, &config("")).await;
        let said = refusal(&ran);
        let want = format!("the server at {} does not do tool calls with model `qwen3:8b`", ran.server);
        assert!(said.starts_with(&want) && said.contains(hint), "{api:?} {profile:?}: {said}");
        assert_eq!(ran.requests.len(), 1, "{api:?} {profile:?}: not retried");
    }
}
