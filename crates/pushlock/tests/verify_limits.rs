//! The verifier's bounded tables, filled on purpose: a thread beyond the thread table (kind 15)
//! and an order graph with no room for a new class (kind 17) are reported, never ignored, and
//! the acquisition that found them full is not made.
//!
//! A binary of its own (a process of its own): a full table would be reported in every other
//! test that ran beside it. The two tests here take turns.
#![cfg(all(feature = "verify", not(loom)))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Barrier, Mutex};
use std::thread;

use pushlock::verify::{self, threads};
use pushlock::{RawPushLock, StdPlatform};

type Lock = RawPushLock<StdPlatform>;

/// The tests fill global tables: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The report `f` panics with (user mode's bug check), if it does.
fn report_of(f: impl FnOnce()) -> Option<String> {
    let panic = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(panic.downcast_ref::<String>().cloned().unwrap_or_default())
}

#[test]
fn a_thread_beyond_the_thread_table_is_reported() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let held: Vec<Lock> = (0..threads::THREADS).map(|_| Lock::new()).collect();
    let extra = Lock::new();
    let all_hold = Barrier::new(threads::THREADS + 1);
    let checked = Barrier::new(threads::THREADS + 1);
    let report = thread::scope(|scope| {
        for lock in &held {
            let (all_hold, checked) = (&all_hold, &checked);
            scope.spawn(move || {
                lock.lock_shared();
                all_hold.wait();
                checked.wait();
                // SAFETY: the share taken above.
                unsafe { lock.unlock_shared() };
            });
        }
        all_hold.wait();
        // Every slot has an owner now: a 65th thread has nowhere to record a lock.
        let report = scope
            .spawn(|| report_of(|| extra.lock_exclusive()))
            .join()
            .expect("the report is the thread's result");
        checked.wait();
        report
    });
    let report = report.expect("a 65th thread holding a lock must be reported");
    assert!(report.contains("verifier thread table full"), "{report}");
    assert_eq!(extra.word().0, 0, "not acquired");
    // Every slot was given back with its last lock: a thread records again.
    extra.lock_exclusive();
    // SAFETY: acquired just above.
    unsafe { extra.unlock_exclusive() };
}

#[test]
fn an_order_graph_with_no_room_for_a_class_is_reported() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let outer = Lock::new();
    let inner: Vec<Lock> = (0..=verify::CLASSES).map(|_| Lock::new()).collect();
    outer.lock_exclusive();
    // Each inner lock taken under `outer` is an edge to a new class (an unclassed lock is its
    // own): more than the graph has classes.
    let mut report = None;
    for lock in &inner {
        report = report_of(|| lock.lock_exclusive());
        if report.is_some() {
            assert_eq!(lock.word().0, 0, "not acquired");
            break;
        }
        // SAFETY: acquired just above.
        unsafe { lock.unlock_exclusive() };
    }
    // SAFETY: acquired above.
    unsafe { outer.unlock_exclusive() };
    let report = report.expect("more classes than the graph holds must be reported");
    assert!(
        report.contains("verifier lock-order graph full"),
        "{report}"
    );
}
