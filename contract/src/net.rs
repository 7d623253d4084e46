//! A recording gateway's state now, as it keeps it in the stack's hash `wotemu:<stack>:net` (field: the
//! network's name; value: this document as JSON), rewritten every second: what `wotemu net show` prints and
//! what `wotemu net set` waits for. Never collected: the dataset has the windows as `network` rows and the
//! changes as `timeline` events.

use serde::{Deserialize, Serialize};

use crate::table::NetworkSample;

/// One network's gateway, now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GatewayState {
    pub network: String,
    /// The gateway's task.
    pub task: String,
    /// `userspace` or `kernel` (of the last window).
    #[serde(default)]
    pub backend: Option<String>,
    /// Why that backend.
    #[serde(default)]
    pub reason: String,
    /// The conditions in force, as the gateway's conditions JSON (`latency`, `jitter`, `rate`, … as
    /// `wotemu compose` writes them).
    #[serde(default)]
    pub conditions: serde_json::Value,
    /// When the gateway wrote this (RFC 3339).
    #[serde(default)]
    pub updated_at: String,
    /// The last window's rows, one per direction (as the `network` table's).
    #[serde(default)]
    pub window: Vec<NetworkSample>,
}

impl GatewayState {
    /// A state written by a gateway.
    pub fn new(
        network: &str,
        task: &str,
        reason: &str,
        conditions: serde_json::Value,
        updated_at: String,
        window: Vec<NetworkSample>,
    ) -> GatewayState {
        GatewayState {
            network: network.to_owned(),
            task: task.to_owned(),
            backend: window.first().map(|w| w.backend.clone()),
            reason: reason.to_owned(),
            conditions,
            updated_at,
            window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_old_fields_may_be_missing() {
        let s = GatewayState::new(
            "3g",
            "s_gw_3g.1.x",
            "asked for",
            serde_json::json!({"latency": 300}),
            "2026-01-01T00:00:00Z".into(),
            vec![NetworkSample {
                network: "3g".into(),
                backend: "userspace".into(),
                direction: "up".into(),
                ..Default::default()
            }],
        );
        assert_eq!(s.backend.as_deref(), Some("userspace"));
        let back: GatewayState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let bare: GatewayState = serde_json::from_str(r#"{"network": "3g", "task": "t"}"#).unwrap();
        assert!(bare.window.is_empty() && bare.conditions.is_null());
    }
}
