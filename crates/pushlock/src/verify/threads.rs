//! What each thread holds: a bounded table keyed by the thread, since the kernel has no
//! thread-local storage.
//!
//! A thread claims a slot (CAS of its key into `owners`, then its bit in `occupied`) when it
//! acquires its first lock and gives it back when it releases its last, so the table holds only
//! threads that hold push locks right now, and a thread finds its slot by testing the few
//! claimed ones. Only the owner writes its slot; reports read other threads' slots, so every
//! field is an atomic (`Relaxed`: a report's view of another thread is a snapshot, and says so).

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicU64, AtomicUsize};

use super::site::Site;

/// Threads that can hold push locks at the same time: one bit each in `occupied`.
pub const THREADS: usize = 64;
const _: () = assert!(THREADS == u64::BITS as usize);
/// Push locks one thread can hold at the same time.
pub const HELD: usize = 16;

/// `mode` bits of a held record.
const EXCLUSIVE: usize = 0x1;
/// Acquired through a `Flt*` function: the critical region it entered must still be in force.
const FLT: usize = 0x2;

/// One lock a thread holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The lock's address.
    pub lock: usize,
    /// Held exclusively (else shared).
    pub exclusive: bool,
    /// Acquired through a `Flt*` function.
    pub flt: bool,
    /// Where it was acquired.
    pub site: Site,
    /// Its class key in the lock-order graph (see `order`).
    pub class: usize,
    /// For a reader's slot of a cache-aware lock, the whole lock's address (else 0).
    pub whole: usize,
}

impl Held {
    /// Whether this record holds `lock`, or a part of the cache-aware lock `whole` (if not 0).
    #[must_use]
    pub const fn covers(&self, lock: usize, whole: usize) -> bool {
        self.lock == lock || (whole != 0 && (self.lock == whole || self.whole == whole))
    }
}

#[derive(Default)]
struct Record {
    lock: AtomicUsize,
    mode: AtomicUsize,
    site: AtomicUsize,
    class: AtomicUsize,
    whole: AtomicUsize,
}

impl Record {
    fn read(&self) -> Held {
        let mode = self.mode.load(Relaxed);
        Held {
            lock: self.lock.load(Relaxed),
            exclusive: mode & EXCLUSIVE != 0,
            flt: mode & FLT != 0,
            site: Site::decode(self.site.load(Relaxed)),
            class: self.class.load(Relaxed),
            whole: self.whole.load(Relaxed),
        }
    }

    fn write(&self, held: &Held) {
        let exclusive = if held.exclusive { EXCLUSIVE } else { 0 };
        let mode = exclusive | if held.flt { FLT } else { 0 };
        self.lock.store(held.lock, Relaxed);
        self.mode.store(mode, Relaxed);
        self.site.store(held.site.encode(), Relaxed);
        self.class.store(held.class, Relaxed);
        self.whole.store(held.whole, Relaxed);
    }
}

/// One thread's held locks, oldest first.
struct Slot {
    count: AtomicUsize,
    held: [Record; HELD],
}

/// The slots whose bits are set in `bits`, lowest first.
fn slots_in(mut bits: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        let index = bits.trailing_zeros();
        bits &= bits.wrapping_sub(1);
        (index < u64::BITS).then_some(index as usize)
    })
}

/// The per-thread table.
pub struct Threads {
    /// Bit `i`: slot `i` is claimed (set after its owner word, cleared before).
    occupied: AtomicU64,
    owners: [AtomicUsize; THREADS],
    slots: [Slot; THREADS],
}

/// A thread's slot, found or claimed.
#[derive(Clone, Copy)]
pub struct SlotIndex(usize);

/// Why a lock could not be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// Every slot is claimed by another thread.
    Threads,
    /// This thread already holds [`HELD`] locks.
    Held,
}

impl Threads {
    fn owner(&self, index: usize) -> Option<&AtomicUsize> {
        self.owners.get(index)
    }

    fn slot(&self, index: SlotIndex) -> Option<&Slot> {
        self.slots.get(index.0)
    }

    /// The slot `thread` holds, if it holds any lock.
    pub fn find(&self, thread: usize) -> Option<SlotIndex> {
        slots_in(self.occupied.load(Acquire))
            .find(|&index| self.owner(index).is_some_and(|o| o.load(Relaxed) == thread))
            .map(SlotIndex)
    }

