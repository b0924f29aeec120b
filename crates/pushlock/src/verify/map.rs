//! A fixed-size open-addressed hash table of atomic words: lock-free lookups, insertions and
//! removals under the verifier's graph lock.
//!
//! Each slot is `W` words, the first `K` the key. Key word 0 is [`EMPTY`] in a slot never used
//! and [`REMOVED`] in one whose entry was removed (a probe goes on past it), so no real key
//! may start with either value; the verifier's keys are addresses. An inserter writes the other
//! words first and the first key word last (`Release`); a reader loads the first key word
//! (`Acquire`) before the rest. A slot reused while a reader is in it can give that reader a
//! mix of two entries: lookups race only with removals of locks being deleted, which is a caller
//! bug already.

use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Key word 0 of a slot never used.
pub const EMPTY: usize = 0;
/// Key word 0 of a slot whose entry was removed.
pub const REMOVED: usize = 1;

/// `N` slots (a power of two) of `W` words, keyed by the first `K`.
pub struct Map<const N: usize, const W: usize, const K: usize> {
    slots: [[AtomicUsize; W]; N],
}

impl<const N: usize, const W: usize, const K: usize> Map<N, W, K> {
    fn probe(key: &[usize; K]) -> impl Iterator<Item = usize> {
        let start = key.iter().fold(0, |mixed, &word| hash(mixed ^ word));
        (0..N).map(move |step| start.wrapping_add(step).checked_rem(N).unwrap_or(0))
    }

    fn slot(&self, index: usize) -> Option<&[AtomicUsize; W]> {
        self.slots.get(index)
    }

    /// The slot holding `key`, if any.
    pub fn find(&self, key: &[usize; K]) -> Option<usize> {
        for index in Self::probe(key) {
            let slot = self.slot(index)?;
            let first = slot.first()?.load(Acquire);
            if first == EMPTY {
                return None;
            }
            let matches = slot
                .iter()
                .zip(key)
                .all(|(word, &wanted)| word.load(Relaxed) == wanted);
            if matches {
                return Some(index);
            }
        }
        None
    }

    /// The words of slot `index`.
    pub fn read(&self, index: usize) -> [usize; W] {
        let mut words = [0; W];
        if let Some(slot) = self.slot(index) {
            for (out, word) in words.iter_mut().zip(slot) {
                *out = word.load(Acquire);
            }
        }
        words
    }

    /// Inserts `words` (key first), or overwrites the entry with the same key. `None` if full.
    /// Caller: holds the graph lock.
    pub fn insert(&self, words: &[usize; W]) -> Option<usize> {
        let mut key = [0; K];
        for (out, word) in key.iter_mut().zip(words) {
            *out = *word;
        }
        let index = match self.find(&key) {
            Some(index) => index,
            None => Self::probe(&key).find(|&index| {
                self.slot(index)
                    .and_then(|slot| slot.first())
                    .is_some_and(|first| matches!(first.load(Relaxed), EMPTY | REMOVED))
            })?,
        };
        let slot = self.slot(index)?;
        for (word, &value) in slot.iter().zip(words).skip(1) {
            word.store(value, Relaxed);
        }
        slot.first()?.store(*words.first()?, Release);
        Some(index)
    }

    /// Removes the entry in slot `index`. Caller: holds the graph lock.
    pub fn remove(&self, index: usize) {
        if let Some(first) = self.slot(index).and_then(|slot| slot.first()) {
            first.store(REMOVED, Release);
        }
    }

    /// Indices of the slots in use.
    pub fn entries(&self) -> impl Iterator<Item = usize> + '_ {
        (0..N).filter(|&index| {
            self.slot(index)
                .and_then(|slot| slot.first())
                .is_some_and(|first| !matches!(first.load(Acquire), EMPTY | REMOVED))
        })
    }
}

/// Fibonacci hashing of an address: multiply by 2^64 / φ, keep the well-mixed high half.
const fn hash(word: usize) -> usize {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "on 32-bit targets the low half still mixes"
    )]
    const GOLDEN: usize = 0x9E37_79B9_7F4A_7C15_u64 as usize;
    word.wrapping_mul(GOLDEN).rotate_left(usize::BITS / 2)
}
