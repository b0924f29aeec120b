//! The driver's filter policy: the set of process ids whose creates it counts. Read on every
//! `IRP_MJ_CREATE` (shared), replaced from the port (exclusive): a read-mostly lock in a real
//! filter path. Platform-generic, so its logic is tested on std as well.

use core::cell::UnsafeCell;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicBool, AtomicU64};

use pushlock::{CountedCacheAwarePushLock, LockClass, Platform};
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

/// The policy set and the filter's counters.
///
/// The set's lock is a cache-aware push lock with counted slots: the set is read on every
/// create, on every processor, and replaced rarely, so readers on different processors touch
/// different cache lines, and its contention statistics cost no shared line. It needs pool, so
/// it is made by [`start`](Self::start) (the driver's load) and freed by [`stop`](Self::stop)
/// (its unload); before, a lookup finds nothing and a replacement is refused.
pub struct Policy<P: Platform> {
    /// The set's lock, once `ready`.
    lock: UnsafeCell<Option<CountedCacheAwarePushLock<P>>>,
    /// `lock` is made (`Release` by `start`, `Acquire` by every use).
    ready: AtomicBool,
    set: UnsafeCell<PidSet>,
    creates_seen: AtomicU64,
    creates_matched: AtomicU64,
    updates: AtomicU64,
}

// SAFETY: `lock` changes only in `start` and `stop`, whose callers promise that no other call
// runs; `set` is read under a share of the lock and written under the lock exclusively.
unsafe impl<P: Platform> Sync for Policy<P> {}

impl<P: Platform> Default for Policy<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> Policy<P> {
    /// An empty set, without its lock yet.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            lock: UnsafeCell::new(None),
            ready: AtomicBool::new(false),
            set: UnsafeCell::new(PidSet::EMPTY),
            creates_seen: AtomicU64::new(0),
            creates_matched: AtomicU64::new(0),
            updates: AtomicU64::new(0),
        }
    }

    /// Makes the set's lock (a slot per processor; see [`pushlock::CacheAwarePushLock`]), named `class`
    /// in verifier reports. Does nothing if it is made already.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` if there is no memory for it; nothing changes.
    ///
    /// # Safety
    /// No other call on this policy runs meanwhile (the driver's load, before any callback).
    pub unsafe fn start(&self, class: &'static LockClass) -> Result<(), i32> {
        if self.ready.load(Acquire) {
            return Ok(());
        }
        let lock = CountedCacheAwarePushLock::new().map_err(|_| status::INSUFFICIENT_RESOURCES)?;
        lock.set_class(class);
        // SAFETY: nothing else touches `lock` now (caller).
        unsafe { *self.lock.get() = Some(lock) };
        self.ready.store(true, Release);
        Ok(())
    }

    /// Frees the set's lock; the set and the counters stay.
    ///
    /// # Safety
    /// No other call on this policy runs meanwhile, and none holds its lock (the driver's
    /// unload, after every callback has left).
    pub unsafe fn stop(&self) {
        self.ready.store(false, Relaxed);
        // SAFETY: nothing else touches `lock` now (caller).
        unsafe { *self.lock.get() = None };
    }

    /// The set's lock, if made.
    fn lock(&self) -> Option<&CountedCacheAwarePushLock<P>> {
        if !self.ready.load(Acquire) {
            return None;
        }
        // SAFETY: made before `ready` was set (`Acquire` above), and `stop` does not run while
        // any other call does (its caller's promise).
        unsafe { (*self.lock.get()).as_ref() }
    }

    /// Runs `f` on the set, holding a share of the lock (on this processor's slot) inside a
    /// critical region, as `FltAcquirePushLockShared` would; `None` without a lock.
    fn read<R>(&self, f: impl FnOnce(&PidSet) -> R) -> Option<R> {
        let lock = self.lock()?;
        P::enter_critical_region();
        let token = lock.lock_shared();
        // SAFETY: writers hold every slot exclusively, so none writes while this share is held.
        let value = f(unsafe { &*self.set.get() });
        // SAFETY: the share taken above.
        unsafe { lock.unlock_shared(token) };
        P::leave_critical_region();
        Some(value)
    }

    /// The set's lock under `name`, with its contention statistics and its first slot's word
    /// (which a writer takes first), for `Locks`; `None` without a lock.
    pub fn named_lock(&self, name: &'static str) -> Option<NamedLock> {
        let lock = self.lock()?;
        Some(NamedLock {
            name,
            statistics: lock.statistics(),
            word: lock.slot(0).map_or(0, |first| first.word().0),
        })
    }

    /// Counts a create by `pid`; true if `pid` is in the set. For the I/O path: holds the lock
    /// shared for a scan of at most 64 ids, and calls nothing else meanwhile.
    pub fn count_create(&self, pid: u32) -> bool {
        self.creates_seen.fetch_add(1, Relaxed);
        let matched = self.read(|set| set.contains(pid)).unwrap_or(false);
        if matched {
            self.creates_matched.fetch_add(1, Relaxed);
        }
        matched
    }

    /// Replaces the set.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for more than 64 ids, `STATUS_DEVICE_NOT_READY` before
    /// [`start`](Self::start); the set is then unchanged.
    pub fn replace(&self, pids: &[u32]) -> Result<(), i32> {
        let mut next = PidSet::EMPTY;
        let slots = next
            .pids
            .get_mut(..pids.len())
            .ok_or(status::INVALID_PARAMETER)?;
        slots.copy_from_slice(pids);
        next.len = pids.len();
        let lock = self.lock().ok_or(status::DEVICE_NOT_READY)?;
        P::enter_critical_region();
        lock.lock_exclusive();
        // SAFETY: every slot is held exclusively: no reader or writer is inside.
        unsafe { *self.set.get() = next };
        // SAFETY: taken above.
        unsafe { lock.unlock_exclusive() };
        P::leave_critical_region();
        self.updates.fetch_add(1, Relaxed);
        Ok(())
    }

    /// The counters, for `Stats`.
    pub fn stats(&self) -> FilterStats {
        let size = self.read(|set| set.len).unwrap_or(0);
        FilterStats {
            creates_seen: self.creates_seen.load(Relaxed),
            creates_matched: self.creates_matched.load(Relaxed),
            policy_updates: self.updates.load(Relaxed),
            policy_size: u32::try_from(size).unwrap_or(u32::MAX),
        }
    }
}
