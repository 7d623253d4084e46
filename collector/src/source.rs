//! Reading a stack's streams from Redis.
//!
//! Streams are found with `SCAN … MATCH wotemu:<stack>:stream:* COUNT 1000` and read with
//! `XRANGE <key> (<last id> + COUNT <page>` until a page comes back empty. A reader thread fetches and decodes
//! pages while the caller writes, connected by a bounded channel (so memory stays bounded).

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use redis::{Connection, Value};
use wotemu_contract::entry::{BadEntry, Decoded};
use wotemu_contract::StreamEntry;

use crate::error::Error;

/// Opens a connection.
pub(crate) fn connect(url: &str) -> Result<Connection, Error> {
    let redacted = || wotemu_contract::redact::redact_url(url);
    let auth = |e: &redis::RedisError| match e.code() {
        Some("NOAUTH") => Some("requires a password"),
        Some("WRONGPASS") => Some("refused the password"),
        _ if e.kind() == redis::ErrorKind::AuthenticationFailed => Some("refused the password"),
        _ => None,
    };
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .map_err(|source| match auth(&source) {
            Some(what) => Error::Auth {
                url: redacted(),
                what,
            },
            None => Error::Connect {
                url: redacted(),
                source,
            },
        })?;
    // A server that wants a password answers the first command with NOAUTH.
    if let Err(e) = redis::cmd("PING").query::<String>(&mut conn) {
        return Err(match auth(&e) {
            Some(what) => Error::Auth {
                url: redacted(),
                what,
            },
            None => Error::Connect {
                url: redacted(),
                source: e,
            },
        });
    }
    Ok(conn)
}

