//! `glob` and `grep`: finding files and text in the project, skipping what git ignores.

use std::fmt::Write as _;
use std::io::BufRead;

use serde_json::Value;

use super::{ToolContext, ToolOutput, required, shown};

const MAX_FILES: usize = 1000;
const MAX_MATCHES: usize = 500;

fn walker(from: &std::path::Path) -> ignore::Walk {
    ignore::WalkBuilder::new(from).hidden(false).filter_entry(|e| e.file_name() != ".git").require_git(false).build()
}

fn matcher(pattern: &str) -> Result<globset::GlobMatcher, ToolOutput> {
    globset::Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| ToolOutput::error(format!("bad glob `{pattern}`: {e}")))
}

pub fn glob(input: &Value, ctx: &ToolContext) -> ToolOutput {
    let pattern = match required(input, "glob", "pattern") {
        Ok(p) => p,
        Err(e) => return e,
    };
    let m = match matcher(pattern) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let mut found = Vec::new();
    for entry in walker(ctx.root()).filter_map(Result::ok) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = shown(ctx, entry.path());
        if m.is_match(&rel) {
            found.push(rel);
        }
    }
    found.sort();
    let total = found.len();
    found.truncate(MAX_FILES);
    let mut out = found.join("\n");
    if total == 0 {
        out = format!("no file matches {pattern}");
    } else if total > MAX_FILES {
        let _ = write!(out, "\n[{} more not shown]", total - MAX_FILES);
    }
    ToolOutput::ok(out)
}

pub fn grep(input: &Value, ctx: &ToolContext) -> ToolOutput {
    let pattern = match required(input, "grep", "pattern") {
        Ok(p) => p,
        Err(e) => return e,
    };
    let insensitive = input.get("case_insensitive").and_then(Value::as_bool).unwrap_or(false);
    let re = match regex::RegexBuilder::new(pattern).case_insensitive(insensitive).build() {
        Ok(r) => r,
        Err(e) => return ToolOutput::error(format!("bad regular expression: {e}")),
    };
    let from = match input.get("path").and_then(Value::as_str) {
        Some(p) => match ctx.resolve(p) {
            Ok(full) => full,
            Err(e) => return e,
        },
        None => ctx.root().to_owned(),
    };
    let only = match input.get("glob").and_then(Value::as_str).map(matcher).transpose() {
        Ok(m) => m,
        Err(e) => return e,
    };
    let mut out = String::new();
    let mut count = 0;
    for entry in walker(&from).filter_map(Result::ok) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = shown(ctx, entry.path());
        if only.as_ref().is_some_and(|m| !m.is_match(&rel)) {
            continue;
        }
        let Ok(file) = std::fs::File::open(entry.path()) else {
            continue;
        };
        for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
            let Ok(line) = line else { break };
            if line.contains(&0) {
                break; // binary
            }
            let line = String::from_utf8_lossy(&line);
            if re.is_match(&line) {
                count += 1;
                if count <= MAX_MATCHES {
                    let text: String = line.chars().take(300).collect();
                    let _ = writeln!(out, "{rel}:{}:{text}", i + 1);
                }
            }
        }
    }
    if count == 0 {
        return ToolOutput::ok(format!("no match for {pattern}"));
    }
    if count > MAX_MATCHES {
        let _ = writeln!(out, "[{} more matches not shown]", count - MAX_MATCHES);
    }
    ToolOutput::ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn glob_and_grep_skip_ignored_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(root.join("src/deep/a.rs"), "fn main() {}\n// TODO: more\n").unwrap();
        std::fs::write(root.join("src/b.txt"), "todo later\n").unwrap();
        std::fs::write(root.join("target/c.rs"), "TODO ignored\n").unwrap();
        let ctx = ToolContext::new(root, CancellationToken::new());
        assert_eq!(glob(&json!({"pattern": "**/*.rs"}), &ctx).output, "src/deep/a.rs");
        let g = grep(&json!({"pattern": "todo", "case_insensitive": true}), &ctx);
        let mut lines: Vec<&str> = g.output.lines().collect();
        lines.sort();
        assert_eq!(lines, ["src/b.txt:1:todo later", "src/deep/a.rs:2:// TODO: more"]);
        let g = grep(&json!({"pattern": "TODO", "glob": "*.txt"}), &ctx);
        assert_eq!(g.output, "no match for TODO");
        assert!(grep(&json!({"pattern": "x", "path": "/etc"}), &ctx).is_error);
    }
}
