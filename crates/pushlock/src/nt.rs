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
#![allow(non_snake_case, non_camel_case_types)]
// loom's atomics have no const constructors, so these cannot be `const` in every build.
#![allow(clippy::missing_const_for_fn)]

use crate::how::How;
use crate::platform::{Misuse, Platform};
use crate::raw::RawPushLock;
use crate::state::AtomicState;

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

/// # Safety
/// `lock` is valid for the duration of the call and initialised.
const unsafe fn raw<'a, P: Platform>(lock: *mut EX_PUSH_LOCK) -> &'a RawPushLock<P> {
    // SAFETY: forwarded from the caller.
    unsafe { RawPushLock::from_ptr(lock) }
}

/// Whether `flags` are valid; invalid ones are reported (in report-only mode the call then
/// does nothing).
#[cfg_attr(not(feature = "verify"), allow(unused_variables))]
fn flags_valid<P: Platform>(lock: *mut EX_PUSH_LOCK, flags: u32, how: How) -> bool {
    if flags & !FLT_PUSH_LOCK_VALID_FLAGS == 0 {
        return true;
    }
    #[cfg(feature = "verify")]
    {
        crate::verify::rejected::<P>(lock.expose_provenance(), Misuse::InvalidFlags(flags), how)
    }
    #[cfg(not(feature = "verify"))]
    crate::platform::misuse::<P>(lock.cast_const().cast(), Misuse::InvalidFlags(flags))
}

/// Initialises a push lock to the free state. With the verifier, the call site becomes the
/// lock's class (see [`LockClass`](crate::LockClass)).
///
/// # Safety
/// `lock` is valid for writes and not in use by any thread.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExInitializePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: the caller guarantees exclusive access to writable memory.
    unsafe { lock.write(EX_PUSH_LOCK::new()) };
    #[cfg(feature = "verify")]
    crate::verify::classify::<P>(lock.expose_provenance(), None, How::here().site);
}

/// Acquires exclusively; the caller has disabled normal kernel APCs.
///
/// # Safety
/// `lock` is valid and initialised; the calling thread does not already own it.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExAcquirePushLockExclusive<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: forwarded from the caller.
    let _ = unsafe { raw::<P>(lock) }.lock_exclusive_as(How::here());
}

/// Acquires shared; the caller has disabled normal kernel APCs.
///
/// # Safety
/// `lock` is valid and initialised; see the crate docs on re-entry.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExAcquirePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: forwarded from the caller.
    let _ = unsafe { raw::<P>(lock) }.lock_shared_as(How::here());
}

/// Tries to acquire exclusively without waiting.
///
/// # Safety
/// `lock` is valid and initialised.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExTryAcquirePushLockExclusive<P: Platform>(lock: *mut EX_PUSH_LOCK) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { raw::<P>(lock) }.try_lock_exclusive_as(How::here())
}

/// Tries to acquire shared without waiting; fails once a writer waits.
///
/// # Safety
/// `lock` is valid and initialised.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExTryAcquirePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { raw::<P>(lock) }.try_lock_shared_as(How::here())
}

/// Releases an exclusive acquisition.
///
/// # Safety
/// The caller holds `lock` exclusively.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExReleasePushLockExclusive<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    unsafe { lock.unlock_exclusive_as(How::here()) };
}

/// Releases a shared acquisition.
///
/// # Safety
/// The caller holds a share of `lock`.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExReleasePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    unsafe { lock.unlock_shared_as(How::here()) };
}

/// Releases an acquisition of either mode, working the mode out from the word.
///
/// # Safety
/// The caller holds `lock`, in either mode.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn ExReleasePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    let _ = unsafe { lock.unlock_as(How::here()) };
}

/// Initialises a push lock (`FltInitializePushLock`).
///
/// # Safety
/// As for [`ExInitializePushLock`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltInitializePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: forwarded from the caller.
    unsafe { ExInitializePushLock::<P>(lock) };
}

/// Retires a push lock (`FltDeletePushLock`).
///
/// The lock must be free with no waiters; debug builds and the verifier check this and report
/// [`Misuse::DeleteInUse`] instead of letting a waiter's stack block dangle.
///
/// # Safety
/// `lock` is valid and initialised; no thread uses it afterwards.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltDeletePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    #[cfg(feature = "verify")]
    if !crate::verify::deleted::<P>(lock.expose_provenance(), How::here()) {
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

/// Enters a critical region, then acquires exclusively.
///
/// # Safety
/// As for [`ExAcquirePushLockExclusive`]; release with [`FltReleasePushLock`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltAcquirePushLockExclusive<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    P::enter_critical_region();
    // SAFETY: forwarded from the caller.
    if !unsafe { raw::<P>(lock) }.lock_exclusive_as(How::here().through_flt()) {
        P::leave_critical_region();
    }
}

/// Enters a critical region, then acquires shared.
///
/// # Safety
/// As for [`ExAcquirePushLockShared`]; release with [`FltReleasePushLock`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltAcquirePushLockShared<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    P::enter_critical_region();
    // SAFETY: forwarded from the caller.
    if !unsafe { raw::<P>(lock) }.lock_shared_as(How::here().through_flt()) {
        P::leave_critical_region();
    }
}

/// Releases an acquisition of either mode, then leaves the critical region the acquire entered.
///
/// # Safety
/// The caller holds `lock` through one of the `FltAcquirePushLock*` functions.
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltReleasePushLock<P: Platform>(lock: *mut EX_PUSH_LOCK) {
    // SAFETY: `lock` is valid and initialised (caller).
    let lock = unsafe { raw::<P>(lock) };
    // SAFETY: the caller holds the lock as this release requires.
    if unsafe { lock.unlock_as(How::here().through_flt()) } {
        P::leave_critical_region();
    }
}

/// [`FltAcquirePushLockExclusive`] with flags (`FLT_PUSH_LOCK_*`); other flags are a caller bug
/// reported through [`Platform::misuse`] (the kernel bug-checks with 0x152).
///
/// # Safety
/// As for [`FltAcquirePushLockExclusive`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltAcquirePushLockExclusiveEx<P: Platform>(lock: *mut EX_PUSH_LOCK, flags: u32) {
    if flags_valid::<P>(lock, flags, How::here()) {
        // SAFETY: forwarded from the caller.
        unsafe { FltAcquirePushLockExclusive::<P>(lock) };
    }
}

/// [`FltAcquirePushLockShared`] with flags, validated as in [`FltAcquirePushLockExclusiveEx`].
///
/// # Safety
/// As for [`FltAcquirePushLockShared`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltAcquirePushLockSharedEx<P: Platform>(lock: *mut EX_PUSH_LOCK, flags: u32) {
    if flags_valid::<P>(lock, flags, How::here()) {
        // SAFETY: forwarded from the caller.
        unsafe { FltAcquirePushLockShared::<P>(lock) };
    }
}

/// [`FltReleasePushLock`] with flags, validated as in [`FltAcquirePushLockExclusiveEx`].
///
/// # Safety
/// As for [`FltReleasePushLock`].
#[cfg_attr(feature = "verify", track_caller)]
pub unsafe fn FltReleasePushLockEx<P: Platform>(lock: *mut EX_PUSH_LOCK, flags: u32) {
    if flags_valid::<P>(lock, flags, How::here()) {
        // SAFETY: forwarded from the caller.
        unsafe { FltReleasePushLock::<P>(lock) };
    }
}