/// Every key matching `pattern`, found with SCAN (never KEYS), sorted.
pub(crate) fn scan_keys(conn: &mut Connection, pattern: &str) -> Result<Vec<String>, Error> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, mut batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(conn)
            .map_err(Error::redis("SCAN"))?;
        keys.append(&mut batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// One stream to read, from after `after` (exclusive) or from the start.
#[derive(Debug, Clone)]
pub(crate) struct StreamToRead {
    pub(crate) key: String,
    pub(crate) after: Option<String>,
}

/// A decoded entry of a stream.
pub(crate) struct ReadEntry {
    pub(crate) id: String,
    pub(crate) result: Result<Decoded, BadEntry>,
}

/// A page of entries of one stream.
pub(crate) struct Page {
    /// Index into the list of streams given to [`spawn_reader`].
    pub(crate) stream: usize,
    pub(crate) entries: Vec<ReadEntry>,
}

/// The pages a reader thread sends, or the error that stopped it.
pub(crate) type Pages = Receiver<Result<Page, Error>>;

/// Starts a thread reading every stream in turn; pages arrive in stream order, then in id order.
pub(crate) fn spawn_reader(
    url: &str,
    streams: Vec<StreamToRead>,
    page_entries: usize,
) -> Result<(Pages, JoinHandle<()>), Error> {
    let mut conn = connect(url)?;
    let (tx, rx) = sync_channel(4);
    let handle = std::thread::Builder::new()
        .name("collector-reader".into())
        .spawn(move || {
            for (i, s) in streams.into_iter().enumerate() {
                let _span = tracing::debug_span!("stream", key = %s.key).entered();
                let mut after = s.after;
                loop {
                    let page = read_page(&mut conn, &s.key, after.as_deref(), page_entries);
                    let page = match page {
                        Ok(p) => p,
                        Err(e) => {
                            // The receiver reports the error; if it is gone, the collection ended anyway.
                            if tx.send(Err(e)).is_err() {
                                tracing::debug!("The collection ended before the reader's error.");
                            }
                            return;
                        }
                    };
                    if page.is_empty() {
                        break;
                    }
                    // Paging goes on after the last entry whose id could be read; a page of nothing but
                    // unreadable entries ends this stream (reading it again would give them again).
                    let last_readable = page
                        .iter()
                        .rev()
                        .find(|e| !e.id.is_empty())
                        .map(|e| e.id.clone());
                    let stuck = last_readable.is_none() || last_readable == after;
                    after = last_readable.or(after);
                    if tx
                        .send(Ok(Page {
                            stream: i,
                            entries: page,
                        }))
                        .is_err()
                    {
                        return;
                    }
                    if stuck {
                        break;
                    }
                }
            }
        })
        .expect("spawn reader thread");
    Ok((rx, handle))
}

fn read_page(
    conn: &mut Connection,
    key: &str,
    after: Option<&str>,
    count: usize,
) -> Result<Vec<ReadEntry>, Error> {
    let start = match after {
        Some(id) => format!("({id}"),
        None => "-".to_owned(),
    };
    let reply: Value = redis::cmd("XRANGE")
        .arg(key)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query(conn)
        .map_err(Error::redis("XRANGE"))?;
    let items = match reply {
        Value::Array(items) => items,
        Value::Nil => return Ok(Vec::new()),
        other => {
            return Err(Error::Malformed {
                key: key.to_owned(),
                reply: format!("{other:?}").chars().take(200).collect(),
            })
        }
    };
    let mut out = Vec::with_capacity(items.len());
    // An item that is not an (id, fields) pair is counted as a rejected entry, never skipped silently.
    let malformed = |what: String| ReadEntry {
        id: String::new(),
        result: Err(BadEntry {
            seq: None,
            records: None,
            error: wotemu_contract::EntryError::Malformed(what),
        }),
    };
    for item in items {
        let Value::Array(mut pair) = item else {
            out.push(malformed(format!(
                "an XRANGE item is not an array: {item:?}"
            )));
            continue;
        };
        if pair.len() != 2 {
            out.push(malformed(format!(
                "an XRANGE item has {} parts instead of an id and its fields",
                pair.len()
            )));
            continue;
        }
        let fields = pair.pop().expect("two items");
        let id = match pair.pop().expect("two items") {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::SimpleString(s) => s,
            other => {
                out.push(malformed(format!(
                    "an XRANGE entry id is not a string: {other:?}"
                )));
                continue;
            }
        };
        let fields: Vec<Value> = match fields {
            Value::Array(f) => f,
            other => {
                out.push(ReadEntry {
                    id,
                    result: Err(BadEntry {
                        seq: None,
                        records: None,
                        error: wotemu_contract::EntryError::Malformed(format!(
                            "the entry's fields are not an array: {other:?}"
                        )),
                    }),
                });
                continue;
            }
        };
        let mut kv: Vec<(String, Vec<u8>)> = Vec::with_capacity(fields.len() / 2);
        let mut it = fields.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            kv.push((bytes_to_string(k), value_bytes(v)));
        }
        let result = StreamEntry::decode(kv.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        out.push(ReadEntry { id, result });
    }
    Ok(out)
}

fn value_bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.into_bytes(),
        Value::Int(i) => i.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

fn bytes_to_string(v: Value) -> String {
    String::from_utf8_lossy(&value_bytes(v)).into_owned()
}

/// The id right after `id` (`<ms>-<seq+1>`), the `MINID` that trims `id` and everything before it.
pub(crate) fn next_id(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    Some(format!("{ms}-{}", seq.checked_add(1)?))
}

/// Counts the entries of a stream above `after`.
pub(crate) fn pending_entries(
    conn: &mut Connection,
    key: &str,
    after: Option<&str>,
) -> Result<u64, Error> {
    let len: u64 = redis::cmd("XLEN")
        .arg(key)
        .query(conn)
        .map_err(Error::redis("XLEN"))?;
    match after {
        None => Ok(len),
        Some(id) if len > 0 => {
            // Entries above `after`: XRANGE would move data; count in pages of ids only is not available,
            // so use the first id above the position as a yes/no and the length as the upper bound.
            let reply: Value = redis::cmd("XRANGE")
                .arg(key)
                .arg(format!("({id}"))
                .arg("+")
                .arg("COUNT")
                .arg(1)
                .query(conn)
                .map_err(Error::redis("XRANGE"))?;
            Ok(match reply {
                Value::Array(a) if !a.is_empty() => len,
                _ => 0,
            })
        }
        Some(_) => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_ids() {
        assert_eq!(
            next_id("1700000000000-0").as_deref(),
            Some("1700000000000-1")
        );
        assert_eq!(next_id("5-18446744073709551615"), None);
        assert_eq!(next_id("garbage"), None);
    }
}
