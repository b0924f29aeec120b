//! The verifier (feature `verify`): each violation it detects, committed on purpose in a way
//! that cannot hang, must be reported with the right kind and a report that names the lock, the
//! sites and the other party, before anything changes.
//!
//! Run: `cargo test -p pushlock --features verify --test verify`. User mode panics with the
//! report where the kernel bug-checks; each test catches the panic and checks the lock after it.
#![cfg(all(feature = "verify", not(loom)))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use pushlock::verify::{self, HeldAt};
use pushlock::{LockClass, Platform, RawPushLock, RwLock, StdPlatform, nt};

type Lock = RawPushLock<StdPlatform>;

/// Runs `f`, which must be reported; returns the report.
#[track_caller]
fn report_of(f: impl FnOnce()) -> String {
    let panic = catch_unwind(AssertUnwindSafe(f)).expect_err("the verifier must report this");
    let report = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(report.starts_with("PUSH LOCK VERIFIER: "), "{report}");
    report
}

/// `file:line:` of the line above the caller, the start of a site as reports print it.
#[track_caller]
fn site_above() -> String {
    let location = std::panic::Location::caller();
    format!("{}:{}:", location.file(), location.line() - 1)
}

/// Runs `body` with a lock on a thread of its own, and fails with the lock's word if it has not
/// finished within the deadline: an unreported recursion waits forever, and a hang must fail the
/// test, not stall it.
fn within_deadline(body: impl FnOnce(&Lock) + Send + 'static) {
    let lock = Arc::new(Lock::new());
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn({
        let lock = Arc::clone(&lock);
        move || {
            body(&lock);
            let _ = done.send(());
        }
    });
    let deadline = Duration::from_secs(if cfg!(miri) { 3600 } else { 30 });
    match finished.recv_timeout(deadline) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => panic!(
            "hung: a thread waits on its own lock, unreported; word {}",
            lock.word()
        ),
    }
}

#[test]
fn exclusive_after_exclusive_is_reported_before_it_waits() {
    within_deadline(|lock| {
        lock.lock_exclusive();
        let first = site_above();
        let report = report_of(|| lock.lock_exclusive());
        assert!(
            report.contains("exclusive by a thread that holds the lock"),
            "{report}"
        );
        assert!(report.contains("this thread holds it"), "{report}");
        assert!(
            report.contains(&format!("exclusive, acquired at {first}")),
            "{report}"
        );
        assert_eq!(lock.word().0, 0x1, "the second acquisition changed nothing");
        // SAFETY: held exclusively above.
        unsafe { lock.unlock_exclusive() };
        assert_eq!(lock.word().0, 0);
    });
}

#[test]
fn exclusive_after_shared_and_shared_after_exclusive_are_reported() {
    within_deadline(|lock| {
        lock.lock_shared();
        let report = report_of(|| lock.lock_exclusive());
        assert!(
            report.contains("exclusive by a thread that holds the lock"),
            "{report}"
        );
        assert!(report.contains("shared, acquired at"), "{report}");
        assert_eq!(lock.word().0, 0x11);
        // SAFETY: one share held above.
        unsafe { lock.unlock_shared() };

        lock.lock_exclusive();
        let report = report_of(|| lock.lock_shared());
        assert!(
            report.contains("shared by the thread that holds the lock exclusively"),
            "{report}"
        );
        assert_eq!(lock.word().0, 0x1);
        // SAFETY: held exclusively above.
        unsafe { lock.unlock_exclusive() };
    });
}

#[test]
fn shared_again_is_allowed_until_a_writer_waits() {
    within_deadline(|lock| {
        lock.lock_shared();
        lock.lock_shared();
        assert_eq!(
            lock.word().0,
            0x21,
            "a second share with nobody waiting does not hang"
        );
        thread::scope(|scope| {
            let writer = scope.spawn(|| {
                lock.lock_exclusive();
                // SAFETY: held exclusively just above.
                unsafe { lock.unlock_exclusive() };
            });
            while !lock.word().is_waiting() {
                thread::yield_now();
            }
            let report = report_of(|| lock.lock_shared());
            assert!(
                report.contains("shared again while a writer waits"),
                "{report}"
            );
            // SAFETY: two shares held above.
            unsafe { lock.unlock_shared() };
            // SAFETY: as above.
            unsafe { lock.unlock_shared() };
            writer
                .join()
                .expect("the writer gets in once the shares are gone");
        });
        assert_eq!(lock.word().0, 0);
    });
}

