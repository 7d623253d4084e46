//! `wotemu docker-api-proxy`: a read-only view of the Docker API for the agents of a Swarm stack (what WoTemu
//! 0.6 used tecnativa/docker-socket-proxy for). Only GET and HEAD requests to the sections enabled by the
//! environment (`CONTAINERS=1`, `NETWORKS=1`, `NODES=1`, `SERVICES=1`, `TASKS=1`; `_ping`, `version` and
//! `info` always) are forwarded to the Docker socket; everything else gets 403. One request per connection.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::Error;

/// The sections the environment enables.
fn allowed_sections() -> Vec<String> {
    let mut v: Vec<String> = ["_ping", "version", "info"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for s in [
        "CONTAINERS",
        "NETWORKS",
        "NODES",
        "SERVICES",
        "TASKS",
        "IMAGES",
        "VOLUMES",
    ] {
        if std::env::var(s).is_ok_and(|v| v.trim() == "1") {
            v.push(s.to_ascii_lowercase());
        }
    }
    v
}

/// Whether `method path` may go through: read-only, and to an enabled section (`/v1.45/containers/json`
/// and `/containers/json` alike).
pub fn permitted(method: &str, path: &str, sections: &[String]) -> bool {
    if method != "GET" && method != "HEAD" {
        return false;
    }
    let path = path.split('?').next().unwrap_or("");
    let mut parts = path.trim_start_matches('/').split('/');
    let mut first = parts.next().unwrap_or("");
    if first.starts_with('v')
        && first[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        && first.len() > 1
    {
        first = parts.next().unwrap_or("");
    }
    if path.contains("..") {
        return false;
    }
    sections.iter().any(|s| s == first)
}

fn respond(mut c: TcpStream, status: &str, body: &str) {
    let r = write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = r {
        tracing::debug!(error = %e, "The client left before the answer.");
    }
}

fn serve(mut client: TcpStream, socket: &Path, sections: &[String]) {
    // The request head (a GET has no body).
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 << 10 {
            return respond(
                client,
                "431 Request Header Fields Too Large",
                "request head too large\n",
            );
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let end = text.find("\r\n\r\n").unwrap_or(text.len());
    let mut lines = text[..end].split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut it = request_line.split_whitespace();
    let (method, path) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
    if !permitted(method, path, sections) {
        tracing::info!(method, path, "refused");
        return respond(
            client,
            "403 Forbidden",
            "wotemu docker-api-proxy: read-only, and only the enabled sections\n",
        );
    }
    // Forward with `Connection: close`, so the daemon ends the connection after its answer.
    let mut fwd = format!("{request_line}\r\n");
    for l in lines {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            fwd.push_str(l);
            fwd.push_str("\r\n");
        }
    }
    fwd.push_str("Connection: close\r\n\r\n");
    let mut docker = match UnixStream::connect(socket) {
        Ok(d) => d,
        Err(e) => {
            return respond(
                client,
                "502 Bad Gateway",
                &format!("cannot reach {}: {e}\n", socket.display()),
            )
        }
    };
    if let Err(e) = docker.write_all(fwd.as_bytes()) {
        tracing::warn!(error = %e, "The Docker socket closed before the request was sent.");
        return;
    }
    if let Err(e) = std::io::copy(&mut docker, &mut client) {
        tracing::debug!(error = %e, "The answer was cut short.");
    }
}

/// Ends the process at once: the proxy holds no state, and as a container's PID 1 it would otherwise ignore
/// SIGTERM and make `docker stack rm` / `wotemu stop` wait for the kill timeout.
extern "C" fn exit_now(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(0) }
}

/// Serves the read-only API on `listen`, forwarding to the Docker socket `socket`, until the process ends
/// (SIGTERM and SIGINT end it at once). `on_listening` gets the sections served once the port is open.
pub fn serve_forever(
    listen: &str,
    socket: &Path,
    on_listening: impl FnOnce(&[String]),
) -> Result<(), Error> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: installs a handler that only calls an async-signal-safe function.
        unsafe { libc::signal(sig, exit_now as *const () as libc::sighandler_t) };
    }
    let sections = allowed_sections();
    let listener = TcpListener::bind(listen).map_err(|source| Error::Io {
        what: format!("listening on {listen}"),
        source,
    })?;
    on_listening(&sections);
    for c in listener.incoming() {
        let c = match c {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "A connection failed before it was accepted.");
                continue;
            }
        };
        let socket: PathBuf = socket.to_owned();
        let sections = sections.clone();
        std::thread::spawn(move || serve(c, &socket, &sections));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::permitted;

    #[test]
    fn read_only_and_by_section() {
        let s: Vec<String> = ["_ping", "version", "containers", "tasks"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(permitted("GET", "/v1.45/containers/json?all=1", &s));
        assert!(permitted("GET", "/containers/abc/json", &s));
        assert!(permitted("HEAD", "/_ping", &s));
        assert!(permitted("GET", "/tasks?filters=x", &s));
        assert!(!permitted("POST", "/containers/create", &s));
        assert!(!permitted("DELETE", "/containers/abc", &s));
        assert!(!permitted("GET", "/volumes", &s));
        assert!(!permitted("GET", "/v1.45/secrets", &s));
        assert!(!permitted("GET", "/containers/../secrets", &s));
        assert!(!permitted("GET", "", &s));
    }
}
