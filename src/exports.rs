//! The push-lock API for C drivers, declared in `include/pushlock_filter.h`.
//!
//! Our core behind `extern "system"` functions. Every name is the Windows one with a `Pl`
//! prefix, so a C driver can link these and `fltmgr.lib` together without a clash.
//!
//! Semantics are those of [`pushlock::nt`] on `KernelPlatform`: the `PlFlt*` functions enter a
//! critical region on acquire and leave it on release; `PlEx*` expect the caller to have done
//! so; bad `*Ex` flags bug-check with `INVALID_PUSH_LOCK_FLAGS` (0x152), as the kernel's do.
//! The try functions return `BOOLEAN` (1 acquired, 0 not). In the verify build each export
//! records its C caller's return address as the site of the call.
//!
//! The counted lock (`PL_COUNTED_PUSH_LOCK`, [`pushlock::nt::counted`]), which Windows lacks,
//! has the `Ex*` contract and its own names: `PlInitializeCountedPushLock`,
//! `Pl[Try]AcquireCountedPushLock{Exclusive,Shared}`, `PlReleaseCountedPushLock{Exclusive,Shared}`,
//! and `PlQueryPushLockStatistics`.
//!
//! The cache-aware lock (`PPL_CACHE_AWARE_PUSH_LOCK`, [`pushlock::nt::cache_aware`]) has the
//! kernel's names with the prefix: `PlExAllocateCacheAwarePushLock`, `PlExFreeCacheAwarePushLock`,
//! `PlEx{Acquire,Release}CacheAwarePushLockExclusive`, `PlExAcquireCacheAwarePushLockSharedEx`
//! (returns the slot's `PPL_PUSH_LOCK`), `PlExReleaseCacheAwarePushLockSharedEx` (takes it), and
//! the `PlFlt*CacheAwarePushLock*` forms that enter and leave the critical region.
#![allow(non_snake_case, reason = "the WDK's names, prefixed")]

use pushlock::nt::cache_aware::{self, EX_PUSH_LOCK_CACHE_AWARE, slot as cache_aware_slot};
use pushlock::nt::{self, EX_PUSH_LOCK, counted};
use pushlock::{CountedPushLock, KernelPlatform, LockStatistics};

type K = KernelPlatform;

/// Forwards one exported function to `pushlock::nt` (the safety contract is the C caller's,
/// stated on the `nt` function of the same name). `try` marks the two that return `BOOLEAN`.
#[cfg(not(all(feature = "verify", target_arch = "x86_64")))]
macro_rules! export {
    (lock: $lock:ty, api: $api:ident, bodies: $bodies:ident; $(
        $export:ident => $function:ident($($arg:ident: $ty:ty),*) $(-> $try:ident)?;
    )*) => {$(
        #[doc = concat!("`", stringify!($api), "::", stringify!($function), "` for C callers.")]
        ///
        /// # Safety
        #[doc = concat!("As for [`", stringify!($api), "::", stringify!($function), "`].")]
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn $export(lock: *mut $lock $(, $arg: $ty)*) $(-> returns!($try))? {
            // SAFETY: forwarded from the caller, who keeps the contract of the `nt` function.
            to_c!(unsafe { $api::$function::<K>(lock $(, $arg)*) } $(, $try)?)
        }
    )*};
}

/// The return type of an export marked `try` (`BOOLEAN`) or `slot` (the `PEX_PUSH_LOCK` of the
/// slot a cache-aware shared acquisition took).
macro_rules! returns {
    (try) => {
        u8
    };
    (slot) => {
        *mut EX_PUSH_LOCK
    };
}

/// A result as C sees it: a `bool` of a function marked `try` as `BOOLEAN`; a slot's pointer
/// as it is.
macro_rules! to_c {
    ($result:expr) => {
        $result
    };
    ($result:expr, try) => {
        u8::from($result)
    };
    ($result:expr, slot) => {
        $result
    };
}

/// The register that carries the argument after `lock` (and after `flags`, if there is one):
/// where a trampoline puts the caller's return address for its body.
#[cfg(all(feature = "verify", target_arch = "x86_64", windows))]
macro_rules! site_register {
    () => {
        "rdx"
    };
    ($flags:ident) => {
        "r8"
    };
}
#[cfg(all(feature = "verify", target_arch = "x86_64", not(windows)))]
macro_rules! site_register {
    () => {
        "rsi"
    };
    ($flags:ident) => {
        "rdx"
    };
}

