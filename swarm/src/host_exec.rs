//! What a scenario step does to one container, on the Docker engine of the host the container runs on.
//!
//! The stack's `scenario` service runs on a manager, whose Docker API reaches the containers of its own
//! engine only. For a task on another host it asks that host's executor: `wotemu scenario-exec`, the stack's
//! `scenario_exec` service, global on the workers (one task per worker host, each with its engine's socket),
//! which pops requests from `wotemu:<stack>:exec:<node id>` (`BLPOP`), does them through its engine and
//! pushes each answer to `wotemu:<stack>:exec:reply:<request id>` (expiring after a minute). Containers of
//! the manager's own engine are acted on directly. A request is a few milliseconds of Redis on top of the
//! Docker call, so a step on a worker is as punctual as one on the manager.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::KillContainerOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use wotemu_contract::keys::StackKeys;

use crate::Error;

/// How long the scenario waits for a host's executor to answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an answer nobody popped stays in Redis.
const REPLY_TTL_S: u64 = 60;

/// One thing to do to a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `docker kill --signal`.
    Signal {
        signal: String,
    },
    Pause,
    Unpause,
    /// `docker exec`, waited for (its output in the error when it fails) or detached.
    Exec {
        cmd: Vec<String>,
        wait: bool,
    },
    /// The container's address on a network (the answer's `value`).
    Address {
        network: String,
    },
}

/// A request to a host's executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub container: String,
    #[serde(flatten)]
    pub op: Op,
}

/// An executor's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<Result<Option<String>, String>> for Reply {
    fn from(r: Result<Option<String>, String>) -> Self {
        match r {
            Ok(value) => Reply { value, error: None },
            Err(e) => Reply {
                value: None,
                error: Some(e),
            },
        }
    }
}

/// Does `op` to `container` through this engine's API.
pub async fn perform(docker: &Docker, container: &str, op: &Op) -> Result<Option<String>, String> {
    let e = |e: bollard::errors::Error| e.to_string();
    match op {
        Op::Signal { signal } => docker
            .kill_container(
                container,
                Some(KillContainerOptionsBuilder::new().signal(signal).build()),
            )
            .await
            .map(|()| None)
            .map_err(e),
        Op::Pause => docker
            .pause_container(container)
            .await
            .map(|()| None)
            .map_err(e),
        Op::Unpause => docker
            .unpause_container(container)
            .await
            .map(|()| None)
            .map_err(e),
        Op::Exec { cmd, wait } => exec(docker, container, cmd, *wait).await.map(|()| None),
        Op::Address { network } => {
            let c = docker.inspect_container(container, None).await.map_err(e)?;
            c.network_settings
                .and_then(|n| n.networks)
                .and_then(|n| n.get(network).cloned())
                .and_then(|e| e.ip_address)
                .filter(|a| !a.is_empty())
                .map(Some)
                .ok_or_else(|| format!("the container is not on {network}"))
        }
    }
}

async fn exec(docker: &Docker, container: &str, cmd: &[String], wait: bool) -> Result<(), String> {
    let created = docker
        .create_exec(
            container,
            ExecConfig {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(wait),
                attach_stderr: Some(wait),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let started = docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: !wait,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !wait {
        return Ok(());
    }
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = started {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&chunk.to_string());
        }
    }
    let inspected = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| e.to_string())?;
    match inspected.exit_code {
        Some(0) => Ok(()),
        code => Err(format!(
            "`{}` exited with {code:?}: {}",
            cmd.join(" "),
            text.trim()
        )),
    }
}

/// Asks the executor of host `node` to do `op` to `container`, and waits for its answer.
pub fn call(
    conn: &mut redis::Connection,
    keys: &StackKeys,
    node: &str,
    container: &str,
    op: Op,
) -> Result<Option<String>, String> {
    let req = Request {
        id: format!(
            "{}-{}",
            wotemu_contract::time_util::now_us(),
            std::process::id()
        ),
        container: container.to_owned(),
        op,
    };
    let body = serde_json::to_string(&req).expect("a request serialises");
    redis::cmd("RPUSH")
        .arg(keys.exec(node))
        .arg(body)
        .query::<()>(conn)
        .map_err(|e| format!("Redis: {e}"))?;
    let answer: Option<(String, String)> = redis::cmd("BLPOP")
        .arg(keys.exec_reply(&req.id))
        .arg(REPLY_TIMEOUT.as_secs_f64())
        .query(conn)
        .map_err(|e| format!("Redis: {e}"))?;
    let Some((_, answer)) = answer else {
        return Err(format!(
            "the executor of host {node} did not answer within {} s (is the stack's scenario_exec service running there?)",
            REPLY_TIMEOUT.as_secs()
        ));
    };
    let reply: Reply =
        serde_json::from_str(&answer).map_err(|e| format!("the executor's answer: {e}"))?;
    match reply.error {
        Some(e) => Err(e),
        None => Ok(reply.value),
    }
}

/// `wotemu scenario-exec`: the executor of this host (the node `NODE_ID` names), until `stop` is set.
pub fn serve(stop: &AtomicBool) -> Result<(), Error> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let producer = wotemu_ship::ProducerConfig::from_env(&env);
    let node = env
        .get("NODE_ID")
        .filter(|n| !n.is_empty() && !n.contains("{{"))
        .cloned()
        .ok_or_else(|| {
            Error::Usage("NODE_ID is not set: the executor runs as the stack's scenario_exec service, whose compose file sets it to {{.Node.ID}}".into())
        })?;
    let keys = StackKeys::new(&producer.stack);
    let (rt, docker, _) = crate::engine::engine()?;
    tracing::info!(node = %node, stack = %producer.stack, "The host's scenario executor waits for requests.");
    let mut conn: Option<redis::Connection> = None;
    while !stop.load(Ordering::SeqCst) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match redis::Client::open(producer.redis_url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    tracing::debug!(error = %e, "Redis does not answer yet.");
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            },
        };
        let popped: Result<Option<(String, String)>, _> =
            redis::cmd("BLPOP").arg(keys.exec(&node)).arg(1.0).query(c);
        let body = match popped {
            Ok(Some((_, body))) => body,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "Redis: reconnecting.");
                conn = None;
                continue;
            }
        };
        let req: Request = match serde_json::from_str(&body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, body, "A request that is not one; left out.");
                continue;
            }
        };
        let result = rt.block_on(perform(&docker, &req.container, &req.op));
        tracing::info!(op = ?req.op, container = %req.container, error = ?result.as_ref().err(), "Done.");
        let reply = serde_json::to_string(&Reply::from(result)).expect("a reply serialises");
        let sent: redis::RedisResult<()> = redis::pipe()
            .cmd("RPUSH")
            .arg(keys.exec_reply(&req.id))
            .arg(reply)
            .ignore()
            .cmd("EXPIRE")
            .arg(keys.exec_reply(&req.id))
            .arg(REPLY_TTL_S)
            .ignore()
            .query(c);
        if let Err(e) = sent {
            tracing::warn!(error = %e, "The answer could not be sent.");
            conn = None;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_read_as_they_are_written() {
        let req = Request {
            id: "1-2".into(),
            container: "c0ffee".into(),
            op: Op::Exec {
                cmd: vec!["iptables".into(), "-L".into()],
                wait: true,
            },
        };
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(
            text,
            r#"{"id":"1-2","container":"c0ffee","op":"exec","cmd":["iptables","-L"],"wait":true}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), req);
        let r = Reply::from(Err::<Option<String>, _>("no such container".into()));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"error":"no such container"}"#
        );
    }
}
