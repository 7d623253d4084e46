//! The Redis key layout of a stack.
//!
//! Everything a stack writes lives under one prefix, `wotemu:<stack>:`:
//!
//! | key | type | content |
//! | --- | --- | --- |
//! | `wotemu:<stack>:meta` | hash | `stack`, `started_at`, `stopped_at` (RFC 3339), `wotemu_version`, `engine` |
//! | `wotemu:<stack>:topology` | string | the topology text that produced the run |
//! | `wotemu:<stack>:compose` | string | the compose text (Swarm engine) |
//! | `wotemu:<stack>:tasks` | hash | task name → [`crate::task::TaskInfo`] JSON (the registry) |
//! | `wotemu:<stack>:snapshot` | hash | task name → [`crate::task::TaskSnapshot`] JSON, written at stop |
//! | `wotemu:<stack>:stream:<task>` | stream | batches of records, see [`crate::entry`] |
//! | `wotemu:<stack>:benchmark:<node>` | string | cached CPU speed calibration of a host |
//!
//! Keys are found with `SCAN … MATCH`, never `KEYS`. Stack and task names never contain `:`, `*`, `?`, `[`,
//! `]` or white space ([`check_name`]), so they need no escaping in a `MATCH` pattern.

/// The Docker secret holding a Swarm stack's Redis password.
pub const PASSWORD_SECRET: &str = "redis_password";
/// Where the password secret is in the containers that may read it (`REDIS_PASSWORD_FILE`).
pub const PASSWORD_IN_CONTAINER: &str = "/run/secrets/redis_password";
/// The label of the password secret naming the file on the manager it was made from.
pub const PASSWORD_FILE_LABEL: &str = "org.fundacionctic.wotemu.password_file";

/// The prefix every key of the 0.6 layout starts with (and the root of the new one).
pub const ROOT: &str = "wotemu";

/// Key builders for one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackKeys {
    prefix: String,
}

impl StackKeys {
    /// Keys of `stack`. The name must pass [`check_name`].
    pub fn new(stack: &str) -> Self {
        StackKeys {
            prefix: format!("{ROOT}:{stack}:"),
        }
    }

    /// `wotemu:<stack>:meta`
    pub fn meta(&self) -> String {
        format!("{}meta", self.prefix)
    }

    /// `wotemu:<stack>:topology`
    pub fn topology(&self) -> String {
        format!("{}topology", self.prefix)
    }

    /// `wotemu:<stack>:compose`
    pub fn compose(&self) -> String {
        format!("{}compose", self.prefix)
    }

    /// `wotemu:<stack>:tasks`
    pub fn tasks(&self) -> String {
        format!("{}tasks", self.prefix)
    }

    /// `wotemu:<stack>:snapshot`
    pub fn snapshot(&self) -> String {
        format!("{}snapshot", self.prefix)
    }

    /// `wotemu:<stack>:live`: a hash of running totals for live displays (`interactions`, `errors`), added
    /// to by the agents as they ship. Informational only: the dataset is built from the streams.
    pub fn live(&self) -> String {
        format!("{}live", self.prefix)
    }

    /// `wotemu:<stack>:net`: a hash, network → its gateway's state now (JSON: backend, the conditions in
    /// force, the last window's figures), rewritten by the gateway every second; for `wotemu net show`,
    /// never collected.
    pub fn net(&self) -> String {
        format!("{}net", self.prefix)
    }

    /// `wotemu:<stack>:net:<network>:set`: a list of live changes for that network's gateway (JSON
    /// conditions, `wotemu net set`), popped by the gateway; each applied change is a `timeline` event.
    pub fn net_set(&self, network: &str) -> String {
        format!("{}net:{network}:set", self.prefix)
    }

    /// `wotemu:<stack>:scenario`: a hash of the Swarm stack's scenario service's progress — `start` (µs
    /// since the epoch: the time its events count from) and a field per step done (`<event>:<occurrence>`
    /// or `…:undo`), so that a restarted service goes on where it was instead of starting again.
    pub fn scenario(&self) -> String {
        format!("{}scenario", self.prefix)
    }

    /// `wotemu:<stack>:exec:<node id>`: a list of requests of the Swarm scenario service to the executor of
    /// one host (`wotemu scenario-exec`): what to do to one of its containers (JSON).
    pub fn exec(&self, node: &str) -> String {
        format!("{}exec:{node}", self.prefix)
    }

    /// `wotemu:<stack>:exec:reply:<request id>`: a host executor's answer to one request (expires after a
    /// minute).
    pub fn exec_reply(&self, id: &str) -> String {
        format!("{}exec:reply:{id}", self.prefix)
    }

