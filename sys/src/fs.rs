//! Durable file operations: write to a temporary file, fsync, rename over the target, fsync the directory.
//! After [`write_atomic`] returns, the file is either the old one or the complete new one, even across a
//! crash or a power loss; a reader never sees a half-written file. Also [`relative_path`], the link from one
//! folder to another (compose files to app files, a comparison to each run's report).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` durably and atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        // Leave no temporary file behind (a full disk, say); the target is untouched.
        if let Err(rm) = std::fs::remove_file(&tmp) {
            tracing::debug!(path = %tmp.display(), error = %rm, "Could not remove a temporary file.");
        }
        return Err(e);
    }
    commit(&tmp, path)
}

/// Writes `bytes` to `path` atomically against a crash of this process, without fsync (a power loss may
/// lose the new content, never mix the two): for frequently rewritten small files — sequence numbers,
/// ready and status files — on tmpfs or where durability across a power loss is not needed.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    if let Err(e) = std::fs::write(&tmp, bytes) {
        if let Err(rm) = std::fs::remove_file(&tmp) {
            tracing::debug!(path = %tmp.display(), error = %rm, "Could not remove a temporary file.");
        }
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

/// Renames a finished, already fsynced temporary file over its target, then syncs the directory.
pub fn commit(tmp: &Path, path: &Path) -> io::Result<()> {
    std::fs::rename(tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// The temporary name used while `path` is being written (`<name>.tmp` beside it).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// fsyncs a directory so that renames inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// `to` as a path relative to `from` (both absolute), `.` when they are the same directory.
pub fn relative_path(from: &Path, to: &Path) -> String {
    let norm = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                std::path::Component::Normal(s) => v.push(s.to_string_lossy().into_owned()),
                std::path::Component::ParentDir => {
                    v.pop();
                }
                _ => {}
            }
        }
        v
    };
    let (f, t) = (norm(from), norm(to));
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(t[common..].iter().cloned());
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_directories() {
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/b")), ".");
        assert_eq!(
            relative_path(Path::new("/a/b"), Path::new("/a/c/d")),
            "../c/d"
        );
        assert_eq!(relative_path(Path::new("/a/b/c"), Path::new("/a")), "../..");
        assert_eq!(relative_path(Path::new("/"), Path::new("/x")), "x");
    }

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        replace(&p, b"three").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert!(!tmp_path(&p).exists());
        // A target whose folder is missing fails and leaves nothing.
        let q = d.path().join("missing/x");
        assert!(write_atomic(&q, b"x").is_err());
        assert!(!q.exists());
    }
}