#[test]
fn a_release_by_another_thread_names_the_owner_and_changes_nothing() {
    let lock = Lock::new();
    lock.lock_exclusive();
    let report = thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: deliberately wrong: this thread does not hold the lock.
                report_of(|| unsafe { lock.unlock_exclusive() })
            })
            .join()
            .expect("the report is the thread's result")
    });
    assert!(report.contains("not held by this thread"), "{report}");
    assert!(
        report.contains("holds it: 0x"),
        "the owner is named: {report}"
    );
    assert_eq!(lock.word().0, 0x1, "still held by its owner");
    // SAFETY: held exclusively above, by this thread.
    unsafe { lock.unlock_exclusive() };
}

#[test]
fn a_release_in_the_wrong_mode_is_reported_and_changes_nothing() {
    let lock = Lock::new();
    lock.lock_shared();
    // SAFETY: deliberately wrong: the lock is held shared.
    let report = report_of(|| unsafe { lock.unlock_exclusive() });
    assert!(report.contains("release in the wrong mode"), "{report}");
    assert_eq!(lock.word().0, 0x11);
    // SAFETY: one share held above.
    unsafe { lock.unlock_shared() };

    lock.lock_exclusive();
    // SAFETY: deliberately wrong: the lock is held exclusively.
    let report = report_of(|| unsafe { lock.unlock_shared() });
    assert!(report.contains("release in the wrong mode"), "{report}");
    // The mode-agnostic release is right for either.
    // SAFETY: held exclusively above.
    unsafe { lock.unlock() };
    assert_eq!(lock.word().0, 0);
}

static FIRST: LockClass = LockClass::new("first");
static SECOND: LockClass = LockClass::new("second");

#[test]
fn an_inversion_is_reported_the_first_time_though_no_deadlock_happened() {
    let (a, b) = (Lock::new(), Lock::new());
    a.set_class(&FIRST);
    b.set_class(&SECOND);
    a.lock_exclusive();
    let a_site = site_above();
    b.lock_shared();
    let b_site = site_above();
    // SAFETY: held shared above.
    unsafe { b.unlock_shared() };
    // SAFETY: held exclusively above.
    unsafe { a.unlock_exclusive() };

    b.lock_exclusive();
    let report = report_of(|| a.lock_shared());
    assert!(report.contains("lock-order inversion"), "{report}");
    assert!(report.contains("while holding lock"), "{report}");
    let earlier = format!("class \"first\" (acquired at {a_site}");
    assert!(
        report.contains(&earlier),
        "the earlier order's sites: {report}"
    );
    assert!(
        report.contains(&format!("class \"second\" (acquired at {b_site}")),
        "{report}"
    );
    assert_eq!(a.word().0, 0, "the inverting acquisition was not made");
    // SAFETY: held exclusively above.
    unsafe { b.unlock_exclusive() };
}

static RING: [LockClass; 3] = [
    LockClass::new("ring-0"),
    LockClass::new("ring-1"),
    LockClass::new("ring-2"),
];

