//! Test fixtures built from real parts, shared by the integration tests and benchmarks of every crate.
//!
//! - [`RedisServer`]: a `redis-server` child process on a free loopback port, persistence off, killed on drop.
//! - [`synth`]: synthetic records of every table with realistic shapes, reproducible from a seed.
//! - [`load`]: writes records into Redis in the stream layout, as agents do.
//! - [`legacy`]: a WoTemu 0.6 store, as 0.6 leaves it after a run.
//! - [`browser`]: a generated page in real headless Chromium (charts render, no request, no console error).
//!
//! Readiness is awaited by reading the server's own "Ready to accept connections" line, never by sleeping.
//!
//! This crate must never be a dependency of a shipped crate, or stand in for a real part (it starts the real
//! `redis-server`; it does not mock it).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub mod browser;
pub mod legacy;
pub mod load;
pub mod synth;

/// A `redis-server` of the test's own.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    aof: Aof,
}

/// How a test server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aof {
    /// In memory only.
    Off,
    /// An append-only file fsynced every second, as `wotemu run`'s Redis.
    EverySec,
    /// An append-only file fsynced on every write.
    Always,
}

impl RedisServer {
    /// Starts a server on a free port. Panics with a clear message when `redis-server` is not installed.
    pub fn start() -> RedisServer {
        Self::start_with(Aof::Off)
    }

    /// Starts a server kept durable as `wotemu run` keeps its own (append-only file fsynced every second):
    /// for the cost of that durability in benchmarks.
    pub fn start_as_a_run() -> RedisServer {
        Self::start_with(Aof::EverySec)
    }

    /// Starts a server whose data survives [`RedisServer::kill`] and [`RedisServer::restart`] (append-only
    /// file, fsync on every write), as a production Redis would be set up: for outage tests.
    pub fn start_persistent() -> RedisServer {
        Self::start_with(Aof::Always)
    }

