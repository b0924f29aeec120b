//! `CountedPushLock`: the push lock with contention statistics beside its word, for locks whose
//! critical sections do real work.
//!
//! [`RawPushLock`] stays one word and counts nothing. A `CountedPushLock` is that word followed
//! by its counters on the same 64-byte line (so a count lands in the line the acquisition just
//! took), then the rarely written maxima:
//!
//! | counter | written | how |
//! |---|---|---|
//! | exclusive acquisitions | every exclusive acquisition | load and store: the owner is alone |
//! | shared acquisitions | every shared acquisition | `fetch_add`: readers are not alone |
//! | contended, spun, sleeps, longest wait | acquisitions that found the lock taken | `fetch_add`, `fetch_max`, two clock reads |
//! | longest hold | one exclusive hold in [`HOLD_SAMPLE`] | two clock reads, by the owner |
//!
//! A clock read costs several times an uncontended acquisition (about 24 ns in user mode here),
//! so only what is already slow is timed: waits, and a sample of the exclusive holds. Shared
//! holds are not timed (many owners, one word). All counters are `Relaxed`: they order nothing,
//! and a snapshot read while the lock is in use is a snapshot.
//!
//! Cost: about 1 ns per uncontended acquisition; under contention with empty critical sections
//! up to half the throughput (the shared count is one more locked instruction on the line all
//! readers fight for), within the noise with a 100 ns hold (README, "Reading it").

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;

use crate::how::How;
use crate::platform::Platform;
use crate::raw::RawPushLock;

/// One exclusive hold in this many is timed for [`LockStatistics::longest_hold_ns`].
pub const HOLD_SAMPLE: u64 = 64;

/// A push lock that keeps [`LockStatistics`]: the one-word lock and its counters, 128 bytes.
#[repr(C, align(64))]
pub struct CountedPushLock<P: Platform> {
    lock: RawPushLock<P>,
    exclusive: AtomicU64,
    shared: AtomicU64,
    /// When the current exclusive hold began, if it is a sampled one (else 0).
    hold_started: AtomicU64,
    contended: AtomicU64,
    spun: AtomicU64,
    sleeps: AtomicU64,
    longest_wait_ns: AtomicU64,
    longest_hold_ns: AtomicU64,
}

/// A reading of a [`CountedPushLock`]'s counters (`PL_PUSH_LOCK_STATISTICS` in C).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct LockStatistics {
    /// Shared acquisitions, tries that succeeded included.
    pub shared_acquisitions: u64,
    /// Exclusive acquisitions, tries that succeeded included.
    pub exclusive_acquisitions: u64,
    /// Acquisitions that found the lock taken and went to the slow path.
    pub contended: u64,
    /// Contended acquisitions that got the lock without sleeping (spinning on the word or on
    /// their wait block).
    pub spun: u64,
    /// Sleeps on a wait block's event (an acquisition may sleep more than once).
    pub sleeps: u64,
    /// The longest wait of a contended acquisition, in nanoseconds.
    pub longest_wait_ns: u64,
    /// The longest exclusive hold among those sampled (one in [`HOLD_SAMPLE`]), in nanoseconds.
    pub longest_hold_ns: u64,
}

impl<P: Platform> Default for CountedPushLock<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> core::fmt::Debug for CountedPushLock<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CountedPushLock")
            .field("word", &self.lock.word())
            .field("statistics", &self.statistics())
            .finish_non_exhaustive()
    }
}

