//! The `nt` functions' bodies, each taking how it was called (the caller's site, and whether
//! through a `Flt*` function) for the verifier; without it `How` is empty.
#![allow(non_snake_case)]

use super::{EX_PUSH_LOCK, FLT_PUSH_LOCK_VALID_FLAGS};
use crate::how::How;
use crate::platform::{Misuse, Platform};
use crate::raw::RawPushLock;

/// # Safety
/// `lock` is valid for the duration of the call and initialised.
const unsafe fn raw<'a, P: Platform>(lock: *mut EX_PUSH_LOCK) -> &'a RawPushLock<P> {
    // SAFETY: forwarded from the caller.
    unsafe { RawPushLock::from_ptr(lock) }
}

/// Whether `flags` are valid; invalid ones are reported (in report-only mode the call then
/// does nothing). `lock` names the lock in the report; it is called only for one.
#[cfg_attr(not(feature = "verify"), allow(unused_variables))]
pub(super) fn flags_valid<P: Platform>(
    lock: impl FnOnce() -> *mut EX_PUSH_LOCK,
    flags: u32,
    how: How,
) -> bool {
    if flags & !FLT_PUSH_LOCK_VALID_FLAGS == 0 {
        return true;
    }
    #[cfg(feature = "verify")]
    {
        crate::verify::rejected::<P>(lock().expose_provenance(), Misuse::InvalidFlags(flags), how)
    }
    #[cfg(not(feature = "verify"))]
    crate::platform::misuse::<P>(lock().cast_const().cast(), Misuse::InvalidFlags(flags))
}

/// # Safety
/// As for `nt::ExInitializePushLock`.
#[cfg_attr(
    not(feature = "verify"),
    allow(unused_variables, clippy::extra_unused_type_parameters)
)]
pub unsafe fn ExInitializePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: the caller guarantees exclusive access to writable memory.
    unsafe { lock.write(EX_PUSH_LOCK::new()) };
    #[cfg(feature = "verify")]
    crate::verify::classify::<P>(lock.expose_provenance(), None, how.site);
}

/// # Safety
/// As for `nt::ExAcquirePushLockExclusive`.
pub unsafe fn ExAcquirePushLockExclusive<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: forwarded from the caller.
    let _sleeps = unsafe { raw::<P>(lock) }.lock_exclusive_as(how);
}

/// # Safety
/// As for `nt::ExAcquirePushLockShared`.
pub unsafe fn ExAcquirePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: forwarded from the caller.
    let _sleeps = unsafe { raw::<P>(lock) }.lock_shared_as(how);
}

/// # Safety
/// As for `nt::ExTryAcquirePushLockExclusive`.
pub unsafe fn ExTryAcquirePushLockExclusive<P: Platform>(
    lock: *mut EX_PUSH_LOCK,
    how: How,
) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { raw::<P>(lock) }.try_lock_exclusive_as(how)
}

/// # Safety
/// As for `nt::ExTryAcquirePushLockShared`.
pub unsafe fn ExTryAcquirePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { raw::<P>(lock) }.try_lock_shared_as(how)
}

/// # Safety
/// As for `nt::ExReleasePushLockExclusive`.
pub unsafe fn ExReleasePushLockExclusive<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    unsafe { lock.unlock_exclusive_as(how) };
}

/// # Safety
/// As for `nt::ExReleasePushLockShared`.
pub unsafe fn ExReleasePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    unsafe { lock.unlock_shared_as(how) };
}

/// # Safety
/// As for `nt::ExReleasePushLock`.
pub unsafe fn ExReleasePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    let _ = unsafe { lock.unlock_as(how) };
}

/// # Safety
/// As for `nt::FltInitializePushLock`.
pub unsafe fn FltInitializePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: forwarded from the caller.
    unsafe { ExInitializePushLock::<P>(lock, how) };
}

/// # Safety
/// As for `nt::FltDeletePushLock`.
#[cfg_attr(not(feature = "verify"), allow(unused_variables))]
pub unsafe fn FltDeletePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    #[cfg(feature = "verify")]
    if !crate::verify::deleted::<P>(lock.expose_provenance(), how) {
        return;
    }
    if cfg!(any(debug_assertions, feature = "verify")) {
        // SAFETY: forwarded from the caller.
        let word = unsafe { raw::<P>(lock) }.word();
        if word.0 != 0 {
            crate::platform::misuse::<P>(lock.cast_const().cast(), Misuse::DeleteInUse(word));
        }
    }
}

/// # Safety
/// As for `nt::FltAcquirePushLockExclusive`.
pub unsafe fn FltAcquirePushLockExclusive<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    P::enter_critical_region();
    // SAFETY: forwarded from the caller.
    if unsafe { raw::<P>(lock) }
        .lock_exclusive_as(how.through_flt())
        .is_none()
    {
        P::leave_critical_region();
    }
}

/// # Safety
/// As for `nt::FltAcquirePushLockShared`.
pub unsafe fn FltAcquirePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    P::enter_critical_region();
    // SAFETY: forwarded from the caller.
    if unsafe { raw::<P>(lock) }
        .lock_shared_as(how.through_flt())
        .is_none()
    {
        P::leave_critical_region();
    }
}

/// # Safety
/// As for `nt::FltReleasePushLock`.
pub unsafe fn FltReleasePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK, how: How) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    if unsafe { lock.unlock_as(how.through_flt()) } {
        P::leave_critical_region();
    }
}

/// # Safety
/// As for `nt::FltAcquirePushLockExclusiveEx`.
pub unsafe fn FltAcquirePushLockExclusiveEx<P: Platform>(
    lock: *mut EX_PUSH_LOCK,
    flags: u32,
    how: How,
) {
    if flags_valid::<P>(|| lock, flags, how) {
        // SAFETY: forwarded from the caller.
        unsafe { FltAcquirePushLockExclusive::<P>(lock, how) };
    }
}

/// # Safety
/// As for `nt::FltAcquirePushLockSharedEx`.
pub unsafe fn FltAcquirePushLockSharedEx<P: Platform>(
    lock: *mut EX_PUSH_LOCK,
    flags: u32,
    how: How,
) {
    if flags_valid::<P>(|| lock, flags, how) {
        // SAFETY: forwarded from the caller.
        unsafe { FltAcquirePushLockShared::<P>(lock, how) };
    }
}

/// # Safety
/// As for `nt::FltReleasePushLockEx`.
pub unsafe fn FltReleasePushLockEx<P: Platform>(lock: *mut EX_PUSH_LOCK, flags: u32, how: How) {
    if flags_valid::<P>(|| lock, flags, how) {
        // SAFETY: forwarded from the caller.
        unsafe { FltReleasePushLock::<P>(lock, how) };
    }
}
