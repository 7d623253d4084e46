//! Which batch sequence numbers of a task have been seen.
//!
//! Agents number their batches 1, 2, 3, … per task. The tracker keeps the contiguous prefix seen (`upto`) and
//! the numbers seen above it (`above`), so memory stays small when batches arrive in order and replays are
//! recognised whatever their order. `missing()` counts numbers below the highest seen that never arrived.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Seen sequence numbers of one task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeqTracker {
    /// Every number in `1..=upto` has been seen.
    upto: u64,
    /// Numbers above `upto + 1` seen so far.
    above: BTreeSet<u64>,
}

impl SeqTracker {
    /// Records `seq`; returns false when it had been seen already (a duplicate).
    pub(crate) fn insert(&mut self, seq: u64) -> bool {
        if seq <= self.upto {
            return false;
        }
        if seq != self.upto + 1 {
            return self.above.insert(seq);
        }
        self.upto = seq;
        while self.above.remove(&(self.upto + 1)) {
            self.upto += 1;
        }
        true
    }

    /// Numbers below the highest one seen that were never seen.
    pub(crate) fn missing(&self) -> u64 {
        match self.above.last() {
            Some(&max) => max - self.upto - self.above.len() as u64,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_duplicates_and_gaps() {
        let mut s = SeqTracker::default();
        assert!(s.insert(1) && s.insert(2));
        assert!(!s.insert(2) && !s.insert(1));
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert_eq!(s.missing(), 2);
        assert!(s.insert(3) && s.insert(4));
        assert_eq!(s.missing(), 0);
        assert_eq!(
            s,
            SeqTracker {
                upto: 5,
                above: BTreeSet::new()
            }
        );
    }

    #[test]
    fn matches_a_set_model() {
        let mut s = SeqTracker::default();
        let mut model = BTreeSet::new();
        let mut x: u64 = 12345;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let seq = 1 + (x >> 33) % 300;
            assert_eq!(s.insert(seq), model.insert(seq));
        }
        let max = *model.last().unwrap();
        assert_eq!(s.missing(), max - model.len() as u64);
    }
}
