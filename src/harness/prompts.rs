//! The prompts each session starts from: `assets/prompts/`, or the project's own in
//! `.baton/prompts/`, with the project's file names filled in and what the last review said.

use crate::project::Project;
use crate::project::journal::SessionSummary;
use crate::project::session::{Outcome, SessionKind, Verdict};

const INITIALIZER: &str = include_str!("../../assets/prompts/initializer.md");
const CODING: &str = include_str!("../../assets/prompts/coding.md");
const EVALUATOR: &str = include_str!("../../assets/prompts/evaluator.md");

/// The most of a session's diff an evaluator's prompt carries; it can read the rest with git.
const DIFF_LIMIT: usize = 30_000;

fn template(project: &Project, kind: SessionKind) -> String {
    let (name, builtin) = match kind {
        SessionKind::Initializer => ("initializer.md", INITIALIZER),
        SessionKind::Coding => ("coding.md", CODING),
        SessionKind::Evaluator => ("evaluator.md", EVALUATOR),
    };
    std::fs::read_to_string(project.baton_dir().join("prompts").join(name)).unwrap_or_else(|_| builtin.to_owned())
}

/// What the agent hears of its browser, when the project configures a browser server.
fn browser(project: &Project) -> String {
    let servers = project.config().mcp_servers(project.root()).unwrap_or_default();
    let Some(server) = servers.iter().find(|s| s.name.contains("playwright") || s.name.contains("browser")) else {
        return String::new();
    };
    format!(
        "\nYou have a browser: the `mcp__{0}__browser_*` tools (navigate, snapshot, click, type, take a screenshot). \
         Test every feature with a page through it, as a user would: start the app with `./{1}`, open it on \
         127.0.0.1, follow the feature's steps by clicking and typing, and read the page after each step. A unit \
         test or a `curl` alone does not show that a web feature works. Take a screenshot of the result.\n",
        server.name,
        project.config().files.init.display()
    )
}

/// The prompt for a session of `kind`, with `feedback` (what the last review said) at the end.
pub fn render(project: &Project, kind: SessionKind, feedback: &[String]) -> String {
    let files = &project.config().files;
    let count = match project.config().run.feature_count {
        0 => "Write as many features as it takes to cover the spec completely; a rich spec needs many.".to_owned(),
        n => format!("Write about {n} features."),
    };
    let feedback = if feedback.is_empty() {
        String::new()
    } else {
        let items: Vec<String> = feedback.iter().map(|f| format!("- {f}")).collect();
        format!("\n## What the last review said\n\n{}\n", items.join("\n"))
    };
    template(project, kind)
        .replace("{{spec}}", &files.spec.display().to_string())
        .replace("{{features}}", &files.features.display().to_string())
        .replace("{{progress}}", &files.progress.display().to_string())
        .replace("{{init}}", &files.init.display().to_string())
        .replace("{{feature_count}}", &count)
        .replace("{{browser}}", &browser(project))
        .replace("{{feedback}}", &feedback)
}

/// The evaluator's prompt: the claims of session `session` to judge (number, feature), and the
/// session's diff (cut, with a word on how to see the rest).
pub fn render_evaluator(
    project: &Project,
    session: u32,
    claims: &[(usize, &crate::project::features::Feature)],
    diff: &str,
) -> String {
    let claims: Vec<String> = claims
        .iter()
        .map(|(n, f)| {
            let steps: Vec<String> = f.steps().enumerate().map(|(i, s)| format!("   {}. {s}", i + 1)).collect();
            format!(
                "Feature {n} ({}): {}
{}",
                f.category(),
                f.description(),
                steps.join("\n")
            )
        })
        .collect();
    let diff = if diff.trim().is_empty() {
        "(nothing: the session committed no change)".to_owned()
    } else if diff.len() > DIFF_LIMIT {
        let mut cut = DIFF_LIMIT;
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("```diff\n{}\n```\n(cut here: `git log -p` shows all of it)", &diff[..cut])
    } else {
        format!("```diff\n{}\n```", diff.trim_end())
    };
    let browser = browser(project);
    let files = &project.config().files;
    template(project, SessionKind::Evaluator)
        .replace("{{session}}", &session.to_string())
        .replace("{{claims}}", &claims.join("\n\n"))
        .replace("{{diff}}", &diff)
        .replace("{{spec}}", &files.spec.display().to_string())
        .replace("{{features}}", &files.features.display().to_string())
        .replace("{{progress}}", &files.progress.display().to_string())
        .replace("{{init}}", &files.init.display().to_string())
        .replace("{{browser_short}}", if browser.is_empty() { "" } else { ", and the browser" })
        .replace("{{browser}}", &browser)
}

