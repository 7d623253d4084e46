//! The agent's view of its Swarm stack, read-only through the stack's Docker API proxy (`DOCKER_PROXY_URL`,
//! as in WoTemu 0.6): the task's networks (name, subnet, addresses), node, service and container. With it the
//! task facts name the networks, and packets are counted per network name instead of `eth0`, `eth1`…

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One network the task is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub network: String,
    /// The network's subnet (`10.0.1.0/24`), when Docker says.
    pub subnet: Option<String>,
    /// The task's addresses in it, with their prefix (`10.0.1.5/24`).
    pub addresses: Vec<String>,
}

/// What Docker says of this task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskView {
    pub networks: Vec<Attachment>,
    pub node_id: Option<String>,
    pub service_id: Option<String>,
    pub container_id: Option<String>,
}

impl TaskView {
    /// Parses Docker's `GET /tasks/<id>` answer. The `ingress` network (the routing mesh) is left out.
    pub fn parse(task: &Value) -> TaskView {
        let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let networks = task
            .get("NetworksAttachments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|n| {
                        let network = s(n, "/Network/Spec/Name")?;
                        let ingress = n
                            .pointer("/Network/Spec/Ingress")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        if ingress || network == "ingress" {
                            return None;
                        }
                        Some(Attachment {
                            subnet: s(n, "/Network/IPAMOptions/Configs/0/Subnet"),
                            addresses: n
                                .get("Addresses")
                                .and_then(Value::as_array)
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default(),
                            network,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        TaskView {
            networks,
            node_id: s(task, "/NodeID"),
            service_id: s(task, "/ServiceID"),
            container_id: s(task, "/Status/ContainerStatus/ContainerID").filter(|c| !c.is_empty()),
        }
    }

    /// Interface name → network name, matching the task's addresses with the interfaces' (`ifaces`: name and
    /// address, as `facts::ip_addresses` gives them).
    pub fn iface_networks(&self, ifaces: &[(String, String)]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for a in &self.networks {
            for addr in &a.addresses {
                let ip = addr.split('/').next().unwrap_or(addr);
                if let Some((iface, _)) = ifaces.iter().find(|(_, x)| x == ip) {
                    out.insert(iface.clone(), a.network.clone());
                }
            }
        }
        out
    }
}

/// Asks the proxy at `proxy_url` (`tcp://docker_api_proxy:2375/`) for the task `task_id`, retrying until
/// `budget` is spent (the proxy's task may start after this one).
pub fn task_view(proxy_url: &str, task_id: &str, budget: Duration) -> Result<TaskView, String> {
    let deadline = Instant::now() + budget;
    let hostport = proxy_url
        .trim_start_matches("tcp://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let path = format!("/tasks/{task_id}");
    loop {
        match get(&hostport, &path) {
            Ok(body) => {
                let v: Value = serde_json::from_str(&body)
                    .map_err(|e| format!("the proxy's answer is not JSON: {e}"))?;
                return Ok(TaskView::parse(&v));
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("GET {path} from {hostport}: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// One HTTP/1.0 GET (no chunked encoding, the connection ends the body); the body of a 200.
fn get(hostport: &str, path: &str) -> Result<String, String> {
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the name has no address")?;
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!(
            "HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_task_json_is_read() {
        let v: Value = serde_json::json!({
            "ID": "t1", "NodeID": "n1", "ServiceID": "s1",
            "Status": {"ContainerStatus": {"ContainerID": "c1"}},
            "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "ingress", "Ingress": true}}, "Addresses": ["10.0.0.5/24"]},
                {"Network": {"Spec": {"Name": "3g"}, "IPAMOptions": {"Configs": [{"Subnet": "10.0.1.0/24"}]}},
                 "Addresses": ["10.0.1.7/24"]}
            ]
        });
        let t = TaskView::parse(&v);
        assert_eq!(t.node_id.as_deref(), Some("n1"));
        assert_eq!(t.container_id.as_deref(), Some("c1"));
        assert_eq!(
            t.networks,
            vec![Attachment {
                network: "3g".into(),
                subnet: Some("10.0.1.0/24".into()),
                addresses: vec!["10.0.1.7/24".into()]
            }]
        );
        let ifaces = vec![
            ("eth0".to_owned(), "10.0.0.5".to_owned()),
            ("eth1".to_owned(), "10.0.1.7".to_owned()),
        ];
        let m = t.iface_networks(&ifaces);
        assert_eq!(m.len(), 1);
        assert_eq!(m["eth1"], "3g");
    }

    #[test]
    fn an_unreachable_proxy_is_an_error_not_a_hang() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = task_view(&format!("tcp://127.0.0.1:{port}/"), "x", Duration::ZERO).unwrap_err();
        assert!(e.contains("GET /tasks/x"), "{e}");
    }
}
