//! What an agent runs: the node's environment contract (WoTemu 0.6's variables plus `WOTEMU_*`) and flags.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use wotemu_contract::task::TaskName;
use wotemu_ship::ProducerConfig;

pub use wotemu_contract::ports::Ports;

/// Everything an agent needs.
#[derive(Debug, Clone, Serialize)]
pub struct AgentConfig {
    pub stack: String,
    /// The task (replica) name, `<stack>_<node>.<slot>.<id>` under Swarm.
    pub task: String,
    pub node: String,
    pub service: String,
    pub slot: Option<u32>,
    /// Redis URL (a password in it never reaches Redis, the dataset or the report).
    #[serde(serialize_with = "redacted_url")]
    pub redis_url: String,
    /// Builtin app name (`reader`, `wotemu_reader`), URL or file.
    pub app: String,
    /// `--func-param NAME VALUE` pairs, passed to the app as keyword arguments (strings, as in 0.6).
    pub params: BTreeMap<String, String>,
    pub http: bool,
    pub ws: bool,
    pub mqtt: bool,
    pub coap: bool,
    pub ports: Ports,
    /// The MQTT broker's host (`MQTT_BROKER_HOST`).
    pub mqtt_broker_host: Option<String>,
    /// The hostname the servient announces in its forms (default: this host's name).
    pub hostname: Option<String>,
    /// Networks the node is on (`WOTEMU_NETWORKS`, comma separated), recorded in the task facts.
    pub networks: Vec<String>,
    /// The stack's read-only Docker API (`DOCKER_PROXY_URL`, Swarm): the agent asks it for its task's networks.
    pub docker_proxy_url: Option<String>,
    /// How often CPU and memory are sampled.
    pub sample_every: Duration,
    /// Batches are shipped at least this often.
    pub flush_every: Duration,
    /// A table's batch is shipped as soon as it holds this many records.
    pub batch_rows: usize,
    /// Records held in memory per table before new ones are dropped (and counted); `WOTEMU_MAX_BUFFERED_ROWS`.
    pub max_buffered_rows: usize,
    /// Where batches wait while Redis is unreachable.
    pub spool_dir: PathBuf,
    /// The most bytes the spool may hold; beyond, batches are dropped and counted.
    pub spool_max_bytes: u64,
    /// Count packets on the node's interfaces (needs CAP_NET_RAW).
    pub capture: bool,
    /// Interfaces to count on (empty: all).
    pub capture_ifaces: Vec<String>,
    /// Extra directories for Python's path (a venv's site-packages, the app's folder).
    pub python_path: Vec<PathBuf>,
    /// How long to keep trying to ship the last batches when stopping before leaving them in the spool.
    pub drain_timeout: Duration,
    /// Python logging level of the app.
    pub log_level: String,
    /// Emulated CPU speed (`TARGET_CPU_SPEED`), and what the one-host runner already applied.
    pub cpu_speed: CpuSpeedConfig,
    /// The Docker host this task runs on (`NODE_HOSTNAME`, Swarm): whose CPU calibration applies.
    pub node_hostname: Option<String>,
}

/// `TARGET_CPU_SPEED`, and `WOTEMU_CPU_SPEED_HOST` / `WOTEMU_CPU_QUOTA` when the runner set the quota.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CpuSpeedConfig {
    pub target: Option<f64>,
    pub host: Option<f64>,
    pub quota: Option<f64>,
}

fn redacted_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&wotemu_contract::redact::redact_url(url))
}

