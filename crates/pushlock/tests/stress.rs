//! Stress: more threads than cores hammer one lock for a bounded time with every acquire and
//! release flavour, while an invariant checker watches who is inside. The protected payload is a
//! plain (non-atomic) cell, so under Miri a broken lock is also a reported data race.
//!
//! `PUSHLOCK_STRESS_SECS` sets the duration (default 3 s; under Miri a fixed, small iteration
//! count instead). Prints per-thread counts and the most readers seen inside at once.
#![cfg(not(loom))]

mod support;

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicIsize, AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use std::time::{Duration, Instant};

use pushlock::nt;
use pushlock::{RawPushLock, StdPlatform};
use support::{Gate, Scene};

const THREADS: usize = 8;
const WRITERS: usize = 2;

/// Who is inside: -1 a writer, n > 0 that many readers.
///
/// Every atomic here is `Relaxed`: read-modify-writes on one location are still totally ordered,
/// so counting and exclusion are checked as before, but they create no happens-before between
/// critical sections. (With `SeqCst` the checker itself ordered them: a lock whose acquire was
/// weakened to `Relaxed` passed Miri on every seed.) Only the lock under test may order the
/// payload accesses, so a broken ordering is a data race Miri reports.
#[derive(Default)]
struct Occupancy {
    inside: AtomicIsize,
    most_readers: AtomicUsize,
    violations: AtomicU64,
    /// The protected payload: written by writers, read by readers, never atomically.
    payload: UnsafeCell<[u64; 4]>,
}

// SAFETY: `payload` is only accessed under the lock under test; a failure of that lock is what
// the checker (and Miri) report.
unsafe impl Sync for Occupancy {}

impl Occupancy {
    fn enter_writer(&self) {
        if self
            .inside
            .compare_exchange(0, -1, Relaxed, Relaxed)
            .is_err()
        {
            self.violations.fetch_add(1, Relaxed);
        }
        // SAFETY: exclusive under the lock.
        let payload = unsafe { &mut *self.payload.get() };
        let next = payload[0] + 1;
        *payload = [next, !next, next.rotate_left(7), next ^ 0xABCD];
    }

    fn leave_writer(&self) {
        if self
            .inside
            .compare_exchange(-1, 0, Relaxed, Relaxed)
            .is_err()
        {
            self.violations.fetch_add(1, Relaxed);
        }
    }

    fn enter_reader(&self) {
        let before = self.inside.fetch_add(1, Relaxed);
        if before < 0 {
            self.violations.fetch_add(1, Relaxed);
        }
        let readers = usize::try_from(before + 1).unwrap_or(0);
        self.most_readers.fetch_max(readers, Relaxed);
        // SAFETY: shared under the lock: no writer.
        let [value, complement, rotated, mixed] = unsafe { *self.payload.get() };
        if complement != !value || rotated != value.rotate_left(7) || mixed != value ^ 0xABCD {
            self.violations.fetch_add(1, Relaxed);
        }
    }

    fn leave_reader(&self) {
        if self.inside.fetch_sub(1, Relaxed) <= 0 {
            self.violations.fetch_add(1, Relaxed);
        }
    }
}

