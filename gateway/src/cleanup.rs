//! What a gateway (or a node's routing) changes in its network namespace is undone on exit; the commands
//! that undo it go to a crash clean-up record first ([`wotemu_sys::cleanup`]), so that `wotemu clean` can run
//! them after the process was killed.

use wotemu_sys::cleanup::{Item, Record};

/// The undo commands of one gateway, run (last first) on [`Undo::undo`] or when dropped.
pub struct Undo {
    record: Option<Record>,
}

impl Undo {
    /// A new record labelled `what` (`gateway`).
    pub fn new(what: &str) -> Undo {
        let record = Record::create(what)
            .map_err(|e| {
                tracing::warn!(error = %e, "Cannot write the clean-up record; `wotemu clean` will not be able to undo this gateway's rules after a crash.");
            })
            .ok();
        Undo { record }
    }

    /// Adds an undo command (before doing what it undoes), to run in this thread's network namespace.
    pub fn push(&mut self, cmd: &[&str]) {
        if let Some(r) = &mut self.record {
            if let Err(e) = r.push(Item::undo_here(cmd)) {
                tracing::warn!(error = %e, command = ?cmd, "Cannot extend the clean-up record.");
            }
        }
    }

    /// Undoes everything (last first) and removes the record.
    pub fn undo(&mut self) {
        if let Some(r) = self.record.take() {
            for p in r.undo_all() {
                tracing::warn!(problem = %p, "Clean-up left something behind.");
            }
        }
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        self.undo();
    }
}