impl AgentConfig {
    /// The configuration the environment gives (`env` is usually `std::env::vars()`), with defaults.
    pub fn from_env(env: &BTreeMap<String, String>, app: &str) -> AgentConfig {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let port = |k: &str, d: u16| get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        let d = Ports::default();
        let hostname = get("HOSTNAME").or_else(wotemu_sys::facts::hostname);
        let ProducerConfig {
            redis_url,
            stack,
            task,
            spool_dir,
        } = ProducerConfig::from_env(env);
        let parsed = TaskName::parse(&task);
        let node = get("WOTEMU_NODE").unwrap_or_else(|| parsed.node(Some(&stack)).to_owned());
        let service = get("SERVICE_NAME").unwrap_or_else(|| parsed.service.to_owned());
        let slot = parsed.slot;
        let mut python_path = Vec::new();
        for var in ["WOTEMU_PYTHONPATH"] {
            if let Some(v) = get(var) {
                python_path.extend(v.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
            }
        }
        AgentConfig {
            redis_url,
            app: app.to_owned(),
            params: BTreeMap::new(),
            http: false,
            ws: false,
            mqtt: false,
            coap: false,
            ports: Ports {
                catalogue: port("PORT_CATALOGUE", d.catalogue),
                http: port("PORT_HTTP", d.http),
                ws: port("PORT_WS", d.ws),
                coap: port("PORT_COAP", d.coap),
                mqtt: port("PORT_MQTT", d.mqtt),
            },
            mqtt_broker_host: get("MQTT_BROKER_HOST"),
            hostname: get("WOTEMU_SERVIENT_HOST").or(hostname),
            networks: get("WOTEMU_NETWORKS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            docker_proxy_url: get("DOCKER_PROXY_URL"),
            sample_every: Duration::from_secs(1),
            flush_every: Duration::from_secs(1),
            batch_rows: 4096,
            max_buffered_rows: get("WOTEMU_MAX_BUFFERED_ROWS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(200_000),
            spool_dir,
            spool_max_bytes: 256 << 20,
            capture: true,
            capture_ifaces: Vec::new(),
            python_path,
            drain_timeout: Duration::from_secs(10),
            log_level: get("WOTEMU_APP_LOG_LEVEL").unwrap_or_else(|| "INFO".into()),
            cpu_speed: CpuSpeedConfig {
                target: get("TARGET_CPU_SPEED").and_then(|v| v.parse().ok()),
                host: get("WOTEMU_CPU_SPEED_HOST").and_then(|v| v.parse().ok()),
                quota: get("WOTEMU_CPU_QUOTA").and_then(|v| v.parse().ok()),
            },
            node_hostname: get("NODE_HOSTNAME"),
            stack,
            task,
            node,
            service,
            slot,
        }
    }

    /// Who this agent is as a producer of records, and where they go.
    pub fn producer(&self) -> ProducerConfig {
        ProducerConfig {
            redis_url: self.redis_url.clone(),
            stack: self.stack.clone(),
            task: self.task.clone(),
            spool_dir: self.spool_dir.clone(),
        }
    }

    /// `wotemu agent --dry-run` for people: who the agent is, its app, bindings and where it ships.
    pub fn describe(&self) -> String {
        format!(
            "task {} (node {}, stack {})\napp {} with params {:?}\nbindings: http={} ws={} mqtt={} coap={}; ports {:?}\nredis {}\nsamples every {:?}, ships every {:?}; spool {} (max {} MiB); packets: {}",
            self.task, self.node, self.stack, self.app, self.params, self.http, self.ws, self.mqtt, self.coap,
            self.ports, wotemu_contract::redact::redact_url(&self.redis_url), self.sample_every,
            self.flush_every, self.spool_dir.display(), self.spool_max_bytes >> 20,
            if self.capture { "counted" } else { "not counted" },
        )
    }

    /// The MQTT broker URL the servient uses.
    pub fn mqtt_url(&self) -> Option<String> {
        self.mqtt_broker_host
            .as_ref()
            .map(|h| format!("mqtt://{h}:{}", self.ports.mqtt))
    }

    /// The JSON the Python side reads.
    pub(crate) fn python_json(&self) -> String {
        serde_json::json!({
            "path": self.app,
            "params": self.params,
            "http": self.http,
            "ws": self.ws,
            "mqtt": self.mqtt,
            "coap": self.coap,
            "ports": self.ports,
            "mqtt_url": self.mqtt_url(),
            "redis_url": wotemu_contract::redact::redact_url(&self.redis_url),
            "hostname": self.hostname,
            "task": self.task,
            "stack": self.stack,
            "node": self.node,
            "log_level": self.log_level,
        })
        .to_string()
    }
}

/// What `wotemu agent`'s command line changes of the environment's configuration: the flags are defined
/// here, once, with their defaults, beside what they change (the binary flattens them into its command).
#[derive(Debug, Clone, clap::Args)]
pub struct Overrides {
    /// A keyword argument of the app (repeatable); values are strings, as in WoTemu 0.6.
    #[arg(long = "func-param", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append)]
    pub func_param: Vec<String>,
    /// Serve things over HTTP (PORT_HTTP).
    #[arg(long)]
    pub enable_http: bool,
    /// Serve things over WebSockets (PORT_WS).
    #[arg(long)]
    pub enable_ws: bool,
    /// Serve things over MQTT through the broker MQTT_BROKER_HOST.
    #[arg(long)]
    pub enable_mqtt: bool,
    /// Serve things over CoAP (PORT_COAP).
    #[arg(long)]
    pub enable_coap: bool,
    /// Redis URL (default: REDIS_URL of the environment contract, else redis://127.0.0.1:6379).
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Stack name (default: WOTEMU_STACK, else `wotemu`).
    #[arg(long)]
    pub stack: Option<String>,
    /// Task name (default: WOTEMU_TASK, else the hostname); its node, service and slot follow from it.
    #[arg(long)]
    pub task: Option<String>,
    /// Seconds between CPU/memory samples.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub sample_every: f64,
    /// Seconds between shipments to Redis (at most).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub flush_every: f64,
    /// Seconds to keep trying to ship the last batches on stop before leaving them in the spool.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub drain_timeout: f64,
    /// Where batches wait while Redis is unreachable (default: WOTEMU_SPOOL_DIR, else $TMPDIR/wotemu-spool).
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Most MiB the spool may hold; beyond, batches are dropped and counted.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub spool_max_mib: u64,
    /// Do not count packets (no AF_PACKET socket, no CAP_NET_RAW needed).
    #[arg(long)]
    pub no_capture: bool,
    /// Count packets on this interface only (repeatable; default: all).
    #[arg(long = "capture-iface", value_name = "IFACE")]
    pub capture_iface: Vec<String>,
}

impl AgentConfig {
    /// This configuration with a command line's changes (and the apps' venv's `site-packages`, when there is
    /// one); refuses values the agent cannot use.
    pub fn with(
        mut self,
        o: Overrides,
        site_packages: Option<PathBuf>,
    ) -> Result<AgentConfig, crate::Error> {
        let secs = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(crate::Error::Config(format!(
                    "--{what} must be a positive number of seconds, not {v}"
                )))
            }
        };
        if let Some(v) = o.redis_url {
            self.redis_url = v;
        }
        if let Some(v) = o.stack {
            self.stack = v;
        }
        if let Some(v) = o.task {
            let parsed = TaskName::parse(&v);
            self.node = parsed.node(Some(&self.stack)).to_owned();
            self.service = parsed.service.to_owned();
            self.slot = parsed.slot;
            self.task = v;
        }
        let params = o.func_param.chunks_exact(2);
        self.params
            .extend(params.map(|kv| (kv[0].clone(), kv[1].clone())));
        (self.http, self.ws, self.mqtt, self.coap) =
            (o.enable_http, o.enable_ws, o.enable_mqtt, o.enable_coap);
        if self.mqtt && self.mqtt_broker_host.is_none() {
            return Err(crate::Error::Config("--enable-mqtt needs the broker's host: set MQTT_BROKER_HOST (the topology's broker does it)".into()));
        }
        self.sample_every = secs("sample-every", o.sample_every)?;
        self.flush_every = secs("flush-every", o.flush_every)?;
        self.drain_timeout = secs("drain-timeout", o.drain_timeout)?;
        if let Some(d) = o.spool_dir {
            self.spool_dir = d;
        }
        self.spool_max_bytes = o.spool_max_mib << 20;
        self.capture = !o.no_capture;
        self.capture_ifaces = o.capture_iface;
        self.python_path.extend(site_packages);
        // A relative app file is relative to where the agent was started.
        if std::path::Path::new(&self.app)
            .extension()
            .is_some_and(|e| e == "py")
        {
            if let Ok(abs) = std::path::absolute(&self.app) {
                self.app = abs.to_string_lossy().into_owned();
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_0_6_environment_contract_is_read() {
        let env: BTreeMap<String, String> = [
            ("WOTEMU_STACK", "demo"),
            ("WOTEMU_TASK", "demo_reader.2.abc"),
            ("PORT_HTTP", "8080"),
            ("PORT_CATALOGUE", "9191"),
            ("MQTT_BROKER_HOST", "broker.wifi"),
            ("REDIS_URL", "redis://:hunter2@redis:6379"),
            ("WOTEMU_NETWORKS", "wifi, 3g"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = AgentConfig::from_env(&env, "reader");
        assert_eq!((c.node.as_str(), c.slot), ("reader", Some(2)));
        assert_eq!(c.service, "demo_reader");
        assert_eq!(c.ports.http, 8080);
        assert_eq!(c.ports.catalogue, 9191);
        assert_eq!(c.ports.ws, 81);
        assert_eq!(c.mqtt_url().as_deref(), Some("mqtt://broker.wifi:1883"));
        assert_eq!(c.networks, ["wifi", "3g"]);
        assert_eq!(c.ports.proto_of(9191), Some("http"));
        assert_eq!(c.ports.proto_of(5683), Some("coap"));
        assert_eq!(c.ports.proto_of(22), None);
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(!c.python_json().contains("hunter2"));
    }
}
