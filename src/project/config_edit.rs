//! What baton writes into a project's `.baton/config.toml`: one line of `[policy] allow` (ask
//! mode's "allow always", leaving the operator's comments and layout as they are), and the
//! documented defaults with every setting commented out, for `baton init`.

use std::path::Path;

use super::config::{Config, ConfigError, DEFAULT_CONFIG_TOML, project_config_path};

/// Adds `programs` to `[policy] allow` in the project's `.baton/config.toml`, changing that one
/// line (or adding it) and nothing else, so the operator's comments and layout stay. The file is
/// only written when the result still parses.
pub fn allow_in_project(project_root: &Path, programs: &[String]) -> Result<(), ConfigError> {
    let path = project_config_path(project_root);
    let text = super::fsio::read_text(&path)?.unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header = lines.iter().position(|l| l.trim() == "[policy]");
    let end = |from: usize| {
        lines[from..].iter().position(|l| l.trim_start().starts_with('[')).map_or(lines.len(), |i| from + i)
    };
    let existing = header.and_then(|h| {
        (h + 1..end(h + 1)).find(|&i| {
            let t = lines[i].trim_start();
            t.starts_with("allow") && t["allow".len()..].trim_start().starts_with('=')
        })
    });
    let mut allow: Vec<String> = match existing {
        Some(i) => toml::from_str::<toml::Table>(&lines[i])
            .ok()
            .and_then(|t| t.get("allow").and_then(|a| a.as_array()).cloned())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| ConfigError::Invalid {
                path: path.clone(),
                message: format!("line {}: baton adds to `allow` only when it is written on one line", i + 1),
            })?,
        None => Vec::new(),
    };
    for p in programs {
        if !allow.contains(p) {
            allow.push(p.clone());
        }
    }
    let line = format!("allow = {}", toml::Value::Array(allow.into_iter().map(toml::Value::String).collect()));
    // Where `baton init` left it commented out: below its comment, not above.
    let commented = header.and_then(|h| {
        (h + 1..end(h + 1)).find(|&i| {
            let t = lines[i].trim_start().trim_start_matches('#').trim_start();
            t.starts_with("allow") && t["allow".len()..].trim_start().starts_with('=')
        })
    });
    match (existing, commented, header) {
        (Some(i), _, _) => lines[i] = line,
        (None, Some(c), _) => lines.insert(c + 1, line),
        (None, None, Some(h)) => lines.insert(h + 1, line),
        (None, None, None) => {
            lines.push(String::new());
            lines.push("[policy]".into());
            lines.push(line);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Config::parse(&path, &out)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ConfigError::Io { path: path.clone(), source: e })?;
    }
    std::fs::write(&path, out).map_err(|e| ConfigError::Io { path: path.clone(), source: e })
}

/// The default config with every setting commented out, for `baton init`: the operator sees every
/// key and its default, and uncomments what they want to change.
pub fn commented_defaults() -> String {
    let mut out = String::new();
    for line in DEFAULT_CONFIG_TOML.lines() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
            out.push_str(line);
        } else {
            out.push_str("# ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
