//! The counted lock's C API (`Pl*CountedPushLock*`, `PlQueryPushLockStatistics`) and the
//! cache-aware lock's (`Pl*CacheAwarePushLock*`), called as a C driver calls them: through the
//! exported functions, from several threads, on the user-mode kernel. The counts must be exact
//! and the data the lock protects intact.

use std::cell::UnsafeCell;
use std::sync::Barrier;
use std::thread;

use pushlock::{CountedPushLock, KernelPlatform, LockStatistics, Platform};
use pushlock_filter::exports::{
    PlAcquireCountedPushLockExclusive, PlAcquireCountedPushLockShared, PlInitializeCountedPushLock,
    PlQueryPushLockStatistics, PlReleaseCountedPushLockExclusive, PlReleaseCountedPushLockShared,
    PlTryAcquireCountedPushLockExclusive, PlTryAcquireCountedPushLockShared,
};
use pushlock_kernel::Session;

type Counted = CountedPushLock<KernelPlatform>;

/// Two words a writer keeps equal, behind whichever lock the test calls through the exports.
struct Pair(UnsafeCell<[u64; 2]>);

// SAFETY: the words are only touched under the test's lock (the callers of `update` and `torn`).
unsafe impl Sync for Pair {}

impl Pair {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; 2]))
    }

    /// One writer's update, with a pause between the two halves.
    ///
    /// # Safety
    /// The caller holds the pair's lock exclusively.
    unsafe fn update(&self) {
        // SAFETY: no reader and no other writer (caller).
        let words = unsafe { &mut *self.0.get() };
        words[0] += 1;
        std::hint::spin_loop();
        words[1] += 1;
    }

    /// Whether a reader sees a writer's half-done update.
    ///
    /// # Safety
    /// The caller holds a share of the pair's lock.
    unsafe fn torn(&self) -> bool {
        // SAFETY: no writer inside (caller).
        let [a, b] = unsafe { *self.0.get() };
        a != b
    }

    /// The words once every thread has ended.
    const fn settled(&mut self) -> [u64; 2] {
        *self.0.get_mut()
    }
}

const WRITERS: u64 = 2;
const READERS: u64 = 2;
/// Per thread; few under Miri, which runs this file with the rest of the host lane.
const ROUNDS: u64 = if cfg!(miri) { 40 } else { 5_000 };

/// `WRITERS` threads each call `write` and `READERS` threads each call `read`, `ROUNDS` times,
/// all started together; the number of reads that saw a torn pair.
fn writers_against_readers(write: impl Fn() + Sync, read: impl Fn() -> bool + Sync) -> u64 {
    let start = Barrier::new(usize::try_from(WRITERS + READERS).unwrap());
    thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| {
                start.wait();
                (0..ROUNDS).for_each(|_| write());
            });
        }
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    (0..ROUNDS).map(|_| u64::from(read())).sum::<u64>()
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| reader.join().unwrap())
            .sum()
    })
}

/// What a C driver would keep in its device extension: the lock and what it protects.
struct Shared {
    lock: UnsafeCell<Counted>,
    pair: Pair,
}

// SAFETY: the lock is built for sharing; `pair` is `Sync`.
unsafe impl Sync for Shared {}

impl Shared {
    /// The lock as C sees it (a method, so that closures capture the whole `Shared`).
    const fn lock(&self) -> *mut Counted {
        self.lock.get()
    }
}

fn statistics(shared: &Shared) -> LockStatistics {
    let mut read = LockStatistics::default();
    // SAFETY: an initialised lock and a writable record.
    unsafe { PlQueryPushLockStatistics(shared.lock(), &raw mut read) };
    read
}

#[test]
fn counted_exports_count_exactly_and_exclude_under_threads() {
    let _session = Session::new();
    // The C driver's storage, before initialisation: garbage, not a lock.
    let mut shared = Shared {
        lock: UnsafeCell::new(Counted::new()),
        pair: Pair::new(),
    };
    // SAFETY: storage of the right size and alignment, not in use.
    unsafe { PlInitializeCountedPushLock(shared.lock()) };
    assert_eq!(statistics(&shared), LockStatistics::default());

    let torn = writers_against_readers(
        || {
            KernelPlatform::enter_critical_region();
            // SAFETY: an initialised lock; this thread does not hold it.
            unsafe { PlAcquireCountedPushLockExclusive(shared.lock()) };
            // SAFETY: held exclusively.
            unsafe { shared.pair.update() };
            // SAFETY: held exclusively by this thread.
            unsafe { PlReleaseCountedPushLockExclusive(shared.lock()) };
            KernelPlatform::leave_critical_region();
        },
        || {
            KernelPlatform::enter_critical_region();
            // SAFETY: an initialised lock; this thread holds no share.
            unsafe { PlAcquireCountedPushLockShared(shared.lock()) };
            // SAFETY: held shared.
            let torn = unsafe { shared.pair.torn() };
            // SAFETY: this thread holds a share.
            unsafe { PlReleaseCountedPushLockShared(shared.lock()) };
            KernelPlatform::leave_critical_region();
            torn
        },
    );
    assert_eq!(torn, 0, "a reader saw a writer's half-done update");
    assert_eq!(shared.pair.settled(), [WRITERS * ROUNDS; 2]);

    let counted = statistics(&shared);
    assert_eq!(counted.exclusive_acquisitions, WRITERS * ROUNDS);
    assert_eq!(counted.shared_acquisitions, READERS * ROUNDS);
    assert!(counted.spun <= counted.contended, "{counted:?}");
    assert!(
        counted.contended <= (WRITERS + READERS) * ROUNDS,
        "{counted:?}"
    );

    // The try functions: a hit counts, a miss does not.
    // SAFETY: initialised and free.
    let hit = unsafe { PlTryAcquireCountedPushLockExclusive(shared.lock()) };
    assert_eq!(hit, 1);
    // SAFETY: held exclusively by this thread: the try must miss.
    let miss = unsafe { PlTryAcquireCountedPushLockShared(shared.lock()) };
    assert_eq!(miss, 0);
    // SAFETY: held exclusively by this thread.
    unsafe { PlReleaseCountedPushLockExclusive(shared.lock()) };
    // SAFETY: initialised and free.
    let hit = unsafe { PlTryAcquireCountedPushLockShared(shared.lock()) };
    assert_eq!(hit, 1);
    // SAFETY: this thread holds a share.
    unsafe { PlReleaseCountedPushLockShared(shared.lock()) };
    let after = statistics(&shared);
    assert_eq!(
        (after.exclusive_acquisitions, after.shared_acquisitions),
        (WRITERS * ROUNDS + 1, READERS * ROUNDS + 1)
    );
    // SAFETY: the lock is free.
    assert_eq!(unsafe { &*shared.lock() }.word().0, 0, "free at the end");
}

