//! A WoTemu 0.6 store as 0.6 leaves it after a run, written with the members' JSON exactly as 0.6's Python
//! writes it (`json.dumps`): the quickstart-like stack `wotemu` with one server, four readers and two
//! subscribers on a 3G network, over 200 s. Every key of the 0.6 layout and every field 0.6 records appear,
//! including the failures a real run has: 8 reads that failed (`TimeoutError`, 2 per reader) and 8
//! subscription errors (`on_error` events with `error.type` and `error.message`, 4 per subscriber).
//!
//! [`store_06`] writes `copies` copies, each with tasks of their own (as if the same stack had run `copies`
//! times as many replicas), for the import tests (1 copy) and the import benchmark (×100, ×1000).

use redis::Connection;

/// Data members (every key but `wotemu:snapshot` and `wotemu:compose`) in one copy.
pub const MEMBERS_PER_COPY: usize = 7_500;
/// Reads that failed, in one copy.
pub const READ_ERRORS_PER_COPY: usize = 8;
/// Subscription errors (`on_error`), in one copy.
pub const SUBSCRIPTION_ERRORS_PER_COPY: usize = 8;
/// The thing every client uses.
pub const THING: &str = "urn:wotemu:quickstart:thing";

const T0: f64 = 1_764_000_000.0;
const SECONDS: f64 = 200.0;
const READERS: usize = 4;
const SUBSCRIBERS: usize = 2;
const SYSTEM_PER_TASK: usize = 40;
const APP_VALUES: usize = 20;
const READS_PER_READER: usize = 150;
const ROUNDS_PER_SUBSCRIBER: usize = 4;
const NEXT_PER_ROUND: usize = 25;

/// One task of a copy.
struct Task {
    service: &'static str,
    slot: usize,
    id: String,
    ip: String,
}

impl Task {
    fn name(&self) -> String {
        format!("wotemu_{}.{}.{}", self.service, self.slot, self.id)
    }
}

fn tasks_of(copy: usize) -> Vec<Task> {
    let mut out: Vec<Task> = Vec::new();
    let services = std::iter::once(("server", 1))
        .chain((1..=READERS).map(|s| ("reader", s)))
        .chain((1..=SUBSCRIBERS).map(|s| ("subscriber", s)));
    for (k, (service, slot)) in services.enumerate() {
        // Distinct addresses over every copy's tasks.
        let n = copy * 7 + k;
        out.push(Task {
            service,
            slot,
            // Docker task ids are 25 lower-case alphanumerics.
            id: format!("{copy:08}{k:02}qwmz4kx9p1a3v7n5"),
            ip: format!("10.{}.{}.{}", 1 + n / 62_500, (n / 250) % 250, 2 + n % 250),
        });
    }
    out
}