    /// `wotemu:<stack>:stream:<task>`
    pub fn stream(&self, task: &str) -> String {
        format!("{}stream:{task}", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every stream of the stack.
    pub fn stream_pattern(&self) -> String {
        format!("{}stream:*", self.prefix)
    }

    /// The task name of a stream key of this stack, if it is one.
    pub fn task_of_stream<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(&self.prefix)?.strip_prefix("stream:")
    }

    /// `wotemu:<stack>:benchmark:<node>`
    pub fn benchmark(&self, node: &str) -> String {
        format!("{}benchmark:{node}", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every key of the stack.
    pub fn all_pattern(&self) -> String {
        format!("{}*", self.prefix)
    }
}

/// Why a stack or task name cannot be used in keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("`{name}` contains `{ch}`, which is not allowed in stack and task names (use letters, digits, `_`, `-` and `.`)")]
    BadChar { name: String, ch: char },
}

/// Checks that a stack or task name can be used in keys and `MATCH` patterns.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        Some(ch) => Err(NameError::BadChar {
            name: name.to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

/// Keys of the WoTemu 0.6 layout (sorted sets, score = UNIX seconds, member = JSON).
pub mod legacy {
    /// `wotemu:snapshot`
    pub const SNAPSHOT: &str = "wotemu:snapshot";
    /// `wotemu:compose`
    pub const COMPOSE: &str = "wotemu:compose";

    /// A key of the 0.6 layout, classified.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum LegacyKey<'a> {
        /// `wotemu:system:<task>`
        System { task: &'a str },
        /// `wotemu:packet:<iface>:<task>`
        Packet { iface: &'a str, task: &'a str },
        /// `wotemu:thing:<task>`
        Thing { task: &'a str },
        /// `wotemu:info:<task>`
        Info { task: &'a str },
        /// `wotemu:app:<task>:<key>`
        App { task: &'a str, key: &'a str },
        /// `wotemu:snapshot`
        Snapshot,
        /// `wotemu:compose`
        Compose,
    }

    /// Classifies a key of the 0.6 layout; `None` for anything else.
    pub fn parse(key: &str) -> Option<LegacyKey<'_>> {
        let rest = key.strip_prefix("wotemu:")?;
        let (kind, rest) = rest.split_once(':').unwrap_or((rest, ""));
        let nonempty = |s: &'_ str| !s.is_empty();
        match kind {
            "snapshot" if rest.is_empty() => Some(LegacyKey::Snapshot),
            "compose" if rest.is_empty() => Some(LegacyKey::Compose),
            "system" if nonempty(rest) => Some(LegacyKey::System { task: rest }),
            "thing" if nonempty(rest) => Some(LegacyKey::Thing { task: rest }),
            "info" if nonempty(rest) => Some(LegacyKey::Info { task: rest }),
            "packet" => {
                let (iface, task) = rest.split_once(':')?;
                (nonempty(iface) && nonempty(task)).then_some(LegacyKey::Packet { iface, task })
            }
            "app" => {
                // Task names hold no `:`; app keys may.
                let (task, key) = rest.split_once(':')?;
                (nonempty(task) && nonempty(key)).then_some(LegacyKey::App { task, key })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::legacy::{parse, LegacyKey};
    use super::*;

    #[test]
    fn stack_keys() {
        let k = StackKeys::new("demo");
        assert_eq!(
            k.stream("demo_reader.1.abc"),
            "wotemu:demo:stream:demo_reader.1.abc"
        );
        assert_eq!(k.task_of_stream("wotemu:demo:stream:t1"), Some("t1"));
        assert_eq!(k.task_of_stream("wotemu:other:stream:t1"), None);
        assert_eq!(k.stream_pattern(), "wotemu:demo:stream:*");
    }

    #[test]
    fn names() {
        assert!(check_name("quick_start-1.2").is_ok());
        assert_eq!(check_name(""), Err(NameError::Empty));
        let e = check_name("a:b").unwrap_err();
        assert!(e.to_string().contains("contains `:`"), "{e}");
        assert!(check_name("a b").is_err());
        assert!(check_name("a*").is_err());
    }

    #[test]
    fn legacy_keys() {
        assert_eq!(
            parse("wotemu:system:s_a.1.x"),
            Some(LegacyKey::System { task: "s_a.1.x" })
        );
        assert_eq!(
            parse("wotemu:packet:eth0:s_a.1.x"),
            Some(LegacyKey::Packet {
                iface: "eth0",
                task: "s_a.1.x"
            })
        );
        assert_eq!(
            parse("wotemu:app:s_a.1.x:fps:max"),
            Some(LegacyKey::App {
                task: "s_a.1.x",
                key: "fps:max"
            })
        );
        assert_eq!(parse("wotemu:snapshot"), Some(LegacyKey::Snapshot));
        assert_eq!(parse("wotemu:compose"), Some(LegacyKey::Compose));
        assert_eq!(parse("wotemu:packet:eth0"), None);
        assert_eq!(parse("wotemu:demo:stream:x"), None);
        assert_eq!(parse("other"), None);
    }
}
