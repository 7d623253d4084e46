//! Where a Swarm stack's services may run: Docker's placement constraints and spread preferences, checked
//! as the Swarm manager would check them, so a typo is an error at its line instead of a service whose tasks
//! stay pending forever.
//!
//! Grammar (swarmkit's `constraint` package): `<attribute> (==|!=) <value>`, where the attribute is
//! `node.id`, `node.hostname`, `node.ip`, `node.role` (`manager` or `worker`), `node.platform.os`,
//! `node.platform.arch`, `node.labels.<label>` or `engine.labels.<label>`; a spread preference names a
//! `node.labels.<label>` or `engine.labels.<label>`.

use serde::Serialize;
use serde_json::{json, Value};

/// The Swarm node label `wotemu swarm up` gives each host (`manager`, `worker-1`, …); `placement: {host: H}`
/// is the constraint `node.labels.wotemu.host == H`.
pub const HOST_LABEL: &str = "wotemu.host";

/// Where a service's tasks may run (empty: anywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Constraints as Docker writes them (`node.labels.wotemu.host == worker-1`), normalised to single spaces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Spread preferences: the label each one spreads the tasks over (`node.labels.zone`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<String>,
}

impl Placement {
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty() && self.spread.is_empty()
    }

    /// The compose file's `deploy.placement`.
    pub fn to_compose(&self) -> Value {
        let mut p = json!({});
        if !self.constraints.is_empty() {
            p["constraints"] = json!(self.constraints);
        }
        if !self.spread.is_empty() {
            p["preferences"] =
                Value::Array(self.spread.iter().map(|s| json!({ "spread": s })).collect());
        }
        p
    }
}

/// The constraint `placement: {host: H}` stands for.
pub fn host_constraint(host: &str) -> Result<String, Bad> {
    let h = host.trim();
    if h.is_empty() {
        return Err(Bad::new(
            "`host` is empty",
            "name a host as `wotemu swarm up` labels them: `manager`, `worker-1`, …",
        ));
    }
    if !is_value(h) {
        return Err(Bad::new(
            format!("`{h}` is not a host label value"),
            "a host is named by letters, digits and `-_.:`, e.g. `worker-1`",
        ));
    }
    Ok(format!("node.labels.{HOST_LABEL} == {h}"))
}

/// Why a constraint or preference is refused, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub message: String,
    pub hint: String,
}

impl Bad {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Bad {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

const ATTRIBUTES: [&str; 6] = [
    "node.id",
    "node.hostname",
    "node.ip",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
];
const EXAMPLES: &str =
    "write `<attribute> == <value>` or `!=`, e.g. `node.labels.wotemu.host == worker-1` or `node.role == manager`";

/// A constraint checked and normalised (`node.role==worker` → `node.role == worker`).
pub fn constraint(text: &str) -> Result<String, Bad> {
    let t = text.trim();
    let (op, at) = match (t.find("=="), t.find("!=")) {
        (Some(a), Some(b)) => {
            if a < b {
                ("==", a)
            } else {
                ("!=", b)
            }
        }
        (Some(a), None) => ("==", a),
        (None, Some(b)) => ("!=", b),
        (None, None) => {
            return Err(Bad::new(
                format!("`{t}` is not a placement constraint (no `==` or `!=`)"),
                EXAMPLES,
            ))
        }
    };
    let key = t[..at].trim();
    let value = t[at + 2..].trim();
    if value.contains("==") || value.contains("!=") {
        return Err(Bad::new(
            format!("`{t}` has more than one operator"),
            "one constraint compares one attribute; list several constraints for several conditions",
        ));
    }
    attribute(key, t)?;
    if value.is_empty() || !is_value(value) {
        return Err(Bad::new(
            format!("`{t}`: `{value}` is not a value Docker accepts"),
            "a value is letters, digits, spaces and `-_.:*()?+[]\\^$|/`",
        ));
    }
    if key.eq_ignore_ascii_case("node.role")
        && !["manager", "worker"]
            .iter()
            .any(|r| value.eq_ignore_ascii_case(r))
    {
        return Err(Bad::new(
            format!("`{t}`: a node's role is `manager` or `worker`, not `{value}`"),
            "write `node.role == manager` or `node.role == worker`",
        ));
    }
    Ok(format!("{key} {op} {value}"))
}

/// A spread preference's label, checked.
pub fn spread(text: &str) -> Result<String, Bad> {
    let t = text.trim();
    match label_of(t) {
        Some(l) if is_label(l) => Ok(t.to_owned()),
        _ => Err(Bad::new(
            format!("`{t}` cannot be spread over"),
            "Docker spreads tasks over a label's values: `node.labels.<label>` or `engine.labels.<label>`, e.g. `node.labels.wotemu.host`",
        )),
    }
}

fn attribute(key: &str, whole: &str) -> Result<(), Bad> {
    if ATTRIBUTES.iter().any(|a| key.eq_ignore_ascii_case(a)) {
        return Ok(());
    }
    match label_of(key) {
        Some(l) if is_label(l) => Ok(()),
        Some(_) => Err(Bad::new(
            format!("`{whole}`: `{key}` names no label"),
            "a label is letters, digits and `-_.`, e.g. `node.labels.wotemu.host`",
        )),
        None => Err(Bad::new(
            format!("`{whole}`: `{key}` is not an attribute Docker constrains on"),
            format!(
                "use one of {}, `node.labels.<label>` or `engine.labels.<label>`",
                ATTRIBUTES.map(|a| format!("`{a}`")).join(", ")
            ),
        )),
    }
}

/// The label of `node.labels.<label>` or `engine.labels.<label>`.
fn label_of(key: &str) -> Option<&str> {
    let lower = key.to_ascii_lowercase();
    ["node.labels.", "engine.labels."]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| &key[p.len()..])
}

fn is_label(l: &str) -> bool {
    let mut chars = l.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn is_value(v: &str) -> bool {
    v.chars()
        .all(|c| c.is_ascii_alphanumeric() || " :-_.*()?+[]\\^$|/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_are_checked_as_swarm_would() {
        assert_eq!(
            constraint("node.labels.wotemu.host==worker-1").unwrap(),
            "node.labels.wotemu.host == worker-1"
        );
        assert_eq!(
            constraint(" node.role != manager ").unwrap(),
            "node.role != manager"
        );
        assert_eq!(
            constraint("engine.labels.zone == a").unwrap(),
            "engine.labels.zone == a"
        );
        for bad in [
            "node.labels.zone",
            "node.role == boss",
            "node.colour == red",
            "node.labels. == x",
            "node.hostname == ",
            "node.id == a == b",
            "node.hostname == a,b",
        ] {
            let e = constraint(bad).unwrap_err();
            assert!(!e.hint.is_empty(), "{bad}: {e:?}");
        }
        assert_eq!(spread("node.labels.zone").unwrap(), "node.labels.zone");
        assert!(spread("node.hostname").is_err());
        assert_eq!(
            host_constraint("worker-2").unwrap(),
            "node.labels.wotemu.host == worker-2"
        );
        assert!(host_constraint("a b,c").is_err());
        assert!(host_constraint(" ").is_err());
    }
}