    /// Records that `thread` now holds `held`, claiming a slot for it if needed.
    ///
    /// # Errors
    /// [`Full`] if there is no slot for the thread or no room in it.
    pub fn push(&self, thread: usize, held: &Held) -> Result<(), Full> {
        let index = self
            .find(thread)
            .or_else(|| self.claim(thread))
            .ok_or(Full::Threads)?;
        let slot = self.slot(index).ok_or(Full::Threads)?;
        let count = slot.count.load(Relaxed);
        let result = slot.held.get(count).ok_or(Full::Held).map(|record| {
            record.write(held);
            slot.count.store(count.saturating_add(1), Release);
        });
        self.give_back_if_empty(index);
        result
    }

    /// Whether `thread` can record one more lock: room in its slot, or a free slot (which
    /// another thread may still take first).
    ///
    /// # Errors
    /// [`Full`] if not.
    pub fn has_room(&self, thread: usize) -> Result<(), Full> {
        match self.find(thread).and_then(|index| self.slot(index)) {
            Some(slot) if slot.count.load(Relaxed) >= HELD => Err(Full::Held),
            Some(_) => Ok(()),
            None if self.occupied.load(Relaxed) != u64::MAX => Ok(()),
            None => Err(Full::Threads),
        }
    }

    /// Claims a free slot: its owner word first (other claimers then skip it), then its bit.
    fn claim(&self, thread: usize) -> Option<SlotIndex> {
        let index = slots_in(!self.occupied.load(Relaxed)).find(|&index| {
            self.owner(index)
                .is_some_and(|owner| owner.compare_exchange(0, thread, Acquire, Relaxed).is_ok())
        })?;
        self.occupied.fetch_or(1 << index, Release);
        Some(SlotIndex(index))
    }

    /// Gives the slot back once it holds nothing: its bit first, then its owner word.
    fn give_back_if_empty(&self, index: SlotIndex) {
        if self.slot(index).is_some_and(|s| s.count.load(Relaxed) == 0)
            && let Some(owner) = self.owner(index.0)
        {
            self.occupied.fetch_and(!(1 << index.0), Release);
            owner.store(0, Release);
        }
    }

    /// The most recent lock `thread` holds at `lock`, and its position.
    pub fn find_held(&self, thread: usize, lock: usize) -> Option<(SlotIndex, usize, Held)> {
        self.find_held_where(thread, |held| held.lock == lock)
    }

    /// The most recent record of `thread` that `matches`, and its position.
    pub fn find_held_where(
        &self,
        thread: usize,
        matches: impl Fn(&Held) -> bool,
    ) -> Option<(SlotIndex, usize, Held)> {
        let index = self.find(thread)?;
        let slot = self.slot(index)?;
        let count = slot.count.load(Relaxed);
        slot.held
            .iter()
            .take(count)
            .enumerate()
            .rev()
            .map(|(position, record)| (position, record.read()))
            .find(|(_, held)| matches(held))
            .map(|(position, held)| (index, position, held))
    }

    /// Forgets the record at `position` of `thread`'s slot (found by `find_held`), keeping the
    /// others in acquisition order; gives the slot back if it was the last.
    pub fn remove(&self, index: SlotIndex, position: usize) {
        let Some(slot) = self.slot(index) else {
            return;
        };
        let count = slot.count.load(Relaxed);
        let kept = slot.held.iter().take(count).skip(position);
        for (to, from) in kept.clone().zip(kept.skip(1)) {
            to.write(&from.read());
        }
        slot.count.store(count.saturating_sub(1), Release);
        self.give_back_if_empty(index);
    }

    /// Calls `each` for every lock `thread` holds, oldest first.
    pub fn for_each_held(&self, thread: usize, mut each: impl FnMut(&Held)) {
        let Some(slot) = self.find(thread).and_then(|index| self.slot(index)) else {
            return;
        };
        let count = slot.count.load(Acquire);
        for record in slot.held.iter().take(count) {
            each(&record.read());
        }
    }

    /// The first record (in slot order) of any thread that `matches`, with the thread: a
    /// snapshot.
    pub fn find_any(&self, mut matches: impl FnMut(&Held) -> bool) -> Option<(usize, Held)> {
        for (owner, slot) in self.owners.iter().zip(&self.slots) {
            let thread = owner.load(Acquire);
            if thread == 0 {
                continue;
            }
            let count = slot.count.load(Acquire).min(HELD);
            for record in slot.held.iter().take(count) {
                let held = record.read();
                if matches(&held) {
                    return Some((thread, held));
                }
            }
        }
        None
    }
}
