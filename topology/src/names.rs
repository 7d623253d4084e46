//! Name normalisation as WoTemu 0.6 does it, and the rules a name must pass afterwards.
//!
//! 0.6 passes every node, network, broker and service name through `inflection.underscore`: `CamelCase`
//! becomes `camel_case`, hyphens become underscores, everything is lower-cased. It did not check the result,
//! so `Factory LAN` became `factory lan`, which Docker rejects at deploy time. wotemu normalises the same way
//! and then requires `[a-z0-9][a-z0-9_]*` (at most [`MAX_LEN`] characters): the name is used as a Swarm
//! service name, a network name, and in DNS names such as `server.3g`.

/// The longest name accepted (Docker allows 63 characters for a service name including the stack prefix).
pub const MAX_LEN: usize = 40;

/// `inflection.underscore` of Python's `inflection` package.
pub fn underscore(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next = chars.get(i + 1).copied();
            // ([A-Z]+)([A-Z][a-z]) → \1_\2 ; ([a-z\d])([A-Z]) → \1_\2
            let acronym_end =
                prev.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase());
            let word_start = prev.is_ascii_lowercase() || prev.is_ascii_digit();
            if acronym_end || word_start {
                out.push('_');
            }
        }
        out.push(if c == '-' {
            '_'
        } else {
            c.to_ascii_lowercase()
        });
    }
    out
}

/// Why a normalised name cannot be used.
pub fn check(normalised: &str) -> Result<(), String> {
    if normalised.is_empty() {
        return Err("the name is empty".into());
    }
    if normalised.len() > MAX_LEN {
        return Err(format!("the name is longer than {MAX_LEN} characters"));
    }
    if let Some(bad) = normalised
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "it contains {bad:?}; after normalisation a name may only hold a-z, 0-9 and _"
        ));
    }
    if normalised.starts_with('_') {
        return Err("it starts with `_`".into());
    }
    Ok(())
}

/// A name suggestion for a name that fails [`check`].
pub fn suggest(normalised: &str) -> String {
    let mut s: String = normalised
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() {
        "node_1".into()
    } else {
        s.chars().take(MAX_LEN).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscore_matches_inflection() {
        assert_eq!(underscore("DeviceType"), "device_type");
        assert_eq!(underscore("IOError"), "io_error");
        assert_eq!(underscore("HTTPServer2"), "http_server2");
        assert_eq!(underscore("my-node"), "my_node");
        assert_eq!(underscore("Factory LAN"), "factory lan");
        assert_eq!(underscore("3g"), "3g");
        assert_eq!(underscore("server"), "server");
        assert_eq!(underscore("node2Reader"), "node2_reader");
    }

    #[test]
    fn check_rejects_what_docker_rejects() {
        assert!(check("factory_lan").is_ok());
        assert!(check("3g").is_ok());
        assert!(check("factory lan").unwrap_err().contains("' '"));
        assert!(check("a.b").is_err());
        assert!(check("").is_err());
        assert!(check("_x").is_err());
        assert_eq!(suggest("factory lan"), "factory_lan");
    }
}
