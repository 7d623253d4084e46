//! What the gateway and the node routing set up is undone on exit; when the process is killed, a record in
//! `/run/wotemu/net/` lets `wotemu clean` undo it later.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sys;

/// Where the records live.
pub const DIR: &str = "/run/wotemu/net";

/// Commands that undo what a process set up in a network namespace.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Record {
    pub pid: u32,
    /// The namespace's name under /run/netns, if it has one.
    pub netns: Option<String>,
    /// The namespace's inode (to recognise it when it has no name).
    pub netns_ino: u64,
    /// Each command, program first; run in order; failures are ignored (already undone).
    pub undo: Vec<Vec<String>>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

fn netns_ino() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0)
}

impl Record {
    /// A record for what `what` (a short tag) is about to set up in the current namespace.
    pub fn new(what: &str) -> Record {
        let pid = std::process::id();
        Record {
            pid,
            netns: sys::current_netns_name(),
            netns_ino: netns_ino(),
            undo: Vec::new(),
            path: Some(Path::new(DIR).join(format!("{pid}-{what}-{}.json", netns_ino()))),
        }
    }

    /// Adds an undo command (before doing what it undoes) and saves the record.
    pub fn push(&mut self, cmd: &[&str]) {
        self.undo.push(cmd.iter().map(|s| s.to_string()).collect());
        self.save();
    }

    fn save(&self) {
        if let Some(p) = &self.path {
            let _ = std::fs::create_dir_all(DIR);
            let tmp = p.with_extension("tmp");
            if std::fs::write(&tmp, serde_json::to_vec(self).unwrap_or_default()).is_ok() {
                let _ = std::fs::rename(&tmp, p);
            }
        }
    }

    /// Undoes everything (last first) in the current namespace and removes the record.
    pub fn undo(&mut self) {
        for c in self.undo.iter().rev() {
            if let Some((p, a)) = c.split_first() {
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                if let Err(e) = sys::cmd(p, &a) {
                    tracing::debug!("undo: {e}");
                }
            }
        }
        self.undo.clear();
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Forgets the undo steps without running them (the namespace is being deleted anyway).
    pub fn forget(&mut self) {
        self.undo.clear();
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.undo.is_empty() {
            self.undo();
        }
    }
}

/// Whether `pid` runs (a zombie, killed but not yet reaped, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// Undoes the records of processes that are gone. Returns what was cleaned, one line each.
pub fn clean_orphans() -> Vec<String> {
    let mut done = Vec::new();
    let Ok(rd) = std::fs::read_dir(DIR) else {
        return done;
    };
    for e in rd.flatten() {
        let path = e.path();
        let Some(r) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
        else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if alive(r.pid) {
            continue;
        }
        let here = netns_ino() == r.netns_ino;
        let named = r
            .netns
            .as_ref()
            .filter(|n| Path::new("/run/netns").join(n).exists());
        if here || named.is_some() {
            for c in r.undo.iter().rev() {
                let mut args: Vec<&str> = Vec::new();
                let program = if here {
                    c[0].as_str()
                } else {
                    args.extend([
                        "netns",
                        "exec",
                        named.expect("named").as_str(),
                        c[0].as_str(),
                    ]);
                    "ip"
                };
                args.extend(c[1..].iter().map(String::as_str));
                let _ = sys::cmd(program, &args);
            }
            done.push(format!(
                "network set-up of process {} in namespace {}",
                r.pid,
                r.netns.as_deref().unwrap_or("(this one)")
            ));
        }
        let _ = std::fs::remove_file(&path);
    }
    done
}