#[test]
fn a_cycle_through_three_classes_shows_the_whole_earlier_chain() {
    let locks = [Lock::new(), Lock::new(), Lock::new()];
    for (lock, class) in locks.iter().zip(&RING) {
        lock.set_class(class);
    }
    for pair in [[0, 1], [1, 2]] {
        let [outer, inner] = pair.map(|i| &locks[i]);
        outer.lock_exclusive();
        inner.lock_exclusive();
        // SAFETY: held exclusively just above.
        unsafe { inner.unlock_exclusive() };
        // SAFETY: as above.
        unsafe { outer.unlock_exclusive() };
    }
    locks[2].lock_exclusive();
    let report = report_of(|| locks[0].lock_exclusive());
    assert!(report.contains("lock-order inversion"), "{report}");
    let chain = report
        .split("opposite order was seen before:")
        .nth(1)
        .unwrap_or_default();
    let first = chain
        .find("class \"ring-0\"")
        .expect("edge ring-0 -> ring-1");
    let second = chain
        .find("class \"ring-1\" (acquired")
        .expect("edge ring-1 -> ring-2");
    assert!(first < second, "the chain in order: {report}");
    // SAFETY: held exclusively above.
    unsafe { locks[2].unlock_exclusive() };
}

/// Two locks at the same addresses, nested in one order, dropped, then in the other: the
/// verifier forgets a dropped lock, so the second pair is not taken for the first.
#[test]
fn a_dropped_lock_is_forgotten() {
    let mut storage = std::mem::MaybeUninit::<[Lock; 2]>::uninit();
    for outer_first in [true, false] {
        let pair = storage.write([Lock::new(), Lock::new()]);
        let [outer, inner] = if outer_first {
            [&pair[0], &pair[1]]
        } else {
            [&pair[1], &pair[0]]
        };
        outer.lock_exclusive();
        inner.lock_exclusive();
        // SAFETY: held exclusively just above.
        unsafe { inner.unlock_exclusive() };
        // SAFETY: as above.
        unsafe { outer.unlock_exclusive() };
        // SAFETY: written above, dropped once here, not used again.
        unsafe { storage.assume_init_drop() };
    }
}

#[test]
fn a_lock_held_when_none_may_be_is_reported() {
    let lock = Lock::new();
    lock.lock_shared();
    let report = report_of(|| verify::check_none_held::<StdPlatform>(HeldAt::ThreadExit));
    assert!(
        report.contains("push lock held at system-thread exit"),
        "{report}"
    );
    // SAFETY: one share held above.
    unsafe { lock.unlock_shared() };
    verify::check_none_held::<StdPlatform>(HeldAt::MessageCallbackReturn);
}

#[test]
fn a_lock_another_thread_holds_at_unload_is_reported() {
    let lock = Lock::new();
    lock.lock_exclusive();
    let report = thread::scope(|scope| {
        scope
            .spawn(|| report_of(verify::check_nobody_holds::<StdPlatform>))
            .join()
            .expect("the report is the thread's result")
    });
    assert!(
        report.contains("push lock held at FilterUnload"),
        "{report}"
    );
    assert!(report.contains("holds it: 0x"), "{report}");
    // SAFETY: held exclusively above.
    unsafe { lock.unlock_exclusive() };
}

#[test]
fn leaving_the_critical_region_of_a_held_flt_lock_is_reported() {
    let mut lock = nt::EX_PUSH_LOCK::new();
    let lock = &raw mut lock;
    // SAFETY: a live lock, used only by this thread.
    unsafe { nt::FltAcquirePushLockExclusive::<StdPlatform>(lock) };
    StdPlatform::leave_critical_region();
    // SAFETY: held through FltAcquirePushLockExclusive above.
    let report = report_of(|| unsafe { nt::FltReleasePushLock::<StdPlatform>(lock) });
    assert!(
        report.contains("critical region it entered was left"),
        "{report}"
    );
    assert!(report.contains("exclusive (Flt)"), "{report}");
    StdPlatform::enter_critical_region();
    // SAFETY: still held: the reported release changed nothing.
    unsafe { nt::FltReleasePushLock::<StdPlatform>(lock) };
    assert_eq!(StdPlatform::critical_region_depth(), 0);
}

