//! Contract 6, measured: a contended acquisition allocates nothing. A counting global allocator
//! sees every heap allocation in the process while four threads fight over one lock (half of
//! them writing, each holding it for a moment), and every acquisition that found the lock taken
//! is counted, so the test also proves that the slow path actually ran.
#![cfg(not(loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use pushlock::{RawPushLock, StdPlatform};

struct Counting;

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

#[global_allocator]
static COUNTING: Counting = Counting;

const THREADS: usize = 4;
const ROUNDS: u64 = if cfg!(miri) { 50 } else { 20_000 };

/// One acquisition that tries first, so that it knows whether it had to wait; returns that.
fn acquire_and_release(lock: &RawPushLock<StdPlatform>, write: bool) -> bool {
    let contended = if write {
        let contended = !lock.try_lock_exclusive();
        if contended {
            lock.lock_exclusive();
        }
        contended
    } else {
        let contended = !lock.try_lock_shared();
        if contended {
            lock.lock_shared();
        }
        contended
    };
    for _ in 0..512 {
        std::hint::spin_loop(); // hold it for a moment
    }
    if write {
        // SAFETY: acquired exclusively above.
        unsafe { lock.unlock_exclusive() };
    } else {
        // SAFETY: acquired shared above.
        unsafe { lock.unlock_shared() };
    }
    contended
}

#[test]
fn contended_acquisitions_allocate_nothing() {
    let lock = RawPushLock::<StdPlatform>::new();
    let (start, warmed_up, done) = (
        Barrier::new(THREADS + 1),
        Barrier::new(THREADS + 1),
        Barrier::new(THREADS + 1),
    );
    let contended = AtomicU64::new(0);
    let allocations = std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (lock, contended) = (&lock, &contended);
            let (start, warmed_up, done) = (&start, &warmed_up, &done);
            scope.spawn(move || {
                let write = thread % 2 == 0;
                start.wait();
                // Warm-up: first-use allocations of the thread runtime (its handle, TLS) happen
                // here, outside the count.
                for _ in 0..ROUNDS / 10 {
                    acquire_and_release(lock, write);
                }
                warmed_up.wait();
                let mut mine = 0;
                for _ in 0..ROUNDS {
                    mine += u64::from(acquire_and_release(lock, write));
                }
                contended.fetch_add(mine, SeqCst);
                done.wait();
            });
        }
        start.wait();
        warmed_up.wait();
        let before = ALLOCATIONS.load(SeqCst);
        done.wait();
        ALLOCATIONS.load(SeqCst) - before
    });
    let contended = contended.load(SeqCst);
    println!(
        "{contended} contended acquisitions of {}, {allocations} heap allocations; wait block: {} bytes on the stack",
        ROUNDS * THREADS as u64,
        RawPushLock::<StdPlatform>::wait_block_size()
    );
    assert!(contended > 0, "the run never contended: it proves nothing");
    assert_eq!(allocations, 0, "the lock allocated on a contended path");
    assert_eq!(size_of::<RawPushLock<StdPlatform>>(), size_of::<usize>());
}
