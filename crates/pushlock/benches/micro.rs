//! Micro-benchmarks: the push lock next to its peers, measured in one run on one machine.
//!
//! - `uncontended/{exclusive,shared}`: one acquire + release, with a bare atomic
//!   `fetch_add`/`fetch_sub` pair as the floor.
//! - `try/{exclusive,shared}-{hit,miss}`: a try-acquire (+ release) on a free lock, and a failing
//!   try on a lock held exclusively.
//! - `ping-pong`: two threads hand a turn back and forth under the lock, exclusively; the time is
//!   per round trip (two hand-offs).
//!
//! `cargo bench -p pushlock --bench micro`
//!
//! `pushlock-counted` is the same lock keeping its contention statistics (`CountedRwLock`);
//! `pushlock-cache-aware` is the cache-aware lock (`CacheAwareRwLock`, a push lock per
//! processor), next to its nearest peer, crossbeam's `ShardedLock` (`crossbeam-sharded`), and
//! `pushlock-cache-aware-counted` the same with counted slots (`CountedCacheAwarePushLock`).
//!
//! The verifier's cost: `--features verify` runs the same benchmarks with the verifier on, and
//! with `PUSHLOCK_VERIFY=off` in the environment, compiled in but switched off
//! (`pushlock::verify::stop` before the first lock operation).

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};

/// What the benchmarks do to a lock under test.
trait Lock: Default + Sync {
    /// Acquire + release, exclusively.
    fn exclusive(&self);
    /// Acquire + release, shared.
    fn shared(&self);
    /// Try exclusively, and release if that worked; whether it did.
    fn try_exclusive(&self) -> bool;
    /// Try shared, and release if that worked; whether it did.
    fn try_shared(&self) -> bool;
    /// Runs `f` holding the lock exclusively.
    fn held<R>(&self, f: impl FnOnce() -> R) -> R;
}

/// `Lock` for the guard-returning peers. `$acquired` tests a try's result: `is_some` for the
/// `lock_api` style (`Option`), `is_ok` for std (`Result`, whose `Ok` holds the guard).
macro_rules! guard_locks {
    ($acquired:ident: $($lock:ty),*) => {$(
        impl Lock for $lock {
            fn exclusive(&self) {
                drop(self.write());
            }

            fn shared(&self) {
                drop(self.read());
            }

            fn try_exclusive(&self) -> bool {
                self.try_write().$acquired()
            }

            fn try_shared(&self) -> bool {
                self.try_read().$acquired()
            }

            fn held<R>(&self, f: impl FnOnce() -> R) -> R {
                let _guard = self.write();
                f()
            }
        }
    )*};
}

guard_locks!(is_some:
    pushlock::RwLock<()>,
    pushlock::CountedRwLock<()>,
    parking_lot::RwLock<()>,
    spin::RwLock<()>,
    usync::RwLock<()>
);
guard_locks!(is_ok: std::sync::RwLock<()>, crossbeam_utils::sync::ShardedLock<()>);

/// The cache-aware lock, made infallibly for the benchmarks (its `new` can fail).
struct CacheAware(pushlock::CacheAwareRwLock<()>);

impl Default for CacheAware {
    fn default() -> Self {
        Self(pushlock::CacheAwareRwLock::new(()).expect("memory for the slots"))
    }
}

impl Lock for CacheAware {
    fn exclusive(&self) {
        drop(self.0.write());
    }

    fn shared(&self) {
        drop(self.0.read());
    }

    fn try_exclusive(&self) -> bool {
        self.0.try_write().is_some()
    }

    fn try_shared(&self) -> bool {
        self.0.try_read().is_some()
    }

    fn held<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.0.write();
        f()
    }
}

/// The cache-aware lock with counted slots (the driver's policy lock), through its raw API.
struct CountedCacheAware(pushlock::CountedCacheAwarePushLock<pushlock::StdPlatform>);

impl Default for CountedCacheAware {
    fn default() -> Self {
        Self(pushlock::CountedCacheAwarePushLock::new().expect("memory for the slots"))
    }
}

impl Lock for CountedCacheAware {
    fn exclusive(&self) {
        self.0.lock_exclusive();
        // SAFETY: taken just above.
        unsafe { self.0.unlock_exclusive() };
    }

    fn shared(&self) {
        let token = self.0.lock_shared();
        // SAFETY: the share taken just above.
        unsafe { self.0.unlock_shared(token) };
    }

    fn try_exclusive(&self) -> bool {
        let taken = self.0.try_lock_exclusive();
        if taken {
            // SAFETY: taken just above.
            unsafe { self.0.unlock_exclusive() };
        }
        taken
    }

    fn try_shared(&self) -> bool {
        self.0.try_lock_shared().is_some_and(|token| {
            // SAFETY: the share taken just above.
            unsafe { self.0.unlock_shared(token) };
            true
        })
    }

    fn held<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.lock_exclusive();
        let result = f();
        // SAFETY: taken just above.
        unsafe { self.0.unlock_exclusive() };
        result
    }
}

/// The least any lock can do: one atomic RMW to acquire, one to release; a try is a CAS.
impl Lock for AtomicUsize {
    fn exclusive(&self) {
        self.fetch_add(1, Ordering::Acquire);
        self.fetch_sub(1, Ordering::Release);
    }

    fn shared(&self) {
        self.exclusive();
    }

