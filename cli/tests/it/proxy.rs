//! `wotemu docker-api-proxy` against the real Docker engine: reads of enabled sections pass, writes and other
//! sections are refused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::wotemu;

struct Proxy(Child, u16);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> Proxy {
    let port = wotemu_testkit::free_port();
    let child = wotemu()
        .args(["docker-api-proxy", "--listen", &format!("127.0.0.1:{port}")])
        .env("CONTAINERS", "1")
        .env("TASKS", "1")
        .env_remove("VOLUMES")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the proxy did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Proxy(child, port)
}

fn request(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

#[test]
fn reads_pass_and_writes_are_refused() {
    let p = start();
    let (status, body) = request(p.1, "GET", "/version");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ApiVersion"), "{body}");
    let (status, body) = request(p.1, "GET", "/v1.41/containers/json?all=1");
    assert_eq!(status, 200, "{body}");
    for (method, path) in [
        ("POST", "/containers/create"),
        ("DELETE", "/containers/nothing"),
        ("GET", "/volumes"),
        ("GET", "/secrets"),
    ] {
        let (status, body) = request(p.1, method, path);
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
}
