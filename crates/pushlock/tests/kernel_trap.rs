//! Contract 4 against the kernel's trap, made deterministic.
//!
//! The trap needs a reader to arrive while the lock is free but waiters are still queued. Here
//! that state is held open on purpose: the test platform keeps a woken waiter from running until
//! the test opens a gate. A writer at the front of the queue is woken alone and held; the lock is
//! then free with two readers queued and nobody waking. Two more readers arrive. In the kernel the
//! first of them takes the lock without a count, the held writer queues behind it, and the four
//! readers, who will not leave until all four are inside, hang. Here the newcomers queue, the
//! writer runs and releases, and all four readers are inside together.
//!
//! Its own test binary: the platform's gate is a process-wide static.
#![cfg(not(loom))]

mod support;

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread::{self, Thread};
use std::time::Instant;

use pushlock::{Misuse, Platform};
use support::{Phase, Scene};

/// Woken waiters do not run until this opens.
static RUN: AtomicBool = AtomicBool::new(false);

/// Sleeps at once (no spinning) and, once woken, waits for `RUN` before returning.
struct HeldWake;

#[derive(Default)]
struct Event {
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
        while !event.signaled.load(SeqCst) || !RUN.load(SeqCst) {
            thread::park_timeout(std::time::Duration::from_millis(1));
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
}

#[test]
fn readers_arriving_while_free_with_waiters_are_not_turned_into_writers() {
    const READERS: usize = 4;
    let mut scene = Scene::<HeldWake>::on_platform("kernel_trap");
    let main = scene.actor("main");
    main.lock_exclusive(&scene.lock);

    let writer = scene.spawn("E", |lock, me| {
        me.lock_exclusive(lock);
        me.release(lock, false);
    });
    let mut newest = scene.wait_queued(None).newest_waiter();

    let inside = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    let mut spawn_reader = |scene: &mut Scene<HeldWake>, name: &str| {
        let inside = inside.clone();
        readers.push(scene.spawn(name, move |lock, me| {
            me.lock_shared(lock);
            inside.fetch_add(1, SeqCst);
            let start = Instant::now();
            while inside.load(SeqCst) < READERS {
                assert!(
                    start.elapsed() < support::TIMEOUT,
                    "the readers were never all inside"
                );
                thread::yield_now();
            }
            me.release(lock, false);
        }));
    };
    for name in ["R1", "R2"] {
        spawn_reader(&mut scene, name);
        newest = scene.wait_queued(newest).newest_waiter();
    }

    // The writer at the front is woken alone and held: free lock, readers queued, no waker.
    main.release(&scene.lock, false);
    let word = scene.lock.word();
    assert!(
        word.is_waiting() && !word.is_locked() && !word.is_waking(),
        "expected a free lock with queued readers: {word}"
    );
    assert_eq!(writer.phase(), Phase::WantsExclusive);

    // Readers arriving now must queue, not take the lock without a count.
    for name in ["R3", "R4"] {
        spawn_reader(&mut scene, name);
        newest = scene.wait_queued(newest).newest_waiter();
        assert!(
            !scene.lock.word().is_locked(),
            "a newcomer took the free lock past the queue"
        );
    }

    RUN.store(true, SeqCst);
    scene.finish();
    for reader in &readers {
        assert!(
            reader.last_grant() > writer.last_grant(),
            "{} overtook the woken writer",
            reader.name
        );
    }
}