    fn try_exclusive(&self) -> bool {
        let won = self
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if won {
            self.store(0, Ordering::Release);
        }
        won
    }

    fn try_shared(&self) -> bool {
        self.try_exclusive()
    }

    fn held<R>(&self, f: impl FnOnce() -> R) -> R {
        self.store(1, Ordering::Relaxed);
        let result = f();
        self.store(0, Ordering::Relaxed);
        result
    }
}

/// Calls `$bench::<Lock>(group, name, args…)` for every peer, in the same order everywhere.
macro_rules! each_peer {
    ($bench:ident($group:expr $(, $arg:expr)*)) => {
        $bench::<pushlock::RwLock<()>>($group, "pushlock" $(, $arg)*);
        $bench::<pushlock::CountedRwLock<()>>($group, "pushlock-counted" $(, $arg)*);
        $bench::<CacheAware>($group, "pushlock-cache-aware" $(, $arg)*);
        $bench::<CountedCacheAware>($group, "pushlock-cache-aware-counted" $(, $arg)*);
        $bench::<parking_lot::RwLock<()>>($group, "parking_lot" $(, $arg)*);
        $bench::<std::sync::RwLock<()>>($group, "std" $(, $arg)*);
        $bench::<spin::RwLock<()>>($group, "spin" $(, $arg)*);
        $bench::<usync::RwLock<()>>($group, "usync" $(, $arg)*);
        $bench::<crossbeam_utils::sync::ShardedLock<()>>($group, "crossbeam-sharded" $(, $arg)*);
    };
}

/// One round trip of a fresh `L` in the group's mode.
fn round_trip<L: Lock>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, shared: bool) {
    let lock = L::default();
    if shared {
        group.bench_function(name, |b| b.iter(|| black_box(&lock).shared()));
    } else {
        group.bench_function(name, |b| b.iter(|| black_box(&lock).exclusive()));
    }
}

fn uncontended(c: &mut Criterion) {
    for (mode, shared) in [("exclusive", false), ("shared", true)] {
        let mut group = c.benchmark_group(format!("uncontended/{mode}"));
        each_peer!(round_trip(&mut group, shared));
        round_trip::<AtomicUsize>(&mut group, "atomic-floor", shared);
        group.finish();
    }
}

/// A try on a free lock (`hit`: it succeeds, and is released) or on a lock held exclusively
/// (`miss`: it fails; the benchmark fails if it does not).
fn try_lock<L: Lock>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    shared: bool,
    hit: bool,
) {
    let lock = L::default();
    let attempt = |lock: &L| {
        if shared {
            lock.try_shared()
        } else {
            lock.try_exclusive()
        }
    };
    if hit {
        group.bench_function(name, |b| b.iter(|| assert!(attempt(black_box(&lock)))));
    } else {
        lock.held(|| {
            group.bench_function(name, |b| b.iter(|| assert!(!attempt(black_box(&lock)))));
        });
    }
}

fn try_locks(c: &mut Criterion) {
    for (mode, shared) in [("exclusive", false), ("shared", true)] {
        for (outcome, hit) in [("hit", true), ("miss", false)] {
            let mut group = c.benchmark_group(format!("try/{mode}-{outcome}"));
            each_peer!(try_lock(&mut group, shared, hit));
            if hit {
                try_lock::<AtomicUsize>(&mut group, "atomic-floor", shared, hit);
            }
            group.finish();
        }
    }
}

/// `rounds` round trips of a turn between this thread (turn 0) and a partner (turn 1), each
/// passing it under the lock held exclusively; the time they took.
fn ping_pong_rounds<L: Lock>(lock: &L, rounds: u64) -> Duration {
    let turn = AtomicU8::new(0);
    let stop = AtomicBool::new(false);
    let ready = Barrier::new(2);
    // Takes the turn from `from` when it is there, under the lock; the turn lives in an atomic
    // only so that a broken lock shows up as a hang, never as undefined behaviour.
    let pass = |from: u8| {
        lock.held(|| {
            let mine = turn.load(Ordering::Relaxed) == from;
            if mine {
                turn.store(1 - from, Ordering::Relaxed);
            }
            mine
        })
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            ready.wait();
            while !stop.load(Ordering::Relaxed) {
                pass(1);
            }
        });
        ready.wait();
        let start = Instant::now();
        for _ in 0..rounds {
            while !pass(0) {}
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        elapsed
    })
}

fn ping_pong_lock<L: Lock>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let lock = L::default();
    group.bench_function(name, |b| {
        b.iter_custom(|rounds| ping_pong_rounds(&lock, rounds));
    });
}

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping-pong");
    each_peer!(ping_pong_lock(&mut group));
    group.finish();
}

/// With the `verify` feature, `PUSHLOCK_VERIFY=off` switches the verifier off before any lock
/// is used; otherwise it starts with the first lock operation.
#[cfg_attr(not(feature = "verify"), allow(clippy::missing_const_for_fn))]
fn verifier(_: &mut Criterion) {
    #[cfg(feature = "verify")]
    if std::env::var_os("PUSHLOCK_VERIFY").is_some_and(|v| v == "off") {
        // SAFETY: no lock operation has started yet, and none is held.
        unsafe { pushlock::verify::stop::<pushlock::StdPlatform>() };
    }
}

criterion_group!(benches, verifier, uncontended, try_locks, ping_pong);
criterion_main!(benches);
