//! The Windows-shaped API: `Ex*PushLock*` and `Flt*PushLock*` over any [`Platform`].
//!
//! Called as `pushlock::nt::FltAcquirePushLockExclusive::<StdPlatform>(lock)`. The driver exports
//! monomorphised `extern "system"` versions of these for C callers.
//!
//! The two families differ the way the kernel's do:
//! - `Ex*` functions expect the caller to have disabled normal kernel APCs
//!   (`KeEnterCriticalRegion`) for as long as the lock is held.
//! - `Flt*` acquire functions enter a critical region before acquiring, and `FltReleasePushLock*`
//!   leaves it after releasing.
//!
//! Releases are the caller's promise to give up an acquisition it holds, hence `unsafe`; so are
//! acquisitions, because they dereference a raw pointer.
//!
//! With the verifier (feature `verify`) each function records its caller's source line
//! (`#[track_caller]`), and `at` offers the same functions with the site given explicitly: the
//! driver's C exports pass their caller's return address.
//!
//! [`counted`] is the same shape of API for [`CountedPushLock`](crate::CountedPushLock), which
//! Windows does not have: the driver exports it to C drivers as `Pl*CountedPushLock*`.
//! [`cache_aware`] is the kernel's cache-aware push-lock API (`ExAllocateCacheAwarePushLock`,
//! ...) over [`CacheAwarePushLock`](crate::CacheAwarePushLock).
#![allow(non_snake_case, non_camel_case_types)]
// loom's atomics have no const constructors, so these cannot be `const` in every build.
#![allow(clippy::missing_const_for_fn)]

pub mod cache_aware;
mod calls;
// Like `CountedPushLock` itself, not in loom builds (the models check the one-word lock).
#[cfg(not(loom))]
pub mod counted;

use crate::how::How;
use crate::platform::Platform;
use crate::state::AtomicState;
#[cfg(feature = "verify")]
use crate::verify::Site;

/// A push lock as C code declares it: one pointer-sized word, 0 when free.
#[repr(transparent)]
pub struct EX_PUSH_LOCK {
    state: AtomicState,
}

impl EX_PUSH_LOCK {
    /// A free lock; the same value `ExInitializePushLock` stores.
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: AtomicState::new(),
        }
    }

    /// A free lock; the same value `ExInitializePushLock` stores.
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: AtomicState::new(),
        }
    }
}

impl EX_PUSH_LOCK {
    /// A reading of the word, decoded.
    pub(crate) fn word(&self) -> crate::LockWord {
        crate::LockWord(
            self.state
                .load(core::sync::atomic::Ordering::Relaxed)
                .bits(),
        )
    }
}

impl Default for EX_PUSH_LOCK {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for EX_PUSH_LOCK {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("EX_PUSH_LOCK").field(&self.word()).finish()
    }
}

/// `FLT_PUSH_LOCK_ENABLE_AUTO_BOOST`: accepted, no effect (deprecated in the kernel too).
pub const FLT_PUSH_LOCK_ENABLE_AUTO_BOOST: u32 = 0x1;
/// `FLT_PUSH_LOCK_DISABLE_AUTO_BOOST`: accepted; our waits never boost.
pub const FLT_PUSH_LOCK_DISABLE_AUTO_BOOST: u32 = 0x2;
/// Every flag the `*Ex` functions accept.
pub const FLT_PUSH_LOCK_VALID_FLAGS: u32 =
    FLT_PUSH_LOCK_ENABLE_AUTO_BOOST | FLT_PUSH_LOCK_DISABLE_AUTO_BOOST;

