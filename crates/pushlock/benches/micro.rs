//! Uncontended acquire+release, shared and exclusive: the push lock next to its peers, measured in
//! one run on one machine, with a bare atomic `fetch_add`/`fetch_sub` pair as the floor.
//!
//! `cargo bench -p pushlock --bench uncontended`

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};

/// One acquire + release of a lock under test, in either mode.
trait RoundTrip: Default {
    fn exclusive(&self);
    fn shared(&self);
}

macro_rules! guard_round_trips {
    ($($lock:ty),*) => {$(
        impl RoundTrip for $lock {
            fn exclusive(&self) {
                drop(self.write());
            }

            fn shared(&self) {
                drop(self.read());
            }
        }
    )*};
}

guard_round_trips!(
    pushlock::RwLock<()>,
    parking_lot::RwLock<()>,
    std::sync::RwLock<()>,
    spin::RwLock<()>,
    usync::RwLock<()>
);

/// The least any lock can do: one atomic RMW to acquire, one to release.
impl RoundTrip for AtomicUsize {
    fn exclusive(&self) {
        self.fetch_add(1, Ordering::Acquire);
        self.fetch_sub(1, Ordering::Release);
    }

    fn shared(&self) {
        self.exclusive();
    }
}

/// Benchmarks one round trip of a fresh `L` in the group's mode.
fn round_trip<L: RoundTrip>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, shared: bool) {
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
        round_trip::<pushlock::RwLock<()>>(&mut group, "pushlock", shared);
        round_trip::<parking_lot::RwLock<()>>(&mut group, "parking_lot", shared);
        round_trip::<std::sync::RwLock<()>>(&mut group, "std", shared);
        round_trip::<spin::RwLock<()>>(&mut group, "spin", shared);
        round_trip::<usync::RwLock<()>>(&mut group, "usync", shared);
        round_trip::<AtomicUsize>(&mut group, "atomic-floor", shared);
        group.finish();
    }
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