fn duration() -> Duration {
    let secs = std::env::var("PUSHLOCK_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    Duration::from_secs(secs)
}

#[test]
fn stress_mixed_flavours() {
    let mut scene = Scene::new("stress");
    let occupancy = Arc::new(Occupancy {
        payload: UnsafeCell::new([0, !0, 0, 0xABCD]),
        ..Occupancy::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let start = Gate::new();
    // Under Miri: rounds per thread. With the verifier each operation also walks its tables,
    // which Miri interprets slowly (40 rounds took it seven minutes): fewer rounds, the same
    // eight threads racing on the tables.
    let miri_iterations: u64 = if cfg!(feature = "verify") { 8 } else { 40 };
    let actors: Vec<_> = (0..THREADS)
        .map(|t| {
            let (occupancy, stop, start) = (occupancy.clone(), stop.clone(), start.clone());
            scene.spawn(
                &format!("{}{t}", if t < WRITERS { "writer-" } else { "reader-" }),
                move |lock, me| {
                    start.wait();
                    let mut i = 0_u64;
                    while !(stop.load(SeqCst) || cfg!(miri) && i == miri_iterations) {
                        i += 1;
                        if t < WRITERS {
                            exclusive_round(lock, me, &occupancy, i);
                        } else {
                            shared_round(lock, me, &occupancy, i);
                        }
                    }
                },
            )
        })
        .collect();
    let began = Instant::now();
    start.open();
    if !cfg!(miri) {
        std::thread::sleep(duration());
        stop.store(true, SeqCst);
    }
    scene.finish();
    let elapsed = began.elapsed();

    let total: u64 = actors.iter().map(|a| a.acquisitions()).sum();
    let counts: Vec<_> = actors
        .iter()
        .map(|a| format!("{}={}", a.name, a.acquisitions()))
        .collect();
    println!(
        "stress: {THREADS} threads ({WRITERS} writers) on {} cores, {:.1?}: {total} acquisitions \
         ({}/s), most readers inside at once {}, violations {}\n  {}",
        std::thread::available_parallelism().map_or(1, usize::from),
        elapsed,
        u128::from(total) * 1000 / elapsed.as_millis().max(1),
        occupancy.most_readers.load(SeqCst),
        occupancy.violations.load(SeqCst),
        counts.join(" ")
    );
    assert_eq!(
        occupancy.violations.load(SeqCst),
        0,
        "the invariant checker saw a violation"
    );
    for actor in &actors {
        assert!(
            actor.acquisitions() > 0,
            "{} never got the lock",
            actor.name
        );
    }
}

/// One exclusive round, cycling through every exclusive acquire and release flavour.
fn exclusive_round(
    lock: &RawPushLock<StdPlatform>,
    me: &support::Actor,
    occupancy: &Occupancy,
    i: u64,
) {
    let p = lock.as_ex_push_lock();
    match i % 4 {
        // A try that misses falls back to queueing: a spinning try-locker is not a waiter, and
        // readers rightly keep coming.
        1 if lock.try_lock_exclusive() => me.lock_exclusive_taken(),
        0 | 1 => me.lock_exclusive(lock),
        // SAFETY: `p` is the live lock of this scene.
        2 => unsafe { nt::FltAcquirePushLockExclusive::<StdPlatform>(p) },
        // SAFETY: as above.
        _ => unsafe { nt::FltAcquirePushLockExclusiveEx::<StdPlatform>(p, 2) },
    }
    if i % 4 >= 2 {
        me.lock_exclusive_taken();
    }
    occupancy.enter_writer();
    occupancy.leave_writer();
    match i % 4 {
        0 | 1 => me.release(lock, i % 2 == 1),
        _ => {
            me.released();
            // SAFETY: acquired through the Flt API above.
            unsafe { nt::FltReleasePushLock::<StdPlatform>(p) };
        }
    }
}

/// One shared round, cycling through every shared acquire and release flavour.
fn shared_round(
    lock: &RawPushLock<StdPlatform>,
    me: &support::Actor,
    occupancy: &Occupancy,
    i: u64,
) {
    let p = lock.as_ex_push_lock();
    let flt = i % 3 == 2;
    if flt {
        // SAFETY: `p` is the live lock of this scene.
        unsafe { nt::FltAcquirePushLockSharedEx::<StdPlatform>(p, 1) };
        me.lock_shared_taken();
    } else if i % 3 == 1 && lock.try_lock_shared() {
        me.lock_shared_taken();
    } else {
        me.lock_shared(lock);
    }
    occupancy.enter_reader();
    occupancy.leave_reader();
    if flt {
        me.released();
        // SAFETY: acquired through the Flt API above.
        unsafe { nt::FltReleasePushLockEx::<StdPlatform>(p, 1) };
    } else {
        me.release(lock, i.is_multiple_of(2));
    }
}