#[test]
fn a_thread_holding_more_locks_than_recorded_is_stopped_before_the_next() {
    let locks: Vec<Lock> = (0..=verify::threads::HELD).map(|_| Lock::new()).collect();
    let (last, recorded) = locks.split_last().expect("HELD + 1 locks");
    for lock in recorded {
        assert!(lock.try_lock_shared());
    }
    let report = report_of(|| last.lock_exclusive());
    assert!(
        report.contains("too many locks held by one thread"),
        "{report}"
    );
    assert_eq!(
        last.word().0,
        0,
        "not acquired, so nothing is held unrecorded"
    );
    for lock in recorded.iter().rev() {
        // SAFETY: each holds one share, taken above.
        unsafe { lock.unlock_shared() };
    }
}

#[test]
fn the_lock_s_own_checks_come_with_the_verifier_s_report() {
    let mut lock = nt::EX_PUSH_LOCK::new();
    let lock = &raw mut lock;
    // SAFETY: a live lock, used only by this thread.
    let report = report_of(|| unsafe { nt::FltAcquirePushLockExclusiveEx::<StdPlatform>(lock, 8) });
    assert!(report.contains("invalid push-lock flags 0x8"), "{report}");
    assert!(report.contains("locks held by this thread"), "{report}");
    assert_eq!(
        StdPlatform::critical_region_depth(),
        0,
        "the rejected call entered nothing"
    );

    // SAFETY: as above.
    unsafe { nt::ExAcquirePushLockShared::<StdPlatform>(lock) };
    // SAFETY: deliberately wrong: the lock is held.
    let report = report_of(|| unsafe { nt::FltDeletePushLock::<StdPlatform>(lock) });
    assert!(
        report.contains("FltDeletePushLock on a lock in use"),
        "{report}"
    );
    assert!(report.contains("holds it: 0x"), "{report}");
    // SAFETY: one share held above.
    unsafe { nt::ExReleasePushLockShared::<StdPlatform>(lock) };
    // SAFETY: free now, and not used again.
    unsafe { nt::FltDeletePushLock::<StdPlatform>(lock) };
}

/// Sites come from the caller's code through `lock_api`'s guards and the `nt` functions.
#[test]
fn sites_are_the_caller_s_lines() {
    let data = RwLock::new(0);
    let guard = data.write();
    let line = site_above();
    let report = report_of(|| drop(data.read()));
    assert!(
        report.contains(&format!("exclusive, acquired at {line}")),
        "{report}"
    );
    drop(guard);

    let mut lock = nt::EX_PUSH_LOCK::new();
    let lock = &raw mut lock;
    // SAFETY: a live lock, used only by this thread.
    unsafe { nt::ExInitializePushLock::<StdPlatform>(lock) };
    let init = site_above();
    // SAFETY: as above.
    unsafe { nt::ExAcquirePushLockExclusive::<StdPlatform>(lock) };
    // SAFETY: as above.
    let report = report_of(|| unsafe { nt::ExAcquirePushLockExclusive::<StdPlatform>(lock) });
    assert!(
        report.contains(&format!("class initialised at {init}")),
        "{report}"
    );
    // SAFETY: held exclusively above.
    unsafe { nt::ExReleasePushLockExclusive::<StdPlatform>(lock) };
}

/// A hold handed to another thread with `disown` and `adopt` is that thread's to release.
#[test]
fn a_hold_handed_over_is_the_receiver_s_to_release() {
    let lock = Lock::new();
    lock.lock_shared();
    verify::disown(&lock);
    thread::scope(|scope| {
        scope.spawn(|| {
            verify::adopt(&lock, false);
            // SAFETY: the share handed over above.
            unsafe { lock.unlock_shared() };
        });
    });
    assert_eq!(lock.word().0, 0);
    // SAFETY: deliberately wrong: given away, and released by the receiver.
    let report = report_of(|| unsafe { lock.unlock_shared() });
    assert!(report.contains("not held by this thread"), "{report}");
}

/// The cache-aware lock under the verifier: one record per acquisition, however many slots,
/// and recursion through any slot reported before anything changes.
mod cache_aware {
    use super::{report_of, site_above, thread, verify};
    use pushlock::{CacheAwarePushLock, StdPlatform};

    type Lock = CacheAwarePushLock<StdPlatform>;

