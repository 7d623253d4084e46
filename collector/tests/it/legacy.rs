use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type};
use serde_json::json;
use wotemu_collector::dataset::read_table;
use wotemu_collector::legacy::{import, LegacyOptions};
use wotemu_collector::{NoProgress, WORK_DIR};
use wotemu_contract::{Manifest, Table};
use wotemu_testkit::compare::concat;
use wotemu_testkit::RedisServer;

use crate::common::assert_accounting;

const T0: f64 = 1_764_000_000.0;
const R1: &str = "exp_reader.1.bbb";

fn zadd(conn: &mut redis::Connection, key: &str, score: f64, member: &str) {
    let _: () = redis::cmd("ZADD")
        .arg(key)
        .arg(score)
        .arg(member)
        .query(conn)
        .unwrap();
}

fn table(dir: &std::path::Path, t: Table) -> RecordBatch {
    concat(t, &read_table(dir, t).unwrap())
}

fn s<'a>(b: &'a RecordBatch, col: &str, row: usize) -> Option<&'a str> {
    let c = b.column_by_name(col).unwrap().as_string::<i32>();
    c.is_valid(row).then(|| c.value(row))
}

/// A small 0.6 store built from the layout description, with one record of every shape.
fn build_store(conn: &mut redis::Connection) {
    zadd(
        conn,
        "wotemu:compose",
        T0,
        &json!({"version": "3.7", "services": {"server": {}, "reader": {}, "redis": {}}})
            .to_string(),
    );
    zadd(conn, &format!("wotemu:system:{R1}"), T0 + 1.0,
        &json!({"time": T0 + 1.0, "cpu_percent": 12.5, "cpu_percent_constraint": 50.0, "mem_mb": 100.0, "mem_percent": 50.0}).to_string());
    zadd(conn, &format!("wotemu:system:{R1}"), T0 + 6.0,
        &json!({"time": T0 + 6.0, "cpu_percent": 20.0, "cpu_percent_constraint": null, "mem_mb": 110.0, "mem_percent": 0}).to_string());
    let pk = format!("wotemu:packet:eth0:{R1}");
    zadd(conn, &pk, T0 + 2.0, &json!({"time": T0 + 2.0, "len": 120, "src": "10.0.1.5", "dst": "10.0.1.2", "proto": "json", "transport": "TCP", "srcport": "40000", "dstport": 80}).to_string());
    zadd(conn, &pk, T0 + 2.5, &json!({"time": T0 + 2.5, "len": "90", "src": "10.0.1.2", "dst": "10.0.1.5", "proto": "websocket", "transport": "tcp", "srcport": 81, "dstport": 40001}).to_string());
    zadd(conn, &pk, T0 + 3.0, &json!({"time": T0 + 3.0, "len": 60, "src": "10.0.1.5", "dst": "10.0.2.9", "proto": "tcp", "transport": "tcp", "srcport": 40002, "dstport": 1883}).to_string());
    zadd(conn, &format!("wotemu:packet:eth1:{R1}"), T0 + 2.7, &json!({"time": T0 + 2.7, "len": 84, "src": "10.0.1.5", "dst": "10.0.1.1", "proto": "icmp", "transport": "icmp", "srcport": null, "dstport": null}).to_string());
    let tk = format!("wotemu:thing:{R1}");
    zadd(conn, &tk, T0 + 4.0, &json!({"thing": "urn:clock", "verb": "readProperty", "name": "time", "time": T0 + 4.0, "host": "server.3g", "class": "ConsumedThing", "latency": 0.25, "error": null, "result": 3}).to_string());
    zadd(conn, &tk, T0 + 4.5, &json!({"thing": "urn:clock", "verb": "invokeaction", "name": "reset", "time": T0 + 4.5, "host": "server.3g", "class": "ConsumedThing", "latency": 1.5, "error": {"type": "TimeoutError", "message": "timed out </script>"}, "result": null}).to_string());
    zadd(conn, &tk, T0 + 5.0, &json!({"thing": "urn:clock", "verb": "subscribeevent", "name": "tick", "time": T0 + 5.0, "host": "server.3g", "class": "ConsumedThing", "subscription": "sub-1", "event": "on_next", "item": {"n": 1}}).to_string());
    zadd(conn, &tk, T0 + 5.5, "this is not json");
    zadd(conn, &format!("wotemu:info:{R1}"), T0,
        &json!({"cpu_count": 2, "cpu_model": "Xeon", "mem_total": 8_000_000_000u64, "hostname": "h1", "container_id": "c-info",
                "python_version": "3.8.5", "uname": {"system": "Linux", "release": "5.4"}, "time": T0,
                "env": {"REDIS_URL": "redis://:pw@redis", "API_TOKEN": "s3cret", "PORT_HTTP": "80"},
                "networks_cidr": {"3g": "10.0.1.0/24"}, "net": {"eth0": [{"family": 2, "address": "10.0.1.5"}], "lo": [{"address": "127.0.0.1"}]}}).to_string());
    zadd(
        conn,
        &format!("wotemu:app:{R1}:fps"),
        T0 + 7.0,
        &json!({"fps": 29.5}).to_string(),
    );
    zadd(conn, "wotemu:system:exp_server.1.aaa", T0 + 1.0, &json!({"time": T0 + 1.0, "cpu_percent": 1.0, "cpu_percent_constraint": 100.0, "mem_mb": 50.0, "mem_percent": 10.0}).to_string());
    zadd(conn, "wotemu:snapshot", T0 + 60.0, &json!({
        "bbb": {"task": {"Slot": 1, "Status": {"State": "failed", "Err": "task: non-zero exit (1)", "Timestamp": "2025-11-24T16:01:00Z",
                "ContainerStatus": {"ContainerID": "c-snap"}}}, "time": T0 + 60.0,
                "logs": "2025-11-24T16:00:30.5Z starting reader\nTraceback (most recent call last):\n"},
        "zzz": {"task": {"Slot": 2, "ServiceID": "svc0123456789abcdef", "Status": {"State": "rejected", "Err": "no suitable node"}}, "time": T0 + 60.0, "logs": ""}
    }).to_string());
    // Not of the 0.6 layout: a string where a sorted set belongs, and a new-layout key.
    let _: () = redis::cmd("SET")
        .arg("wotemu:system:exp_weird.1.w")
        .arg("x")
        .query(conn)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("wotemu:other:meta")
        .arg("a")
        .arg("b")
        .query(conn)
        .unwrap();
}