    fn start_with(aof: Aof) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        for _ in 0..10 {
            let port = free_port();
            if let Some(child) = spawn_redis(port, dir.path(), aof) {
                return RedisServer {
                    child: Some(child),
                    port,
                    dir,
                    aof,
                };
            }
        }
        panic!("redis-server did not start on any of 10 free ports");
    }

    /// CPU time the server has used so far (user + system), from `/proc`; for benchmarks.
    pub fn cpu_secs(&self) -> f64 {
        self.child
            .as_ref()
            .and_then(|c| cpu_secs_of(c.id()))
            .unwrap_or(0.0)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection to the server.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to the test redis-server")
    }

    /// Kills the server with SIGKILL (its data is lost unless it was started persistent). For outages.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port after [`RedisServer::kill`].
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart() after kill()");
        self.child = Some(
            spawn_redis(self.port, self.dir.path(), self.aof)
                .expect("redis-server restarts on its port"),
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a command to its end (it must succeed) and returns (seconds, peak RSS in MiB) from `wait4`, for the
/// benchmarks.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std cannot do with rusage
pub fn measure(mut cmd: Command) -> (f64, f64) {
    let start = std::time::Instant::now();
    let child = cmd.spawn().expect("run the measured command");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data filled in by the kernel; pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the measured command failed: status {status}"
    );
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

/// A folder's total size in bytes and its largest file (path relative to `dir`, bytes), recursively.
pub fn site_size(dir: &Path) -> (u64, (String, u64)) {
    fn walk(root: &Path, d: &Path, total: &mut u64, largest: &mut (String, u64)) {
        for e in std::fs::read_dir(d).expect("read a site folder").flatten() {
            let p = e.path();
            let m = e.metadata().expect("a site file's metadata");
            if m.is_dir() {
                walk(root, &p, total, largest);
            } else {
                *total += m.len();
                if m.len() > largest.1 {
                    let rel = p.strip_prefix(root).unwrap_or(&p);
                    *largest = (rel.display().to_string(), m.len());
                }
            }
        }
    }
    let (mut total, mut largest) = (0, (String::new(), 0));
    walk(dir, dir, &mut total, &mut largest);
    (total, largest)
}

/// A TCP port on loopback that is free now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Spawns redis-server and waits for its ready line; `None` if it exited first (port taken).
fn spawn_redis(port: u16, dir: &Path, aof: Aof) -> Option<Child> {
    let aof: &[&str] = match aof {
        Aof::Off => &["--appendonly", "no"],
        Aof::EverySec => &["--appendonly", "yes", "--appendfsync", "everysec"],
        Aof::Always => &["--appendonly", "yes", "--appendfsync", "always"],
    };
    let mut child = Command::new(redis_server_path())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(aof)
        .arg("--dir")
        .arg(dir)
        .args(["--daemonize", "no", "--loglevel", "notice"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run redis-server ({e}); install it (apt-get install redis-server) or run .ci/run")
        });
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if line.contains("Ready to accept connections") {
            // Keep draining the log so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Some(child);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn redis_server_path() -> PathBuf {
    std::env::var_os("WOTEMU_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| "redis-server".into())
}

/// Helpers to compare tables.
pub mod compare {
    use arrow::array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array};
    use wotemu_contract::Table;

    /// All batches as one (empty batch of the table's schema for none).
    pub fn concat(table: Table, batches: &[RecordBatch]) -> RecordBatch {
        let schema = table.schema();
        let batches: Vec<RecordBatch> = batches
            .iter()
            .map(|b| {
                RecordBatch::try_new(schema.clone(), b.columns().to_vec()).expect("table schema")
            })
            .collect();
        arrow::compute::concat_batches(&schema, &batches).expect("concat")
    }

    /// The batches as the dataset must hold them: stable-sorted by (task, time).
    pub fn expected(table: Table, batches: &[RecordBatch]) -> RecordBatch {
        let all = concat(table, batches);
        let task = all
            .column_by_name("task")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        let time = all.column_by_name("time").map(|c| {
            c.as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap()
                .clone()
        });
        let mut idx: Vec<u32> = (0..all.num_rows() as u32).collect();
        idx.sort_by_key(|&i| {
            (
                task.value(i as usize).to_owned(),
                time.as_ref().map(|t| t.value(i as usize)),
            )
        });
        arrow::compute::take_record_batch(&all, &UInt32Array::from(idx)).expect("take")
    }

    /// Asserts two batches hold the same columns (names, types, values); a difference names its first row.
    pub fn assert_same(table: Table, got: &RecordBatch, want: &RecordBatch) {
        assert_eq!(got.num_rows(), want.num_rows(), "row count of {table}");
        for (i, f) in want.schema().fields().iter().enumerate() {
            let g = got
                .column_by_name(f.name())
                .unwrap_or_else(|| panic!("column {table}.{}", f.name()));
            let w = want.column(i);
            assert_eq!(g.data_type(), w.data_type(), "type of {table}.{}", f.name());
            if g.to_data() == w.to_data() {
                continue;
            }
            let row = (0..w.len())
                .find(|&r| g.slice(r, 1).to_data() != w.slice(r, 1).to_data())
                .unwrap_or(0);
            panic!(
                "{table}.{} differs first at row {row}: got {}, want {} (task {} / {})",
                f.name(),
                cell(g, row),
                cell(w, row),
                cell(got.column(0), row),
                cell(want.column(0), row),
            );
        }
    }

    fn cell(a: &arrow::array::ArrayRef, row: usize) -> String {
        use arrow::util::display::{ArrayFormatter, FormatOptions};
        ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
            .map(|f| f.value(row).to_string())
            .unwrap_or_else(|_| "?".into())
    }
}

/// CPU time a process has used so far (user + system, all its threads), from `/proc`; for benchmarks.
/// `None` when the process is gone (or its `stat` cannot be read).
pub fn cpu_secs_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    Some(ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}
