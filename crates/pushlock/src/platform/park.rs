//! The wait object of the user-mode platforms: a flag plus the waiter's thread handle, woken with
//! `unpark`.
//!
//! Why park/unpark and not a futex on the wait block: the waker must not touch the block once
//! the waiter can see the signal, because the block lives on the waiter's stack. A futex wake
//! names the futex by its address, which by then may be freed (or reused by another frame). Here
//! the waker clones the thread handle *before* it sets the flag and unparks through its own
//! clone, so nothing it touches after the flag can vanish. `std`'s parker is itself a futex per
//! thread on Linux (`WaitOnAddress` on Windows), so the cost is the same single syscall pair, with
//! no global table. Miri and loom both model park/unpark, so the same code is checked by both.

use core::sync::atomic::Ordering::{Acquire, Release};

use crate::sync::{AtomicBool, UnsafeCell};

#[cfg(loom)]
use loom::thread::{self, Thread};
#[cfg(not(loom))]
use std::thread::{self, Thread};

/// A one-shot event for one waiter.
#[derive(Debug, Default)]
pub struct ParkEvent {
    /// The waiter's handle, stored by `prepare` before the waiter announces that it sleeps.
    thread: UnsafeCell<Option<Thread>>,
    signaled: AtomicBool,
}

// SAFETY: `thread` is written once, by the waiter in `prepare`, before the wait block's `AcqRel`
// hand-shake publishes it; afterwards only the one waker reads it. `signaled` is atomic.
unsafe impl Sync for ParkEvent {}

impl ParkEvent {
    #[allow(
        clippy::missing_const_for_fn,
        reason = "loom's atomics have no const constructors"
    )]
    pub fn new() -> Self {
        Self {
            thread: UnsafeCell::new(None),
            signaled: AtomicBool::new(false),
        }
    }

    /// # Safety
    /// `event` is live and not yet reachable by a waker.
    pub unsafe fn prepare(event: *const Self) {
        // SAFETY: the caller guarantees a live event that no other thread reads yet.
        let event = unsafe { &*event };
        // SAFETY: no waker can read `thread` before the caller publishes that it sleeps (an
        // AcqRel RMW on the wait block's flags, which happens after this write).
        event
            .thread
            .with_mut(|thread| unsafe { *thread = Some(thread::current()) });
    }

    /// # Safety
    /// `event` was prepared by this thread.
    pub unsafe fn wait(event: *const Self) {
        // SAFETY: the event lives in the caller's own frame for the whole wait.
        let event = unsafe { &*event };
        while !event.signaled.load(Acquire) {
            thread::park();
        }
    }

    /// # Safety
    /// `event` was prepared and its waiter is still blocked; the caller does not touch it again.
    pub unsafe fn signal(event: *const Self) {
        // SAFETY: the waiter is blocked until `signaled` is set, so the event is alive here.
        let event = unsafe { &*event };
        // SAFETY: `prepare` wrote `thread` before the waiter published that it sleeps, and the
        // caller acquired that publication; nobody writes it again.
        let thread = event.thread.with(|thread| unsafe { (*thread).clone() });
        event.signaled.store(true, Release);
        // From here on the waiter may return and its frame may be gone: only the clone is used.
        if let Some(thread) = thread {
            thread.unpark();
        }
    }
}

/// The `Event` half of `Platform` for a platform that waits with [`ParkEvent`].
macro_rules! park_event_platform {
    () => {
        type Event = $crate::platform::park::ParkEvent;

        fn new_event() -> Self::Event {
            $crate::platform::park::ParkEvent::new()
        }

        unsafe fn prepare_wait(event: *const Self::Event) {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::platform::park::ParkEvent::prepare(event) }
        }

        unsafe fn wait(event: *const Self::Event) {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::platform::park::ParkEvent::wait(event) }
        }

        unsafe fn signal(event: *const Self::Event) {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::platform::park::ParkEvent::signal(event) }
        }
    };
}
pub(crate) use park_event_platform;