    /// How many locks the verifier records for this thread.
    fn records() -> usize {
        verify::held_by_current_thread::<StdPlatform>(&mut [])
    }

    fn words(lock: &Lock) -> Vec<usize> {
        (0..lock.slot_count())
            .filter_map(|index| lock.slot(index))
            .map(|slot| slot.word().0)
            .collect()
    }

    #[test]
    fn a_writer_is_one_record_however_many_slots() {
        thread::spawn(|| {
            let lock = Lock::with_slots(64).unwrap();
            lock.lock_exclusive();
            assert_eq!(records(), 1, "64 slots, one acquisition");
            // SAFETY: held exclusively just above.
            unsafe { lock.unlock_exclusive() };
            assert_eq!(records(), 0);
            assert!(lock.try_lock_exclusive());
            assert_eq!(records(), 1, "a try, too");
            // SAFETY: as above.
            unsafe { lock.unlock_exclusive() };
            let token = lock.lock_shared();
            assert_eq!(records(), 1, "a reader: its slot");
            // SAFETY: the share taken above.
            unsafe { lock.unlock_shared(token) };
            assert_eq!((records(), words(&lock)), (0, vec![0; 64]));
        })
        .join()
        .unwrap();
    }

    /// Pins the calling thread to the last processor it may run on, so that its share of a
    /// cache-aware lock is on a slot after the first: the case a check that matched the slot
    /// alone would miss until the writer's sweep reached it. False where it cannot (one
    /// processor, or not Linux).
    fn pin_past_the_first_processor() -> bool {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: all-zero bits are a valid `cpu_set_t`: the empty set.
            let mut allowed: libc::cpu_set_t = unsafe { core::mem::zeroed() };
            // SAFETY: 0 is this thread; the set is written, within its size.
            if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &raw mut allowed) }
                != 0
            {
                return false;
            }
            let setsize = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
            // SAFETY: every index is below the set's size.
            let Some(last) = (1..setsize)
                .rev()
                .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &allowed) })
            else {
                return false;
            };
            // SAFETY: as above.
            let mut only: libc::cpu_set_t = unsafe { core::mem::zeroed() };
            // SAFETY: `last` is below the set's size.
            unsafe { libc::CPU_SET(last, &mut only) };
            // SAFETY: 0 is this thread; the set is read, for its size.
            let pinned = unsafe {
                libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const only)
            };
            thread::yield_now();
            pinned == 0
        }
        #[cfg(not(target_os = "linux"))]
        false
    }

    #[test]
    fn a_reader_turning_writer_is_reported_before_it_takes_a_slot() {
        thread::spawn(|| {
            let lock = Lock::with_slots(4).unwrap();
            let pinned = pin_past_the_first_processor();
            let token = lock.lock_shared();
            let read_at = site_above();
            let before = words(&lock);
            if pinned {
                assert_eq!(
                    before[0], 0,
                    "the share is past the first slot: {before:x?}"
                );
            }
            let report = report_of(|| lock.lock_exclusive());
            assert!(
                report.contains("exclusive by a thread that holds the lock"),
                "{report}"
            );
            assert!(
                report.contains(&format!("shared, acquired at {read_at}")),
                "{report}"
            );
            assert_eq!(words(&lock), before, "no slot taken");
            // SAFETY: the share taken above.
            unsafe { lock.unlock_shared(token) };
            assert_eq!(words(&lock), vec![0; 4]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_writer_asking_for_a_share_is_reported_and_changes_nothing() {
        thread::spawn(|| {
            let lock = Lock::with_slots(4).unwrap();
            lock.lock_exclusive();
            let report = report_of(|| {
                let _token = lock.lock_shared();
            });
            assert!(
                report.contains("shared by the thread that holds the lock exclusively"),
                "{report}"
            );
            assert_eq!(words(&lock), vec![0x1; 4]);
            // SAFETY: held exclusively above.
            unsafe { lock.unlock_exclusive() };
            assert_eq!(words(&lock), vec![0; 4]);
        })
        .join()
        .unwrap();
    }
}