mod cache_aware {
    use pushlock::nt::cache_aware::EX_PUSH_LOCK_CACHE_AWARE;
    use pushlock::{KernelPlatform, Platform};
    use pushlock_filter::exports::{
        PlExAcquireCacheAwarePushLockExclusive, PlExAcquireCacheAwarePushLockSharedEx,
        PlExAllocateCacheAwarePushLock, PlExFreeCacheAwarePushLock,
        PlExReleaseCacheAwarePushLockExclusive, PlExReleaseCacheAwarePushLockSharedEx,
        PlFltAcquireCacheAwarePushLockShared, PlFltReleaseCacheAwarePushLockShared,
    };
    use pushlock_kernel::{Fault, Session, as_driver};

    use super::{Pair, ROUNDS, WRITERS, writers_against_readers};

    /// The lock's handle, shareable between the test's threads.
    #[derive(Clone, Copy)]
    struct Handle(*mut EX_PUSH_LOCK_CACHE_AWARE<KernelPlatform>);

    // SAFETY: the lock is made to be shared; the handle is only a pointer to it.
    unsafe impl Send for Handle {}
    // SAFETY: as above.
    unsafe impl Sync for Handle {}

    impl Handle {
        /// The lock (a method, so that closures capture the whole `Handle`).
        const fn get(self) -> *mut EX_PUSH_LOCK_CACHE_AWARE<KernelPlatform> {
            self.0
        }
    }

    #[test]
    #[allow(
        clippy::significant_drop_tightening,
        reason = "a session holds the kernel for the whole test"
    )]
    fn no_memory_for_the_slots_or_the_record_is_null_and_leaks_nothing() {
        let session = Session::new();
        for nth in [1, 2] {
            session.inject(Fault::Allocation(nth));
            // Called as another driver calls it: its allocations are driver code's.
            let lock = as_driver(|| PlExAllocateCacheAwarePushLock());
            session.clear_faults();
            assert!(lock.is_null(), "allocation {nth} failing");
            assert_eq!(
                session.leaks(),
                Vec::<String>::new(),
                "allocation {nth} failing"
            );
        }
    }

    #[test]
    #[allow(
        clippy::significant_drop_tightening,
        reason = "a session holds the kernel for the whole test"
    )]
    fn readers_and_writers_through_the_exports_exclude_each_other() {
        let session = Session::new();
        let lock = Handle(as_driver(|| PlExAllocateCacheAwarePushLock()));
        assert!(!lock.get().is_null());
        let mut pair = Pair::new();
        let torn = writers_against_readers(
            || {
                KernelPlatform::enter_critical_region();
                // SAFETY: a live lock; this thread holds no slot of it.
                unsafe { PlExAcquireCacheAwarePushLockExclusive(lock.get()) };
                // SAFETY: every slot held: no reader, no other writer.
                unsafe { pair.update() };
                // SAFETY: held exclusively by this thread.
                unsafe { PlExReleaseCacheAwarePushLockExclusive(lock.get()) };
                KernelPlatform::leave_critical_region();
            },
            || {
                // SAFETY: a live lock; this thread holds no slot of it.
                let slot = unsafe { PlFltAcquireCacheAwarePushLockShared(lock.get()) };
                // SAFETY: a slot is held: no writer holds every slot.
                let torn = unsafe { pair.torn() };
                // SAFETY: the slot taken above, released once.
                unsafe { PlFltReleaseCacheAwarePushLockShared(slot) };
                torn
            },
        );
        assert_eq!(torn, 0, "a reader saw a writer's half-done update");
        assert_eq!(pair.settled(), [WRITERS * ROUNDS; 2]);
        // SAFETY: free now; the Ex form with its flags.
        let slot = unsafe { PlExAcquireCacheAwarePushLockSharedEx(lock.0, 0) };
        assert!(!slot.is_null());
        // SAFETY: the share taken above.
        unsafe { PlExReleaseCacheAwarePushLockSharedEx(slot, 0) };
        assert_eq!(
            session.leaks().len(),
            2,
            "the record and the slots, tracked"
        );
        // SAFETY: free and not used again.
        as_driver(|| unsafe { PlExFreeCacheAwarePushLock(lock.get()) });
        assert_eq!(session.leaks(), Vec::<String>::new());
    }
}