#[test]
fn a_06_store_maps_to_every_table() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    build_store(&mut conn);
    let dbsize_before: u64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();

    let out = tempfile::tempdir().unwrap();
    let opts = LegacyOptions {
        redis_url: redis.url(),
        stack: None,
        out: out.path().to_owned(),
        spill_bytes: 1 << 20,
    };
    let summary = import(&opts, &NoProgress).unwrap();
    let dir = out.path();
    let m = Manifest::read(dir).unwrap();
    assert_eq!(m.source.kind, "legacy-0.6");
    assert_eq!(m.stack, "exp", "guessed from the compose services");
    assert!(m.compose.as_deref().unwrap().contains("\"reader\""));
    assert_accounting(&m, dir);
    let dbsize_after: u64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert_eq!(
        dbsize_before, dbsize_after,
        "the 0.6 store is left as it was"
    );
    assert!(summary.records > 0);

    // Problems: the non-JSON member and the string key.
    assert_eq!(m.problems.len(), 2, "{:#?}", m.problems);
    assert_eq!(m.problems[0].stream, "wotemu:system:exp_weird.1.w");
    assert!(m.problems[0].error.contains("not a sorted set"));
    assert_eq!(m.problems[1].stream, format!("wotemu:thing:{R1}"));
    assert_eq!(m.problems[1].id, "member 3");
    assert_eq!(m.accounting.tasks[R1].records_rejected, 1);

    // system
    let sys = table(dir, Table::System);
    assert_eq!(sys.num_rows(), 3);
    assert_eq!(
        s(&sys, "task", 0),
        Some("exp_reader.1.bbb"),
        "sorted by task"
    );
    assert_eq!(s(&sys, "node", 0), Some("reader"));
    let f = |c: &str, r: usize| {
        sys.column_by_name(c)
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(r)
    };
    let u = |c: &str, r: usize| {
        let a = sys.column_by_name(c).unwrap().as_primitive::<UInt64Type>();
        a.is_valid(r).then(|| a.value(r))
    };
    assert_eq!(f("cpu_percent", 0), 12.5);
    assert_eq!(f("cpu_limit_percent", 0), 50.0);
    assert!(sys.column_by_name("cpu_limit_percent").unwrap().is_null(1));
    assert_eq!(u("mem_bytes", 0), Some(104_857_600));
    assert_eq!(u("mem_limit_bytes", 0), Some(209_715_200));
    assert_eq!(
        u("mem_limit_bytes", 1),
        None,
        "mem_percent 0 tells no limit"
    );
    assert!(sys.column_by_name("cpu_throttled_us").unwrap().is_null(0));
    let times = sys
        .column_by_name("time")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(times.value(0), 1_764_000_001_000_000);

    // packets: sorted by time across interfaces, protocols mapped.
    let p = table(dir, Table::Packets);
    assert_eq!(p.num_rows(), 4);
    let protos: Vec<_> = (0..4).map(|i| s(&p, "proto", i).unwrap()).collect();
    assert_eq!(protos, ["http", "ws", "icmp", "mqtt"]);
    let ifaces: Vec<_> = (0..4).map(|i| s(&p, "iface", i).unwrap()).collect();
    assert_eq!(ifaces, ["eth0", "eth0", "eth1", "eth0"]);
    assert_eq!(s(&p, "transport", 0), Some("tcp"), "lower-cased");
    let ports = p
        .column_by_name("srcport")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(ports.value(0), 40000, "string port parsed");
    assert!(ports.is_null(2), "icmp has no ports");
    assert_eq!(
        p.column_by_name("len")
            .unwrap()
            .as_primitive::<UInt32Type>()
            .value(1),
        90
    );

    // interactions
    let it = table(dir, Table::Interactions);
    assert_eq!(it.num_rows(), 2);
    assert_eq!(s(&it, "verb", 0), Some("readproperty"));
    assert_eq!(s(&it, "side", 0), Some("consumed"));
    assert_eq!(s(&it, "host", 0), Some("server.3g"));
    let lat = it
        .column_by_name("latency_ms")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(lat.value(0), 250.0);
    assert_eq!(lat.value(1), 1500.0);
    let ok = it.column_by_name("ok").unwrap().as_boolean();
    assert!(ok.value(0) && !ok.value(1));
    assert_eq!(s(&it, "error_type", 1), Some("TimeoutError"));
    assert_eq!(s(&it, "error_message", 1), Some("timed out </script>"));
    assert_eq!(s(&it, "error_type", 0), None);

    // events
    let ev = table(dir, Table::Events);
    assert_eq!(ev.num_rows(), 1);
    assert_eq!(s(&ev, "kind", 0), Some("next"));
    assert_eq!(s(&ev, "subscription", 0), Some("sub-1"));
    assert_eq!(s(&ev, "item", 0), Some(r#"{"n":1}"#));

    // app
    let app = table(dir, Table::App);
    assert_eq!(app.num_rows(), 1);
    assert_eq!(s(&app, "key", 0), Some("fps"));
    assert_eq!(s(&app, "value", 0), Some(r#"{"fps":29.5}"#));

    // tasks: info + snapshot, and a task only the snapshot knows.
    let t = table(dir, Table::Tasks);
    let names: Vec<_> = (0..t.num_rows())
        .map(|i| s(&t, "task", i).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "exp_reader.1.bbb",
            "exp_server.1.aaa",
            "exp_service-svc012345678.2.zzz",
            "exp_weird.1.w"
        ]
    );
    assert_eq!(s(&t, "state", 0), Some("failed"));
    assert_eq!(s(&t, "exit_error", 0), Some("task: non-zero exit (1)"));
    assert_eq!(s(&t, "container_id", 0), Some("c-snap"));
    assert_eq!(s(&t, "hostname", 0), Some("h1"));
    assert_eq!(s(&t, "networks", 0), Some("3g"));
    assert_eq!(s(&t, "ip_addresses", 0), Some("10.0.1.5"));
    assert_eq!(s(&t, "cpu_model", 0), Some("Xeon"));
    assert_eq!(s(&t, "python_version", 0), Some("3.8.5"));
    assert_eq!(s(&t, "platform", 0), Some("5.4 Linux"));
    let env: serde_json::Value = serde_json::from_str(s(&t, "env", 0).unwrap()).unwrap();
    assert_eq!(env["API_TOKEN"], "<redacted>");
    assert_eq!(env["REDIS_URL"], "redis://:<redacted>@redis");
    assert_eq!(env["PORT_HTTP"], "80");
    assert_eq!(
        t.column_by_name("cpu_count")
            .unwrap()
            .as_primitive::<UInt32Type>()
            .value(0),
        2
    );
    assert_eq!(
        t.column_by_name("mem_total_bytes")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .value(0),
        8_000_000_000
    );
    assert!(
        t.column_by_name("stopped_at").unwrap().is_valid(0),
        "failed is terminal"
    );
    assert_eq!(s(&t, "state", 1), Some("unknown"), "no snapshot entry");
    assert_eq!(s(&t, "state", 2), Some("rejected"));
    assert_eq!(s(&t, "exit_error", 2), Some("no suitable node"));

    // logs from the snapshot, with Docker timestamps where present.
    let logs = table(dir, Table::Logs);
    assert_eq!(logs.num_rows(), 2);
    // The timestamped line (16:00:30.5) comes before the untimed one, which takes the snapshot's time (16:01).
    assert_eq!(s(&logs, "line", 0), Some("starting reader"));
    assert_eq!(
        s(&logs, "line", 1),
        Some("Traceback (most recent call last):")
    );
    let lt = logs
        .column_by_name("time")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(lt.value(0), 1_764_000_030_500_000);
    assert_eq!(lt.value(1), 1_764_000_060_000_000);
}

#[test]
fn an_empty_store_is_a_clear_error() {
    let redis = RedisServer::start();
    let out = tempfile::tempdir().unwrap();
    let opts = LegacyOptions {
        redis_url: redis.url(),
        stack: None,
        out: out.path().to_owned(),
        spill_bytes: 1 << 20,
    };
    let err = import(&opts, &NoProgress).unwrap_err().to_string();
    assert!(err.contains("no WoTemu 0.6 data"), "{err}");
}

/// WoTemu 0.6's store as 0.6 leaves it after a run (testkit's `legacy::store_06`): every member is in the
/// dataset with every field 0.6 recorded — the 8 failed reads and the 8 subscription errors with their type and
/// message, tshark's layer, the results, every fact of `info` and of the Docker task.
#[test]
fn the_06_dump_keeps_every_field_and_every_error() {
    use wotemu_testkit::legacy::{store_06, MEMBERS_PER_COPY, THING};
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    assert_eq!(store_06(&mut conn, 1), MEMBERS_PER_COPY);
    let out = tempfile::tempdir().unwrap();
    let opts = LegacyOptions {
        redis_url: redis.url(),
        stack: None,
        out: out.path().to_owned(),
        spill_bytes: 1 << 20,
    };
    import(&opts, &NoProgress).unwrap();
    let dir = out.path();
    let m = Manifest::read(dir).unwrap();
    assert_eq!(m.stack, "wotemu");
    assert!(m.problems.is_empty(), "{:#?}", m.problems);
    assert_accounting(&m, dir);
    assert!(m.losses().is_empty(), "{:?}", m.losses());
    let rows = |t: Table| table(dir, t).num_rows();
    // 7 tasks × 2 log lines from the snapshot are rows too; the 7 `info` members are the tasks table.
    assert_eq!(
        Table::ALL
            .into_iter()
            .filter(|t| !matches!(t, Table::Tasks | Table::Logs))
            .map(rows)
            .sum::<usize>()
            + 7,
        MEMBERS_PER_COPY
    );
    assert_eq!(rows(Table::Logs), 14);
    assert_eq!(rows(Table::Tasks), 7);
    assert_eq!(rows(Table::App), 20);
    assert_eq!(rows(Table::System), 7 * 40);

    // Every failed read, with its type and message; every result of the others.
    let it = table(dir, Table::Interactions);
    let ok = it.column_by_name("ok").unwrap().as_boolean();
    let failed: Vec<usize> = (0..it.num_rows()).filter(|&i| !ok.value(i)).collect();
    assert_eq!(failed.len(), 8);
    for &i in &failed {
        assert_eq!(s(&it, "error_type", i), Some("TimeoutError"));
        assert!(s(&it, "error_message", i)
            .unwrap()
            .contains("timed out after 30 s"));
        assert_eq!(s(&it, "side", i), Some("consumed"));
        assert_eq!(s(&it, "result", i), None);
    }
    for i in (0..it.num_rows()).filter(|&i| ok.value(i)) {
        let r: f64 = s(&it, "result", i).unwrap().parse().unwrap();
        assert!((20.0..24.0).contains(&r), "result kept: {r}");
        assert_eq!(s(&it, "verb", i), Some("readproperty"));
        assert_eq!(s(&it, "thing", i), Some(THING));
    }

    // Every subscription error, with its type and message as the item (as wotemu's agent records them).
    let ev = table(dir, Table::Events);
    assert_eq!(ev.num_rows(), 2 * 4 * 27);
    let errors: Vec<usize> = (0..ev.num_rows())
        .filter(|&i| s(&ev, "kind", i) == Some("error"))
        .collect();
    assert_eq!(errors.len(), 8);
    for &i in &errors {
        let item: serde_json::Value = serde_json::from_str(s(&ev, "item", i).unwrap()).unwrap();
        assert_eq!(item["type"], "ConnectionClosed");
        assert!(item["message"].as_str().unwrap().contains("code = 1006"));
        assert_eq!(s(&ev, "subscription", i).map(str::len), Some(32));
    }
    let kinds: std::collections::BTreeSet<&str> = (0..ev.num_rows())
        .filter_map(|i| s(&ev, "kind", i))
        .collect();
    assert_eq!(kinds, ["error", "next", "subscribe"].into());

    // tshark's layer kept beside the protocol it maps to.
    let p = table(dir, Table::Packets);
    let mut pairs = std::collections::BTreeSet::new();
    for i in 0..p.num_rows() {
        pairs.insert((
            s(&p, "layer", i).unwrap().to_owned(),
            s(&p, "proto", i).unwrap().to_owned(),
        ));
    }
    for (layer, proto) in [
        ("data-text-lines", "http"),
        ("json", "http"),
        ("http", "http"),
        ("websocket", "ws"),
        ("icmp", "icmp"),
    ] {
        assert!(
            pairs.contains(&(layer.into(), proto.into())),
            "{layer} → {proto}: {pairs:?}"
        );
    }

    // Every fact of info and of the Docker task; secrets redacted.
    let t = table(dir, Table::Tasks);
    let hosts: std::collections::BTreeSet<&str> =
        (0..t.num_rows()).filter_map(|i| s(&t, "host", i)).collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        ["node0abc", "node1abc"],
        "each task's host is its Swarm node's id"
    );
    for i in 0..t.num_rows() {
        let facts: serde_json::Value = serde_json::from_str(s(&t, "facts", i).unwrap()).unwrap();
        for key in [
            "boot_time",
            "process",
            "service_vips",
            "constraints",
            "task_id",
            "net",
            "uname",
        ] {
            assert!(facts.get(key).is_some(), "{key} in {facts}");
        }
        let docker = &facts["docker_task"];
        assert!(docker["NetworksAttachments"].is_array(), "{docker}");
        assert!(
            docker.get("Spec").is_none(),
            "the compose file's part is in the manifest"
        );
        let env: serde_json::Value = serde_json::from_str(s(&t, "env", i).unwrap()).unwrap();
        assert_eq!(env["MQTT_BROKER_TOKEN"], "<redacted>");
        assert_eq!(env["API_KEY"], "<redacted>");
        assert_eq!(env["PORT_HTTP"], "80");
        assert!(!s(&t, "facts", i).unwrap().contains("hunter2"));
    }
    let failed_task = (0..t.num_rows())
        .find(|&i| s(&t, "state", i) == Some("failed"))
        .expect("the failed subscriber");
    assert!(s(&t, "task", failed_task)
        .unwrap()
        .starts_with("wotemu_subscriber.2."));
    assert_eq!(
        s(&t, "exit_error", failed_task),
        Some("task: non-zero exit (1)")
    );
}

/// A store of many small sets and one task with two large ones (split over pages and round trips, its two
/// interfaces' packets interleaved in time): every member is read once, in order, and counted for its own
/// task — with a memory budget the large task fits in, and with one it does not (its rows are spilled to
/// parts and merged).
#[test]
fn many_small_sets_and_a_large_one_are_each_read_once() {
    for spill_bytes in [256 << 20, 4 << 20] {
        small_sets_and_a_large_one(spill_bytes);
    }
}

fn small_sets_and_a_large_one(spill_bytes: usize) {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    const SMALL: usize = 600;
    const LARGE: usize = 93_001;
    let mut pipe = redis::pipe();
    for i in 0..SMALL {
        let key = format!("wotemu:system:exp_reader.{}.t{i:04}", i + 1);
        for k in 0..3 {
            let t = T0 + f64::from(k as u32);
            pipe.cmd("ZADD").arg(&key).arg(t).arg(
                json!({"time": t, "cpu_percent": i as f64, "cpu_percent_constraint": null, "mem_mb": 1.0, "mem_percent": 1.0})
                    .to_string(),
            );
        }
    }
    for n in 0..LARGE {
        let t = T0 + n as f64 / 1000.0;
        let large = format!("wotemu:packet:eth{}:exp_server.1.aaa", n % 2);
        pipe.cmd("ZADD").arg(large).arg(t).arg(
            json!({"time": t, "len": n % 1500, "src": "10.0.1.2", "dst": "10.0.1.5", "proto": "tcp", "transport": "tcp", "srcport": 80, "dstport": 40000 + n % 1000, "n": n})
                .to_string(),
        );
    }
    let _: () = pipe.query(&mut conn).unwrap();

    let out = tempfile::tempdir().unwrap();
    let opts = LegacyOptions {
        redis_url: redis.url(),
        stack: Some("exp".into()),
        out: out.path().to_owned(),
        spill_bytes,
    };
    let summary = import(&opts, &NoProgress).unwrap();
    assert_eq!(summary.entries, (SMALL * 3 + LARGE) as u64);
    assert!(
        !out.path().join(WORK_DIR).exists(),
        "no part is left behind"
    );
    let m = Manifest::read(out.path()).unwrap();
    assert_accounting(&m, out.path());
    assert_eq!(m.accounting.totals.records_rejected, 0);
    assert_eq!(m.accounting.tasks.len(), SMALL + 1);
    for (task, acc) in &m.accounting.tasks {
        let want = if task.starts_with("exp_server") {
            LARGE
        } else {
            3
        };
        assert_eq!(acc.records_written, want as u64, "{task}");
    }
    let packets = table(out.path(), Table::Packets);
    assert_eq!(packets.num_rows(), LARGE);
    let times = packets
        .column_by_name("time")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert!(
        times.values().windows(2).all(|w| w[0] < w[1]),
        "every packet once, in order"
    );
    if spill_bytes < 256 << 20 {
        // The premise: the task's packets exceed the packets table's share (a fifth) of the budget.
        assert!(packets.get_array_memory_size() > 2 * spill_bytes / 5);
    }
    let ifaces = packets.column_by_name("iface").unwrap().as_string::<i32>();
    let eth1 = ifaces.iter().filter(|i| *i == Some("eth1")).count();
    assert_eq!(eth1, LARGE / 2, "both interfaces' packets");
    let system = table(out.path(), Table::System);
    assert_eq!(system.num_rows(), SMALL * 3);
}

/// A store behind a password, in database 2: the URL's password and database reach every connection of the
/// import (the pages are read by the import's own client, not redis-rs); a wrong password is a clear error.
#[test]
fn a_store_behind_a_password_in_another_database() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let _: () = redis::cmd("SELECT").arg(2).query(&mut conn).unwrap();
    for k in 0..30_000u32 {
        let t = T0 + f64::from(k) / 100.0;
        zadd(
            &mut conn,
            "wotemu:system:exp_reader.1.abc",
            t,
            &json!({"time": t, "cpu_percent": 1.5, "cpu_percent_constraint": null, "mem_mb": 1.0, "mem_percent": 1.0})
                .to_string(),
        );
    }
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query(&mut conn)
        .unwrap();
    let url = |pass: &str| format!("redis://:{pass}@127.0.0.1:{}/2", redis.port());
    let out = tempfile::tempdir().unwrap();
    let mut opts = LegacyOptions {
        redis_url: url("wrong"),
        stack: Some("exp".into()),
        out: out.path().join("run"),
        spill_bytes: 1 << 20,
    };
    let err = import(&opts, &NoProgress).unwrap_err().to_string();
    assert!(err.contains("refused the password"), "{err}");
    assert!(!err.contains("wrong"), "the password is not shown: {err}");
    opts.redis_url = url("s3cret");
    let summary = import(&opts, &NoProgress).unwrap();
    assert_eq!(summary.entries, 30_000);
    let m = Manifest::read(&opts.out).unwrap();
    assert_accounting(&m, &opts.out);
    assert_eq!(m.accounting.totals.records_written, 30_000);
    assert_eq!(table(&opts.out, Table::System).num_rows(), 30_000);
}
