//! A timeline event as a sentence for the report ("killed reader.1, 0.6 ms late"; "3g: latency 300 → 700
//! ms, rate 1.5mbit → 50kbit"), from its kind, target, outcome, error and JSON detail. What it does not
//! know how to tell is shown as the detail's text, so nothing recorded is hidden.

use serde_json::Value;

/// The event told as a sentence.
pub fn sentence(kind: &str, target: &str, outcome: &str, error: &str, detail: &str) -> String {
    let d: Value = serde_json::from_str(detail).unwrap_or(Value::Null);
    let failed = |s: String| {
        if error.is_empty() {
            s
        } else {
            format!("{s}; failed: {error}")
        }
    };
    match (kind, outcome) {
        ("outage", "start") => {
            let why = if error.is_empty() {
                String::new()
            } else {
                format!(" ({error})")
            };
            format!("{target} died{why}")
        }
        ("outage", "end") => {
            let mut s = format!("{target} back");
            if let Some(down) = d["down_s"].as_f64() {
                s.push_str(&format!(" after {}", seconds(down)));
            }
            if let Some(n) = d["packets_dropped"].as_u64() {
                s.push_str(&format!("; {n} packets dropped while it was down"));
            }
            s
        }
        ("restart", _) | ("join", _) => {
            let verb = if kind == "restart" {
                "restarted"
            } else {
                "joined"
            };
            let mut s = format!("{target} {verb}");
            if let Some(task) = d["task"].as_str() {
                s.push_str(&format!(" as {task}"));
            }
            if let Some(prev) = d["previous_task"].as_str() {
                s.push_str(&format!(" (was {prev})"));
            }
            if kind == "join" {
                s.push_str(&format!(": {outcome}"));
            } else if !error.is_empty() {
                s.push_str(&format!(" after it exited ({error})"));
                return s;
            }
            s
        }
        ("conditions", _) => {
            let by = if outcome == "live" {
                " (changed live)"
            } else {
                ""
            };
            let net = target.strip_prefix("network ").unwrap_or(target);
            format!(
                "{net}: {}{by}",
                crate::truth::describe_change(&d["old"], &d["new"])
            )
        }
        ("scenario", _) => {
            let action = d["action"].as_str().unwrap_or(outcome);
            let object = target.strip_prefix("node ").unwrap_or(target);
            let mut s = format!("{action} {object}");
            if let Some(tasks) = d["tasks"].as_array().filter(|t| !t.is_empty()) {
                let names: Vec<&str> = tasks.iter().filter_map(Value::as_str).collect();
                s.push_str(&format!(" ({})", names.join(", ")));
            }
            if let Some(late) = d["late_ms"].as_f64() {
                s.push_str(&format!(", {} late", millis(late)));
            }
            failed(s)
        }
        _ => {
            let mut s = format!("{kind} {target}: {outcome}");
            if !error.is_empty() {
                s.push_str(&format!(" ({error})"));
            }
            if !detail.is_empty() && !d.is_null() {
                s.push_str(&format!(" {detail}"));
            }
            s
        }
    }
}

fn seconds(s: f64) -> String {
    format!("{s:.1} s")
}

fn millis(ms: f64) -> String {
    if ms.abs() < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_sentences() {
        assert_eq!(
            sentence(
                "scenario",
                "node reader.1",
                "done",
                "",
                r#"{"action":"kill","event":0,"occurrence":0,"tasks":["s_reader.1.ab"],"late_ms":0.603}"#
            ),
            "kill reader.1 (s_reader.1.ab), 0.6 ms late"
        );
        assert_eq!(
            sentence(
                "conditions",
                "network 3g",
                "schedule",
                "",
                r#"{"network":"3g","old":{"latency":300.0,"jitter":30.0,"rate":"1.5mbit"},"new":{"latency":700.0,"jitter":30.0,"rate":"50kbit","loss":2.0}}"#
            ),
            "3g: latency 300 → 700 ms, rate 1.5mbit → 50kbit, loss none → 2 %"
        );
        assert_eq!(
            sentence(
                "outage",
                "gateway 3g",
                "end",
                "",
                r#"{"down_s":1.234,"packets_dropped":7}"#
            ),
            "gateway 3g back after 1.2 s; 7 packets dropped while it was down"
        );
        assert_eq!(
            sentence(
                "restart",
                "node reader.2",
                "restarted",
                "signal 9",
                r#"{"previous_task":"a","task":"b"}"#
            ),
            "node reader.2 restarted as b (was a) after it exited (signal 9)"
        );
        assert_eq!(
            sentence("scenario", "network 3g", "done", "no such network", "{}"),
            "done network 3g; failed: no such network"
        );
        // What it does not know is shown as recorded.
        assert_eq!(
            sentence("other", "x", "y", "", r#"{"k":1}"#),
            r#"other x: y {"k":1}"#
        );
    }
}