/// What the next coding session should hear of the evaluation of the last one: each claim the
/// evaluator found false and flipped back, with its evidence.
pub fn evaluation_feedback(last: Option<&SessionSummary>) -> Vec<String> {
    let Some(e) = last.and_then(|s| s.evaluation.as_ref()) else { return Vec::new() };
    e.features
        .iter()
        .filter(|f| e.reverted.contains(&f.feature))
        .map(|f| {
            let found = match f.judgement {
                crate::project::evaluation::Judgement::Fail => "the evaluator tested it and it fails",
                _ => "the evaluator gave no verdict on it, so the claim does not stand",
            };
            format!(
                "Session {} marked feature {} (\"{}\") passing, but {found}: {} baton marked it failing again. Make it work, and test it the way its steps say.",
                e.session, f.feature, f.description, f.evidence.trim_end_matches('.').to_owned() + "."
            )
        })
        .collect()
}

/// What the next session should hear about the last one: a veto and its reason, guard findings,
/// a failed verify, an early end.
pub fn feedback(last: Option<&SessionSummary>) -> Vec<String> {
    let Some(s) = last else { return Vec::new() };
    let mut out = Vec::new();
    if s.verdict == Some(Verdict::Vetoed) {
        let reason = s.reason.as_deref().unwrap_or("no reason given");
        out.push(format!(
            "The operator vetoed session {}'s work: \"{reason}\". Its commits were removed, so the project is as it was before that session. Do the work again with that in mind.",
            s.number
        ));
    }
    let report = s.end.as_ref();
    for v in report.map_or(&[][..], |r| &r.violations) {
        out.push(format!(
            "Session {} changed the feature list beyond `passes` ({v}); baton reverted it. Change only `passes`.",
            s.number
        ));
    }
    if let Some(v) = report.and_then(|r| r.verify.as_ref())
        && !v.passed
        && s.verdict != Some(Verdict::Vetoed)
    {
        let tail: String =
            v.output.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        out.push(format!("The project's verify command failed after session {}. Fix that first. Its output ended with:\n```\n{tail}\n```", s.number));
    }
    match s.outcome() {
        Some(o @ (Outcome::MaxTurns | Outcome::TimedOut | Outcome::Interrupted))
            if s.verdict != Some(Verdict::Vetoed) =>
        {
            out.push(format!("Session {} ended early ({o}); its work may be unfinished. Check git status, the log and the notes before going on.", s.number));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_with_a_browser_tells_the_agent_to_test_through_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
        std::fs::write(dir.path().join("app_spec.txt"), "an app\n").unwrap();
        let without = render(&Project::open(dir.path()).unwrap(), SessionKind::Coding, &[]);
        assert!(!without.contains("browser"), "{without}");
        std::fs::write(
            dir.path().join(".baton/config.toml"),
            "[[mcp.servers]]\nname = \"playwright\"\ncommand = \"playwright-mcp\"\n",
        )
        .unwrap();
        let with = render(&Project::open(dir.path()).unwrap(), SessionKind::Coding, &[]);
        assert!(with.contains("`mcp__playwright__browser_*` tools") && with.contains("./init.sh"), "{with}");
        assert!(!with.contains("{{"), "every placeholder is filled: {with}");
    }
}
