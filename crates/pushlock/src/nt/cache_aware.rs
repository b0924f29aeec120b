//! The kernel's cache-aware push-lock functions over [`CacheAwarePushLock`].
//!
//! Same names, same shapes as `ExAllocateCacheAwarePushLock` and the rest. A shared
//! acquisition returns the `PEX_PUSH_LOCK` of the slot it took, and the shared release takes
//! that pointer, so a reader that moved to another processor releases the right slot.
//!
//! The `Flt*` forms, which Windows does not have, enter a critical region on acquire and leave
//! it on release, as `FltAcquirePushLock*` do; the `Ex*` forms expect the caller to have done so.
//! As in `nt`, `at` (feature `verify`) has each function with the caller's site given; the
//! releases of a slot, which take the slot's `PEX_PUSH_LOCK`, are in [`slot`].

use super::calls::flags_valid as valid_flags;
use super::{EX_PUSH_LOCK, api};
use crate::cache_aware::CacheAwarePushLock;
use crate::how::How;
use crate::platform::Platform;
#[cfg(feature = "verify")]
use crate::verify::Site;

pub use slot::{ExReleaseCacheAwarePushLockSharedEx, FltReleaseCacheAwarePushLockShared};

/// A cache-aware push lock as `ExAllocateCacheAwarePushLock` hands it out (opaque to C).
pub type EX_PUSH_LOCK_CACHE_AWARE<P> = CacheAwarePushLock<P>;

/// Pool tag of the lock's own record (its slots are tagged `PlkC`).
const RECORD_TAG: crate::PoolTag = crate::PoolTag(*b"PlkA");

fn record_layout<P: Platform>() -> core::alloc::Layout {
    core::alloc::Layout::new::<CacheAwarePushLock<P>>()
}

/// Allocates and initialises a cache-aware push lock with a slot per processor; null if there
/// is no memory. Free it with [`ExFreeCacheAwarePushLock`].
#[must_use]
pub fn ExAllocateCacheAwarePushLock<P: Platform>() -> *mut EX_PUSH_LOCK_CACHE_AWARE<P> {
    let Ok(lock) = CacheAwarePushLock::<P>::new() else {
        return core::ptr::null_mut();
    };
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "`allocate` aligns to the layout asked for (at most 16; this one is 8)"
    )]
    let record = P::allocate(record_layout::<P>(), RECORD_TAG).cast::<CacheAwarePushLock<P>>();
    if !record.is_null() {
        // SAFETY: fresh memory of the record's layout.
        unsafe { record.write(lock) };
    }
    record
}

/// Frees a lock from [`ExAllocateCacheAwarePushLock`].
///
/// # Safety
/// `lock` came from `ExAllocateCacheAwarePushLock` on this platform, is free, and no thread
/// uses it afterwards.
pub unsafe fn ExFreeCacheAwarePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>) {
    if lock.is_null() {
        return;
    }
    // SAFETY: initialised by `ExAllocateCacheAwarePushLock`, not used any more (caller).
    unsafe { lock.drop_in_place() };
    // SAFETY: the record came from `allocate` with this layout and tag.
    unsafe { P::free(lock.cast(), record_layout::<P>(), RECORD_TAG) };
}

api! {
    lock: crate::CacheAwarePushLock<P>, calls: calls;

    /// Acquires exclusively (every slot); the caller has disabled normal kernel APCs.
    ///
    /// # Safety
    /// `lock` is valid (from `ExAllocateCacheAwarePushLock`); the calling thread holds no slot
    /// of it.
    fn ExAcquireCacheAwarePushLockExclusive();

    /// Releases an exclusive acquisition.
    ///
    /// # Safety
    /// The caller holds `lock` exclusively.
    fn ExReleaseCacheAwarePushLockExclusive();

    /// Acquires shared, and returns the push lock of the slot it took.
    ///
    /// The slot is the caller's processor's; [`ExReleaseCacheAwarePushLockSharedEx`] releases
    /// it. `flags` as for `FltAcquirePushLockSharedEx`; others are a caller bug, reported
    /// before anything changes.
    ///
    /// # Safety
    /// `lock` is valid; see the crate docs on re-entry.
    fn ExAcquireCacheAwarePushLockSharedEx(flags: u32) -> *mut crate::nt::EX_PUSH_LOCK;

    /// [`ExAcquireCacheAwarePushLockExclusive`] inside a critical region it enters.
    ///
    /// # Safety
    /// As for `ExAcquireCacheAwarePushLockExclusive`; release with
    /// [`FltReleaseCacheAwarePushLockExclusive`].
    fn FltAcquireCacheAwarePushLockExclusive();

    /// [`ExReleaseCacheAwarePushLockExclusive`], then leaves the critical region.
    ///
    /// # Safety
    /// The caller holds `lock` through `FltAcquireCacheAwarePushLockExclusive`.
    fn FltReleaseCacheAwarePushLockExclusive();

    /// [`ExAcquireCacheAwarePushLockSharedEx`] (no flags) inside a critical region it enters.
    ///
    /// # Safety
    /// As for `ExAcquireCacheAwarePushLockSharedEx`; release with
    /// [`FltReleaseCacheAwarePushLockShared`].
    fn FltAcquireCacheAwarePushLockShared() -> *mut crate::nt::EX_PUSH_LOCK;
}

/// The bodies, each taking how it was called.
mod calls {
    #![allow(non_snake_case)]

    use super::{CacheAwarePushLock, EX_PUSH_LOCK, How, Platform, valid_flags};
    use crate::raw::RawPushLock;

