//! Crash clean-up records: one mechanism for everything a wotemu process sets up on the host.
//!
//! Whatever a process creates — a network namespace, a cgroup, a child process, a firewall rule or qdisc
//! (as the command that undoes it), a state folder — is first appended to its record. On a normal exit the
//! process undoes its record itself ([`Record::undo_all`]); when it was killed, `wotemu clean` finds the
//! record of a dead owner and undoes it ([`clean_orphans`]).
//!
//! # Format
//!
//! A record is a file `<dir>/<pid>-<label>.jsonl` (default dir [`DIR`], on tmpfs):
//!
//! ```text
//! {"owner":1234,"start":5678,"label":"run 1a2b"}          the header: owner pid and its start time
//! {"namespace":{"name":"wtm-1a2b"}}                       then one item per line, in the order
//! {"process":{"pid":1240,"start":5702}}                   the resources were created
//! {"undo":{"netns":"wtm-1a2b-g0","netns_ino":4026532,"command":["iptables","-w","-t","mangle","-D",…]}}
//! ```
//!
//! # Invariants
//!
//! 1. An item is appended (one `write` of a whole line, `O_APPEND`) *before* its resource is created, so
//!    after a crash at any point every resource that exists is in a record. An item whose resource was never
//!    created is harmless to undo.
//! 2. Items are undone last first; a record file is removed only after all its items were undone.
//! 3. The records of an owner that is alive (same pid *and* start time) are never touched by
//!    [`clean_orphans`]; a reused pid does not keep a dead owner's record alive.
//! 4. A truncated last line (a crash inside a write) is ignored; the lines before it are undone.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{cmd, netns, process};

/// Where records live: `records/` in the state root ([`crate::state_root`], `/run/wotemu` by default).
pub fn dir() -> PathBuf {
    crate::state_root().join("records")
}

/// The first line of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The process that owns the record.
    pub owner: u32,
    /// Its start time (clock ticks after boot), to tell it from a later process with the same pid.
    pub start: u64,
    /// What the owner is (`run 1a2b`, `gateway 3g`, `route`, `fidelity`), for messages.
    pub label: String,
}

/// One resource a process set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    /// A named network namespace: the processes inside are killed, it is deleted with its `/etc/netns` folder.
    Namespace { name: String },
    /// A cgroup folder: the processes inside are killed, the folder removed.
    Cgroup { path: PathBuf },
    /// A child process (and its process group): killed if it is still the same process.
    Process { pid: u32, start: u64 },
    /// A command that undoes a change (a firewall rule, a qdisc, a route), run in the namespace where the
    /// change was made: by name when it has one, else only if the undoing process is in it (same inode).
    Undo {
        netns: Option<String>,
        netns_ino: u64,
        command: Vec<String>,
    },
    /// A file or folder removed at the end.
    Path { path: PathBuf },
}

impl Item {
    /// A process this one started, identified by pid and start time.
    pub fn process(pid: u32) -> Item {
        Item::Process {
            pid,
            start: process::start_time(pid).unwrap_or(0),
        }
    }

