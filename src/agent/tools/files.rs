//! `read_file`, `write_file`, `edit` and `list`: file tools confined to the project directory.

use serde_json::Value;

use super::beneath::Beneath;
use super::{ToolContext, ToolOutput, required, shown};

const DEFAULT_LIMIT: usize = 2000;
const MAX_LINE: usize = 2000;

macro_rules! try_out {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(out) => return out,
        }
    };
}

/// The project, held open: what the tools read and write is opened beneath it.
fn beneath(ctx: &ToolContext) -> std::io::Result<Beneath> {
    Beneath::new(ctx.root())
}

pub fn read(input: &Value, ctx: &ToolContext) -> ToolOutput {
    let path = try_out!(required(input, "read_file", "path"));
    let full = try_out!(ctx.resolve(path));
    let bytes = match beneath(ctx).and_then(|b| b.read(&full)) {
        Ok(b) => b,
        Err(e) => return ToolOutput::error(format!("cannot read {path}: {e}")),
    };
    if bytes.contains(&0) {
        return ToolOutput::error(format!("{path} is a binary file ({} bytes)", bytes.len()));
    }
    let text = String::from_utf8_lossy(&bytes);
    let offset = input.get("offset").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
    let limit = input.get("limit").and_then(Value::as_u64).map_or(DEFAULT_LIMIT, |l| l as usize);
    let total = text.lines().count();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate().skip(offset - 1).take(limit) {
        let line: String = if line.chars().count() > MAX_LINE {
            line.chars().take(MAX_LINE).chain("… [line cut]".chars()).collect()
        } else {
            line.to_owned()
        };
        out.push_str(&format!("{:>6}\t{line}\n", i + 1));
    }
    let shown_to = (offset - 1 + limit).min(total);
    if shown_to < total {
        out.push_str(&format!("[lines {offset} to {shown_to} of {total}; read on with offset {}]\n", shown_to + 1));
    }
    if total == 0 {
        out.push_str("[the file is empty]\n");
    }
    ToolOutput::ok(out)
}

pub fn write(input: &Value, ctx: &ToolContext) -> ToolOutput {
    let path = try_out!(required(input, "write_file", "path"));
    let content = try_out!(required(input, "write_file", "content"));
    let full = try_out!(ctx.resolve(path));
    let b = match beneath(ctx) {
        Ok(b) => b,
        Err(e) => return ToolOutput::error(format!("cannot write {path}: {e}")),
    };
    let existed = b.exists(&full);
    match b.write(&full, content.as_bytes()) {
        Ok(()) => ToolOutput::ok(format!(
            "{} {} ({} lines)",
            if existed { "replaced" } else { "created" },
            shown(ctx, &full),
            content.lines().count()
        )),
        Err(e) => ToolOutput::error(format!("cannot write {path}: {e}")),
    }
}

pub fn edit(input: &Value, ctx: &ToolContext) -> ToolOutput {
    let path = try_out!(required(input, "edit", "path"));
    let old = try_out!(required(input, "edit", "old_string"));
    let new = try_out!(required(input, "edit", "new_string"));
    let all = input.get("replace_all").and_then(Value::as_bool).unwrap_or(false);
    let full = try_out!(ctx.resolve(path));
    let b = match beneath(ctx) {
        Ok(b) => b,
        Err(e) => return ToolOutput::error(format!("cannot read {path}: {e}")),
    };
    let text = match b.read(&full).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => return ToolOutput::error(format!("cannot edit {path}: it is not UTF-8 text")),
        Err(e) => return ToolOutput::error(format!("cannot read {path}: {e}")),
    };
    if old.is_empty() {
        return ToolOutput::error("old_string is empty; use write_file to create a file");
    }
    let count = text.matches(old).count();
    let replaced = match count {
        0 => {
            return ToolOutput::error(format!(
                "old_string was not found in {path}; read the file and copy the text exactly"
            ));
        }
        1 => text.replacen(old, new, 1),
        n if all => {
            let t = text.replace(old, new);
            if let Err(e) = b.write(&full, t.as_bytes()) {
                return ToolOutput::error(format!("cannot write {path}: {e}"));
            }
            return ToolOutput::ok(format!("replaced {n} occurrences in {}", shown(ctx, &full)));
        }
        n => {
            return ToolOutput::error(format!(
                "old_string occurs {n} times in {path}; give more surrounding text so it is unique, or set replace_all"
            ));
        }
    };
    match b.write(&full, replaced.as_bytes()) {
        Ok(()) => ToolOutput::ok(format!("edited {}", shown(ctx, &full))),
        Err(e) => ToolOutput::error(format!("cannot write {path}: {e}")),
    }
}

pub fn list(input: &Value, ctx: &ToolContext) -> ToolOutput {
    let path = input.get("path").and_then(Value::as_str).unwrap_or(".");
    let full = try_out!(ctx.resolve(path));
    let entries = match beneath(ctx).and_then(|b| b.read_dir(&full)) {
        Ok(e) => e,
        Err(e) => return ToolOutput::error(format!("cannot list {path}: {e}")),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != ".git")
        .map(|e| {
            let mut name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                name.push('/');
            }
            name
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return ToolOutput::ok(format!("{path} is empty"));
    }
    ToolOutput::ok(names.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    fn ctx() -> (tempfile::TempDir, ToolContext) {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ToolContext::new(dir.path(), CancellationToken::new());
        (dir, ctx)
    }

    #[test]
    fn write_read_and_edit() {
        let (dir, ctx) = ctx();
        let w = write(&json!({"path": "src/a.txt", "content": "one\ntwo\ntwo\n"}), &ctx);
        assert_eq!(w, ToolOutput::ok("created src/a.txt (3 lines)"));
        let r = read(&json!({"path": "src/a.txt", "offset": 2, "limit": 1}), &ctx);
        assert_eq!(r.output, "     2\ttwo\n[lines 2 to 2 of 3; read on with offset 3]\n");
        let e = edit(&json!({"path": "src/a.txt", "old_string": "two", "new_string": "2"}), &ctx);
        assert!(e.is_error && e.output.contains("occurs 2 times"), "{e:?}");
        let e = edit(&json!({"path": "src/a.txt", "old_string": "one", "new_string": "1"}), &ctx);
        assert!(!e.is_error, "{e:?}");
        let e = edit(&json!({"path": "src/a.txt", "old_string": "two", "new_string": "2", "replace_all": true}), &ctx);
        assert!(!e.is_error, "{e:?}");
        assert_eq!(std::fs::read_to_string(dir.path().join("src/a.txt")).unwrap(), "1\n2\n2\n");
        let e = edit(&json!({"path": "src/a.txt", "old_string": "zzz", "new_string": "2"}), &ctx);
        assert!(e.is_error && e.output.contains("not found"));
        assert_eq!(list(&json!({}), &ctx).output, "src/\n");
    }

    #[test]
    fn paths_outside_the_project_are_refused() {
        let (dir, ctx) = ctx();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc-link")).unwrap();
        for path in ["../../etc/passwd", "/etc/passwd", "etc-link/passwd"] {
            let r = read(&json!({"path": path}), &ctx);
            assert!(r.is_error && r.output.starts_with("refused:"), "{path}: {r:?}");
            let w = write(&json!({"path": path, "content": "x"}), &ctx);
            assert!(w.is_error && w.output.starts_with("refused:"), "{path}: {w:?}");
        }
        let l = list(&json!({"path": ".."}), &ctx);
        assert!(l.is_error);
    }
}
