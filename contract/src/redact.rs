//! Keeps secrets out of Redis, the dataset and the report.
//!
//! Environment values whose names look secret are replaced by [`REDACTED`] before they leave the node. A name
//! looks secret when one of its `_`/`-`/`.`-separated words (case-insensitive) is one of [`SECRET_WORDS`], or
//! when it contains one of [`SECRET_PARTS`] anywhere (e.g. `DB_PASSWD`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`).
//! URLs with a password (`redis://:pw@host`) have the password replaced too.

use std::collections::BTreeMap;

/// The text that replaces a secret value.
pub const REDACTED: &str = "<redacted>";

/// Words that make an environment variable name secret.
pub const SECRET_WORDS: &[&str] = &[
    "key",
    "pass",
    "pwd",
    "auth",
    "cred",
    "credentials",
    "cookie",
    "session",
    "private",
    "cert",
];

/// Fragments that make a name secret wherever they appear.
pub const SECRET_PARTS: &[&str] = &[
    "secret",
    "token",
    "passw",
    "passwd",
    "apikey",
    "api_key",
    "signature",
];

/// Whether an environment variable name looks secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARTS.iter().any(|p| lower.contains(p))
        || lower
            .split(['_', '-', '.'])
            .any(|w| SECRET_WORDS.contains(&w))
}

/// `url` with `password` in it (`redis://host` → `redis://:password@host`), unless it already has
/// credentials. The password must be URL-safe (wotemu's are alphanumeric).
pub fn with_password(url: &str, password: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if rest[..authority_end].contains('@') || password.is_empty() {
        return url.to_owned();
    }
    format!("{}:{password}@{rest}", &url[..scheme_end + 3])
}

/// Replaces the password of a URL (`scheme://user:password@host…`) by [`REDACTED`].
pub fn redact_url(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_owned();
    };
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:{REDACTED}{}",
                &value[..scheme_end + 3],
                &authority[..colon],
                &rest[at..]
            ),
            None => value.to_owned(),
        },
        None => value.to_owned(),
    }
}

/// Redacts one environment value given its name.
pub fn redact_value(name: &str, value: &str) -> String {
    if is_secret_name(name) {
        REDACTED.to_owned()
    } else {
        redact_url(value)
    }
}

/// Redacts a whole environment.
pub fn redact_env<'a, I>(env: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    env.into_iter()
        .map(|(k, v)| (k.to_owned(), redact_value(k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for n in [
            "API_KEY",
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "MY_PASSWD",
            "auth",
            "SSL_CERT",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "PORT_HTTP",
            "REDIS_URL",
            "TARGET_CPU_SPEED",
            "KEYBOARD_LAYOUT",
            "HOSTNAME",
            "PATH",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            redact_url("redis://:hunter2@redis:6379/0"),
            "redis://:<redacted>@redis:6379/0"
        );
        assert_eq!(redact_url("mqtt://u:p@b/x@y"), "mqtt://u:<redacted>@b/x@y");
        assert_eq!(redact_url("redis://redis"), "redis://redis");
        assert_eq!(redact_url("plain"), "plain");
        let env = redact_env([
            ("REDIS_URL", "redis://:pw@r"),
            ("API_TOKEN", "abc"),
            ("A", "b"),
        ]);
        assert_eq!(env["REDIS_URL"], "redis://:<redacted>@r");
        assert_eq!(env["API_TOKEN"], REDACTED);
        assert_eq!(env["A"], "b");
    }
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn a_password_goes_into_a_url_without_credentials_only() {
        assert_eq!(with_password("redis://redis", "pw"), "redis://:pw@redis");
        assert_eq!(
            with_password("redis://127.0.0.1:6379/0", "pw"),
            "redis://:pw@127.0.0.1:6379/0"
        );
        assert_eq!(with_password("redis://:x@redis", "pw"), "redis://:x@redis");
        assert_eq!(
            with_password("unix:///run/r.sock", ""),
            "unix:///run/r.sock"
        );
        assert!(!redact_url(&with_password("redis://redis", "hunter2")).contains("hunter2"));
    }
}
