//! Stand-ins for the kernel's own locks, which the driver offers workloads as peers: the Filter
//! Manager push lock (`FltAcquirePushLock*`) and the `ERESOURCE`. They are not the kernel's
//! locks — simple reader-writer locks written here, with the kernel's calling rules checked —
//! so figures measured against them in the host lane say nothing about the real ones.
//!
//! Push-lock stand-in word: 0 free, 1 exclusive, `0x1 + n * 0x10` for n readers (the kernel's
//! uncontended encodings); waiters sleep on one shared condition variable. The `Flt*` functions
//! enter a critical region before acquiring and leave it after releasing, as the real ones do.
//! `ERESOURCE` stand-in: the state lives in a table keyed by the resource's address; acquiring
//! outside a critical region is a violation, as the documentation requires.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

use crate::books::violation;
use crate::context::{as_kernel, critical_region_depth};
use crate::processor::{KeEnterCriticalRegion, KeLeaveCriticalRegion};

static CHANGED: Condvar = Condvar::new();
static GATE: Mutex<()> = Mutex::new(());

fn gate() -> MutexGuard<'static, ()> {
    GATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn push_lock_word<'a>(lock: *mut usize) -> &'a AtomicUsize {
    // SAFETY: the caller's initialised, aligned push lock, only used atomically.
    unsafe { AtomicUsize::from_ptr(lock) }
}

/// Takes the lock by `step`, or waits until `step` succeeds, re-checking after every release.
fn acquire(lock: *mut usize, step: impl Fn(usize) -> Option<usize>) {
    let word = push_lock_word(lock);
    if word.fetch_update(SeqCst, SeqCst, &step).is_ok() {
        return;
    }
    let mut guard = gate();
    while word.fetch_update(SeqCst, SeqCst, &step).is_err() {
        guard = CHANGED.wait(guard).unwrap_or_else(PoisonError::into_inner);
    }
}

/// `FltInitializePushLock` (stand-in).
///
/// # Safety
/// `lock` is writable and aligned.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FltInitializePushLock(lock: *mut usize) {
    push_lock_word(lock).store(0, SeqCst);
}

/// `FltDeletePushLock` (stand-in): the lock must be free.
#[unsafe(no_mangle)]
pub extern "system" fn FltDeletePushLock(lock: *mut usize) {
    let word = push_lock_word(lock).load(SeqCst);
    if word != 0 {
        violation(
            "FltDeletePushLock",
            format_args!("deleted while in use ({word:#x})"),
        );
    }
}

/// `FltAcquirePushLockExclusive` (stand-in).
#[unsafe(no_mangle)]
pub extern "system" fn FltAcquirePushLockExclusive(lock: *mut usize) {
    KeEnterCriticalRegion();
    as_kernel(|| acquire(lock, |word| (word == 0).then_some(1)));
}

/// `FltAcquirePushLockShared` (stand-in).
#[unsafe(no_mangle)]
pub extern "system" fn FltAcquirePushLockShared(lock: *mut usize) {
    KeEnterCriticalRegion();
    as_kernel(|| {
        acquire(lock, |word| match word {
            0 => Some(0x11),
            1 => None,
            shared => shared.checked_add(0x10),
        });
    });
}

/// `FltReleasePushLock` (stand-in): either mode.
#[unsafe(no_mangle)]
pub extern "system" fn FltReleasePushLock(lock: *mut usize) {
    let released = push_lock_word(lock).fetch_update(SeqCst, SeqCst, |word| match word {
        0 => None,
        1 | 0x11 => Some(0),
        shared => Some(shared - 0x10),
    });
    if released.is_err() {
        violation("FltReleasePushLock", "released a free lock");
    }
    as_kernel(|| {
        let _gate = gate();
        CHANGED.notify_all();
    });
    KeLeaveCriticalRegion();
}

/// An `ERESOURCE` stand-in's state.
#[derive(Default)]
struct Resource {
    readers: usize,
    writer: Option<ThreadId>,
}

static RESOURCES: Mutex<BTreeMap<usize, Resource>> = Mutex::new(BTreeMap::new());

fn resources() -> MutexGuard<'static, BTreeMap<usize, Resource>> {
    RESOURCES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `ExInitializeResourceLite` (stand-in).
#[unsafe(no_mangle)]
pub extern "system" fn ExInitializeResourceLite(resource: *mut c_void) -> i32 {
    as_kernel(|| resources().insert(resource.addr(), Resource::default()));
    0
}

/// `ExDeleteResourceLite` (stand-in): the resource must be free.
#[unsafe(no_mangle)]
pub extern "system" fn ExDeleteResourceLite(resource: *mut c_void) -> i32 {
    let removed = as_kernel(|| resources().remove(&resource.addr()));
    match removed {
        None => violation(
            "ExDeleteResourceLite",
            format_args!("{resource:p} is not a resource"),
        ),
        Some(state) if state.readers > 0 || state.writer.is_some() => {
            violation("ExDeleteResourceLite", "deleted while held");
        }
        Some(_) => {}
    }
    0
}

fn acquire_resource(routine: &str, resource: *mut c_void, exclusive: bool) -> u8 {
    if critical_region_depth() == 0 {
        violation(routine, "acquired outside a critical region");
    }
    let me = std::thread::current().id();
    as_kernel(|| {
        let mut table = resources();
        loop {
            let Some(state) = table.get_mut(&resource.addr()) else {
                drop(table);
                violation(routine, format_args!("{resource:p} is not a resource"));
                return 0;
            };
            let free = state.writer.is_none() && (!exclusive || state.readers == 0);
            if free {
                if exclusive {
                    state.writer = Some(me);
                } else {
                    state.readers += 1;
                }
                return 1;
            }
            table = CHANGED_RESOURCE
                .wait(table)
                .unwrap_or_else(PoisonError::into_inner);
        }
    })
}

static CHANGED_RESOURCE: Condvar = Condvar::new();

/// `ExAcquireResourceExclusiveLite` (stand-in; `Wait` is taken as TRUE).
#[unsafe(no_mangle)]
pub extern "system" fn ExAcquireResourceExclusiveLite(resource: *mut c_void, _wait: u8) -> u8 {
    acquire_resource("ExAcquireResourceExclusiveLite", resource, true)
}

/// `ExAcquireResourceSharedLite` (stand-in; `Wait` is taken as TRUE).
#[unsafe(no_mangle)]
pub extern "system" fn ExAcquireResourceSharedLite(resource: *mut c_void, _wait: u8) -> u8 {
    acquire_resource("ExAcquireResourceSharedLite", resource, false)
}

/// `ExReleaseResourceLite` (stand-in): the caller's hold, whichever mode.
#[unsafe(no_mangle)]
pub extern "system" fn ExReleaseResourceLite(resource: *mut c_void) {
    let me = std::thread::current().id();
    let released = as_kernel(|| {
        let mut table = resources();
        let state = table.get_mut(&resource.addr())?;
        if state.writer == Some(me) {
            state.writer = None;
        } else {
            state.readers = state.readers.checked_sub(1)?;
        }
        CHANGED_RESOURCE.notify_all();
        Some(())
    });
    if released.is_none() {
        violation("ExReleaseResourceLite", "released a resource not held");
    }
}