    /// A command that undoes a change made in the calling thread's network namespace.
    pub fn undo_here(command: &[&str]) -> Item {
        Item::Undo {
            netns: netns::current_name(),
            netns_ino: netns::current_ino(),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Undoes the item; what could not be undone is returned.
    fn undo(&self) -> Result<(), String> {
        match self {
            Item::Namespace { name } => {
                for pid in netns::pids(name) {
                    // SAFETY: kill(2) of a process inside a namespace this record owns.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                let mut result = Ok(());
                if netns::exists(name) {
                    if let Err(e) = cmd::ip(&["netns", "del", name]) {
                        result = Err(e.to_string());
                    }
                }
                remove_path(&Path::new("/etc/netns").join(name));
                result
            }
            Item::Cgroup { path } => remove_cgroup(path),
            Item::Process { pid, start } => {
                if process::is(*pid, *start) {
                    // The group first (children it started), then the process itself.
                    process::signal_group(*pid, libc::SIGKILL);
                    process::signal(*pid, libc::SIGKILL);
                    // Gone before this returns: its own record (a gateway's) is then a dead owner's, which
                    // the same clean-up removes.
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                    while process::is(*pid, *start) && std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
                Ok(())
            }
            Item::Undo {
                netns: ns,
                netns_ino,
                command,
            } => {
                let Some((program, args)) = command.split_first() else {
                    return Ok(());
                };
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let here = *netns_ino != 0 && netns::current_ino() == *netns_ino;
                let result = match ns.as_deref().filter(|n| netns::exists(n)) {
                    _ if here => cmd::run(program, &args),
                    Some(n) => {
                        let mut full = vec!["netns", "exec", n, program.as_str()];
                        full.extend(args);
                        cmd::run("ip", &full)
                    }
                    // The namespace is gone, and what was set up in it with it.
                    None => return Ok(()),
                };
                // Already undone (a rule deleted twice) is not a problem worth reporting.
                if let Err(e) = result {
                    tracing::debug!(error = %e, "Undo command failed (probably already undone).");
                }
                Ok(())
            }
            Item::Path { path } => {
                remove_path(path);
                Ok(())
            }
        }
    }
}

fn remove_path(p: &Path) {
    let r = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
    if let Err(e) = r {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %p.display(), error = %e, "Could not remove a path of a run.");
        }
    }
}

fn remove_cgroup(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    for _ in 0..100 {
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill(2) of a process in a cgroup this record owns.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(format!("cannot remove the cgroup {}", dir.display()))
}

/// The record of this process for one label.
#[derive(Debug)]
pub struct Record {
    path: PathBuf,
    file: File,
    header: Header,
    items: Vec<Item>,
}

impl Record {
    /// Creates this process's record `label` under [`DIR`].
    pub fn create(label: &str) -> io::Result<Record> {
        Record::create_in(&dir(), label)
    }

    /// Creates this process's record `label` under `dir`.
    pub fn create_in(dir: &Path, label: &str) -> io::Result<Record> {
        std::fs::create_dir_all(dir)?;
        let owner = std::process::id();
        let safe: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("{owner}-{safe}.jsonl"));
        let header = Header {
            owner,
            start: process::start_time(owner).unwrap_or(0),
            label: label.to_owned(),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        file.write_all(line(&header).as_bytes())?;
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Record {
            path,
            file,
            header,
            items: Vec::new(),
        })
    }

    /// Appends an item (before its resource is created).
    pub fn push(&mut self, item: Item) -> io::Result<()> {
        self.file.write_all(line(&item).as_bytes())?;
        self.items.push(item);
        Ok(())
    }

    /// The items so far, in order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The record's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Undoes every item, last first, then removes the record. Returns what could not be undone.
    pub fn undo_all(self) -> Vec<String> {
        let problems = undo_items(&self.items);
        remove_path(&self.path);
        problems
    }

    /// Undoes every item but those `keep` selects (last first), and leaves a record of the kept ones for
    /// `wotemu clean` (a run's data kept for a later salvage). Returns what could not be undone.
    pub fn undo_all_but(self, keep: &dyn Fn(&Item) -> bool) -> Vec<String> {
        let (kept, undo): (Vec<Item>, Vec<Item>) =
            self.items.iter().cloned().partition(|i| keep(i));
        let problems = undo_items(&undo);
        if kept.is_empty() {
            remove_path(&self.path);
            return problems;
        }
        let mut text = line(&self.header);
        for i in &kept {
            text.push_str(&line(i));
        }
        if let Err(e) = crate::fs::replace(&self.path, text.as_bytes()) {
            tracing::warn!(record = %self.path.display(), error = %e, "Cannot rewrite a clean-up record.");
        }
        problems
    }

    /// Removes the record without undoing anything (what it lists is gone or handed over).
    pub fn forget(self) {
        remove_path(&self.path);
    }
}

fn line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).expect("records serialise");
    s.push('\n');
    s
}

fn undo_items(items: &[Item]) -> Vec<String> {
    items.iter().rev().filter_map(|i| i.undo().err()).collect()
}

