//! Memory per lock and per contended acquisition, measured in this process (the `sim` backend):
//! the size of each lock, the stack bytes a push-lock waiter uses, and heap allocations per
//! acquisition while threads fight over the lock, seen by a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use pushlock::{RawPushLock, StdPlatform};
use pushlock_protocol::LockKind;
use pushlock_selftest::{Host, LockVisitor, Shared, StdHost, TestLock};
use serde::Serialize;

/// The system allocator, counting allocations.
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

const THREADS: usize = 4;
const ROUNDS: u64 = 20_000;

/// One lock's memory figures.
#[derive(Serialize)]
pub struct Memory {
    pub lock: &'static str,
    /// Its size, and the heap it allocated for itself where the lock says (the cache-aware
    /// lock's slots; crossbeam's `ShardedLock` keeps its shards on the heap too, uncounted).
    pub bytes_per_lock: usize,
    /// Stack bytes per waiting thread, where we can tell (our wait block).
    pub bytes_per_waiter: Option<usize>,
    pub acquisitions: u64,
    pub heap_allocations: u64,
}

/// Measures every lock the sim offers.
pub fn measure() -> Vec<Memory> {
    let host = StdHost;
    host.lock_kinds()
        .iter()
        .filter_map(|&kind| host.with_lock(kind, Probe(kind)).ok())
        .collect()
}

struct Probe(LockKind);

impl LockVisitor for Probe {
    type Output = Memory;

    fn visit<L: TestLock>(self, lock: Shared<L>) -> Memory {
        let (warmed_up, done) = (Barrier::new(THREADS + 1), Barrier::new(THREADS + 1));
        let heap_allocations = std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let (lock, warmed_up, done) = (&*lock, &warmed_up, &done);
                scope.spawn(move || {
                    let write = thread % 2 == 0;
                    // First-use allocations (thread handle, TLS, a peer's parking tables) happen
                    // here, outside the count.
                    contend(lock, write, ROUNDS / 10);
                    warmed_up.wait();
                    contend(lock, write, ROUNDS);
                    done.wait();
                });
            }
            warmed_up.wait();
            let before = ALLOCATIONS.load(SeqCst);
            done.wait();
            ALLOCATIONS.load(SeqCst).saturating_sub(before)
        });
        Memory {
            lock: self.0.name(),
            bytes_per_lock: size_of::<L>().saturating_add(lock.heap_bytes()),
            bytes_per_waiter: matches!(
                self.0,
                LockKind::PushLock
                    | LockKind::CountedPushLock
                    | LockKind::CacheAwarePushLock
                    | LockKind::CountedCacheAwarePushLock
            )
            .then(RawPushLock::<StdPlatform>::wait_block_size),
            acquisitions: ROUNDS.saturating_mul(THREADS as u64),
            heap_allocations,
        }
    }
}

/// Half the threads write, half read; each holds the lock for a moment, so they queue.
fn contend<L: TestLock>(lock: &L, write: bool, rounds: u64) {
    let hold = || {
        for _ in 0..512 {
            std::hint::spin_loop();
        }
    };
    for _ in 0..rounds {
        if write {
            lock.exclusive(hold);
        } else {
            lock.shared(hold);
        }
    }
}
