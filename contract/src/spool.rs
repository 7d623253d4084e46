//! The spool format: stream entries that could not reach Redis wait in a file of the agent's, in order, until
//! they are replayed — by the agent when Redis answers again, or by the collector, which reads the spools of a
//! run's tasks directly (a task killed while Redis was down never replays its own).
//!
//! # Format
//!
//! `<dir>/<task>.spool`: a sequence of records `u32 LE length` + payload, the payload being `u8 field count`
//! then, per field, `u8 name length`, name, `u32 LE value length`, value — the field/value pairs of one
//! stream entry ([`crate::entry::StreamEntry::encode`]). `<dir>/<task>.seq` beside it holds the task's next
//! batch sequence number.
//!
//! # Invariants
//!
//! 1. Records are appended whole and fsynced before the entry is counted as spooled.
//! 2. A torn last record (a crash while appending) is ignored when read; every record before it is whole.
//! 3. An entry keeps its `seq` in the spool: replayed twice (by the agent and by the collector), it is
//!    de-duplicated like any replayed entry.

/// One encoded stream entry: its field/value pairs.
pub type Fields = Vec<(String, Vec<u8>)>;

/// The file name of a task's spool.
pub fn file_name(task: &str) -> String {
    format!("{task}.spool")
}

/// The task a spool file belongs to (`<task>.spool` → `<task>`).
pub fn task_of(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(".spool").filter(|t| !t.is_empty())
}

/// One record: length prefix and payload.
pub fn encode(fields: &Fields) -> Vec<u8> {
    let mut p = Vec::with_capacity(
        fields
            .iter()
            .map(|(k, v)| k.len() + v.len() + 5)
            .sum::<usize>()
            + 5,
    );
    p.extend_from_slice(&[0; 4]);
    p.push(fields.len() as u8);
    for (k, v) in fields {
        p.push(k.len() as u8);
        p.extend_from_slice(k.as_bytes());
        p.extend_from_slice(&(v.len() as u32).to_le_bytes());
        p.extend_from_slice(v);
    }
    let len = (p.len() - 4) as u32;
    p[..4].copy_from_slice(&len.to_le_bytes());
    p
}

fn decode(mut p: &[u8]) -> Option<Fields> {
    let take = |p: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if p.len() < n {
            return None;
        }
        let (a, b) = p.split_at(n);
        *p = b;
        Some(a.to_vec())
    };
    let count = take(&mut p, 1)?[0];
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let kl = take(&mut p, 1)?[0] as usize;
        let k = String::from_utf8(take(&mut p, kl)?).ok()?;
        let vl = u32::from_le_bytes(take(&mut p, 4)?.try_into().ok()?) as usize;
        out.push((k, take(&mut p, vl)?));
    }
    Some(out)
}

/// The whole records of a spool file's bytes and the length they cover (a torn tail is left out).
pub fn scan(data: &[u8]) -> (Vec<Fields>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while data.len() - at >= 4 {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        if data.len() - at - 4 < len {
            break;
        }
        match decode(&data[at + 4..at + 4 + len]) {
            Some(f) => out.push(f),
            None => break,
        }
        at += 4 + len;
    }
    (out, at)
}

/// The `seq` field of encoded entry fields.
pub fn seq_of(fields: &Fields) -> Option<u64> {
    fields
        .iter()
        .find(|(k, _)| k == "seq")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_left_out() {
        let a: Fields = vec![("seq".into(), b"1".to_vec()), ("data".into(), vec![7; 300])];
        let b: Fields = vec![("seq".into(), b"2".to_vec())];
        let mut bytes = encode(&a);
        bytes.extend(encode(&b));
        let whole = bytes.len();
        bytes.extend([200, 0, 0, 0, 1]);
        let (records, good) = scan(&bytes);
        assert_eq!(records, vec![a, b]);
        assert_eq!(good, whole);
        assert_eq!(seq_of(&records[1]), Some(2));
        assert_eq!(task_of(&file_name("s_a.1.x")), Some("s_a.1.x"));
        assert_eq!(task_of("x.seq"), None);
    }
}
