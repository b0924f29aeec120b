//! Dispatcher objects: `KEVENT`s (initialised by the driver in its own memory) and thread
//! objects, and the routines that wait on them and set them.
//!
//! Both start with a `DISPATCHER_HEADER` (x64: `Type` at byte 0, `Size` at byte 2 in 32-bit
//! units, `SignalState` at byte 4), which is where the state lives, read and written atomically.
//! One condition variable serves every wait: a set wakes all waiters, each re-checks its own
//! object. Every object a wait may name is registered; waiting on anything else — an event
//! never passed to `KeInitializeEvent` — is a violation. Waits in progress are listed, so a
//! hang can be reported with who waits on what.

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::books::violation;
use crate::context::as_kernel;

pub const STATUS_SUCCESS: i32 = 0;
pub const STATUS_TIMEOUT: i32 = 0x102;
/// `EVENT_TYPE::NotificationEvent` and `SynchronizationEvent`.
const NOTIFICATION_EVENT: i32 = 0;
const SYNCHRONIZATION_EVENT: i32 = 1;
/// `DISPATCHER_HEADER.Type` of a thread object.
pub const THREAD_OBJECT_TYPE: u8 = 6;
/// `DISPATCHER_HEADER.Size` of a `KEVENT`: 24 bytes in 32-bit units.
const KEVENT_SIZE: u8 = 6;

/// The registered objects, and the waits in progress (thread name, object, since).
struct Objects {
    registered: BTreeSet<usize>,
    waits: Vec<(std::thread::ThreadId, String, usize, Instant)>,
}

static OBJECTS: Mutex<Objects> = Mutex::new(Objects {
    registered: BTreeSet::new(),
    waits: Vec::new(),
});
static SIGNAL: Condvar = Condvar::new();
/// Waits on events still to end at once with this status, not waiting (a fault: the
/// waiter must not take it for the signal). High 32 bits: how many; low: the status.
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

/// Makes the next `count` waits on an event return `status` without waiting.
pub fn spurious_waits(count: u32, status: i32) {
    SPURIOUS.store(
        (u64::from(count) << 32) | u64::from(status.cast_unsigned()),
        SeqCst,
    );
}

/// `KeSetEvent` calls still to lose (a fault: a lost wake-up leaves its waiter stuck).
static LOSE: AtomicU32 = AtomicU32::new(0);
static LOST: Mutex<Vec<Lost>> = Mutex::new(Vec::new());

/// An event whose signal was lost; its waiter is still blocked on it, so it is still live.
struct Lost(*mut c_void);

// SAFETY: only passed back to `set_signalled`, which synchronises.
unsafe impl Send for Lost {}

fn lost() -> MutexGuard<'static, Vec<Lost>> {
    LOST.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes the next `count` `KeSetEvent` calls do nothing (their waiters stay blocked).
pub fn lose_signals(count: u32) {
    LOSE.store(count, SeqCst);
}

/// Delivers every lost signal: the stuck waiters go on.
pub fn deliver_lost_signals() {
    LOSE.store(0, SeqCst);
    let events = as_kernel(|| std::mem::take(&mut *lost()));
    for Lost(event) in events {
        set_signalled(event);
    }
}

fn objects() -> MutexGuard<'static, Objects> {
    OBJECTS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn object_type<'a>(object: *const c_void) -> &'a AtomicU8 {
    // SAFETY: registered objects are live dispatcher headers (the callers' contract); the type
    // byte is only accessed atomically while the object is in use.
    unsafe { AtomicU8::from_ptr(object.cast::<u8>().cast_mut()) }
}

fn signal_state<'a>(object: *const c_void) -> &'a AtomicI32 {
    // SAFETY: `SignalState`, the 32-bit field at offset 4 of the header.
    let field = unsafe { object.cast::<i32>().add(1) };
    // SAFETY: as for `object_type`.
    unsafe { AtomicI32::from_ptr(field.cast_mut()) }
}

/// Registers a dispatcher object the kernel itself made (a thread object).
pub fn register(object: *const c_void) {
    as_kernel(|| objects().registered.insert(object.addr()));
}

/// Forgets a freed kernel object.
pub fn unregister(object: *const c_void) {
    as_kernel(|| objects().registered.remove(&object.addr()));
}

/// Signals `object` (a registered dispatcher object) and wakes every waiter to re-check.
pub fn set_signalled(object: *const c_void) -> i32 {
    let _objects = objects();
    let previous = signal_state(object).swap(1, SeqCst);
    SIGNAL.notify_all();
    previous
}

/// `KeInitializeEvent`.
///
/// # Safety
/// `event` points to writable memory for a `KEVENT` (24 bytes, 8-aligned).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeInitializeEvent(event: *mut c_void, event_type: i32, state: u8) {
    if event_type != NOTIFICATION_EVENT && event_type != SYNCHRONIZATION_EVENT {
        violation("KeInitializeEvent", format_args!("event type {event_type}"));
    }
    // SAFETY: 24 writable bytes (caller); nobody else uses the event before it is initialised.
    unsafe { event.cast::<[u8; 24]>().write([0; 24]) };
    #[allow(
        clippy::cast_sign_loss,
        clippy::cast_possible_truncation,
        reason = "0 or 1"
    )]
    object_type(event).store(event_type as u8, SeqCst);
    // SAFETY: byte 2 of the header (`Size`), within the event.
    let size = unsafe { event.cast::<u8>().add(2) };
    // SAFETY: as above; writable (caller).
    unsafe { size.write(KEVENT_SIZE) };
    signal_state(event).store(i32::from(state != 0), SeqCst);
    register(event);
}

