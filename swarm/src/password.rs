//! The stack's Redis password: a random secret per compose file, in a file beside it (mode 0600) that the
//! compose file turns into a Docker secret; `wotemu stop` reads it back from the compose file, and
//! `wotemu report --stack` / `wotemu collect --stack` from the label of the stack's secret, which names the
//! file. It never goes into an environment variable, a command line, a log, the dataset or the report.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::Error;

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

/// The password file of a compose file: `<name up to its first dot>.redis-password` beside it, so that the
/// compose files of one topology (`quickstart.yml` from `quickstart.py`, `quickstart.compose.yml` from
/// `quickstart.yml`) share one.
pub fn file_beside(compose: &Path) -> PathBuf {
    let name = compose
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = match name.split('.').next() {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "stack".to_owned(),
    };
    compose.with_file_name(format!("{stem}.redis-password"))
}

/// Makes the password file when it does not exist yet (32 random alphanumeric characters, mode 0600); an
/// existing one is kept, so composing again keeps the deployed stack's password.
pub fn ensure(path: &Path) -> Result<(), Error> {
    if path.exists() {
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(io("reading /dev/urandom".into()))?;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let pw: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("creating {}", path.display())))?;
    f.write_all(pw.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io(format!("writing {}", path.display())))
}

/// Reads a password file.
pub fn read(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(io(format!(
        "reading the stack's Redis password from {}",
        path.display()
    )))?;
    Ok(text.trim().to_owned())
}

/// The password file a compose file names (`secrets.redis_password.file`, relative to the compose file).
pub fn file_of_compose(compose_path: &Path, compose_text: &str) -> Option<PathBuf> {
    let doc: serde_json::Value = serde_yaml::from_str(compose_text).ok()?;
    let file = doc
        .pointer("/secrets/redis_password/file")
        .and_then(|v| v.as_str())?;
    let base = compose_path.parent().unwrap_or(Path::new("."));
    Some(base.join(file))
}

/// The password of a deployed stack, from the label of its secret (the file it was made from, on this
/// manager). `None` when the stack has no password secret (composed by an older wotemu).
pub fn of_stack(stack: &str) -> Result<Option<String>, Error> {
    let (rt, docker, _) = crate::engine::engine()?;
    let filters = crate::engine::label_filter(crate::engine::STACK_LABEL, stack);
    let secrets = rt
        .block_on(
            docker.list_secrets(Some(
                bollard::query_parameters::ListSecretsOptionsBuilder::new()
                    .filters(&filters)
                    .build(),
            )),
        )
        .map_err(|e| Error::Docker {
            what: format!("listing the secrets of stack `{stack}`"),
            message: e.to_string(),
        })?;
    let file = secrets.iter().find_map(|s| {
        s.spec
            .as_ref()?
            .labels
            .as_ref()?
            .get(wotemu_contract::keys::PASSWORD_FILE_LABEL)
            .cloned()
    });
    match file {
        Some(f) => read(Path::new(&f)).map(Some),
        None => Ok(None),
    }
}

/// The URL of a Swarm stack's Redis with its password, when the stack has one and the URL none (a URL that
/// names a password, or is not `redis://`, is used as it is).
pub fn stack_redis_url(url: &str, stack: &str) -> String {
    if !url.starts_with("redis://") || url.contains('@') {
        return url.to_owned();
    }
    match of_stack(stack) {
        Ok(Some(p)) => wotemu_contract::redact::with_password(url, &p),
        Ok(None) => url.to_owned(),
        Err(e) => {
            tracing::debug!(error = %e, "The stack's password was not looked up.");
            url.to_owned()
        }
    }
}

/// The stack's Redis URL for `wotemu stop`: with the password of the file its compose file names (the
/// compose file at `compose_path` with the text `compose_text`), else of its deployed secret, else `url` as
/// it is.
pub fn stop_redis_url(
    url: &str,
    stack: &str,
    compose: Option<(&Path, &str)>,
) -> Result<String, Error> {
    if let Some(file) = compose.and_then(|(path, text)| file_of_compose(path, text)) {
        let p = read(&file)?;
        return Ok(wotemu_contract::redact::with_password(url, &p));
    }
    Ok(stack_redis_url(url, stack))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_is_made_once_private_and_found_from_the_compose_file() {
        let d = tempfile::tempdir().unwrap();
        let compose = d.path().join("quickstart.compose.yml");
        let f = file_beside(&compose);
        assert_eq!(f, d.path().join("quickstart.redis-password"));
        ensure(&f).unwrap();
        let pw = read(&f).unwrap();
        assert_eq!(pw.len(), 32);
        assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        ensure(&f).unwrap();
        assert_eq!(read(&f).unwrap(), pw, "kept when composing again");
        let text = "secrets:\n  redis_password:\n    file: ./quickstart.redis-password\n";
        assert_eq!(
            file_of_compose(&compose, text).unwrap(),
            d.path().join("./quickstart.redis-password")
        );
    }
}
