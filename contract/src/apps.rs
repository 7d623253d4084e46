//! The builtin apps: the one list that topology validation, compose, the Python topology shim
//! (`wotemu.enums.BuiltinApps`) and the agent (`wotemu_agent.BUILTINS`) all read.
//!
//! A builtin is named in a topology by its short name (`reader`) or by WoTemu 0.6's path (`wotemu_reader`).
//! Each must have a module `wotemu_agent.apps.<name>` in the agent's Python package; the agent's tests load
//! every one of them with `wotemu agent --dry-run`.

/// A builtin app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Builtin {
    /// Short name, also the agent's module name (`wotemu_agent.apps.<name>`).
    pub name: &'static str,
    /// What it does, one line (for hints and `wotemu topology show`).
    pub summary: &'static str,
    /// Whether this version ships it (WoTemu 0.6 had it; validation rejects the ones not shipped yet).
    pub available: bool,
}

impl Builtin {
    /// The `--path` value WoTemu 0.6 used (`wotemu_reader`).
    pub fn path(self) -> String {
        format!("wotemu_{}", self.name)
    }

    /// The `wotemu.enums.BuiltinApps` member name (`READER`).
    pub fn enum_name(self) -> String {
        self.name.to_ascii_uppercase()
    }
}

/// Every builtin app, in WoTemu 0.6's order.
pub const BUILTINS: [Builtin; 9] = [
    Builtin {
        name: "clock",
        summary: "exposes a clock thing: a time property and a tick event",
        available: true,
    },
    Builtin {
        name: "error",
        summary: "raises an error after start (to test failures)",
        available: true,
    },
    Builtin {
        name: "reader",
        summary: "reads every property of `thing_id` at `servient_host` periodically",
        available: true,
    },
    Builtin {
        name: "subscriber",
        summary: "subscribes to every event of `thing_id` at `servient_host`",
        available: true,
    },
    Builtin {
        name: "worker",
        summary: "exposes an action that does CPU work",
        available: true,
    },
    Builtin {
        name: "caller",
        summary: "invokes the worker's action periodically",
        available: true,
    },
    Builtin {
        name: "mongo_historian",
        summary: "stores the property values of observed things (in SQLite) and answers queries over them",
        available: true,
    },
    Builtin {
        name: "camera",
        summary: "a mock video camera: JPEG frames as events on motion, a PTZ action",
        available: true,
    },
    Builtin {
        name: "detector",
        summary: "face detection on the frames of cameras, moves their PTZ",
        available: true,
    },
];

/// The builtins this version ships.
pub fn available() -> impl Iterator<Item = Builtin> {
    BUILTINS.into_iter().filter(|b| b.available)
}

/// The builtin named `name` or `wotemu_<name>` (any case).
pub fn builtin(name: &str) -> Option<Builtin> {
    let k = name.trim().to_ascii_lowercase();
    let k = k.strip_prefix("wotemu_").unwrap_or(&k);
    BUILTINS.into_iter().find(|b| b.name == k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_resolve() {
        assert_eq!(BUILTINS.len(), 9);
        for b in BUILTINS {
            assert_eq!(builtin(b.name), Some(b));
            assert_eq!(builtin(&b.path()), Some(b));
            assert_eq!(builtin(&b.enum_name()), Some(b));
        }
        assert_eq!(builtin("wotemu_nothing"), None);
    }
}