/// Defines each function of a lock type's Windows-shaped API (`lock: *mut $lock`) as a thin
/// public wrapper over its implementation in `$calls`, which takes the caller's site; with the
/// verifier, also its twin in `at` with an explicit site.
macro_rules! api {
    (lock: $lock:ty, calls: $calls:ident; $(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;
    )*) => {
        $(
            $(#[$doc])*
            #[cfg_attr(feature = "verify", track_caller)]
            pub unsafe fn $name<P: Platform>(lock: *mut $lock $(, $arg: $ty)*) $(-> $ret)? {
                // SAFETY: forwarded from the caller.
                unsafe { $calls::$name::<P>(lock $(, $arg)*, How::here()) }
            }
        )*

        /// The functions above with the caller's site given, not taken from
        /// `#[track_caller]` (feature `verify`): for callers from C, whose return address the
        /// driver's exports capture.
        #[cfg(feature = "verify")]
        pub mod at {
            use super::{How, Platform, Site, $calls};
            $(
                #[doc = concat!("[`", stringify!($name), "`](super::", stringify!($name), "), called from `site`.")]
                ///
                /// # Safety
                #[doc = concat!("As for [`", stringify!($name), "`](super::", stringify!($name), ").")]
                pub unsafe fn $name<P: Platform>(
                    lock: *mut $lock $(, $arg: $ty)*,
                    site: Site,
                ) $(-> $ret)? {
                    // SAFETY: forwarded from the caller.
                    unsafe { $calls::$name::<P>(lock $(, $arg)*, How::at(site)) }
                }
            )*
        }
    };
}
pub(crate) use api;

api! {
    lock: crate::nt::EX_PUSH_LOCK, calls: calls;

    /// Initialises a push lock to the free state. With the verifier, the call site becomes the
    /// lock's class (see [`LockClass`](crate::LockClass)).
    ///
    /// # Safety
    /// `lock` is valid for writes and not in use by any thread.
    fn ExInitializePushLock();

    /// Acquires exclusively; the caller has disabled normal kernel APCs.
    ///
    /// # Safety
    /// `lock` is valid and initialised; the calling thread does not already own it.
    fn ExAcquirePushLockExclusive();

    /// Acquires shared; the caller has disabled normal kernel APCs.
    ///
    /// # Safety
    /// `lock` is valid and initialised; see the crate docs on re-entry.
    fn ExAcquirePushLockShared();

    /// Tries to acquire exclusively without waiting.
    ///
    /// # Safety
    /// `lock` is valid and initialised.
    fn ExTryAcquirePushLockExclusive() -> bool;

    /// Tries to acquire shared without waiting; fails once a writer waits.
    ///
    /// # Safety
    /// `lock` is valid and initialised.
    fn ExTryAcquirePushLockShared() -> bool;

    /// Releases an exclusive acquisition.
    ///
    /// # Safety
    /// The caller holds `lock` exclusively.
    fn ExReleasePushLockExclusive();

    /// Releases a shared acquisition.
    ///
    /// # Safety
    /// The caller holds a share of `lock`.
    fn ExReleasePushLockShared();

    /// Releases an acquisition of either mode, working the mode out from the word.
    ///
    /// # Safety
    /// The caller holds `lock`, in either mode.
    fn ExReleasePushLock();

    /// Initialises a push lock (`FltInitializePushLock`).
    ///
    /// # Safety
    /// As for [`ExInitializePushLock`].
    fn FltInitializePushLock();

    /// Retires a push lock (`FltDeletePushLock`).
    ///
    /// The lock must be free with no waiters; debug builds and the verifier check this and
    /// report [`Misuse::DeleteInUse`](crate::Misuse::DeleteInUse) instead of letting a waiter's
    /// stack block dangle.
    ///
    /// # Safety
    /// `lock` is valid and initialised; no thread uses it afterwards.
    fn FltDeletePushLock();

    /// Enters a critical region, then acquires exclusively.
    ///
    /// # Safety
    /// As for [`ExAcquirePushLockExclusive`]; release with [`FltReleasePushLock`].
    fn FltAcquirePushLockExclusive();

    /// Enters a critical region, then acquires shared.
    ///
    /// # Safety
    /// As for [`ExAcquirePushLockShared`]; release with [`FltReleasePushLock`].
    fn FltAcquirePushLockShared();

    /// Releases an acquisition of either mode, then leaves the critical region the acquire
    /// entered.
    ///
    /// # Safety
    /// The caller holds `lock` through one of the `FltAcquirePushLock*` functions.
    fn FltReleasePushLock();

    /// [`FltAcquirePushLockExclusive`] with flags (`FLT_PUSH_LOCK_*`); other flags are a caller
    /// bug reported through [`Platform::misuse`] (the kernel bug-checks with 0x152).
    ///
    /// # Safety
    /// As for [`FltAcquirePushLockExclusive`].
    fn FltAcquirePushLockExclusiveEx(flags: u32);

    /// [`FltAcquirePushLockShared`] with flags, validated as in
    /// [`FltAcquirePushLockExclusiveEx`].
    ///
    /// # Safety
    /// As for [`FltAcquirePushLockShared`].
    fn FltAcquirePushLockSharedEx(flags: u32);

    /// [`FltReleasePushLock`] with flags, validated as in [`FltAcquirePushLockExclusiveEx`].
    ///
    /// # Safety
    /// As for [`FltReleasePushLock`].
    fn FltReleasePushLockEx(flags: u32);
}
