//! Documents about tasks stored in Redis: the registry entry an agent writes when it starts
//! (`wotemu:<stack>:tasks`) and the snapshot written when the stack stops (`wotemu:<stack>:snapshot`).
//!
//! Task names follow Swarm's `<stack>_<service>.<slot>.<id>`; [`TaskName`] splits them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::table::TaskRow;
use crate::time_util::{rfc3339_to_us, us_to_rfc3339};

/// What an agent registers about its task when it starts. Times are RFC 3339 text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskInfo {
    pub task: String,
    pub node: String,
    pub service: String,
    pub slot: Option<u32>,
    pub hostname: Option<String>,
    pub container_id: Option<String>,
    pub networks: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub cpu_model: Option<String>,
    pub cpu_count: Option<u32>,
    pub mem_total_bytes: Option<u64>,
    pub started_at: Option<String>,
    pub python_version: Option<String>,
    pub platform: Option<String>,
    /// Environment, already redacted by [`crate::redact::redact_env`].
    pub env: BTreeMap<String, String>,
    /// Emulated CPU speed, for a node with a `target_cpu_speed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_speed: Option<CpuSpeed>,
    /// Unknown fields written by newer agents are kept.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A task's emulated CPU speed: sysbench CPU events per second on one thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSpeed {
    /// `target_cpu_speed`.
    pub target: f64,
    /// The host's calibrated speed on one unthrottled CPU.
    pub host: f64,
    /// The CFS quota applied, as a fraction of one CPU.
    pub quota: f64,
    /// The speed the task measured at start, under that quota.
    pub measured: Option<f64>,
}

/// The state of a task when the stack stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskSnapshot {
    /// `complete`, `failed`, `shutdown`, `running`, `rejected`, … (Swarm's task states, lower case).
    pub state: String,
    pub exit_error: Option<String>,
    /// When the task started, if the snapshot knows (Swarm: the task's creation); the registry's time wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub container_id: Option<String>,
    /// How many times the replica's app was restarted.
    pub restarts: Option<u32>,
    /// The task's output, when the engine kept it (Swarm logs); agents ship their own lines as `logs` rows.
    pub logs: Option<String>,
    /// The host the task ran on (Swarm: its node's `wotemu.host` label, else the node's host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl TaskInfo {
    /// The `tasks` table row of this task, completed by its snapshot if there is one.
    pub fn to_row(&self, snapshot: Option<&TaskSnapshot>) -> TaskRow {
        let join = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
        let env =
            (!self.env.is_empty()).then(|| serde_json::to_string(&self.env).unwrap_or_default());
        TaskRow {
            task: self.task.clone(),
            node: self.node.clone(),
            service: self.service.clone(),
            slot: self.slot,
            host: snapshot.and_then(|s| s.host.clone()),
            hostname: self.hostname.clone(),
            container_id: snapshot
                .and_then(|s| s.container_id.clone())
                .or_else(|| self.container_id.clone()),
            networks: join(&self.networks),
            ip_addresses: join(&self.ip_addresses),
            cpu_model: self.cpu_model.clone(),
            cpu_count: self.cpu_count,
            mem_total_bytes: self.mem_total_bytes,
            started_at: self
                .started_at
                .as_deref()
                .or_else(|| snapshot.and_then(|s| s.started_at.as_deref()))
                .and_then(rfc3339_to_us),
            stopped_at: snapshot
                .and_then(|s| s.stopped_at.as_deref())
                .and_then(rfc3339_to_us),
            state: snapshot
                .map(|s| s.state.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".to_owned()),
            exit_error: snapshot.and_then(|s| s.exit_error.clone()),
            restarts: snapshot.and_then(|s| s.restarts),
            python_version: self.python_version.clone(),
            platform: self.platform.clone(),
            env,
            cpu_speed_target: self.cpu_speed.map(|c| c.target),
            cpu_speed_host: self.cpu_speed.map(|c| c.host),
            cpu_quota: self.cpu_speed.map(|c| c.quota),
            cpu_speed_measured: self.cpu_speed.and_then(|c| c.measured),
            facts: (!self.extra.is_empty())
                .then(|| serde_json::to_string(&self.extra).unwrap_or_default()),
        }
    }
}

/// A task name split into its parts: `<stack>_<service>.<slot>.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskName<'a> {
    /// The full service name, `<stack>_<node>`.
    pub service: &'a str,
    pub slot: Option<u32>,
    pub id: Option<&'a str>,
}

impl<'a> TaskName<'a> {
    /// Splits a task name. Names without slot or id keep what they have.
    pub fn parse(task: &'a str) -> Self {
        let mut parts = task.splitn(3, '.');
        let service = parts.next().unwrap_or(task);
        let slot_s = parts.next();
        let slot = slot_s.and_then(|s| s.parse().ok());
        if slot_s.is_some() && slot.is_none() {
            // Not the `<service>.<slot>.<id>` shape: keep the whole name as the service.
            return TaskName {
                service: task,
                slot: None,
                id: None,
            };
        }
        TaskName {
            service,
            slot,
            id: parts.next(),
        }
    }

    /// The node (topology service) name: the service name without the `<stack>_` prefix.
    pub fn node(&self, stack: Option<&str>) -> &'a str {
        match stack {
            Some(stack) => self
                .service
                .strip_prefix(stack)
                .and_then(|s| s.strip_prefix('_'))
                .unwrap_or(self.service),
            None => self.service,
        }
    }
}

/// Formats an optional time for JSON documents.
pub fn opt_time(us: Option<i64>) -> Option<String> {
    us.map(us_to_rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names() {
        let t = TaskName::parse("demo_reader.3.k3xq9");
        assert_eq!(
            t,
            TaskName {
                service: "demo_reader",
                slot: Some(3),
                id: Some("k3xq9")
            }
        );
        assert_eq!(t.node(Some("demo")), "reader");
        assert_eq!(t.node(Some("other")), "demo_reader");
        assert_eq!(TaskName::parse("solo").service, "solo");
        assert_eq!(TaskName::parse("a.b.c").service, "a.b.c");
    }

    #[test]
    fn info_to_row_with_snapshot() {
        let info: TaskInfo = serde_json::from_str(
            r#"{"task":"s_a.1.x","node":"a","service":"s_a","slot":1,"networks":["n1","n2"],
                "started_at":"2026-01-01T00:00:00Z","future_field":3}"#,
        )
        .unwrap();
        assert_eq!(info.extra["future_field"], 3);
        let snap = TaskSnapshot {
            state: "failed".into(),
            exit_error: Some("boom".into()),
            ..Default::default()
        };
        let row = info.to_row(Some(&snap));
        assert_eq!(row.networks.as_deref(), Some("n1,n2"));
        assert_eq!(row.state, "failed");
        assert_eq!(row.started_at, Some(1_767_225_600_000_000));
        assert_eq!(info.to_row(None).state, "unknown");
        // A task only the snapshot knows (Swarm: a gateway) starts when Docker created it.
        let bare = TaskInfo {
            task: "s_gw.1.y".into(),
            ..Default::default()
        };
        let snap = TaskSnapshot {
            state: "shutdown".into(),
            started_at: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(
            bare.to_row(Some(&snap)).started_at,
            Some(1_767_225_600_000_000)
        );
    }
}
