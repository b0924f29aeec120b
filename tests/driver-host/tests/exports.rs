//! The counted lock's C API (`Pl*CountedPushLock*`, `PlQueryPushLockStatistics`), called as a C
//! driver calls it: through the exported functions, from several threads, on the user-mode
//! kernel. The counts must be exact and the data the lock protects intact.

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

/// What a C driver would keep in its device extension: the lock and what it protects.
struct Shared {
    lock: UnsafeCell<Counted>,
    /// Two words a writer keeps equal; a reader that sees them differ saw a torn update.
    pair: UnsafeCell<[u64; 2]>,
}

// SAFETY: `pair` is only touched under `lock`, which is built for sharing.
unsafe impl Sync for Shared {}

impl Shared {
    /// The lock as C sees it (a method, so that closures capture the whole `Shared`).
    const fn lock(&self) -> *mut Counted {
        self.lock.get()
    }

    const fn pair(&self) -> *mut [u64; 2] {
        self.pair.get()
    }
}

fn statistics(shared: &Shared) -> LockStatistics {
    let mut read = LockStatistics::default();
    // SAFETY: an initialised lock and a writable record.
    unsafe { PlQueryPushLockStatistics(shared.lock(), &raw mut read) };
    read
}

const WRITERS: u64 = 2;
const READERS: u64 = 2;
/// Per thread; few under Miri, which runs this file with the rest of the host lane.
const ROUNDS: u64 = if cfg!(miri) { 40 } else { 5_000 };

#[test]
fn counted_exports_count_exactly_and_exclude_under_threads() {
    let _session = Session::new();
    // The C driver's storage, before initialisation: garbage, not a lock.
    let shared = Shared {
        lock: UnsafeCell::new(Counted::new()),
        pair: UnsafeCell::new([0; 2]),
    };
    // SAFETY: storage of the right size and alignment, not in use.
    unsafe { PlInitializeCountedPushLock(shared.lock()) };
    assert_eq!(statistics(&shared), LockStatistics::default());

    let start = Barrier::new(usize::try_from(WRITERS + READERS).unwrap());
    let torn = thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| {
                start.wait();
                for _ in 0..ROUNDS {
                    KernelPlatform::enter_critical_region();
                    // SAFETY: an initialised lock; this thread does not hold it.
                    unsafe { PlAcquireCountedPushLockExclusive(shared.lock()) };
                    // SAFETY: held exclusively.
                    let pair = unsafe { &mut *shared.pair() };
                    pair[0] += 1;
                    std::hint::spin_loop();
                    pair[1] += 1;
                    // SAFETY: held exclusively by this thread.
                    unsafe { PlReleaseCountedPushLockExclusive(shared.lock()) };
                    KernelPlatform::leave_critical_region();
                }
            });
        }
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let mut torn = 0_u64;
                    for _ in 0..ROUNDS {
                        KernelPlatform::enter_critical_region();
                        // SAFETY: an initialised lock; this thread holds no share.
                        unsafe { PlAcquireCountedPushLockShared(shared.lock()) };
                        // SAFETY: held shared: no writer inside.
                        let [a, b] = unsafe { *shared.pair() };
                        torn += u64::from(a != b);
                        // SAFETY: this thread holds a share.
                        unsafe { PlReleaseCountedPushLockShared(shared.lock()) };
                        KernelPlatform::leave_critical_region();
                    }
                    torn
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| reader.join().unwrap())
            .sum::<u64>()
    });
    assert_eq!(torn, 0, "a reader saw a writer's half-done update");
    // SAFETY: every thread has ended.
    assert_eq!(unsafe { *shared.pair() }, [WRITERS * ROUNDS; 2]);

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
    use std::cell::UnsafeCell;
    use std::sync::Barrier;
    use std::thread;

    use pushlock::nt::cache_aware::EX_PUSH_LOCK_CACHE_AWARE;
    use pushlock::{KernelPlatform, Platform};
    use pushlock_filter::exports::{
        PlExAcquireCacheAwarePushLockExclusive, PlExAcquireCacheAwarePushLockSharedEx,
        PlExAllocateCacheAwarePushLock, PlExFreeCacheAwarePushLock,
        PlExReleaseCacheAwarePushLockExclusive, PlExReleaseCacheAwarePushLockSharedEx,
        PlFltAcquireCacheAwarePushLockShared, PlFltReleaseCacheAwarePushLockShared,
    };
    use pushlock_kernel::{Fault, Session, as_driver};

    use super::{READERS, ROUNDS, WRITERS};

    /// Two words a writer keeps equal, behind the C driver's cache-aware lock.
    struct Pair(UnsafeCell<[u64; 2]>);

    // SAFETY: only touched under the cache-aware lock.
    unsafe impl Sync for Pair {}

    impl Pair {
        /// The words (a method, so that closures capture the whole `Pair`).
        const fn get(&self) -> *mut [u64; 2] {
            self.0.get()
        }
    }

    impl Handle {
        /// The lock (a method, so that closures capture the whole `Handle`).
        const fn get(self) -> *mut EX_PUSH_LOCK_CACHE_AWARE<KernelPlatform> {
            self.0
        }
    }

    /// The lock's handle, shareable between the test's threads.
    #[derive(Clone, Copy)]
    struct Handle(
        *mut pushlock::nt::cache_aware::EX_PUSH_LOCK_CACHE_AWARE<pushlock::KernelPlatform>,
    );

    // SAFETY: the lock is made to be shared; the handle is only a pointer to it.
    unsafe impl Send for Handle {}
    // SAFETY: as above.
    unsafe impl Sync for Handle {}

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
        let pair = Pair(UnsafeCell::new([0; 2]));
        let start = Barrier::new(usize::try_from(WRITERS + READERS).unwrap());
        thread::scope(|scope| {
            for _ in 0..WRITERS {
                scope.spawn(|| {
                    start.wait();
                    for _ in 0..ROUNDS {
                        KernelPlatform::enter_critical_region();
                        // SAFETY: a live lock; this thread holds no slot of it.
                        unsafe { PlExAcquireCacheAwarePushLockExclusive(lock.get()) };
                        // SAFETY: every slot held: no reader, no other writer.
                        let words = unsafe { &mut *pair.get() };
                        words[0] += 1;
                        std::hint::spin_loop();
                        words[1] += 1;
                        // SAFETY: held exclusively by this thread.
                        unsafe { PlExReleaseCacheAwarePushLockExclusive(lock.get()) };
                        KernelPlatform::leave_critical_region();
                    }
                });
            }
            for _ in 0..READERS {
                scope.spawn(|| {
                    start.wait();
                    for _ in 0..ROUNDS {
                        // SAFETY: a live lock; this thread holds no slot of it.
                        let slot = unsafe { PlFltAcquireCacheAwarePushLockShared(lock.get()) };
                        // SAFETY: a slot is held: no writer holds every slot.
                        let [a, b] = unsafe { *pair.get() };
                        assert_eq!(a, b, "a writer's half-done update");
                        // SAFETY: the slot taken above, released once.
                        unsafe { PlFltReleaseCacheAwarePushLockShared(slot) };
                    }
                });
            }
        });
        // SAFETY: every thread has ended.
        assert_eq!(unsafe { *pair.get() }, [WRITERS * ROUNDS; 2]);
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