/// Python's `repr` of a float as `json.dumps` writes it (`1764000000.25`, `0.5`).
fn f(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Writes `copies` copies of the store; returns the data members written.
pub fn store_06(conn: &mut Connection, copies: usize) -> usize {
    let mut written = 0;
    let mut snapshot = serde_json::Map::new();
    let mut pipe = redis::pipe();
    let mut queued = 0;
    let zadd = |pipe: &mut redis::Pipeline, key: &str, score: f64, member: String| {
        pipe.cmd("ZADD").arg(key).arg(score).arg(member).ignore();
    };
    for copy in 0..copies {
        let tasks = tasks_of(copy);
        let server = &tasks[0];
        let mut members: Vec<(String, f64, String)> = Vec::with_capacity(MEMBERS_PER_COPY);
        // info
        for t in &tasks {
            members.push((
                format!("wotemu:info:{}", t.name()),
                T0,
                format!(
                    r##"{{"cpu_count": 2, "cpu_model": "Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "mem_total": 8363192320, "net": {{"lo": [{{"family": 2, "address": "127.0.0.1", "netmask": "255.0.0.0", "broadcast": null, "ptp": null}}], "eth0": [{{"family": 2, "address": "{ip}", "netmask": "255.255.0.0", "broadcast": null, "ptp": null}}, {{"family": 17, "address": "02:42:0a:00:01:05", "netmask": null, "broadcast": "ff:ff:ff:ff:ff:ff", "ptp": null}}]}}, "python_version": "3.8.5 (default, Sep 10 2020, 16:58:22) \n[GCC 8.3.0]", "uname": {{"system": "Linux", "node": "{id}", "release": "5.4.0-1029-aws", "version": "#30-Ubuntu SMP Tue Oct 20 10:06:38 UTC 2020", "machine": "x86_64", "processor": ""}}, "process": {{"pid": 1, "name": "wotemu", "cmdline": ["/usr/local/bin/wotemu", "app"]}}, "boot_time": 1763990000.0, "env": {{"PATH": "/usr/local/bin:/usr/bin:/bin", "HOSTNAME": "{id}", "REDIS_HOST": "redis", "PORT_HTTP": "80", "PORT_WS": "81", "PORT_COAP": "5683", "MQTT_BROKER_TOKEN": "hunter2", "TARGET_CPU_SPEED": "", "API_KEY": "sk-live-0000"}}, "hostname": "{id}", "service_vips": {{}}, "networks_cidr": {{"3g": "10.0.1.0/24"}}, "container_id": "c0{id}", "task_id": "{id}", "constraints": {{"node.role": "manager"}}, "time": {t}}}"##,
                    ip = t.ip,
                    id = t.id,
                    t = f(T0),
                ),
            ));
        }
        // system
        for (k, t) in tasks.iter().enumerate() {
            for i in 0..SYSTEM_PER_TASK {
                let time = T0 + i as f64 * 5.0 + k as f64 * 0.125;
                members.push((
                    format!("wotemu:system:{}", t.name()),
                    time,
                    format!(
                        r#"{{"time": {}, "cpu_percent": {}, "cpu_percent_constraint": {}, "mem_mb": {}, "mem_percent": {}}}"#,
                        f(time),
                        f((i * 7 + k * 3) as f64 % 90.0 + 0.5),
                        if t.service == "server" { "null".to_owned() } else { f(50.0) },
                        f(60.0 + (i % 10) as f64 * 1.5),
                        f(6.0 + (i % 10) as f64 * 0.25)
                    ),
                ));
            }
        }
        // app values of the server
        for i in 0..APP_VALUES {
            let time = T0 + i as f64 * 10.0;
            members.push((
                format!("wotemu:app:{}:requests", server.name()),
                time,
                format!(r#"{{"requests": {}, "time": {}}}"#, i * 12, f(time)),
            ));
        }
        // reads: consumed by each reader, exposed by the server
        for (r, t) in tasks[1..=READERS].iter().enumerate() {
            for i in 0..READS_PER_READER {
                let time = T0 + i as f64 * (SECONDS / READS_PER_READER as f64) + r as f64 * 0.25;
                let name = if i % 2 == 0 {
                    "temperature"
                } else {
                    "humidity"
                };
                let failed = i == 40 || i == 41 + 60;
                let (latency, error, result) = if failed {
                    (
                        f(30.0),
                        format!(
                            r#"{{"type": "TimeoutError", "message": "reading {name} of {THING} timed out after 30 s"}}"#
                        ),
                        "null".to_owned(),
                    )
                } else {
                    (
                        f(0.6 + ((i * 37 + r * 11) % 100) as f64 / 100.0),
                        "null".to_owned(),
                        f(20.0 + (i % 7) as f64 * 0.5),
                    )
                };
                members.push((
                    format!("wotemu:thing:{}", t.name()),
                    time,
                    format!(
                        r#"{{"thing": "{THING}", "verb": "readProperty", "name": "{name}", "time": {}, "host": "{}", "class": "ConsumedThing", "latency": {latency}, "error": {error}, "result": {result}}}"#,
                        f(time),
                        t.name()
                    ),
                ));
                if !failed {
                    let time = time + 0.3;
                    members.push((
                        format!("wotemu:thing:{}", server.name()),
                        time,
                        format!(
                            r#"{{"thing": "{THING}", "verb": "readProperty", "name": "{name}", "time": {}, "host": "{}", "class": "ExposedThing", "latency": {}, "error": null, "result": {}}}"#,
                            f(time),
                            server.name(),
                            f(0.000_25 + (i % 5) as f64 * 0.000_01),
                            f(20.0 + (i % 7) as f64 * 0.5)
                        ),
                    ));
                }
            }
        }
        // subscriptions
        for (s, t) in tasks[1 + READERS..].iter().enumerate() {
            for round in 0..ROUNDS_PER_SUBSCRIBER {
                // uuid4().hex
                let sub = format!("{:016x}{:08x}4a1b{round:04x}", copy * 16 + s, s);
                let base =
                    T0 + round as f64 * (SECONDS / ROUNDS_PER_SUBSCRIBER as f64) + s as f64 * 0.5;
                // As 0.6 builds them: the event's own fields first, then the subscription's.
                let host = t.name();
                let ev = |head: &str, time: f64| {
                    format!(
                        r#"{{{head}, "thing": "{THING}", "verb": "subscribeEvent", "name": "tick", "time": {}, "host": "{host}", "class": "ConsumedThing", "subscription": "{sub}"}}"#,
                        f(time)
                    )
                };
                let key = format!("wotemu:thing:{}", t.name());
                members.push((key.clone(), base, ev(r#""event": "on_subscribe""#, base)));
                for i in 0..NEXT_PER_ROUND {
                    let time = base + 1.0 + i as f64 * 1.5;
                    members.push((
                        key.clone(),
                        time,
                        ev(
                            &format!(
                                r#""event": "on_next", "item": {{"name": "tick", "data": {{"n": {i}, "time": {}}}}}"#,
                                f(time)
                            ),
                            time,
                        ),
                    ));
                }
                let time = base + 45.0;
                members.push((
                    key.clone(),
                    time,
                    ev(
                        r#""event": "on_error", "error": {"type": "ConnectionClosed", "message": "code = 1006 (connection closed abnormally [internal]), no reason"}"#,
                        time,
                    ),
                ));
            }
        }
        // packets: what is left of the copy's members, spread over the tasks
        let left = MEMBERS_PER_COPY - members.len();
        const PROTOS: [(&str, &str, u16); 8] = [
            ("tcp", "tcp", 80),
            ("http", "tcp", 80),
            ("json", "tcp", 80),
            ("data-text-lines", "tcp", 80),
            ("websocket", "tcp", 81),
            ("tcp", "tcp", 81),
            ("icmp", "icmp", 0),
            ("dns", "udp", 53),
        ];
        for i in 0..left {
            let t = &tasks[i % tasks.len()];
            let time = T0 + i as f64 * (SECONDS / left as f64);
            let (proto, transport, port) = PROTOS[i % PROTOS.len()];
            let (src, dst, srcport, dstport) = if t.service == "server" {
                (
                    server.ip.clone(),
                    tasks[1 + i % 6].ip.clone(),
                    port.to_string(),
                    (40_000 + i % 20_000).to_string(),
                )
            } else {
                (
                    t.ip.clone(),
                    server.ip.clone(),
                    (40_000 + i % 20_000).to_string(),
                    port.to_string(),
                )
            };
            let (srcport, dstport) = if transport == "icmp" {
                ("null".to_owned(), "null".to_owned())
            } else {
                (srcport, dstport)
            };
            let iface = if i % 50 == 0 { "eth1" } else { "eth0" };
            members.push((
                format!("wotemu:packet:{iface}:{}", t.name()),
                time,
                format!(
                    r#"{{"len": {}, "src": "{src}", "dst": "{dst}", "proto": "{proto}", "transport": "{transport}", "time": {}, "srcport": {srcport}, "dstport": {dstport}}}"#,
                    54 + (i * 131) % 1400,
                    f(time)
                ),
            ));
        }
        assert_eq!(members.len(), MEMBERS_PER_COPY);
        for (key, score, member) in members {
            zadd(&mut pipe, &key, score, member);
            written += 1;
            queued += 1;
            if queued == 10_000 {
                pipe.query::<()>(conn).expect("writing the 0.6 store");
                pipe = redis::pipe();
                queued = 0;
            }
        }
        for (k, t) in tasks.iter().enumerate() {
            let failed = t.service == "subscriber" && t.slot == 2;
            snapshot.insert(
                t.id.clone(),
                serde_json::json!({
                    "task": {
                        "ID": t.id, "Slot": t.slot, "ServiceID": format!("svc{}", t.service),
                        "NodeID": format!("node{}abc", k % 2), "Version": {"Index": 100 + k},
                        "Spec": {"ContainerSpec": {"Image": "agmangas/wotemu:latest"}},
                        "Status": {
                            "Timestamp": "2025-11-24T16:03:20.5Z",
                            "State": if failed { "failed" } else { "running" },
                            "Message": "started",
                            "Err": if failed { serde_json::Value::from("task: non-zero exit (1)") } else { serde_json::Value::Null },
                            "ContainerStatus": {"ContainerID": format!("c0{}", t.id), "PID": 1000 + k, "ExitCode": if failed { 1 } else { 0 }}
                        },
                        "DesiredState": "running",
                        "NetworksAttachments": [{"Network": {"Spec": {"Name": "wotemu_3g"}}, "Addresses": [format!("{}/24", t.ip)]}]
                    },
                    "time": T0 + SECONDS,
                    "logs": format!("2025-11-24T16:00:00.5Z INFO:wotemu:starting {}\n2025-11-24T16:00:01.0Z INFO:wotemu:app ready\n", t.name())
                }),
            );
        }
    }
    pipe.cmd("ZADD")
        .arg("wotemu:snapshot")
        .arg(T0 + SECONDS)
        .arg(serde_json::Value::Object(snapshot).to_string())
        .ignore();
    pipe.cmd("ZADD")
        .arg("wotemu:compose")
        .arg(T0)
        .arg(
            serde_json::json!({
                "version": "3.7",
                "services": {
                    "redis": {"image": "redis:5"},
                    "server": {"image": "agmangas/wotemu:latest", "networks": ["3g"]},
                    "reader": {"image": "agmangas/wotemu:latest", "networks": ["3g"], "deploy": {"replicas": READERS * copies}},
                    "subscriber": {"image": "agmangas/wotemu:latest", "networks": ["3g"], "deploy": {"replicas": SUBSCRIBERS * copies}},
                    "gw_3g": {"image": "agmangas/wotemu:latest", "cap_add": ["NET_ADMIN"]}
                },
                "networks": {"3g": {"driver": "overlay", "attachable": true}}
            })
            .to_string(),
        )
        .ignore();
    pipe.query::<()>(conn).expect("writing the 0.6 store");
    written
}
