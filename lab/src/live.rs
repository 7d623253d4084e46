//! Live network conditions of a running emulation (one host or Swarm): what `wotemu net show` prints and
//! how `wotemu net set` reaches a gateway. Each gateway that records (`wotemu gateway --record`) keeps its
//! state in the stack's hash `wotemu:<stack>:net` (rewritten every second) and pops changes from its list
//! `wotemu:<stack>:net:<network>:set`; an applied change becomes a `timeline` event, so it is in the
//! dataset and on the report's charts.

use serde::Serialize;
use wotemu_contract::keys::StackKeys;
use wotemu_topology::compose::conditions_object;
use wotemu_topology::model::Conditions;

use crate::Error;

/// A network's state as its gateway last wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct NetState {
    pub network: String,
    /// The gateway's JSON: `backend`, `reason`, `conditions` (in force), `updated_at`, `window` (the last
    /// window's rows, one per direction).
    pub state: serde_json::Value,
}

impl NetState {
    /// The conditions in force.
    pub fn conditions(&self) -> Option<Conditions> {
        wotemu_gateway::Spec::from_json(&self.state["conditions"].to_string())
            .ok()
            .map(|s| s.base)
    }
}

fn redis_err(what: &'static str) -> impl Fn(redis::RedisError) -> Error {
    move |source| Error::Redis {
        what: what.into(),
        source,
    }
}

/// Every network's state, by name.
pub fn states(conn: &mut redis::Connection, stack: &str) -> Result<Vec<NetState>, Error> {
    let keys = StackKeys::new(stack);
    let all: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(keys.net())
        .query(conn)
        .map_err(redis_err("reading the networks' state"))?;
    let mut out: Vec<NetState> = all
        .into_iter()
        .map(|(network, json)| NetState {
            network,
            state: serde_json::from_str(&json).unwrap_or_default(),
        })
        .collect();
    out.sort_by(|a, b| a.network.cmp(&b.network));
    Ok(out)
}

/// Sends `c` to `network`'s gateway. The network must have a recording gateway (its state is known).
pub fn set(
    conn: &mut redis::Connection,
    stack: &str,
    network: &str,
    c: &Conditions,
) -> Result<(), Error> {
    let known = states(conn, stack)?;
    if !known.iter().any(|s| s.network == network) {
        let names: Vec<&str> = known.iter().map(|s| s.network.as_str()).collect();
        return Err(Error::Plan(if names.is_empty() {
            format!("no gateway of stack `{stack}` records its state yet, so `{network}` cannot be changed (is the run up? gateways write it every second)")
        } else {
            format!(
                "the run has no network `{network}`; its networks: {}",
                names.join(", ")
            )
        }));
    }
    let json = serde_json::Value::Object(conditions_object(c)).to_string();
    redis::cmd("RPUSH")
        .arg(StackKeys::new(stack).net_set(network))
        .arg(json)
        .query::<()>(conn)
        .map_err(redis_err("sending the change"))
}
