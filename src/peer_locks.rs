//! The kernel's own locks as workload peers, so `pushlock-harness bench` compares ours with
//! them on the same machine: the Filter Manager push lock and an `ERESOURCE`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use pushlock_selftest::{LockUnavailable, Shared, TestLock};

use crate::ffi::{
    ERESOURCE, ExAcquireResourceExclusiveLite, ExAcquireResourceSharedLite, ExDeleteResourceLite,
    ExInitializeResourceLite, ExReleaseResourceLite, FltAcquirePushLockExclusive,
    FltAcquirePushLockShared, FltDeletePushLock, FltInitializePushLock, FltReleasePushLock,
    KeEnterCriticalRegion, KeLeaveCriticalRegion,
};

/// The kernel's push lock through `FltAcquirePushLock*` (which enter and leave the critical
/// region themselves).
pub struct OsPushLock(UnsafeCell<usize>);

// SAFETY: the word is only touched by the Filter Manager push-lock routines, which synchronise.
unsafe impl Sync for OsPushLock {}
// SAFETY: as above; the lock has no thread affinity.
unsafe impl Send for OsPushLock {}

impl OsPushLock {
    /// A lock initialised in place, in nonpaged pool.
    ///
    /// # Errors
    /// No pool for it.
    pub fn create() -> Result<Shared<Self>, LockUnavailable> {
        let lock = Shared::try_new(Self(UnsafeCell::new(0)))?;
        // SAFETY: a fresh, unshared word at its final address.
        unsafe { FltInitializePushLock(lock.0.get()) };
        Ok(lock)
    }
}

impl TestLock for OsPushLock {
    fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: an initialised push lock; released below on the same thread.
        unsafe { FltAcquirePushLockExclusive(self.0.get()) };
        let result = f();
        // SAFETY: held, acquired above.
        unsafe { FltReleasePushLock(self.0.get()) };
        result
    }

    fn shared<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: as for `exclusive`.
        unsafe { FltAcquirePushLockShared(self.0.get()) };
        let result = f();
        // SAFETY: held, acquired above.
        unsafe { FltReleasePushLock(self.0.get()) };
        result
    }

    fn word(&self) -> Option<usize> {
        // A snapshot for reports. The kernel changes the word with interlocked operations, so
        // it is read atomically too (a plain or volatile read would race with them).
        // SAFETY: the word is aligned, lives as long as `self`, and is only ever accessed
        // atomically (by the kernel's interlocked routines and by this load).
        Some(unsafe { AtomicUsize::from_ptr(self.0.get()) }.load(Relaxed))
    }
}

impl Drop for OsPushLock {
    fn drop(&mut self) {
        // SAFETY: the last reference: nobody holds or waits.
        unsafe { FltDeletePushLock(self.0.get()) };
    }
}

/// An `ERESOURCE`, acquired inside a critical region as its documentation requires.
pub struct Resource {
    resource: UnsafeCell<ERESOURCE>,
    /// Set once `ExInitializeResourceLite` succeeded: only then may it be deleted.
    initialised: AtomicBool,
}

// SAFETY: the resource is only touched by the executive resource routines, which synchronise.
unsafe impl Sync for Resource {}
// SAFETY: as above.
unsafe impl Send for Resource {}

impl Resource {
    /// A resource initialised in place (it is linked into the system's resource list by its
    /// address, so it must not move afterwards), in nonpaged pool.
    ///
    /// # Errors
    /// No pool for it, or the executive refused to initialise it.
    pub fn create() -> Result<Shared<Self>, LockUnavailable> {
        let resource = Shared::try_new(Self {
            resource: UnsafeCell::new(ERESOURCE { Opaque: [0; 0x68] }),
            initialised: AtomicBool::new(false),
        })?;
        // SAFETY: fresh, unshared, nonpaged and 8-aligned, at its final address.
        let status = unsafe { ExInitializeResourceLite(resource.resource.get()) };
        if status < 0 {
            return Err(LockUnavailable::OutOfMemory);
        }
        resource.initialised.store(true, Relaxed);
        Ok(resource)
    }
}

impl TestLock for Resource {
    fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: critical region around the whole hold, as documented; `Wait = TRUE` always
        // acquires; released below on this thread.
        unsafe { KeEnterCriticalRegion() };
        // SAFETY: as above.
        unsafe { ExAcquireResourceExclusiveLite(self.resource.get(), 1) };
        let result = f();
        // SAFETY: held by this thread.
        unsafe { ExReleaseResourceLite(self.resource.get()) };
        // SAFETY: balances the enter above.
        unsafe { KeLeaveCriticalRegion() };
        result
    }

    fn shared<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: as for `exclusive`.
        unsafe { KeEnterCriticalRegion() };
        // SAFETY: as above.
        unsafe { ExAcquireResourceSharedLite(self.resource.get(), 1) };
        let result = f();
        // SAFETY: held by this thread.
        unsafe { ExReleaseResourceLite(self.resource.get()) };
        // SAFETY: balances the enter above.
        unsafe { KeLeaveCriticalRegion() };
        result
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        if self.initialised.load(Relaxed) {
            // SAFETY: initialised, and the last reference: nobody holds or waits.
            unsafe { ExDeleteResourceLite(self.resource.get()) };
        }
    }
}
