//! The local spool of a task: stream entries that could not reach Redis wait here, in order, on disk, until
//! they can be replayed. Bounded in bytes; the caller counts what does not fit. The file format and its
//! invariants are the contract's ([`wotemu_contract::spool`]); the collector reads the spools of a run too.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use wotemu_contract::spool::{encode, file_name, scan};
pub use wotemu_contract::spool::{seq_of, Fields};

/// The spool of one task.
pub struct Spool {
    path: PathBuf,
    seq_path: PathBuf,
    /// `<task>.seq`, kept open: the next sequence number is rewritten in place after every shipment.
    seq_file: File,
    file: File,
    bytes: u64,
    max_bytes: u64,
    entries: u64,
}

impl Spool {
    /// Opens (or creates) the spool of `task` in `dir`.
    pub fn open(dir: &Path, task: &str, max_bytes: u64) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(file_name(task));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let seq_path = dir.join(format!("{task}.seq"));
        let seq_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&seq_path)?;
        let mut s = Spool {
            seq_path,
            seq_file,
            bytes: file.metadata()?.len(),
            path,
            file,
            max_bytes,
            entries: 0,
        };
        let mut data = Vec::new();
        File::open(&s.path)?.read_to_end(&mut data)?;
        let (entries, good) = scan(&data);
        if good as u64 != s.bytes {
            // A torn last record (a crash while appending): cut it so later appends stay readable.
            s.file.set_len(good as u64)?;
            s.bytes = good as u64;
        }
        s.entries = entries.len() as u64;
        Ok(s)
    }

    /// Entries waiting.
    pub fn len(&self) -> u64 {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Where the spool is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends entries durably; returns false (and writes nothing) when they do not fit the bound.
    pub fn append(&mut self, entries: &[Fields]) -> std::io::Result<bool> {
        let mut buf = Vec::new();
        for e in entries {
            buf.extend_from_slice(&encode(e));
        }
        if self.bytes + buf.len() as u64 > self.max_bytes {
            return Ok(false);
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.bytes += buf.len() as u64;
        self.entries += entries.len() as u64;
        Ok(true)
    }

    /// Every entry, oldest first (a torn last record is left out).
    pub fn read_all(&self) -> std::io::Result<Vec<Fields>> {
        let mut data = Vec::new();
        File::open(&self.path)?.read_to_end(&mut data)?;
        Ok(scan(&data).0)
    }

    /// Empties the spool (after every entry reached Redis).
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_data()?;
        self.bytes = 0;
        self.entries = 0;
        Ok(())
    }

    /// The next sequence number recorded by [`Spool::save_next_seq`], if any.
    pub fn saved_next_seq(&self) -> Option<u64> {
        std::fs::read_to_string(&self.seq_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Records the next sequence number: written in place, at a fixed width (20 digits, the most a `u64`
    /// has), in one write of a few bytes at the file's start, so a killed agent leaves the old number or the
    /// new one. (It was a new file renamed over the old one after every shipment: a third of an idle agent's
    /// shipper's CPU, in the file system's inode and journal work.)
    pub fn save_next_seq(&self, next: u64) -> std::io::Result<()> {
        self.seq_file
            .write_all_at(format!("{next:020}\n").as_bytes(), 0)
    }

    /// The largest `seq` field among the waiting entries.
    pub fn max_seq(&self) -> Option<u64> {
        self.read_all().ok()?.iter().filter_map(seq_of).max()
    }

    /// Removes the spool and seq files when nothing waits (a clean exit).
    pub fn remove_if_empty(self) -> std::io::Result<()> {
        if self.entries == 0 {
            std::fs::remove_file(&self.path)?;
            if let Err(e) = std::fs::remove_file(&self.seq_path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, size: usize) -> Fields {
        vec![
            ("seq".into(), seq.to_string().into_bytes()),
            ("data".into(), vec![7; size]),
        ]
    }

    #[test]
    fn entries_survive_reopen_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "t.1.x", 1 << 20).unwrap();
        assert!(s.append(&[entry(1, 10), entry(2, 20)]).unwrap());
        drop(s);
        // A crash in the middle of an append leaves a torn record.
        let path = dir.path().join("t.1.x.spool");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        let mut s = Spool::open(dir.path(), "t.1.x", 1 << 20).unwrap();
        let all = s.read_all().unwrap();
        assert_eq!(all, vec![entry(1, 10), entry(2, 20)]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.max_seq(), Some(2));
        // The torn tail was cut: what is appended next is readable.
        assert!(s.append(&[entry(3, 5)]).unwrap());
        assert_eq!(s.read_all().unwrap().len(), 3);
    }

    #[test]
    fn the_bound_is_kept_and_clear_empties() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "t", 100).unwrap();
        assert!(s.append(&[entry(1, 40)]).unwrap());
        assert!(!s.append(&[entry(2, 60)]).unwrap(), "over the bound");
        assert_eq!(s.len(), 1);
        s.clear().unwrap();
        assert!(s.is_empty());
        assert!(s.append(&[entry(3, 60)]).unwrap());
        s.save_next_seq(4).unwrap();
        assert_eq!(s.saved_next_seq(), Some(4));
    }

    #[test]
    fn the_next_seq_is_rewritten_in_place_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        // A number written by an earlier version (plain digits) is read, then replaced whole.
        std::fs::write(dir.path().join("t.seq"), "42").unwrap();
        let s = Spool::open(dir.path(), "t", 100).unwrap();
        assert_eq!(s.saved_next_seq(), Some(42));
        s.save_next_seq(1_234_567).unwrap();
        s.save_next_seq(7).unwrap();
        assert_eq!(
            s.saved_next_seq(),
            Some(7),
            "no digit of a longer number left"
        );
        s.save_next_seq(u64::MAX).unwrap();
        drop(s);
        let s = Spool::open(dir.path(), "t", 100).unwrap();
        assert_eq!(s.saved_next_seq(), Some(u64::MAX));
        s.remove_if_empty().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
