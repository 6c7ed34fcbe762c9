//! `baton hook pre-tool-use`: baton's policy as the CLI's PreToolUse hook.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::REFUSAL_PREFIX;

/// Set (to `1`) in the `claude` CLI's environment when baton answers its permission prompt on
/// stdio: the hook then asks rather than refuses a program off the allowlist.
pub const ASK_ENV: &str = "BATON_ASK";
use crate::project::config;

/// `baton hook pre-tool-use`: reads Claude Code's hook input on stdin and answers with a denial
/// when baton's policy refuses the call (nothing, for an allowed one: Claude Code's own
/// permissions then apply).
pub fn pre_tool_use_hook(input: &str, project_root: Option<&Path>) -> Option<Value> {
    let deny = |reason: String| {
        json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": format!("{REFUSAL_PREFIX}{reason}"),
        }})
    };
    let v: Value = match serde_json::from_str(input) {
        Ok(v) => v,
        Err(e) => return Some(deny(format!("baton's hook could not read its input ({e})"))),
    };
    let cwd = v["cwd"].as_str().filter(|c| !c.is_empty()).map(PathBuf::from);
    let Some(root) = project_root.map(Path::to_owned).or_else(|| cwd.clone()) else {
        return Some(deny(
            "baton's hook was given no project (no `-C DIR` and no `cwd` in its input), so it has nothing to confine the agent to"
                .into(),
        ));
    };
    let config = match config::Config::load(&root) {
        Ok(c) => c,
        Err(e) => return Some(deny(format!("baton cannot read its config: {e}"))),
    };
    let read_only = std::env::var_os(crate::sandbox::READ_ONLY_ENV).is_some_and(|v| v == "1");
    // baton started the CLI with its permission prompt on stdio and will put the question to
    // the operator; otherwise a program off the allowlist is refused.
    let asking = std::env::var_os(ASK_ENV).is_some_and(|v| v == "1");
    let mut policy = crate::agent::policy::Policy::new(&root, &config).read_only(read_only).asking(asking);
    let tmp = std::env::var_os("TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    if config.sandbox.mode == config::SandboxMode::On {
        // As for baton's own agent: the session's temporary directory, not all of /tmp.
        policy = policy.with_tmpdir(&tmp);
    }
    let cwd = cwd.unwrap_or_else(|| root.clone());
    let tool = v["tool_name"].as_str().unwrap_or("");
    use crate::agent::policy::Decision;
    let decision = match policy.check_tool_in(tool, &v["tool_input"], &cwd) {
        Decision::Ask(programs) if tool != "Bash" => Decision::Deny(crate::agent::policy::ask_reason(&programs)),
        d => d,
    };
    let ask = matches!(decision, Decision::Ask(_));
    match decision {
        Decision::Deny(reason) => Some(deny(reason)),
        Decision::Allow | Decision::Ask(_) if tool == "Bash" => {
            // The command runs, inside baton's sandbox: the hook hands the CLI the confined form.
            match crate::sandbox::Profile::new(&root, &config.sandbox, &tmp) {
                Ok(None) => None,
                Err(e) => Some(deny(e.to_string())),
                Ok(Some(profile)) => {
                    let profile = profile.read_only(read_only);
                    let mut input = v["tool_input"].clone();
                    let command = input["command"].as_str().unwrap_or("").to_owned();
                    input["command"] = Value::String(profile.shell_line(&command));
                    // A question goes through the CLI's permission prompt (on stdio, to baton),
                    // already in its confined form.
                    let (decision, why) = match ask {
                        true => ("ask", "baton asks the operator: it runs in baton's sandbox if allowed"),
                        false => ("allow", "baton's policy allows it; it runs in baton's sandbox"),
                    };
                    Some(json!({"hookSpecificOutput": {
                        "hookEventName": "PreToolUse",
                        "permissionDecision": decision,
                        "permissionDecisionReason": why,
                        "updatedInput": input,
                    }}))
                }
            }
        }
        Decision::Allow | Decision::Ask(_) => None,
    }
}
