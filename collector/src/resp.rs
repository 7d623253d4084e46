//! The 0.6 import's own Redis client for its hot path: `ZRANGE` replies (RESP2 arrays of bulk strings) read
//! straight into one buffer per page, a member being a range of it. redis-rs's parser builds a vector per
//! member through a parser combinator; at hundreds of thousands of members a second that was the import's
//! largest cost after JSON. Everything else (keys, types, sizes, scores) still goes through redis-rs.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use redis::{ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisError};

use crate::error::Error;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// The members of one `ZRANGE` reply, in order.
#[derive(Default)]
pub(crate) struct Members {
    data: Vec<u8>,
    /// (start, end) of each member in `data`.
    spans: Vec<(usize, usize)>,
}

impl Members {
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|&(a, b)| &self.data[a..b])
    }
}

/// A connection reading raw replies.
pub(crate) struct RawConn {
    stream: Box<dyn Stream>,
    out: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

fn protocol(what: String) -> RedisError {
    RedisError::from((ErrorKind::Parse, "unexpected reply", what))
}

impl RawConn {
    /// Connects to `url` (TCP or a Unix socket), authenticates and selects its database as redis-rs would.
    pub(crate) fn open(url: &str) -> Result<RawConn, Error> {
        let redacted = || wotemu_contract::redact::redact_url(url);
        let connect = |source| Error::Connect {
            url: redacted(),
            source,
        };
        let info = url.into_connection_info().map_err(connect)?;
        let stream: Box<dyn Stream> = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let s = TcpStream::connect((host.as_str(), *port))
                    .map_err(|e| connect(RedisError::from(e)))?;
                s.set_nodelay(true)
                    .map_err(|e| connect(RedisError::from(e)))?;
                Box::new(s)
            }
            ConnectionAddr::Unix(path) => {
                Box::new(UnixStream::connect(path).map_err(|e| connect(RedisError::from(e)))?)
            }
            other => {
                return Err(connect(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "address not supported",
                    format!("{other}: this wotemu reads Redis over TCP or a Unix socket"),
                ))))
            }
        };
        let mut conn = RawConn {
            stream,
            out: Vec::new(),
            buf: vec![0; 1 << 20],
            pos: 0,
            end: 0,
        };
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            match settings.username() {
                Some(user) => conn.command(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => conn.command(&[b"AUTH", password.as_bytes()]),
            }
            conn.flush()
                .and_then(|()| conn.read_status())
                .map_err(|e| match e.kind() {
                    // An error reply: the server refused the password (a broken connection is not that).
                    ErrorKind::Extension => Error::Auth {
                        url: redacted(),
                        what: "refused the password",
                    },
                    _ => connect(e),
                })?;
        }
        if settings.db() != 0 {
            let db = settings.db().to_string();
            conn.command(&[b"SELECT", db.as_bytes()]);
            conn.flush()
                .and_then(|()| conn.read_status())
                .map_err(connect)?;
        }
        Ok(conn)
    }

    /// Queues a command (sent by [`RawConn::flush`]).
    pub(crate) fn command(&mut self, args: &[&[u8]]) {
        self.out
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            self.out
                .extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            self.out.extend_from_slice(a);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends the queued commands.
    pub(crate) fn flush(&mut self) -> Result<(), RedisError> {
        self.stream.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            let len = self.buf.len();
            self.buf.resize(len * 2, 0);
        }
        let n = loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "Redis closed the connection",
            ));
        }
        self.end += n;
        Ok(())
    }

    /// The next line of the reply, without its CRLF, as (start, end) in the buffer.
    fn line(&mut self) -> io::Result<(usize, usize)> {
        let mut from = self.pos;
        loop {
            if let Some(i) = self.buf[from..self.end].iter().position(|&b| b == b'\n') {
                let nl = from + i;
                let start = self.pos;
                self.pos = nl + 1;
                let end = if nl > start && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Ok((start, end));
            }
            let seen = self.end - self.pos;
            self.fill()?;
            from = self.pos + seen;
        }
    }

    /// A reply's header: its type byte and the rest of its line. An error reply is an error.
    fn header(&mut self) -> Result<(u8, i64), RedisError> {
        let (a, b) = self.line()?;
        let line = &self.buf[a..b];
        let Some((&kind, rest)) = line.split_first() else {
            return Err(protocol("an empty line".into()));
        };
        let text = String::from_utf8_lossy(rest);
        match kind {
            b'-' => Err(RedisError::from((
                ErrorKind::Extension,
                "Redis answered with an error",
                text.into_owned(),
            ))),
            b'+' => Ok((kind, 0)),
            b'*' | b'$' | b':' => text
                .trim()
                .parse()
                .map(|n| (kind, n))
                .map_err(|_| protocol(format!("`{}{text}`", kind as char))),
            _ => Err(protocol(format!("`{}{text}`", kind as char))),
        }
    }

    /// Reads a `+OK`-like status reply.
    fn read_status(&mut self) -> Result<(), RedisError> {
        match self.header()? {
            (b'+', _) => Ok(()),
            (k, _) => Err(protocol(format!("a `{}` reply to AUTH/SELECT", k as char))),
        }
    }

    /// Reads an array of bulk strings (a `ZRANGE` reply without scores).
    pub(crate) fn read_members(&mut self) -> Result<Members, RedisError> {
        let (kind, n) = self.header()?;
        if kind != b'*' {
            return Err(protocol(format!(
                "a `{}` reply where ZRANGE returns an array",
                kind as char
            )));
        }
        let n = usize::try_from(n).unwrap_or(0);
        let mut m = Members {
            data: Vec::new(),
            // The count comes from the server: room for a page at most, more as members arrive.
            spans: Vec::with_capacity(n.min(1 << 16)),
        };
        for _ in 0..n {
            let (kind, len) = self.header()?;
            if kind != b'$' {
                return Err(protocol(format!(
                    "a `{}` reply where a member was expected",
                    kind as char
                )));
            }
            let Ok(len) = usize::try_from(len) else {
                // A null member (`$-1`): nothing follows it.
                m.spans.push((m.data.len(), m.data.len()));
                continue;
            };
            while self.end - self.pos < len + 2 {
                self.fill()?;
            }
            let start = m.data.len();
            m.data
                .extend_from_slice(&self.buf[self.pos..self.pos + len]);
            self.pos += len + 2;
            m.spans.push((start, start + len));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_of_a_reply_spanning_reads() {
        // A reply fed one byte at a time: every line and member crosses a read.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.1 == self.0.len() {
                    return Ok(0);
                }
                b[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        impl Write for Trickle {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let reply =
            b"*4\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n$4\r\na\r\nb\r\n*0\r\n-ERR wrong type\r\n"
                .to_vec();
        let mut c = RawConn {
            stream: Box::new(Trickle(reply, 0)),
            out: Vec::new(),
            buf: vec![0; 4],
            pos: 0,
            end: 0,
        };
        let m = c.read_members().unwrap();
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [&b"hello"[..], b"", b"", b"a\r\nb"]
        );
        assert_eq!(c.read_members().unwrap().len(), 0);
        let e = c.read_members().err().unwrap();
        assert!(e.to_string().contains("ERR wrong type"), "{e}");
        let e = c.read_members().err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    }
}
