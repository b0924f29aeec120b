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
