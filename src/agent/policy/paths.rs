//! Where a path really points: folded, symlinks followed, and judged against the project, the
//! writable places outside it and the hidden ones.

use std::path::{Component, Path, PathBuf};

use super::Policy;

/// `~` or `~/rest` against `home`; other paths as they are. `None` for a `~` with no home.
pub fn expand_home(path: &str, home: Option<&Path>) -> Option<PathBuf> {
    match path.strip_prefix('~') {
        Some("") => home.map(Path::to_owned),
        Some(rest) if rest.starts_with('/') => home.map(|h| h.join(rest.trim_start_matches('/'))),
        Some(_) => None,
        None => Some(PathBuf::from(path)),
    }
}

/// Folds `.` and `..` out of an absolute path, without touching the file system.
pub(super) fn fold(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Resolves `path` against `root` and returns it if it stays inside `root`: after `..` and `.` are
/// folded away, and after any symlink along the existing part of the path is followed. `root`
/// should be canonical.
pub fn confine(root: &Path, path: &Path) -> Option<PathBuf> {
    let joined = if path.is_absolute() { path.to_owned() } else { root.join(path) };
    let mut normal = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                if !normal.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    if !normal.starts_with(root) {
        return None;
    }
    let real = real_path(&normal);
    real.starts_with(root).then_some(real)
}

/// `path` with the symlinks along its existing part followed.
fn real_path(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut real) => {
                for part in rest.iter().rev() {
                    real.push(part);
                }
                return real;
            }
            Err(_) => match (existing.file_name(), existing.parent()) {
                (Some(name), Some(parent)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return path.to_owned(),
            },
        }
    }
}

impl Policy {
    /// A reason to refuse writing `path` (absolute, folded), if there is one.
    pub(super) fn refuse_write(&self, shown: &str, path: &Path) -> Option<String> {
        let dev = ["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"];
        if dev.iter().any(|d| path == Path::new(d)) || path.starts_with("/dev/fd") {
            return None;
        }
        if let Some(real) = confine(&self.root, path) {
            if self.read_only {
                return Some(format!("`{shown}` is in the project: {}", super::READ_ONLY));
            }
            if real.starts_with(self.root.join(".git")) {
                return Some(format!(
                    "`{shown}` is inside the repository's own files (.git): change them with git commands, not by writing them"
                ));
            }
            if real.starts_with(self.root.join(".baton")) {
                return Some(format!(
                    "`{shown}` is baton's own state (.baton): its journal, settings and prompts are the operator's, and read-only to agents"
                ));
            }
            return None;
        }
        if self.writable.iter().any(|w| confine(w, path).is_some()) {
            return None;
        }
        Some(format!("`{shown}` is outside the project ({}); agents write only inside it", self.root.display()))
    }

    /// The hidden path `path` reaches, if any: `path` lies inside it, or (when the command reads
    /// whole trees) contains it. Components with glob characters match as globs.
    pub(super) fn hidden_reach(&self, path: &Path, recursive: bool) -> Option<&Path> {
        let forms = [path.to_owned(), real_path(path)];
        self.hidden.iter().map(PathBuf::as_path).find(|hidden| {
            let h: Vec<_> = hidden.components().collect();
            forms.iter().any(|form| {
                let p: Vec<_> = form.components().collect();
                let n = p.len().min(h.len());
                let prefix_matches = p[..n].iter().zip(&h[..n]).all(|(pc, hc)| component_matches(pc, hc));
                prefix_matches && (p.len() >= h.len() || recursive)
            })
        })
    }
}

fn component_matches(pattern: &Component, name: &Component) -> bool {
    let (p, n) = (pattern.as_os_str().to_string_lossy(), name.as_os_str().to_string_lossy());
    if p == n {
        return true;
    }
    if !p.contains(['*', '?', '[']) {
        return false;
    }
    globset::Glob::new(&p).map(|g| g.compile_matcher().is_match(n.as_ref())).unwrap_or(true)
}
