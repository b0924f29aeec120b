//! `HeldWake`: a platform on which chosen threads, once woken, do not run until a gate opens.
//!
//! Any scheduler may leave a woken thread unscheduled for a while; this platform makes that
//! happen on purpose, so that the windows it opens (a waiter signalled but not yet back in the
//! lock) are held open deterministically. Waiters never spin and never watch the word: they
//! queue and sleep at once, and every step of the queue is visible to the test.

use std::cell::{RefCell, UnsafeCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread::{self, Thread};
use std::time::Duration;

use pushlock::{Misuse, Platform};

use super::Gate;

thread_local! {
    /// The gate this thread's wake-ups wait for, if the test chose to hold them.
    static HELD_UNTIL: RefCell<Option<Arc<Gate>>> = const { RefCell::new(None) };
}

/// From now on, the calling thread does not return from a wait, even once signalled, until
/// `gate` opens.
pub fn hold_wake_ups_until(gate: Arc<Gate>) {
    HELD_UNTIL.with(|held| *held.borrow_mut() = Some(gate));
}

fn held() -> bool {
    HELD_UNTIL.with(|held| held.borrow().as_ref().is_some_and(|gate| !gate.is_open()))
}

pub struct HeldWake;

#[derive(Default)]
pub struct Event {
    thread: UnsafeCell<Option<Thread>>,
    signaled: AtomicBool,
}

// SAFETY: `thread` is written by the waiter before the lock's hand-shake publishes the event,
// then only read by the one waker.
unsafe impl Sync for Event {}

// SAFETY: `wait` returns only after `signal` set the flag; `signal` clones the handle before it
// sets the flag and touches only the clone afterwards.
unsafe impl Platform for HeldWake {
    type Event = Event;

    fn new_event() -> Event {
        Event::default()
    }

    unsafe fn prepare_wait(event: *const Event) {
        // SAFETY: alive (caller).
        let event = unsafe { &*event };
        // SAFETY: not yet shared (caller).
        unsafe { *event.thread.get() = Some(thread::current()) };
    }

    unsafe fn wait(event: *const Event) {
        // SAFETY: our own event, alive for the whole wait.
        let event = unsafe { &*event };
        while !event.signaled.load(SeqCst) || held() {
            thread::park_timeout(Duration::from_millis(1));
        }
    }

    unsafe fn signal(event: *const Event) {
        // SAFETY: the waiter is blocked until the flag is set.
        let event = unsafe { &*event };
        // SAFETY: written before publication, read once here.
        let thread = unsafe { (*event.thread.get()).clone() };
        event.signaled.store(true, SeqCst);
        if let Some(thread) = thread {
            thread.unpark();
        }
    }

    fn spin_count() -> u32 {
        0
    }

    fn spin_hint() {}

    fn spin_on_word(_round: u32) -> bool {
        false // queue at once: the test steps through the queue
    }

    fn enter_critical_region() {}

    fn leave_critical_region() {}

    fn misuse(lock: *const (), misuse: Misuse) -> ! {
        panic!("push lock {lock:p}: {misuse}")
    }

    pushlock::verify_hooks_from!(pushlock::StdPlatform);
}
