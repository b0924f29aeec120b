//! [`CountedPushLock`] through raw pointers, in the `Ex*` shape: what the driver exports to C
//! drivers as `Pl*CountedPushLock*` and `PlQueryPushLockStatistics`.
//!
//! The contract is the `Ex*` family's: the caller has disabled normal kernel APCs
//! (`KeEnterCriticalRegion`) for as long as it holds the lock, at IRQL <= `APC_LEVEL`. A counted
//! lock is 128 bytes, 64-aligned (the word and its counters on one cache line); C declares it
//! as `PL_COUNTED_PUSH_LOCK`.

use super::{Platform, api};
use crate::CountedPushLock;
use crate::LockStatistics;
use crate::how::How;
#[cfg(feature = "verify")]
use crate::verify::Site;

api! {
    lock: crate::CountedPushLock<P>, calls: calls;

    /// Initialises a counted lock: free, every counter 0. With the verifier, the call site
    /// becomes the lock's class.
    ///
    /// # Safety
    /// `lock` is valid for writes, 64-aligned, and not in use by any thread.
    fn InitializeCountedPushLock();

    /// Acquires exclusively, counting.
    ///
    /// # Safety
    /// `lock` is valid and initialised; the calling thread does not already own it.
    fn AcquireCountedPushLockExclusive();

    /// Acquires shared, counting.
    ///
    /// # Safety
    /// `lock` is valid and initialised; see the crate docs on re-entry.
    fn AcquireCountedPushLockShared();

    /// Tries to acquire exclusively without waiting, counting a success.
    ///
    /// # Safety
    /// `lock` is valid and initialised.
    fn TryAcquireCountedPushLockExclusive() -> bool;

    /// Tries to acquire shared without waiting, counting a success.
    ///
    /// # Safety
    /// `lock` is valid and initialised.
    fn TryAcquireCountedPushLockShared() -> bool;

    /// Releases an exclusive acquisition.
    ///
    /// # Safety
    /// The caller holds `lock` exclusively.
    fn ReleaseCountedPushLockExclusive();

    /// Releases a shared acquisition.
    ///
    /// # Safety
    /// The caller holds a share of `lock`.
    fn ReleaseCountedPushLockShared();
}

/// Reads a counted lock's counters into `statistics` (a snapshot while the lock is in use).
///
/// # Safety
/// `lock` is valid and initialised; `statistics` is valid for writes.
pub unsafe fn QueryPushLockStatistics<P: Platform>(
    lock: *const CountedPushLock<P>,
    statistics: *mut LockStatistics,
) {
    // SAFETY: `lock` is valid and initialised (caller).
    let read = unsafe { &*lock }.statistics();
    // SAFETY: `statistics` is valid for writes (caller).
    unsafe { statistics.write(read) };
}

/// The bodies, each taking how it was called.
mod calls {
    #![allow(non_snake_case)]

    use super::{CountedPushLock, How, Platform};

    /// # Safety
    /// `lock` is valid for the duration of the call and initialised.
    const unsafe fn counted<'a, P: Platform>(
        lock: *mut CountedPushLock<P>,
    ) -> &'a CountedPushLock<P> {
        // SAFETY: forwarded from the caller.
        unsafe { &*lock }
    }

    /// # Safety
    /// As for `InitializeCountedPushLock`.
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    pub unsafe fn InitializeCountedPushLock<P: Platform>(lock: *mut CountedPushLock<P>, how: How) {
        // SAFETY: the caller guarantees exclusive access to writable, aligned memory.
        unsafe { lock.write(CountedPushLock::new()) };
        #[cfg(feature = "verify")]
        // SAFETY: just initialised.
        crate::verify::classify::<P>(
            unsafe { counted(lock) }
                .raw()
                .as_ex_push_lock()
                .expose_provenance(),
            None,
            how.site,
        );
    }

    /// # Safety
    /// As for `AcquireCountedPushLockExclusive`.
    pub unsafe fn AcquireCountedPushLockExclusive<P: Platform>(
        lock: *mut CountedPushLock<P>,
        how: How,
    ) {
        // SAFETY: forwarded from the caller.
        let _sleeps = unsafe { counted(lock) }.lock_exclusive_as(how);
    }

    /// # Safety
    /// As for `AcquireCountedPushLockShared`.
    pub unsafe fn AcquireCountedPushLockShared<P: Platform>(
        lock: *mut CountedPushLock<P>,
        how: How,
    ) {
        // SAFETY: forwarded from the caller.
        let _sleeps = unsafe { counted(lock) }.lock_shared_as(how);
    }

    /// # Safety
    /// As for `TryAcquireCountedPushLockExclusive`.
    pub unsafe fn TryAcquireCountedPushLockExclusive<P: Platform>(
        lock: *mut CountedPushLock<P>,
        how: How,
    ) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { counted(lock) }.try_lock_exclusive_as(how)
    }

    /// # Safety
    /// As for `TryAcquireCountedPushLockShared`.
    pub unsafe fn TryAcquireCountedPushLockShared<P: Platform>(
        lock: *mut CountedPushLock<P>,
        how: How,
    ) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { counted(lock) }.try_lock_shared_as(how)
    }

    /// # Safety
    /// As for `ReleaseCountedPushLockExclusive`.
    pub unsafe fn ReleaseCountedPushLockExclusive<P: Platform>(
        lock: *mut CountedPushLock<P>,
        how: How,
    ) {
        // SAFETY: `lock` is valid and initialised (caller).
        let lock = unsafe { counted(lock) };
        // SAFETY: the caller holds it exclusively.
        unsafe { lock.unlock_exclusive_as(how) };
    }

    /// # Safety
    /// As for `ReleaseCountedPushLockShared`.
    pub unsafe fn ReleaseCountedPushLockShared<P: Platform>(
        lock: *mut CountedPushLock<P>,
        how: How,
    ) {
        // SAFETY: `lock` is valid and initialised (caller).
        let lock = unsafe { counted(lock) };
        // SAFETY: the caller holds a share.
        unsafe { lock.unlock_shared_as(how) };
    }
}
