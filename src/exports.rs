//! The push-lock API for C drivers, declared in `include/pushlock_filter.h`.
//!
//! Our core behind `extern "system"` functions. Every name is the Windows one with a `Pl`
//! prefix, so a C driver can link these and `fltmgr.lib` together without a clash.
//!
//! Semantics are those of [`pushlock::nt`] on `KernelPlatform`: the `PlFlt*` functions enter a
//! critical region on acquire and leave it on release; `PlEx*` expect the caller to have done
//! so; bad `*Ex` flags bug-check with `INVALID_PUSH_LOCK_FLAGS` (0x152), as the kernel's do.
#![allow(non_snake_case, reason = "the WDK's names, prefixed")]

use pushlock::KernelPlatform;
use pushlock::nt::{self, EX_PUSH_LOCK};

type K = KernelPlatform;

/// Forwards one exported function to `pushlock::nt` (the safety contract is the C caller's,
/// stated on the `nt` function of the same name).
macro_rules! export {
    ($($export:ident => $function:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {$(
        #[doc = concat!("`", stringify!($function), "` for C callers.")]
        ///
        /// # Safety
        #[doc = concat!("As for [`pushlock::nt::", stringify!($function), "`].")]
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn $export(lock: *mut EX_PUSH_LOCK $(, $arg: $ty)*) $(-> $ret)? {
            // SAFETY: forwarded from the caller, who keeps the contract of the `nt` function.
            unsafe { nt::$function::<K>(lock $(, $arg)*) }
        }
    )*};
}

export! {
    PlFltInitializePushLock => FltInitializePushLock();
    PlFltDeletePushLock => FltDeletePushLock();
    PlFltAcquirePushLockExclusive => FltAcquirePushLockExclusive();
    PlFltAcquirePushLockShared => FltAcquirePushLockShared();
    PlFltReleasePushLock => FltReleasePushLock();
    PlFltAcquirePushLockExclusiveEx => FltAcquirePushLockExclusiveEx(flags: u32);
    PlFltAcquirePushLockSharedEx => FltAcquirePushLockSharedEx(flags: u32);
    PlFltReleasePushLockEx => FltReleasePushLockEx(flags: u32);
    PlExInitializePushLock => ExInitializePushLock();
    PlExAcquirePushLockExclusive => ExAcquirePushLockExclusive();
    PlExAcquirePushLockShared => ExAcquirePushLockShared();
    PlExReleasePushLockExclusive => ExReleasePushLockExclusive();
    PlExReleasePushLockShared => ExReleasePushLockShared();
    PlExReleasePushLock => ExReleasePushLock();
}

/// `ExTryAcquirePushLockExclusive` for C callers: `BOOLEAN` (1 acquired, 0 not).
///
/// # Safety
/// As for [`pushlock::nt::ExTryAcquirePushLockExclusive`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PlExTryAcquirePushLockExclusive(lock: *mut EX_PUSH_LOCK) -> u8 {
    // SAFETY: forwarded from the caller.
    u8::from(unsafe { nt::ExTryAcquirePushLockExclusive::<K>(lock) })
}

/// `ExTryAcquirePushLockShared` for C callers: `BOOLEAN` (1 acquired, 0 not).
///
/// # Safety
/// As for [`pushlock::nt::ExTryAcquirePushLockShared`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PlExTryAcquirePushLockShared(lock: *mut EX_PUSH_LOCK) -> u8 {
    // SAFETY: forwarded from the caller.
    u8::from(unsafe { nt::ExTryAcquirePushLockShared::<K>(lock) })
}
