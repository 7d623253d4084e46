//! Live network conditions of a running emulation (one host or Swarm): what `wotemu net show` prints and
//! how `wotemu net set` reaches a gateway. Each gateway that records (`wotemu gateway --record`) keeps its
//! state ([`GatewayState`]) in the stack's hash `wotemu:<stack>:net` (rewritten every second) and pops
//! changes from its list `wotemu:<stack>:net:<network>:set`; an applied change becomes a `timeline` event,
//! so it is in the dataset and on the report's charts.

use std::path::Path;
use std::time::{Duration, Instant};

use wotemu_contract::keys::StackKeys;
use wotemu_contract::net::GatewayState;
use wotemu_topology::compose::conditions_object;
use wotemu_topology::model::Conditions;

use crate::Error;

/// The Redis and stack of a running emulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub redis_url: String,
    pub stack: String,
}

/// The `wotemu run` on this host that writes to `run_dir`, or the only one running when none is named.
pub fn running_run(run_dir: Option<&Path>) -> Result<Target, Error> {
    let alive: Vec<crate::state::RunState> = crate::state::runs()
        .into_iter()
        .filter(|(_, alive)| *alive)
        .map(|(s, _)| s)
        .collect();
    let run = match run_dir {
        Some(dir) => {
            let want = std::path::absolute(dir).unwrap_or(dir.to_owned());
            alive
                .into_iter()
                .find(|s| s.run_dir == want)
                .ok_or_else(|| {
                    Error::Plan(format!(
                        "no running `wotemu run` writes to {} (see `wotemu ps`)",
                        dir.display()
                    ))
                })?
        }
        None => match alive.len() {
            0 => {
                return Err(Error::Plan(
                    "no `wotemu run` is running here; name a Swarm stack with --stack NAME".into(),
                ))
            }
            1 => alive.into_iter().next().expect("one"),
            _ => {
                return Err(Error::Plan(format!(
                    "{} runs are running; say which with --run RUN_DIR: {}",
                    alive.len(),
                    alive
                        .iter()
                        .map(|s| s.run_dir.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        },
    };
    let redis_url = run
        .redis_url
        .ok_or_else(|| Error::Plan(format!("the run {} has no Redis (yet)", run.run_id)))?;
    Ok(Target {
        redis_url,
        stack: run.stack,
    })
}

/// Connects to a target's Redis.
pub fn connect(t: &Target) -> Result<redis::Connection, Error> {
    redis::Client::open(t.redis_url.as_str())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .map_err(|source| Error::Redis {
            what: format!(
                "connecting to the stack's Redis at {}",
                wotemu_contract::redact::redact_url(&t.redis_url)
            ),
            source,
        })
}

fn redis_err(what: &'static str) -> impl Fn(redis::RedisError) -> Error {
    move |source| Error::Redis {
        what: what.into(),
        source,
    }
}

/// Every network's state, by name (a state that cannot be read is left out, with a warning).
pub fn states(conn: &mut redis::Connection, stack: &str) -> Result<Vec<GatewayState>, Error> {
    let keys = StackKeys::new(stack);
    let all: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(keys.net())
        .query(conn)
        .map_err(redis_err("reading the networks' state"))?;
    let mut out: Vec<GatewayState> = all
        .into_iter()
        .filter_map(|(network, json)| match serde_json::from_str(&json) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(network = %network, error = %e, "A gateway's state cannot be read; left out.");
                None
            }
        })
        .collect();
    out.sort_by(|a, b| a.network.cmp(&b.network));
    Ok(out)
}

/// The conditions a gateway has in force.
pub fn conditions(state: &GatewayState) -> Option<Conditions> {
    wotemu_gateway::Spec::live_conditions(&state.conditions.to_string()).ok()
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

/// Sends `c` to `network`'s gateway and waits (at most `within`) until its state shows it in force; returns
/// the conditions as the gateway reports them.
pub fn apply(
    conn: &mut redis::Connection,
    stack: &str,
    network: &str,
    c: &Conditions,
    within: Duration,
) -> Result<serde_json::Value, Error> {
    set(conn, stack, network, c)?;
    let want = wotemu_gateway::account::conditions_json(c);
    let deadline = Instant::now() + within;
    loop {
        let now = states(conn, stack)?;
        if now
            .iter()
            .any(|s| s.network == network && s.conditions == want)
        {
            return Ok(want);
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!(
                    "the gateway of {network} to apply the change (is it running? `wotemu net show`)"
                ),
                secs: within.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `wotemu net set`: `edit` applied to the conditions `network`'s gateway has in force (the defaults when it
/// has reported none), checked as a topology's are, sent, and waited for as [`apply`] does.
pub fn edit(
    conn: &mut redis::Connection,
    stack: &str,
    network: &str,
    edit: &wotemu_topology::model::ConditionsEdit,
    within: Duration,
) -> Result<serde_json::Value, Error> {
    let base = states(conn, stack)?
        .iter()
        .find(|s| s.network == network)
        .and_then(conditions)
        .unwrap_or_default();
    let c = edit.apply(base).map_err(|e| Error::Plan(e.to_string()))?;
    // The same checks as the topology's (percentages, rates above 0).
    if edit.ping_file().is_some() {
        return Err(Error::Plan(
            "--distribution ping:FILE: a live change cannot bring measured delays; give them in the topology (`distribution: {ping: FILE}`), and `--distribution ping` returns to them".into(),
        ));
    }
    wotemu_gateway::Spec::live_conditions(&crate::fidelity::conditions_json(&c))
        .map_err(|e| Error::Plan(format!("checking the conditions: {e}")))?;
    apply(conn, stack, network, &c, within)
}

/// `wotemu net show --json`: `[{"network": …, "state": …}]`, the shape it has always printed.
pub fn states_json(states: &[GatewayState]) -> serde_json::Value {
    states
        .iter()
        .map(|s| serde_json::json!({"network": s.network, "state": s}))
        .collect()
}

/// `wotemu net show` for people: each network's conditions and last window (of `stack`'s gateways).
pub fn describe(states: &[GatewayState], stack: &str) -> String {
    if states.is_empty() {
        return format!("No gateway of `{stack}` has recorded its state yet (gateways write it every second).\n");
    }
    let mut out = String::new();
    for s in states {
        out.push_str(&format!(
            "{}  ({} backend; updated {})\n  conditions: {}\n",
            s.network,
            s.backend.as_deref().unwrap_or("?"),
            s.updated_at,
            s.conditions
        ));
        for w in &s.window {
            let secs = w.window_s.max(1e-3);
            out.push_str(&format!(
                "  {:<5} {:>8.0} packets/s  {:>14}  delay {}  loss {}  lateness p99 {}  drops {} (rate) {} (overflow)\n",
                w.direction,
                w.received as f64 / secs,
                wotemu_topology::units::format_rate(w.rate_bps.round() as u64) + "/s",
                w.delay_mean_ms.map_or("–".into(), |v| format!("{v:.1} ms")),
                if w.received > 0 {
                    format!("{:.1} %", 100.0 * w.lost as f64 / w.received as f64)
                } else {
                    "–".into()
                },
                w.lateness_p99_us.map_or("–".into(), |v| format!("{v:.0} µs")),
                w.dropped_rate,
                w.dropped_overflow,
            ));
        }
    }
    out
}
