//! The cache-aware push lock on std threads: its slots (count, alignment, bounds), what each
//! mode takes, a token's slot released wherever the reader runs by then, all-or-nothing tries,
//! and the guard form under threads.
#![cfg(not(loom))]

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread;

use pushlock::{
    CacheAwarePushLock, CacheAwareRwLock, MAX_SLOTS, Platform, SLOT_BYTES, StdPlatform,
};

type Lock = CacheAwarePushLock<StdPlatform>;

fn slots_free(lock: &Lock) -> Vec<bool> {
    (0..lock.slot_count())
        .map(|index| !lock.slot(index).unwrap().is_locked())
        .collect()
}

#[test]
fn a_slot_per_processor_each_on_its_own_128_bytes() {
    let lock = Lock::new().unwrap();
    assert_eq!(lock.slot_count(), StdPlatform::processor_count());
    let addresses: Vec<usize> = (0..lock.slot_count())
        .map(|index| lock.slot(index).unwrap().as_ex_push_lock().addr())
        .collect();
    for pair in addresses.windows(2) {
        assert_eq!(pair[1] - pair[0], SLOT_BYTES);
    }
    assert!(addresses.iter().all(|address| address % SLOT_BYTES == 0));
    assert!(lock.slot(lock.slot_count()).is_none());
    assert_eq!(Lock::with_slots(0).unwrap().slot_count(), 1);
    assert_eq!(Lock::with_slots(u32::MAX).unwrap().slot_count(), MAX_SLOTS);
}

#[test]
fn a_writer_holds_every_slot_and_a_reader_one() {
    let lock = Lock::with_slots(4).unwrap();
    lock.lock_exclusive();
    assert_eq!(slots_free(&lock), [false; 4]);
    for index in 0..4 {
        assert!(!lock.slot(index).unwrap().try_lock_shared(), "slot {index}");
    }
    // SAFETY: held exclusively above.
    unsafe { lock.unlock_exclusive() };
    assert_eq!(slots_free(&lock), [true; 4]);

    let token = lock.lock_shared();
    let expected = StdPlatform::current_processor() % 4;
    let free: Vec<bool> = (0..4).map(|index| index != token.index()).collect();
    assert_eq!(slots_free(&lock), free, "only the token's slot");
    assert!(token.index() < 4 && (token.index() == expected || cfg!(miri)));
    assert!(!lock.try_lock_exclusive(), "a reader blocks writers");
    assert_eq!(
        slots_free(&lock),
        free,
        "a failed try gives back what it took"
    );
    // SAFETY: the share the token names.
    unsafe { lock.unlock_shared(token) };
    assert!(!lock.is_locked());
}

#[test]
fn a_share_is_released_on_its_token_s_slot_wherever_the_reader_runs() {
    let lock = Lock::with_slots(2).unwrap();
    let token = lock.lock_shared();
    // The reader moves (here: its release runs on another thread, on whatever processor). With
    // the verifier a share belongs to its thread, so it is handed over as such.
    #[cfg(feature = "verify")]
    pushlock::verify::disown(lock.slot(token.index()).unwrap());
    thread::scope(|scope| {
        scope.spawn(|| {
            #[cfg(feature = "verify")]
            pushlock::verify::adopt(lock.slot(token.index()).unwrap(), false);
            // SAFETY: the share `token` names is held, and handed to this thread.
            unsafe { lock.unlock_shared(token) };
        });
    });
    assert!(!lock.is_locked());
    assert!(lock.try_lock_exclusive());
    // SAFETY: taken just above.
    unsafe { lock.unlock_exclusive() };
}

#[test]
fn readers_and_writers_on_the_guard_form_keep_the_data_whole() {
    const WRITERS: usize = 2;
    const READERS: usize = 4;
    let rounds = if cfg!(miri) { 20 } else { 20_000 };
    let lock = CacheAwareRwLock::new([0_u64; 4]).unwrap();
    let start = Barrier::new(WRITERS + READERS);
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| {
                start.wait();
                for _ in 0..rounds {
                    let mut data = lock.write();
                    for word in data.iter_mut() {
                        *word += 1;
                    }
                }
            });
        }
        for _ in 0..READERS {
            scope.spawn(|| {
                start.wait();
                while !stop.load(Relaxed) {
                    let data = lock.read();
                    assert!(data.iter().all(|word| *word == data[0]), "torn: {data:?}");
                    assert!(data.slot() < lock.raw().slot_count());
                }
            });
        }
        // The readers stop once the writers are done.
        scope.spawn(|| {
            while lock.read()[0] < (WRITERS * rounds) as u64 {
                thread::yield_now();
            }
            stop.store(true, Relaxed);
        });
    });
    assert_eq!(lock.into_inner(), [(WRITERS * rounds) as u64; 4]);
}

