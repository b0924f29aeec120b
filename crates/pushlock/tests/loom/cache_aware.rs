//! loom models of the cache-aware push lock (two slots, so two model "processors"): a reader
//! on its slot against a writer sweeping both, a reader that moves to the other processor
//! between its acquire and its release, and two writers with a reader.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use pushlock::{CacheAwarePushLock, LoomPlatform};

use super::{EXHAUSTIVE, check};

/// A cache-aware lock with a slot per model processor, and the data it protects.
struct Shared {
    lock: CacheAwarePushLock<LoomPlatform>,
    data: UnsafeCell<u32>,
}

// SAFETY: `data` is only touched under `lock`, which is what the models check.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

impl Shared {
    fn new() -> Arc<Self> {
        let lock = CacheAwarePushLock::new().expect("the model's allocator has memory");
        assert_eq!(lock.slot_count(), 2, "a slot per model processor");
        Arc::new(Self {
            lock,
            data: UnsafeCell::new(0),
        })
    }

    fn write(&self) {
        self.lock.lock_exclusive();
        // SAFETY: held exclusively: every slot.
        self.data.with_mut(|data| unsafe { *data += 1 });
        // SAFETY: held exclusively by this thread.
        unsafe { self.lock.unlock_exclusive() };
    }

    /// A read on `processor`, which the reader leaves for `then` before it releases.
    fn read(&self, processor: u32, then: u32) -> u32 {
        LoomPlatform::run_on(processor);
        let token = self.lock.lock_shared();
        assert_eq!(
            token.index(),
            processor,
            "the slot of the processor it runs on"
        );
        LoomPlatform::run_on(then);
        // SAFETY: a share of one slot is held: no writer holds every slot.
        let value = self.data.with(|data| unsafe { *data });
        // SAFETY: the share `token` names is held by this thread.
        unsafe { self.lock.unlock_shared(token) };
        value
    }

    fn finish(&self, writes: u32) {
        assert!(!self.lock.is_locked(), "a slot still held: {:?}", self.lock);
        // SAFETY: all threads joined.
        assert_eq!(self.data.with(|data| unsafe { *data }), writes);
    }
}

#[test]
fn reader_on_one_slot_against_a_writer_sweeping_all() {
    check(
        "reader_on_one_slot_against_a_writer_sweeping_all",
        Some(8),
        100_000,
        || {
            let shared = Shared::new();
            let other = shared.clone();
            let reader = thread::spawn(move || {
                let mut last = 0;
                for _ in 0..3 {
                    let seen = other.read(1, 1);
                    assert!(last <= seen && seen <= 3);
                    last = seen;
                }
            });
            for _ in 0..3 {
                shared.write();
            }
            reader.join().unwrap();
            shared.finish(3);
        },
    );
}

#[test]
fn reader_moving_between_acquire_and_release() {
    check(
        "reader_moving_between_acquire_and_release",
        EXHAUSTIVE,
        4_000,
        || {
            let shared = Shared::new();
            let other = shared.clone();
            let reader = thread::spawn(move || {
                let first = other.read(0, 1);
                let second = other.read(1, 0);
                assert!(first <= second && second <= 2);
            });
            shared.write();
            shared.write();
            reader.join().unwrap();
            shared.finish(2);
        },
    );
}

#[test]
fn two_writers_and_a_reader() {
    check("two_writers_and_a_reader", Some(3), 100_000, || {
        let shared = Shared::new();
        let writer = {
            let other = shared.clone();
            thread::spawn(move || other.write())
        };
        let reader = {
            let other = shared.clone();
            thread::spawn(move || {
                let first = other.read(1, 0);
                let second = other.read(0, 1);
                assert!(first <= second && second <= 2);
            })
        };
        shared.write();
        writer.join().unwrap();
        reader.join().unwrap();
        shared.finish(2);
    });
}