/// `KeSetEvent`: returns the previous state.
///
/// # Safety
/// `event` was initialised by [`KeInitializeEvent`] (checked).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeSetEvent(event: *mut c_void, _increment: i32, wait: u8) -> i32 {
    if !as_kernel(|| objects().registered.contains(&event.addr())) {
        violation(
            "KeSetEvent",
            format_args!("{event:p} was never initialised"),
        );
        return 0;
    }
    if wait != 0 {
        violation("KeSetEvent", "Wait = TRUE: no wait routine follows here");
    }
    if LOSE
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        as_kernel(|| lost().push(Lost(event)));
        return 0;
    }
    set_signalled(event)
}

/// `KeWaitForSingleObject` on an event or a thread object. `timeout`: null waits until
/// signalled; a negative value is a relative interval in 100 ns units.
///
/// # Safety
/// `object` is a live dispatcher object (checked against the registry).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeWaitForSingleObject(
    object: *mut c_void,
    _wait_reason: i32,
    wait_mode: i8,
    alertable: u8,
    timeout: *const i64,
) -> i32 {
    if wait_mode != 0 || alertable != 0 {
        violation(
            "KeWaitForSingleObject",
            format_args!(
                "mode {wait_mode}, alertable {alertable}: stack objects need KernelMode, not alertable"
            ),
        );
    }
    // SAFETY: a valid pointer to the interval when non-null (caller).
    let limit = (!timeout.is_null()).then(|| unsafe { timeout.read() });
    let deadline = match limit {
        None => None,
        Some(interval) if interval <= 0 => {
            Some(Instant::now() + Duration::from_nanos(interval.unsigned_abs().saturating_mul(100)))
        }
        Some(absolute) => {
            violation(
                "KeWaitForSingleObject",
                format_args!("absolute time {absolute}"),
            );
            return STATUS_TIMEOUT;
        }
    };
    as_kernel(|| wait(object, deadline))
}

fn wait(object: *const c_void, deadline: Option<Instant>) -> i32 {
    let mut objects = objects();
    if !objects.registered.contains(&object.addr()) {
        drop(objects);
        violation(
            "KeWaitForSingleObject",
            format_args!("{object:p} is not an initialised object"),
        );
        return STATUS_TIMEOUT;
    }
    let event = i32::from(object_type(object).load(SeqCst)) <= SYNCHRONIZATION_EVENT;
    let spurious = SPURIOUS.fetch_update(SeqCst, SeqCst, |packed| {
        (event && packed >> 32 > 0).then(|| packed - (1 << 32))
    });
    if let Ok(packed) = spurious {
        #[allow(clippy::cast_possible_truncation, reason = "the low 32 bits")]
        return (packed as u32).cast_signed();
    }
    let me = std::thread::current();
    let name = me.name().unwrap_or("unnamed").to_owned();
    objects
        .waits
        .push((me.id(), name, object.addr(), Instant::now()));
    let status = loop {
        if i32::from(object_type(object).load(SeqCst)) == SYNCHRONIZATION_EVENT {
            if signal_state(object).swap(0, SeqCst) != 0 {
                break STATUS_SUCCESS;
            }
        } else if signal_state(object).load(SeqCst) != 0 {
            break STATUS_SUCCESS;
        }
        let now = Instant::now();
        let slice = deadline.map_or(Duration::from_millis(100), |d| {
            d.saturating_duration_since(now)
        });
        if deadline.is_some_and(|d| now >= d) {
            break STATUS_TIMEOUT;
        }
        objects = SIGNAL
            .wait_timeout(objects, slice.min(Duration::from_millis(100)))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    };
    objects.waits.retain(|wait| wait.0 != me.id());
    status
}

/// Who waits on what, for hang reports: one line per wait in progress.
pub fn waits() -> Vec<String> {
    as_kernel(|| {
        objects()
            .waits
            .iter()
            .map(|(_, name, object, since)| {
                format!("{name} waits on {object:#x} for {:?}", since.elapsed())
            })
            .collect()
    })
}

/// `KeDelayExecutionThread`: a relative interval sleeps, zero yields.
///
/// # Safety
/// `interval` points to an `i64`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeDelayExecutionThread(
    _wait_mode: i8,
    _alertable: u8,
    interval: *const i64,
) -> i32 {
    // SAFETY: a valid pointer (caller).
    let interval = unsafe { interval.read() };
    match interval {
        0 => std::thread::yield_now(),
        ..0 => std::thread::sleep(Duration::from_nanos(
            interval.unsigned_abs().saturating_mul(100),
        )),
        absolute => violation(
            "KeDelayExecutionThread",
            format_args!("absolute time {absolute}"),
        ),
    }
    STATUS_SUCCESS
}
