//! Rundown protection (`EX_RUNDOWN_REF`), with the balance Driver Verifier keeps: no release
//! without an acquire, no use before initialisation.
//!
//! The word: bit 0 set once the wait for rundown has begun (acquires fail from then on), the
//! count of references in the bits above (step 2).

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::books::violation;
use crate::context::as_kernel;

const RUNDOWN_ACTIVE: usize = 1;
const REFERENCE: usize = 2;

static INITIALISED: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

fn word<'a>(rundown: *mut c_void, routine: &str) -> Option<&'a AtomicUsize> {
    let known = as_kernel(|| {
        INITIALISED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&rundown.addr())
    });
    if !known {
        violation(routine, format_args!("{rundown:p} was never initialised"));
        return None;
    }
    // SAFETY: an initialised EX_RUNDOWN_REF (pointer-sized, aligned), only used atomically.
    Some(unsafe { AtomicUsize::from_ptr(rundown.cast()) })
}

/// `ExInitializeRundownProtection`.
///
/// # Safety
/// `rundown` points to a writable, aligned `EX_RUNDOWN_REF`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ExInitializeRundownProtection(rundown: *mut c_void) {
    // SAFETY: writable and aligned (caller).
    unsafe { AtomicUsize::from_ptr(rundown.cast()) }.store(0, SeqCst);
    as_kernel(|| {
        INITIALISED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(rundown.addr())
    });
}

/// `ExAcquireRundownProtection`: 1 with a reference, 0 once rundown has begun.
#[unsafe(no_mangle)]
pub extern "system" fn ExAcquireRundownProtection(rundown: *mut c_void) -> u8 {
    let Some(word) = word(rundown, "ExAcquireRundownProtection") else {
        return 0;
    };
    let result = word.fetch_update(SeqCst, SeqCst, |value| {
        (value & RUNDOWN_ACTIVE == 0).then(|| value + REFERENCE)
    });
    u8::from(result.is_ok())
}

/// `ExReleaseRundownProtection`: gives back a reference taken by an acquire.
#[unsafe(no_mangle)]
pub extern "system" fn ExReleaseRundownProtection(rundown: *mut c_void) {
    let Some(word) = word(rundown, "ExReleaseRundownProtection") else {
        return;
    };
    let result = word.fetch_update(SeqCst, SeqCst, |value| value.checked_sub(REFERENCE));
    if result.is_err() {
        violation("ExReleaseRundownProtection", "released without an acquire");
    }
}

/// `ExWaitForRundownProtectionRelease`: no new references, then wait for the last to go.
#[unsafe(no_mangle)]
pub extern "system" fn ExWaitForRundownProtectionRelease(rundown: *mut c_void) {
    let Some(word) = word(rundown, "ExWaitForRundownProtectionRelease") else {
        return;
    };
    word.fetch_or(RUNDOWN_ACTIVE, SeqCst);
    while word.load(SeqCst) != RUNDOWN_ACTIVE {
        std::thread::sleep(Duration::from_millis(1));
    }
}