#[test]
fn try_forms_of_the_guards() {
    let lock = CacheAwareRwLock::new(5).unwrap();
    let read = lock.try_read().unwrap();
    assert!(lock.try_write().is_none(), "a reader blocks writers");
    drop(read);
    let mut write = lock.try_write().unwrap();
    *write += 1;
    assert!(lock.try_read().is_none(), "a writer blocks readers");
    drop(write);
    assert_eq!(*lock.read(), 6);
    assert_eq!(
        format!("{lock:?}").split(',').next(),
        Some("CacheAwareRwLock { data: 6")
    );
}

mod nt_functions {
    use pushlock::nt::cache_aware::{
        ExAcquireCacheAwarePushLockExclusive, ExAcquireCacheAwarePushLockSharedEx,
        ExAllocateCacheAwarePushLock, ExFreeCacheAwarePushLock,
        ExReleaseCacheAwarePushLockExclusive, ExReleaseCacheAwarePushLockSharedEx,
        FltAcquireCacheAwarePushLockExclusive, FltAcquireCacheAwarePushLockShared,
        FltReleaseCacheAwarePushLockExclusive, FltReleaseCacheAwarePushLockShared,
    };
    use pushlock::{RawPushLock, StdPlatform};

    type P = StdPlatform;

    #[test]
    fn the_kernel_s_shapes_shared_release_by_the_slot_pointer() {
        let lock = ExAllocateCacheAwarePushLock::<P>();
        assert!(!lock.is_null());
        // SAFETY: a live lock from `ExAllocateCacheAwarePushLock`, used by this thread only.
        let slot = unsafe { ExAcquireCacheAwarePushLockSharedEx::<P>(lock, 0) };
        // SAFETY: as above.
        let slots = unsafe { &*lock };
        let index = (0..slots.slot_count())
            .find(|&index| slots.slot(index).unwrap().as_ex_push_lock() == slot)
            .expect("the pointer of one of its slots");
        // SAFETY: a slot pointer of a live lock.
        assert_eq!(unsafe { RawPushLock::<P>::from_ptr(slot) }.word().0, 0x11);
        assert!(!slots.try_lock_exclusive(), "slot {index} is held");
        // SAFETY: the share taken above.
        unsafe { ExReleaseCacheAwarePushLockSharedEx::<P>(slot, 0) };
        // SAFETY: free now, and still this thread's.
        unsafe { ExAcquireCacheAwarePushLockExclusive::<P>(lock) };
        assert!((0..slots.slot_count()).all(|i| slots.slot(i).unwrap().is_locked()));
        // SAFETY: held exclusively above.
        unsafe { ExReleaseCacheAwarePushLockExclusive::<P>(lock) };
        assert!(!slots.is_locked());
        // SAFETY: free, and not used again.
        unsafe { ExFreeCacheAwarePushLock::<P>(lock) };
    }

    #[test]
    fn the_flt_forms_enter_and_leave_a_critical_region() {
        let lock = ExAllocateCacheAwarePushLock::<P>();
        // SAFETY: a live lock, this thread's.
        let slot = unsafe { FltAcquireCacheAwarePushLockShared::<P>(lock) };
        assert_eq!(StdPlatform::critical_region_depth(), 1);
        // SAFETY: the share taken above.
        unsafe { FltReleaseCacheAwarePushLockShared::<P>(slot) };
        assert_eq!(StdPlatform::critical_region_depth(), 0);
        // SAFETY: free, this thread's.
        unsafe { FltAcquireCacheAwarePushLockExclusive::<P>(lock) };
        assert_eq!(StdPlatform::critical_region_depth(), 1);
        // SAFETY: held exclusively above.
        unsafe { FltReleaseCacheAwarePushLockExclusive::<P>(lock) };
        assert_eq!(StdPlatform::critical_region_depth(), 0);
        // SAFETY: free, not used again.
        unsafe { ExFreeCacheAwarePushLock::<P>(lock) };
    }

    #[test]
    fn bad_flags_are_reported_before_anything_changes() {
        let lock = ExAllocateCacheAwarePushLock::<P>();
        let report = std::panic::catch_unwind(|| {
            // SAFETY: a live lock; the flags are deliberately wrong.
            unsafe { ExAcquireCacheAwarePushLockSharedEx::<P>(lock, 0x8) }
        })
        .expect_err("flags 0x8 must be reported");
        let message = report.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("0x8"), "{message}");
        // SAFETY: as above.
        let whole = unsafe { &*lock };
        let first = whole.slot(0).map(std::ptr::from_ref);
        assert!(
            first.is_some_and(|slot| message.contains(&format!("{slot:p}"))),
            "the report names the lock by its first slot: {message}"
        );
        assert!(!whole.is_locked(), "nothing taken");
        // SAFETY: free, not used again.
        unsafe { ExFreeCacheAwarePushLock::<P>(lock) };
    }
}
