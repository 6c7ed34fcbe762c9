//! Reading and writing the files baton keeps, safely: a read never hangs on a FIFO, a socket or a
//! device standing where a file should be, and says what is wrong with a file (a byte-order mark,
//! bytes that are not UTF-8) by its name and line; a write never leaves half a file behind.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a file baton reads could not be read as one.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: it is {what}, not a file; baton reads only a plain file there", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{}: the file starts with a byte-order mark; save it as UTF-8 without one", path.display())]
    ByteOrderMark { path: PathBuf },
    #[error("{}:{line}:{column}: the bytes here are not UTF-8; save the file as UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: usize, column: usize },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl ReadError {
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotAFile { path, .. }
            | ReadError::ByteOrderMark { path }
            | ReadError::NotUtf8 { path, .. }
            | ReadError::Io { path, .. } => path,
        }
    }
}

/// Opens `path` (following symlinks) only if it is a plain file, without ever blocking: a FIFO
/// is opened non-blocking and refused, so is a socket, a device or a directory. `options` says how
/// (read, append, create); `None` when there is no such file.
pub fn open_plain(path: &Path, options: &mut fs::OpenOptions) -> Result<Option<fs::File>, ReadError> {
    let io = |source| ReadError::Io { path: path.to_owned(), source };
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer. O_NOCTTY: a terminal device
    // must not become ours.
    let file = match options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
            return Err(ReadError::NotAFile { path: path.to_owned(), what: "a directory" });
        }
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            // A socket, or a FIFO opened for writing with no reader.
            let what = fs::metadata(path).map_or("not a plain file", |m| super::features::file_kind(&m.file_type()));
            return Err(ReadError::NotAFile { path: path.to_owned(), what });
        }
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile { path: path.to_owned(), what: super::features::file_kind(&meta.file_type()) });
    }
    Ok(Some(file))
}

/// The bytes of the plain file at `path`; `None` when there is none.
pub fn read_plain(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    let Some(mut file) = open_plain(path, fs::OpenOptions::new().read(true))? else { return Ok(None) };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|source| ReadError::Io { path: path.to_owned(), source })?;
    Ok(Some(bytes))
}

/// The text of the plain file at `path`, which must be UTF-8 without a byte-order mark; `None`
/// when there is no such file.
pub fn read_text(path: &Path) -> Result<Option<String>, ReadError> {
    let Some(bytes) = read_plain(path)? else { return Ok(None) };
    text_of(path, bytes).map(Some)
}

/// `bytes`, read from `path`, as text: UTF-8 without a byte-order mark, or an error that says
/// which, and where.
pub fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String, ReadError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(ReadError::ByteOrderMark { path: path.to_owned() });
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        ReadError::NotUtf8 { path: path.to_owned(), line, column }
    })
}

/// Replaces `path` with `bytes` atomically: the bytes go to a temporary file in the same directory,
/// which is fsynced and then renamed over the target. A reader sees the old file or the new one,
/// never a mix; a crash leaves the old file intact. The target's permissions are kept.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".baton-tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // A new file gets the usual 0644, not the temp file's private 0600.
    let perms = match fs::metadata(path) {
        Ok(meta) => meta.permissions(),
        Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
    };
    tmp.as_file().set_permissions(perms)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable only once the directory is synced.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo has no other effect.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    #[test]
    fn a_fifo_a_directory_a_socket_or_a_device_is_refused_at_once_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("config.toml");
        fifo(&pipe);
        let started = std::time::Instant::now();
        let e = read_text(&pipe).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            e.to_string(),
            format!("{}: it is a FIFO, not a file; baton reads only a plain file there", pipe.display())
        );
        // Opened for appending, too (a journal).
        let e = open_plain(&pipe, fs::OpenOptions::new().read(true).append(true).create(true)).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        assert!(read_text(&sub).unwrap_err().to_string().contains("it is a directory"));
        let sock = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(read_text(&sock).unwrap_err().to_string().contains("it is a socket"));
        let dev = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &dev).unwrap();
        assert!(read_text(&dev).unwrap_err().to_string().contains("it is a device"));
        assert!(read_text(&dir.path().join("missing")).unwrap().is_none());
    }

    #[test]
    fn a_byte_order_mark_and_bytes_that_are_not_utf8_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feature_list.json");
        fs::write(&path, b"\xEF\xBB\xBF[]\n").unwrap();
        assert!(matches!(read_text(&path), Err(ReadError::ByteOrderMark { .. })));
        fs::write(&path, b"[\n  \"caf\xC3\xA9 \xFF\"\n]\n").unwrap();
        let e = read_text(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:2:9: the bytes here are not UTF-8; save the file as UTF-8", path.display())
        );
        fs::write(&path, "[]\n").unwrap();
        assert_eq!(read_text(&path).unwrap().as_deref(), Some("[]\n"));
    }

    #[test]
    fn atomic_write_replaces_content_and_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("init.sh");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        atomic_write(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
