//! The driver's filter policy: the set of process ids whose creates it counts. Read on every
//! `IRP_MJ_CREATE` (shared), replaced from the port (exclusive): a read-mostly lock in a real
//! filter path. Platform-generic, so its logic is tested on std as well.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use pushlock::{CountedPushLock, CountedPushRwLock, LockClass, Platform, Statistics};
use pushlock_protocol::{limits, status};

use crate::host::{FilterStats, NamedLock};

/// Up to 64 process ids, unordered.
#[derive(Clone, Copy, Debug)]
struct PidSet {
    pids: [u32; limits::MAX_POLICY_PIDS as usize],
    len: usize,
}

impl PidSet {
    const EMPTY: Self = Self {
        pids: [0; limits::MAX_POLICY_PIDS as usize],
        len: 0,
    };

    fn contains(&self, pid: u32) -> bool {
        self.pids.iter().take(self.len).any(|&member| member == pid)
    }
}

/// The policy set and the filter's counters. The set's lock keeps contention statistics: it is
/// the filter's hot path (a shared acquisition on every create).
pub struct Policy<P: Platform> {
    set: CountedPushRwLock<P, PidSet>,
    creates_seen: AtomicU64,
    creates_matched: AtomicU64,
    updates: AtomicU64,
}

impl<P: Platform> Default for Policy<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> Policy<P> {
    /// An empty set.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            set: CountedPushRwLock::const_new(CountedPushLock::new(), PidSet::EMPTY),
            creates_seen: AtomicU64::new(0),
            creates_matched: AtomicU64::new(0),
            updates: AtomicU64::new(0),
        }
    }

    /// Names the set's lock in verifier reports (see [`LockClass`]).
    pub fn name_lock(&self, class: &'static LockClass) {
        // SAFETY: only names the lock (the verifier's records); its state is untouched.
        unsafe { self.set.raw() }.raw().set_class(class);
    }

    /// The set's lock under `name`, with its contention statistics and word, for `Locks`.
    pub fn named_lock(&self, name: &'static str) -> NamedLock {
        // SAFETY: only reads the word; the lock's state is untouched.
        let word = unsafe { self.set.raw() }.raw().word().0;
        NamedLock {
            name,
            statistics: self.set.statistics(),
            word,
        }
    }

    /// Counts a create by `pid`; true if `pid` is in the set. For the I/O path: holds the lock
    /// shared (inside a critical region, as `FltAcquirePushLockShared` would) for a scan of at
    /// most 64 ids, and calls nothing else meanwhile.
    pub fn count_create(&self, pid: u32) -> bool {
        self.creates_seen.fetch_add(1, Relaxed);
        P::enter_critical_region();
        let matched = self.set.read().contains(pid);
        P::leave_critical_region();
        if matched {
            self.creates_matched.fetch_add(1, Relaxed);
        }
        matched
    }

    /// Replaces the set.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for more than 64 ids; the set is then unchanged.
    pub fn replace(&self, pids: &[u32]) -> Result<(), i32> {
        let mut next = PidSet::EMPTY;
        let slots = next
            .pids
            .get_mut(..pids.len())
            .ok_or(status::INVALID_PARAMETER)?;
        slots.copy_from_slice(pids);
        next.len = pids.len();
        P::enter_critical_region();
        *self.set.write() = next;
        P::leave_critical_region();
        self.updates.fetch_add(1, Relaxed);
        Ok(())
    }

    /// The counters, for `Stats`.
    pub fn stats(&self) -> FilterStats {
        P::enter_critical_region();
        let size = self.set.read().len;
        P::leave_critical_region();
        FilterStats {
            creates_seen: self.creates_seen.load(Relaxed),
            creates_matched: self.creates_matched.load(Relaxed),
            policy_updates: self.updates.load(Relaxed),
            policy_size: u32::try_from(size).unwrap_or(u32::MAX),
        }
    }
}