    /// # Safety
    /// `lock` is valid for the call (from `ExAllocateCacheAwarePushLock`).
    const unsafe fn cache_aware<'a, P: Platform>(
        lock: *mut CacheAwarePushLock<P>,
    ) -> &'a CacheAwarePushLock<P> {
        // SAFETY: forwarded from the caller.
        unsafe { &*lock }
    }

    /// # Safety
    /// As for `ExAcquireCacheAwarePushLockExclusive`.
    pub unsafe fn ExAcquireCacheAwarePushLockExclusive<P: Platform>(
        lock: *mut CacheAwarePushLock<P>,
        how: How,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { cache_aware(lock) }.lock_exclusive_as(how);
    }

    /// # Safety
    /// As for `ExReleaseCacheAwarePushLockExclusive`.
    pub unsafe fn ExReleaseCacheAwarePushLockExclusive<P: Platform>(
        lock: *mut CacheAwarePushLock<P>,
        how: How,
    ) {
        // SAFETY: `lock` is valid (caller).
        let lock = unsafe { cache_aware(lock) };
        // SAFETY: held exclusively (caller).
        unsafe { lock.unlock_exclusive_as(how) };
    }

    /// # Safety
    /// As for `ExAcquireCacheAwarePushLockSharedEx`.
    pub unsafe fn ExAcquireCacheAwarePushLockSharedEx<P: Platform>(
        lock: *mut CacheAwarePushLock<P>,
        flags: u32,
        how: How,
    ) -> *mut EX_PUSH_LOCK {
        // SAFETY: `lock` is valid (caller).
        let lock = unsafe { cache_aware(lock) };
        // A report of bad flags names the lock by its first slot.
        let first = || {
            lock.slot(0)
                .map_or(core::ptr::null_mut(), RawPushLock::as_ex_push_lock)
        };
        if !valid_flags::<P>(first, flags, how) {
            return core::ptr::null_mut();
        }
        let token = lock.lock_shared_as(how);
        lock.slot(token.index())
            .map_or(core::ptr::null_mut(), RawPushLock::as_ex_push_lock)
    }

    /// # Safety
    /// As for `FltAcquireCacheAwarePushLockExclusive`.
    pub unsafe fn FltAcquireCacheAwarePushLockExclusive<P: Platform>(
        lock: *mut CacheAwarePushLock<P>,
        how: How,
    ) {
        P::enter_critical_region();
        // SAFETY: forwarded from the caller.
        unsafe { ExAcquireCacheAwarePushLockExclusive::<P>(lock, how.through_flt()) };
    }

    /// # Safety
    /// As for `FltReleaseCacheAwarePushLockExclusive`.
    pub unsafe fn FltReleaseCacheAwarePushLockExclusive<P: Platform>(
        lock: *mut CacheAwarePushLock<P>,
        how: How,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { ExReleaseCacheAwarePushLockExclusive::<P>(lock, how.through_flt()) };
        P::leave_critical_region();
    }

    /// # Safety
    /// As for `FltAcquireCacheAwarePushLockShared`.
    pub unsafe fn FltAcquireCacheAwarePushLockShared<P: Platform>(
        lock: *mut CacheAwarePushLock<P>,
        how: How,
    ) -> *mut EX_PUSH_LOCK {
        P::enter_critical_region();
        // SAFETY: forwarded from the caller.
        unsafe { ExAcquireCacheAwarePushLockSharedEx::<P>(lock, 0, how.through_flt()) }
    }
}

/// The releases of one slot's share, which take the slot's `PEX_PUSH_LOCK` as the shared
/// acquisitions return it.
pub mod slot {
    use super::{EX_PUSH_LOCK, How, Platform, api};
    #[cfg(feature = "verify")]
    use crate::verify::Site;

    api! {
        lock: crate::nt::EX_PUSH_LOCK, calls: calls;

        /// Releases the share of `lock`, a slot as
        /// [`ExAcquireCacheAwarePushLockSharedEx`](super::ExAcquireCacheAwarePushLockSharedEx)
        /// returned it.
        ///
        /// # Safety
        /// The caller holds a share of that slot, taken through
        /// `ExAcquireCacheAwarePushLockSharedEx`.
        fn ExReleaseCacheAwarePushLockSharedEx(flags: u32);

        /// [`ExReleaseCacheAwarePushLockSharedEx`], then leaves the critical region.
        ///
        /// # Safety
        /// The caller holds a share of `lock` through
        /// [`FltAcquireCacheAwarePushLockShared`](super::FltAcquireCacheAwarePushLockShared).
        fn FltReleaseCacheAwarePushLockShared();
    }

    mod calls {
        #![allow(non_snake_case)]

        use super::super::valid_flags;
        use super::{EX_PUSH_LOCK, How, Platform};
        use crate::raw::RawPushLock;

        /// # Safety
        /// As for `ExReleaseCacheAwarePushLockSharedEx`.
        pub unsafe fn ExReleaseCacheAwarePushLockSharedEx<P: Platform>(
            lock: *mut EX_PUSH_LOCK,
            flags: u32,
            how: How,
        ) {
            if !valid_flags::<P>(|| lock, flags, how) {
                return;
            }
            // SAFETY: a slot of a live lock (caller).
            let slot = unsafe { RawPushLock::<P>::from_ptr(lock) };
            // SAFETY: a share of it is held (caller).
            unsafe { slot.unlock_shared_alone_as(how) };
        }

        /// # Safety
        /// As for `FltReleaseCacheAwarePushLockShared`.
        pub unsafe fn FltReleaseCacheAwarePushLockShared<P: Platform>(
            lock: *mut EX_PUSH_LOCK,
            how: How,
        ) {
            // SAFETY: forwarded from the caller.
            unsafe { ExReleaseCacheAwarePushLockSharedEx::<P>(lock, 0, how.through_flt()) };
            P::leave_critical_region();
        }
    }
}