/// The verify build: each export is a trampoline that passes its caller's return address (at
/// `[rsp]` on entry) as one more argument and jumps to the body, which calls `nt::at` with it
/// as the site, so that the verifier's reports name the C caller's code, not this file. A tail
/// jump: the body returns straight to the C caller, on the stack the caller set up.
#[cfg(all(feature = "verify", target_arch = "x86_64"))]
macro_rules! export {
    (lock: $lock:ty, api: $api:ident, bodies: $bodies:ident; $(
        $export:ident => $function:ident($($arg:ident: $ty:ty),*) $(-> $try:ident)?;
    )*) => {$(
        #[doc = concat!("`", stringify!($api), "::", stringify!($function), "` for C callers (records the caller's return address).")]
        ///
        /// # Safety
        #[doc = concat!("As for [`", stringify!($api), "::", stringify!($function), "`].")]
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn $export(lock: *mut $lock $(, $arg: $ty)*) $(-> returns!($try))? {
            core::arch::naked_asm!(
                concat!("mov ", site_register!($($arg)*), ", [rsp]"),
                "jmp {body}",
                body = sym $bodies::$export,
            )
        }
    )*

        /// The exports' bodies, called by their trampolines with the caller's return address.
        mod $bodies {
            use super::*;
            $(
                /// # Safety
                /// As for the export of the same name; `caller` is its return address.
                pub unsafe extern "system" fn $export(
                    lock: *mut $lock $(, $arg: $ty)*,
                    caller: usize,
                ) $(-> returns!($try))? {
                    let site = pushlock::verify::Site::Code(caller);
                    // SAFETY: forwarded from the C caller, who keeps the `nt` function's contract.
                    to_c!(unsafe { $api::at::$function::<K>(lock $(, $arg)*, site) } $(, $try)?)
                }
            )*
        }
    };
}

export! {
    lock: EX_PUSH_LOCK, api: nt, bodies: nt_bodies;

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
    PlExTryAcquirePushLockExclusive => ExTryAcquirePushLockExclusive() -> try;
    PlExTryAcquirePushLockShared => ExTryAcquirePushLockShared() -> try;
    PlExReleasePushLockExclusive => ExReleasePushLockExclusive();
    PlExReleasePushLockShared => ExReleasePushLockShared();
    PlExReleasePushLock => ExReleasePushLock();
}

export! {
    lock: CountedPushLock<K>, api: counted, bodies: counted_bodies;

    PlInitializeCountedPushLock => InitializeCountedPushLock();
    PlAcquireCountedPushLockExclusive => AcquireCountedPushLockExclusive();
    PlAcquireCountedPushLockShared => AcquireCountedPushLockShared();
    PlTryAcquireCountedPushLockExclusive => TryAcquireCountedPushLockExclusive() -> try;
    PlTryAcquireCountedPushLockShared => TryAcquireCountedPushLockShared() -> try;
    PlReleaseCountedPushLockExclusive => ReleaseCountedPushLockExclusive();
    PlReleaseCountedPushLockShared => ReleaseCountedPushLockShared();
}

// `PL_COUNTED_PUSH_LOCK` and `PL_PUSH_LOCK_STATISTICS` in the header have these layouts.
const _: () =
    assert!(size_of::<CountedPushLock<K>>() == 128 && align_of::<CountedPushLock<K>>() == 64);
const _: () = assert!(size_of::<LockStatistics>() == 7 * 8 && align_of::<LockStatistics>() == 8);

/// `nt::counted::QueryPushLockStatistics` for C callers: a snapshot of a counted lock's
/// counters. Records no site: it neither takes nor releases the lock.
///
/// # Safety
/// As for [`counted::QueryPushLockStatistics`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PlQueryPushLockStatistics(
    lock: *const CountedPushLock<K>,
    statistics: *mut LockStatistics,
) {
    // SAFETY: forwarded from the caller, who keeps the function's contract.
    unsafe { counted::QueryPushLockStatistics::<K>(lock, statistics) };
}

export! {
    lock: EX_PUSH_LOCK_CACHE_AWARE<K>, api: cache_aware, bodies: cache_aware_bodies;

    PlExAcquireCacheAwarePushLockExclusive => ExAcquireCacheAwarePushLockExclusive();
    PlExReleaseCacheAwarePushLockExclusive => ExReleaseCacheAwarePushLockExclusive();
    PlExAcquireCacheAwarePushLockSharedEx => ExAcquireCacheAwarePushLockSharedEx(flags: u32) -> slot;
    PlFltAcquireCacheAwarePushLockExclusive => FltAcquireCacheAwarePushLockExclusive();
    PlFltReleaseCacheAwarePushLockExclusive => FltReleaseCacheAwarePushLockExclusive();
    PlFltAcquireCacheAwarePushLockShared => FltAcquireCacheAwarePushLockShared() -> slot;
}

export! {
    lock: EX_PUSH_LOCK, api: cache_aware_slot, bodies: cache_aware_slot_bodies;

    PlExReleaseCacheAwarePushLockSharedEx => ExReleaseCacheAwarePushLockSharedEx(flags: u32);
    PlFltReleaseCacheAwarePushLockShared => FltReleaseCacheAwarePushLockShared();
}

/// `nt::cache_aware::ExAllocateCacheAwarePushLock` for C callers: a lock with a slot per
/// processor, or NULL without memory. Records no site: it takes no lock.
#[unsafe(no_mangle)]
pub extern "system" fn PlExAllocateCacheAwarePushLock() -> *mut EX_PUSH_LOCK_CACHE_AWARE<K> {
    cache_aware::ExAllocateCacheAwarePushLock::<K>()
}

/// `nt::cache_aware::ExFreeCacheAwarePushLock` for C callers (NULL is ignored).
///
/// # Safety
/// As for [`cache_aware::ExFreeCacheAwarePushLock`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PlExFreeCacheAwarePushLock(lock: *mut EX_PUSH_LOCK_CACHE_AWARE<K>) {
    // SAFETY: forwarded from the caller, who keeps the function's contract.
    unsafe { cache_aware::ExFreeCacheAwarePushLock::<K>(lock) };
}