impl<P: Platform> CountedPushLock<P> {
    /// A free lock with every counter at 0.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            lock: RawPushLock::new(),
            exclusive: AtomicU64::new(0),
            shared: AtomicU64::new(0),
            hold_started: AtomicU64::new(0),
            contended: AtomicU64::new(0),
            spun: AtomicU64::new(0),
            sleeps: AtomicU64::new(0),
            longest_wait_ns: AtomicU64::new(0),
            longest_hold_ns: AtomicU64::new(0),
        }
    }

    /// The lock itself (for its word, its class, or the `nt` functions, which do not count).
    #[must_use]
    pub const fn raw(&self) -> &RawPushLock<P> {
        &self.lock
    }

    /// A reading of the lock word, decoded (for diagnostics: it may be stale at once).
    #[must_use]
    pub fn word(&self) -> crate::LockWord {
        self.lock.word()
    }

    /// The counters now.
    #[must_use]
    pub fn statistics(&self) -> LockStatistics {
        LockStatistics {
            shared_acquisitions: self.shared.load(Relaxed),
            exclusive_acquisitions: self.exclusive.load(Relaxed),
            contended: self.contended.load(Relaxed),
            spun: self.spun.load(Relaxed),
            sleeps: self.sleeps.load(Relaxed),
            longest_wait_ns: self.longest_wait_ns.load(Relaxed),
            longest_hold_ns: self.longest_hold_ns.load(Relaxed),
        }
    }

    /// Acquires exclusively, counting.
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn lock_exclusive(&self) {
        let _sleeps = self.lock_exclusive_as(How::here());
    }

    /// Acquires shared, counting.
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn lock_shared(&self) {
        let _sleeps = self.lock_shared_as(How::here());
    }

    /// Tries to acquire exclusively, counting a success.
    #[cfg_attr(feature = "verify", track_caller)]
    #[must_use = "if true, the lock is held and must be released"]
    pub fn try_lock_exclusive(&self) -> bool {
        self.try_lock_exclusive_as(How::here())
    }

    /// Tries to acquire shared, counting a success.
    #[cfg_attr(feature = "verify", track_caller)]
    #[must_use = "if true, the lock is held and must be released"]
    pub fn try_lock_shared(&self) -> bool {
        self.try_lock_shared_as(How::here())
    }

    /// Releases an exclusive acquisition.
    ///
    /// # Safety
    /// As for [`RawPushLock::unlock_exclusive`].
    #[cfg_attr(feature = "verify", track_caller)]
    pub unsafe fn unlock_exclusive(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.unlock_exclusive_as(How::here()) };
    }

    /// Releases a shared acquisition.
    ///
    /// # Safety
    /// As for [`RawPushLock::unlock_shared`].
    #[cfg_attr(feature = "verify", track_caller)]
    pub unsafe fn unlock_shared(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.unlock_shared_as(How::here()) };
    }

    /// [`lock_exclusive`](Self::lock_exclusive), called as `how` says: as
    /// [`RawPushLock`]'s, how many times the thread slept, or `None` if the verifier, in
    /// report-only mode, stopped the call.
    pub(crate) fn lock_exclusive_as(&self, how: How) -> Option<u32> {
        if self.lock.try_lock_exclusive_as(how) {
            self.took_exclusive();
            return Some(0);
        }
        let started = P::now_ns();
        let sleeps = self.lock.lock_exclusive_as(how)?;
        self.waited(started, sleeps);
        self.took_exclusive();
        Some(sleeps)
    }

    /// [`lock_shared`](Self::lock_shared), called as `how` says (returns as
    /// [`lock_exclusive_as`](Self::lock_exclusive_as)).
    pub(crate) fn lock_shared_as(&self, how: How) -> Option<u32> {
        self.lock_shared_via(how, RawPushLock::try_lock_shared_as)
    }

    /// [`lock_shared_as`](Self::lock_shared_as) for a lock its caller expects to find free (a
    /// cache-aware lock's slot; see [`RawPushLock::lock_shared_alone_as`]).
    pub(crate) fn lock_shared_alone_as(&self, how: How) -> Option<u32> {
        self.lock_shared_via(how, RawPushLock::try_lock_shared_alone_as)
    }

    fn lock_shared_via(
        &self,
        how: How,
        first_try: fn(&RawPushLock<P>, How) -> bool,
    ) -> Option<u32> {
        if first_try(&self.lock, how) {
            self.shared.fetch_add(1, Relaxed);
            return Some(0);
        }
        let started = P::now_ns();
        let sleeps = self.lock.lock_shared_as(how)?;
        self.waited(started, sleeps);
        self.shared.fetch_add(1, Relaxed);
        Some(sleeps)
    }

    /// [`try_lock_exclusive`](Self::try_lock_exclusive), called as `how` says.
    pub(crate) fn try_lock_exclusive_as(&self, how: How) -> bool {
        let taken = self.lock.try_lock_exclusive_as(how);
        if taken {
            self.took_exclusive();
        }
        taken
    }

    /// [`try_lock_shared`](Self::try_lock_shared), called as `how` says.
    pub(crate) fn try_lock_shared_as(&self, how: How) -> bool {
        let taken = self.lock.try_lock_shared_as(how);
        if taken {
            self.shared.fetch_add(1, Relaxed);
        }
        taken
    }

    /// [`unlock_exclusive`](Self::unlock_exclusive), called as `how` says.
    ///
    /// # Safety
    /// As for [`RawPushLock::unlock_exclusive`].
    pub(crate) unsafe fn unlock_exclusive_as(&self, how: How) {
        self.hold_ends();
        // SAFETY: forwarded from the caller.
        unsafe { self.lock.unlock_exclusive_as(how) };
    }

    /// [`unlock_shared`](Self::unlock_shared), called as `how` says.
    ///
    /// # Safety
    /// As for [`RawPushLock::unlock_shared`].
    pub(crate) unsafe fn unlock_shared_as(&self, how: How) {
        // SAFETY: forwarded from the caller.
        unsafe { self.lock.unlock_shared_as(how) };
    }

    /// [`unlock_shared_as`](Self::unlock_shared_as) of a share taken by
    /// [`lock_shared_alone_as`](Self::lock_shared_alone_as).
    ///
    /// # Safety
    /// As for [`RawPushLock::unlock_shared`].
    pub(crate) unsafe fn unlock_shared_alone_as(&self, how: How) {
        // SAFETY: forwarded from the caller.
        unsafe { self.lock.unlock_shared_alone_as(how) };
    }

    /// Counts an exclusive acquisition, and starts timing it if it is a sampled one. Only the
    /// owner writes these counters, so a load and a store count exactly.
    fn took_exclusive(&self) {
        let count = self.exclusive.load(Relaxed);
        self.exclusive.store(count.wrapping_add(1), Relaxed);
        if count.is_multiple_of(HOLD_SAMPLE) {
            // Never 0, which means "not timed".
            self.hold_started.store(P::now_ns().max(1), Relaxed);
        }
    }

    /// The exclusive owner is about to release: ends a timed hold.
    fn hold_ends(&self) {
        let started = self.hold_started.load(Relaxed);
        if started != 0 {
            self.hold_started.store(0, Relaxed);
            let held = P::now_ns().saturating_sub(started);
            if held > self.longest_hold_ns.load(Relaxed) {
                self.longest_hold_ns.store(held, Relaxed);
            }
        }
    }

    /// Counts a contended acquisition that began waiting at `started` and slept `sleeps` times.
    fn waited(&self, started: u64, sleeps: u32) {
        self.contended.fetch_add(1, Relaxed);
        if sleeps == 0 {
            self.spun.fetch_add(1, Relaxed);
        } else {
            self.sleeps.fetch_add(u64::from(sleeps), Relaxed);
        }
        let waited = P::now_ns().saturating_sub(started);
        self.longest_wait_ns.fetch_max(waited, Relaxed);
    }
}