/// A record found on disk.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub header: Header,
    pub items: Vec<Item>,
    /// Whether its owner is still running.
    pub alive: bool,
}

/// Reads one record file (a torn last line is ignored).
pub fn read(path: &Path) -> Option<Found> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next()?).ok()?;
    let items = lines
        .filter_map(|l| serde_json::from_str::<Item>(l).ok())
        .collect();
    Some(Found {
        path: path.to_owned(),
        alive: process::is(header.owner, header.start),
        header,
        items,
    })
}

/// Every record under `dir`.
pub fn list(dir: &Path) -> Vec<Found> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Found> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| read(&e.path()))
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// What [`clean_orphans`] did for one record.
#[derive(Debug, Clone)]
pub struct Cleaned {
    pub header: Header,
    pub items: usize,
    /// What could not be undone.
    pub problems: Vec<String>,
}

/// Undoes the records under `dir` whose owner is gone (and, with `force`, those of live owners too).
pub fn clean_orphans(dir: &Path, force: bool) -> Vec<Cleaned> {
    let mut out = Vec::new();
    for r in list(dir) {
        if r.alive && !force {
            continue;
        }
        if r.alive {
            // Forced: stop the owner first so it does not make more.
            process::signal(r.header.owner, libc::SIGKILL);
        }
        let problems = undo(&r);
        out.push(Cleaned {
            header: r.header,
            items: r.items.len(),
            problems,
        });
    }
    out
}

/// Undoes a record found on disk (its owner must be gone) and removes it when everything was undone;
/// returns what could not be undone.
pub fn undo(found: &Found) -> Vec<String> {
    let problems = undo_items(&found.items);
    if problems.is_empty() {
        remove_path(&found.path);
    }
    problems
}

/// Removes a record file of a dead owner whose items need no undoing (unreadable or empty records).
pub fn discard(path: &Path) {
    remove_path(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_lists_what_was_set_up_and_undoes_it_last_first() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::fs::create_dir(&a).unwrap();
        std::fs::write(&b, "x").unwrap();
        let mut r = Record::create_in(d.path(), "test run").unwrap();
        r.push(Item::Path { path: a.clone() }).unwrap();
        r.push(Item::Path { path: b.clone() }).unwrap();
        let found = read(r.path()).unwrap();
        assert!(found.alive, "this process owns it");
        assert_eq!(found.items, r.items());
        assert_eq!(found.header.label, "test run");
        // A live owner's record is left alone.
        assert!(clean_orphans(d.path(), false).is_empty());
        assert!(a.exists());
        let path = r.path().to_owned();
        assert!(r.undo_all().is_empty());
        assert!(!a.exists() && !b.exists() && !path.exists());
    }

    #[test]
    fn what_is_kept_stays_recorded_for_later() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&a, "x").unwrap();
        std::fs::write(&b, "x").unwrap();
        let mut r = Record::create_in(d.path(), "keep").unwrap();
        r.push(Item::Path { path: a.clone() }).unwrap();
        r.push(Item::Path { path: b.clone() }).unwrap();
        let path = r.path().to_owned();
        let keep_a = a.clone();
        assert!(r
            .undo_all_but(&|i| i
                == &Item::Path {
                    path: keep_a.clone()
                })
            .is_empty());
        assert!(a.exists() && !b.exists());
        let left = read(&path).unwrap();
        assert_eq!(left.items, vec![Item::Path { path: a.clone() }]);
    }

    #[test]
    fn a_dead_owners_record_is_undone_and_a_torn_line_ignored() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("left");
        std::fs::write(&victim, "x").unwrap();
        // A record whose owner has exited: a child process's pid with its start time.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let header = Header {
            owner: pid,
            start: 1,
            label: "gone".into(),
        };
        let text = format!(
            "{}{}{{\"path\":{{\"pa",
            line(&header),
            line(&Item::Path {
                path: victim.clone()
            })
        );
        let path = d.path().join(format!("{pid}-gone.jsonl"));
        std::fs::write(&path, text).unwrap();
        let done = clean_orphans(d.path(), false);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].items, 1);
        assert!(!victim.exists());
        assert!(!path.exists());
    }
}
