//! The kernel backend: `tc` netem (delay, jitter, loss, duplication, corruption, reordering) with a child
//! `tbf` (rate), exactly WoTemu 0.6's qdiscs, on the gateway's interfaces. Only when `sch_netem` exists.

use std::process::Command;

use wotemu_topology::model::{Conditions, Distribution, Fairness, QueueLimit};

use crate::cleanup::Undo;
use crate::shaper::{BURST_BYTES, RATE_LATENCY_NS};
use crate::sys;
use crate::Error;

/// Whether this kernel has `sch_netem`: loaded, or can be attached to the loopback device of a
/// throwaway network namespace (nothing is left behind).
pub fn has_netem() -> bool {
    if std::path::Path::new("/sys/module/sch_netem").exists() {
        return true;
    }
    wotemu_sys::netns::in_throwaway(|| {
        Command::new("tc")
            .args(["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .unwrap_or(false)
}

/// Whether the kernel backend can express these conditions (see [`cannot_express`]).
pub fn can_express(c: &Conditions) -> bool {
    cannot_express(c).is_none()
}

/// What of these conditions the kernel backend cannot apply, if anything: one netem + tbf on the
/// gateway's interfaces treats both directions alike, so `rate_up`, `latency_up`, `jitter_up` and `loss_up`
/// need the userspace shaper (which tells the directions apart by the WoT ports); netem reads its tables
/// from iproute2's files only (not delays measured by ping); tbf has one queue (no share per node), limited
/// in bytes or time, not packets.
pub fn cannot_express(c: &Conditions) -> Option<&'static str> {
    if c.rate_up_bps.is_some() || c.asymmetric() {
        Some("a figure per direction (rate_up, latency_up, jitter_up, loss_up): netem shapes both directions alike")
    } else if c.distribution == Distribution::Ping {
        Some("delays measured by ping: netem reads its tables from iproute2's files only")
    } else if c.fairness == Fairness::PerNode {
        Some("a rate shared per node: tbf has one queue for everyone")
    } else if matches!(c.queue, Some(QueueLimit::Packets(_))) {
        Some("a queue limit in packets: tbf limits its queue by time or bytes (give `queue` as a duration)")
    } else {
        None
    }
}

fn netem_args(c: &Conditions) -> Vec<String> {
    let mut a = vec![
        "netem".to_owned(),
        "delay".into(),
        format!("{}ms", c.latency_ms),
        format!("{}ms", c.jitter_ms),
    ];
    if c.jitter_ms > 0.0 {
        a.push(format!("{}%", c.correlation_pct));
        // netem without a table draws uniformly within latency ± jitter.
        if c.distribution != Distribution::Uniform {
            a.extend(["distribution".into(), c.distribution.name().into()]);
        }
    }
    for (k, v) in c.percentages() {
        if v > 0.0 {
            a.extend([k.to_owned(), format!("{v}%")]);
        }
    }
    if let Some(g) = c.loss_gilbert {
        // netem's figures are p, r, 1-h and 1-k, where h and k are the chances of *no* loss: ours (the
        // losses) are those two as they are.
        a.extend(["loss".into(), "gemodel".into()]);
        a.extend([g.p_pct, g.r_pct, g.h_pct, g.k_pct].map(|v| format!("{v}%")));
    }
    a.extend(["limit".into(), "100000".into()]);
    a
}

/// tbf with 0.6's burst, and its `latency`: 0.6's 20 ms, or the conditions' queue as a duration.
fn tbf_args(rate: u64, queue: Option<QueueLimit>) -> Vec<String> {
    let latency_ms = match queue {
        Some(QueueLimit::Ms(ms)) => ms,
        _ => RATE_LATENCY_NS as f64 / 1e6,
    };
    vec![
        "tbf".into(),
        "rate".into(),
        format!("{rate}bit"),
        "burst".into(),
        format!("{}b", BURST_BYTES as u64),
        "latency".into(),
        format!("{latency_ms}ms"),
    ]
}

fn tc(args: &[String]) -> Result<(), Error> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(sys::cmd("tc", &a)?)
}

/// Applies (or, with `change`, updates) the conditions on `dev`.
pub fn apply(dev: &str, c: &Conditions, change: bool) -> Result<(), Error> {
    let verb = if change { "change" } else { "add" };
    let mut a: Vec<String> = ["qdisc", verb, "dev", dev, "root", "handle", "1:"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(netem_args(c));
    tc(&a)?;
    if let Some(rate) = c.rate_bps {
        let mut a: Vec<String> = ["qdisc", verb, "dev", dev, "parent", "1:1", "handle", "2:"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(tbf_args(rate, c.queue));
        if tc(&a).is_err() && change {
            // The rate was not limited before: add the tbf now.
            a[1] = "add".into();
            tc(&a)?;
        }
    } else if change {
        // The rate is no longer limited: the tbf goes (there may be none).
        if let Err(e) = sys::cmd(
            "tc",
            &["qdisc", "del", "dev", dev, "parent", "1:1", "handle", "2:"],
        ) {
            tracing::debug!(error = %e, "No tbf to remove.");
        }
    }
    Ok(())
}

/// Installs the qdiscs on every device, recording their removal.
pub fn install(devs: &[String], c: &Conditions, rec: &mut Undo) -> Result<(), Error> {
    for d in devs {
        rec.push(&["tc", "qdisc", "del", "dev", d, "root"]);
        // Running twice never stacks: an earlier root qdisc is replaced (there may be none).
        if let Err(e) = sys::cmd("tc", &["qdisc", "del", "dev", d, "root"]) {
            tracing::debug!(error = %e, "No earlier root qdisc.");
        }
        apply(d, c, false)?;
    }
    Ok(())
}

/// The root qdiscs' counters, summed over devices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QdiscStats {
    pub bytes: u64,
    pub packets: u64,
    pub dropped: u64,
    /// Packets waiting.
    pub backlog: u64,
}

/// Reads the root qdisc's counters of each device (`tc -s qdisc show`); a device that cannot be read
/// counts nothing.
pub fn stats(devs: &[String]) -> QdiscStats {
    let mut total = QdiscStats::default();
    for d in devs {
        let out = Command::new("tc")
            .args(["-s", "qdisc", "show", "dev", d, "root"])
            .output();
        if let Some(o) = out.ok().filter(|o| o.status.success()) {
            let s = parse_stats(&String::from_utf8_lossy(&o.stdout));
            total.bytes += s.bytes;
            total.packets += s.packets;
            total.dropped += s.dropped;
            total.backlog += s.backlog;
        }
    }
    total
}

/// The first qdisc's ` Sent B bytes P pkt (dropped D, …)` and ` backlog Xb Np` lines.
fn parse_stats(text: &str) -> QdiscStats {
    let mut s = QdiscStats::default();
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let num = |w: &str| w.trim_end_matches(['b', 'p']).parse::<u64>().unwrap_or(0);
    let at = |key: &str| words.iter().position(|w| *w == key);
    if let Some(i) = at("Sent") {
        s.bytes = words.get(i + 1).map_or(0, |w| num(w));
        s.packets = words.get(i + 3).map_or(0, |w| num(w));
    }
    if let Some(i) = at("dropped") {
        s.dropped = words.get(i + 1).map_or(0, |w| num(w));
    }
    if let Some(i) = at("backlog") {
        s.backlog = words.get(i + 2).map_or(0, |w| num(w));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tc_statistics() {
        let text = "qdisc netem 1: root refcnt 2 limit 100000 delay 100ms  10ms\n Sent 123456 bytes 789 pkt (dropped 12, overlimits 0 requeues 0)\n backlog 3000b 2p requeues 0\n";
        assert_eq!(
            parse_stats(text),
            QdiscStats {
                bytes: 123456,
                packets: 789,
                dropped: 12,
                backlog: 2
            }
        );
        assert_eq!(parse_stats(""), QdiscStats::default());
    }

    /// Distributions and correlation map onto netem's `delay L J C% distribution NAME` (uniform is netem
    /// without a table).
    #[test]
    fn distributions_are_netems() {
        let mut c = Conditions {
            latency_ms: 100.0,
            jitter_ms: 20.0,
            distribution: Distribution::Pareto,
            correlation_pct: 25.0,
            ..Conditions::default()
        };
        let args = netem_args(&c).join(" ");
        assert!(
            args.starts_with("netem delay 100ms 20ms 25% distribution pareto "),
            "{args}"
        );
        c.distribution = Distribution::Uniform;
        let args = netem_args(&c).join(" ");
        assert!(
            args.starts_with("netem delay 100ms 20ms 25% limit"),
            "{args}"
        );
        c.distribution = Distribution::Normal;
        c.correlation_pct = 0.0;
        let args = netem_args(&c).join(" ");
        assert!(args.contains(" 20ms 0% distribution normal "), "{args}");
        assert!(can_express(&c));
        // netem reads its tables from iproute2's files only: measured delays go to the shaper.
        c.distribution = Distribution::Ping;
        assert!(cannot_express(&c).is_some_and(|w| w.contains("ping")));
    }

    /// A queue limit as a duration is tbf's `latency`; in packets, tbf cannot say it.
    #[test]
    fn a_queue_limit_is_tbfs_latency() {
        assert!(tbf_args(1_000_000, None)
            .join(" ")
            .ends_with("latency 20ms"));
        let args = tbf_args(1_000_000, Some(QueueLimit::Ms(250.0))).join(" ");
        assert_eq!(args, "tbf rate 1000000bit burst 12500b latency 250ms");
        let c = Conditions {
            rate_bps: Some(1_000_000),
            queue: Some(QueueLimit::Packets(100)),
            ..Conditions::default()
        };
        assert!(cannot_express(&c).is_some_and(|w| w.contains("packets")));
        let c = Conditions {
            rate_bps: Some(1_000_000),
            fairness: Fairness::PerNode,
            ..Conditions::default()
        };
        assert!(cannot_express(&c).is_some_and(|w| w.contains("per node")));
    }

    /// Gilbert–Elliott loss maps onto netem's `loss gemodel p r 1-h 1-k`.
    #[test]
    fn bursty_loss_is_netems_gemodel() {
        let c = Conditions {
            latency_ms: 10.0,
            loss_gilbert: Some(wotemu_topology::model::Gilbert {
                p_pct: 1.0,
                r_pct: 25.0,
                h_pct: 100.0,
                k_pct: 0.0,
            }),
            ..Conditions::default()
        };
        assert!(can_express(&c));
        let args = netem_args(&c).join(" ");
        assert!(
            args.contains("loss gemodel 1% 25% 100% 0%") && !args.contains("loss 0%"),
            "{args}"
        );
    }

    /// One netem treats both directions alike: a figure per direction goes to the userspace shaper, and
    /// asking for the kernel's is refused with what to use instead (before netem is even looked for).
    #[test]
    fn a_figure_per_direction_needs_the_userspace_shaper() {
        let asym = Conditions {
            latency_ms: 20.0,
            loss_up_pct: Some(5.0),
            ..Conditions::default()
        };
        assert!(!can_express(&asym));
        assert!(can_express(&Conditions {
            latency_ms: 20.0,
            ..Conditions::default()
        }));
        let spec = crate::Spec::constant(asym);
        assert_eq!(crate::Backend::choose(&spec).0, crate::Backend::Userspace);
        let e = crate::Backend::pick(Some(crate::Backend::Kernel), &spec).unwrap_err();
        assert!(e.to_string().contains("--backend userspace"), "{e}");
    }
}
