//! `CountedPushLock` and `CountedRwLock`: every acquisition counted exactly, contended ones
//! with their sleeps and wait, one exclusive hold in `HOLD_SAMPLE` timed, and nothing else.
#![cfg(not(loom))]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use pushlock::{
    CountedPushLock, CountedRwLock, HOLD_SAMPLE, LockStatistics, Statistics, StdPlatform,
};

type Lock = CountedPushLock<StdPlatform>;

#[test]
fn uncontended_acquisitions_are_counted_exactly_and_nothing_else() {
    let lock = Lock::new();
    for _ in 0..5 {
        lock.lock_exclusive();
        // SAFETY: held exclusively just above.
        unsafe { lock.unlock_exclusive() };
    }
    for _ in 0..3 {
        lock.lock_shared();
        assert!(lock.try_lock_shared());
        // SAFETY: two shares held just above.
        unsafe { lock.unlock_shared() };
        // SAFETY: as above.
        unsafe { lock.unlock_shared() };
    }
    assert!(lock.try_lock_exclusive());
    assert!(
        !lock.try_lock_exclusive(),
        "a failed try is not an acquisition"
    );
    assert!(!lock.try_lock_shared());
    // SAFETY: held exclusively by the try above.
    unsafe { lock.unlock_exclusive() };
    let statistics = lock.statistics();
    assert_eq!(
        statistics,
        LockStatistics {
            shared_acquisitions: 6,
            exclusive_acquisitions: 6,
            longest_hold_ns: statistics.longest_hold_ns,
            ..LockStatistics::default()
        }
    );
    assert_eq!(lock.raw().word().0, 0);
}

#[test]
fn a_reader_that_waits_for_a_writer_counts_one_contended_acquisition_and_its_wait() {
    let lock = Lock::new();
    let hold = Duration::from_millis(20);
    lock.lock_exclusive();
    let (queued, is_queued) = mpsc::channel();
    thread::scope(|scope| {
        let reader = scope.spawn(|| {
            queued.send(()).expect("the test waits for this");
            lock.lock_shared();
            // SAFETY: a share held just above.
            unsafe { lock.unlock_shared() };
        });
        is_queued.recv().expect("the reader starts");
        while !lock.raw().word().is_waiting() {
            thread::yield_now();
        }
        thread::sleep(hold);
        // SAFETY: held exclusively above.
        unsafe { lock.unlock_exclusive() };
        reader.join().expect("the reader gets in");
    });
    let statistics = lock.statistics();
    assert_eq!(statistics.shared_acquisitions, 1);
    assert_eq!(statistics.exclusive_acquisitions, 1);
    assert_eq!(statistics.contended, 1);
    assert_eq!(
        statistics.spun + u64::from(statistics.sleeps > 0),
        1,
        "a contended acquisition either spun or slept: {statistics:?}"
    );
    let waited = Duration::from_nanos(statistics.longest_wait_ns);
    assert!(
        waited >= hold,
        "waited {waited:?}, queued for at least {hold:?}"
    );
}

#[test]
fn one_exclusive_hold_in_the_sample_is_timed_and_the_others_are_not() {
    let lock = Lock::new();
    let hold = Duration::from_millis(5);
    lock.lock_exclusive();
    thread::sleep(hold);
    // SAFETY: held exclusively above.
    unsafe { lock.unlock_exclusive() };
    let timed = lock.statistics().longest_hold_ns;
    assert!(
        Duration::from_nanos(timed) >= hold,
        "the first hold is timed"
    );
    for _ in 1..HOLD_SAMPLE {
        lock.lock_exclusive();
        thread::sleep(hold * 2);
        // SAFETY: held exclusively just above.
        unsafe { lock.unlock_exclusive() };
        assert_eq!(
            lock.statistics().longest_hold_ns,
            timed,
            "an untimed hold counted"
        );
        if cfg!(miri) {
            break;
        }
    }
}

#[test]
fn the_guard_api_counts_through_lock_api() {
    let data = CountedRwLock::new(0_u32);
    *data.write() += 1;
    assert_eq!(*data.read(), 1);
    assert!(data.try_read().is_some());
    let statistics = data.statistics();
    assert_eq!(
        (
            statistics.exclusive_acquisitions,
            statistics.shared_acquisitions
        ),
        (1, 2)
    );
}
