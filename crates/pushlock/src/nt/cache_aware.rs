//! The kernel's cache-aware push-lock functions over [`CacheAwarePushLock`].
//!
//! Same names, same shapes as `ExAllocateCacheAwarePushLock` and the rest. A shared
//! acquisition returns the `PEX_PUSH_LOCK` of the slot it took, and the shared release takes
//! that pointer, so a reader that moved to another processor releases the right slot.
//!
//! The `Flt*` forms, which Windows does not have, enter a critical region on acquire and leave
//! it on release, as `FltAcquirePushLock*` do; the `Ex*` forms expect the caller to have done so.

use super::{EX_PUSH_LOCK, FLT_PUSH_LOCK_VALID_FLAGS};
use crate::cache_aware::CacheAwarePushLock;
use crate::platform::{Misuse, Platform};
use crate::raw::RawPushLock;

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
        // SAFETY: fresh memory of the record's layout (alignment at most 16).
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

/// # Safety
/// `lock` is valid for the call (from `ExAllocateCacheAwarePushLock`).
const unsafe fn cache_aware<'a, P: Platform>(
    lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>,
) -> &'a CacheAwarePushLock<P> {
    // SAFETY: forwarded from the caller.
    unsafe { &*lock }
}

/// Acquires exclusively (every slot); the caller has disabled normal kernel APCs.
///
/// # Safety
/// `lock` is valid; the calling thread holds no slot of it.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExAcquireCacheAwarePushLockExclusive<P: Platform>(
    lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { cache_aware(lock) }.lock_exclusive();
}

/// Releases an exclusive acquisition.
///
/// # Safety
/// The caller holds `lock` exclusively.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExReleaseCacheAwarePushLockExclusive<P: Platform>(
    lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>,
) {
    // SAFETY: `lock` is valid (caller).
    let lock = unsafe { cache_aware(lock) };
    // SAFETY: held exclusively (caller).
    unsafe { lock.unlock_exclusive() };
}

/// Acquires shared, and returns the push lock of the slot it took.
///
/// The slot is the caller's processor's; [`ExReleaseCacheAwarePushLockSharedEx`] releases it.
/// `flags` as for `FltAcquirePushLockSharedEx`; others are a caller bug.
///
/// # Safety
/// `lock` is valid; see the crate docs on re-entry.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExAcquireCacheAwarePushLockSharedEx<P: Platform>(
    lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>,
    flags: u32,
) -> *mut EX_PUSH_LOCK {
    // SAFETY: `lock` is valid (caller).
    let lock = unsafe { cache_aware(lock) };
    check_flags::<P>(lock, flags);
    let token = lock.lock_shared();
    lock.slot(token.index())
        .map_or(core::ptr::null_mut(), RawPushLock::as_ex_push_lock)
}

/// Releases the shared acquisition of `slot`, as [`ExAcquireCacheAwarePushLockSharedEx`]
/// returned it.
///
/// # Safety
/// The caller holds a share of `slot`, taken through `ExAcquireCacheAwarePushLockSharedEx`.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExReleaseCacheAwarePushLockSharedEx<P: Platform>(
    slot: *mut EX_PUSH_LOCK,
    flags: u32,
) {
    // SAFETY: a slot of a live lock (caller).
    let slot = unsafe { RawPushLock::<P>::from_ptr(slot) };
    if flags & !FLT_PUSH_LOCK_VALID_FLAGS != 0 {
        crate::platform::misuse::<P>(
            slot.as_ex_push_lock().cast_const().cast(),
            Misuse::InvalidFlags(flags),
        );
    }
    // SAFETY: a share of it is held (caller).
    unsafe { slot.unlock_shared() };
}

/// [`ExAcquireCacheAwarePushLockExclusive`] inside a critical region it enters.
///
/// # Safety
/// As for `ExAcquireCacheAwarePushLockExclusive`; release with
/// [`FltReleaseCacheAwarePushLockExclusive`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltAcquireCacheAwarePushLockExclusive<P: Platform>(
    lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>,
) {
    P::enter_critical_region();
    // SAFETY: forwarded from the caller.
    unsafe { ExAcquireCacheAwarePushLockExclusive::<P>(lock) };
}

/// [`ExReleaseCacheAwarePushLockExclusive`], then leaves the critical region.
///
/// # Safety
/// The caller holds `lock` through `FltAcquireCacheAwarePushLockExclusive`.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltReleaseCacheAwarePushLockExclusive<P: Platform>(
    lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { ExReleaseCacheAwarePushLockExclusive::<P>(lock) };
    P::leave_critical_region();
}

/// [`ExAcquireCacheAwarePushLockSharedEx`] inside a critical region it enters.
///
/// # Safety
/// As for `ExAcquireCacheAwarePushLockSharedEx`; release with
/// [`FltReleaseCacheAwarePushLockShared`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltAcquireCacheAwarePushLockShared<P: Platform>(
    lock: *mut EX_PUSH_LOCK_CACHE_AWARE<P>,
) -> *mut EX_PUSH_LOCK {
    P::enter_critical_region();
    // SAFETY: forwarded from the caller.
    unsafe { ExAcquireCacheAwarePushLockSharedEx::<P>(lock, 0) }
}

/// [`ExReleaseCacheAwarePushLockSharedEx`], then leaves the critical region.
///
/// # Safety
/// The caller holds `slot` through `FltAcquireCacheAwarePushLockShared`.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltReleaseCacheAwarePushLockShared<P: Platform>(slot: *mut EX_PUSH_LOCK) {
    // SAFETY: forwarded from the caller.
    unsafe { ExReleaseCacheAwarePushLockSharedEx::<P>(slot, 0) };
    P::leave_critical_region();
}

/// Reports `flags` outside `FLT_PUSH_LOCK_VALID_FLAGS`, before anything changes.
fn check_flags<P: Platform>(lock: &CacheAwarePushLock<P>, flags: u32) {
    if flags & !FLT_PUSH_LOCK_VALID_FLAGS != 0 {
        let slot = lock.slot(0).map_or(core::ptr::null(), |slot| {
            slot.as_ex_push_lock().cast_const()
        });
        crate::platform::misuse::<P>(slot.cast(), Misuse::InvalidFlags(flags));
    }
}
