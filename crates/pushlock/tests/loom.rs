//! loom models of the push lock: every interleaving (up to the preemption bound) of small
//! programs, with loom's checks for data races on the protected cell, lost wake-ups (a deadlock:
//! every thread parked) and leaks.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p pushlock --release --test loom`.
//! Small two-thread models are exhaustive; the others use the preemption bound given beside them
//! (`LOOM_MAX_PREEMPTIONS` overrides it). Each model prints how many interleavings it explored and
//! fails if that is implausibly few: a model that collapses to a handful proves nothing.
//!
//! | model | what it covers |
//! |---|---|
//! | `exclusive_vs_exclusive` | two writers: mutual exclusion, queueing; the queued writer claims the lock, or sleeps and is handed it |
//! | `exclusive_vs_shared` | a writer and a reader: exclusion both ways, reader queued behind a writer |
//! | `two_shared_one_exclusive` | readers share while the writer waits; the writer waits out both, then claims the lock |
//! | `release_races_enqueue` | the owner releases while a writer pushes its wait block, then barges back in against it |
//! | `shared_drain_with_waiter` | `MULTIPLE_SHARED`: two readers' count moves to the oldest block; the last reader's release lets the writer claim the lock, or wakes it |
//! | `wake_all_vs_barging_writer` | a release wakes queued readers while a third thread barges in exclusively |
//! | `mode_agnostic_release_with_waiter` | `unlock()` of a shared and of an exclusive owner with a writer queued |
//! | `oldest_writer_woken_alone` | a writer queued at the front with a reader behind it: the writer claims the lock and leaves the queue, or is detached and woken alone; then the reader |
//! | `late_reader_behind_woken_writer` | a reader arrives while a writer woken alone has not run yet (lock free, waiters queued, no waker): it queues and relies on that writer |
//! | `try_lock_shared_fails_behind_writer` | writer preference: no reader joins while a writer waits |
//! | `woken_readers_get_in_together` | two queued readers that wait for each other inside, released together while a writer arrives: neither is split from the other behind the writer |
//!
//! Every model ends by checking that the word is back to 0.
//!
//! The cache-aware lock's models are in `loom/cache_aware.rs`.
#![cfg(loom)]

#[path = "loom/cache_aware.rs"]
mod cache_aware;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use pushlock::{LoomPlatform, Misuse, Platform, RawPushLock};

/// A lock and the data it protects; loom reports any unsynchronised access to `data`.
struct Shared<P: Platform = LoomPlatform> {
    lock: RawPushLock<P>,
    data: UnsafeCell<u32>,
}

// SAFETY: `data` is only touched under `lock`, which is what the models check.
unsafe impl<P: Platform> Sync for Shared<P> {}

impl Shared {
    fn new() -> Arc<Self> {
        Self::on_platform()
    }
}

impl<P: Platform> Shared<P> {
    fn on_platform() -> Arc<Self> {
        Arc::new(Self {
            lock: RawPushLock::new(),
            data: UnsafeCell::new(0),
        })
    }

    fn write(&self) {
        self.lock.lock_exclusive();
        self.write_held();
        // SAFETY: held exclusively by this thread.
        unsafe { self.lock.unlock_exclusive() };
    }

    fn read(&self) -> u32 {
        self.lock.lock_shared();
        let value = self.read_held();
        // SAFETY: held shared by this thread.
        unsafe { self.lock.unlock_shared() };
        value
    }

    /// The critical section of a writer: the lock is held exclusively. Every model gives its
    /// first owner one too, so that what it wrote must reach whoever it wakes or hands over to.
    fn write_held(&self) {
        // SAFETY: held exclusively (caller).
        self.data.with_mut(|data| unsafe { *data += 1 });
    }

    /// Gives back one share, by `unlock_shared` or by the mode-agnostic `unlock`.
    ///
    /// # Safety
    /// The caller holds a share it has not given back.
    unsafe fn release_share(&self, mode_agnostic: bool) {
        if mode_agnostic {
            // SAFETY: a share is held (caller).
            unsafe { self.lock.unlock() };
        } else {
            // SAFETY: as above.
            unsafe { self.lock.unlock_shared() };
        }
    }

    /// The critical section of a reader: the lock is held, shared or exclusively.
    fn read_held(&self) -> u32 {
        // SAFETY: held (caller): no writer.
        self.data.with(|data| unsafe { *data })
    }

    fn finish(&self, writes: u32) {
        assert_eq!(
            self.lock.word().0,
            0,
            "lock word not back to 0: {}",
            self.lock.word()
        );
        // SAFETY: all threads joined.
        assert_eq!(self.data.with(|data| unsafe { *data }), writes);
    }
}

/// No preemption bound: every interleaving (feasible for the two-thread models).
const EXHAUSTIVE: Option<usize> = None;

/// Runs `model` under loom with preemption bound `bound` (unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise), prints the number of interleavings explored and checks it is at least `minimum`:
/// a model that collapses to a handful of executions proves nothing.
fn check(
    name: &str,
    bound: Option<usize>,
    minimum: usize,
    model: impl Fn() + Sync + Send + 'static,
) {
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = iterations.clone();
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = bound;
    }
    let bound = builder.preemption_bound;
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        model();
    });
    let iterations = iterations.load(Relaxed);
    println!(
        "loom model {name}: {iterations} interleavings, preemption bound {bound:?}, {:.1?}",
        start.elapsed()
    );
    assert!(
        iterations >= minimum,
        "{name} explored only {iterations} interleavings"
    );
}

#[test]
fn exclusive_vs_exclusive() {
    check("exclusive_vs_exclusive", Some(4), 10000, || {
        let shared = Shared::new();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let other = shared.clone();
                thread::spawn(move || other.write())
            })
            .collect();
        shared.write();
        for writer in writers {
            writer.join().unwrap();
        }
        shared.finish(3);
    });
}

#[test]
fn exclusive_vs_shared() {
    check("exclusive_vs_shared", Some(4), 3000, || {
        let shared = Shared::new();
        let other = shared.clone();
        let t = thread::spawn(move || {
            other.write();
            other.write();
        });
        let first = shared.read();
        let second = shared.read();
        assert!(first <= second && second <= 2);
        t.join().unwrap();
        shared.finish(2);
    });
}

#[test]
fn two_shared_one_exclusive() {
    check("two_shared_one_exclusive", Some(3), 20000, || {
        let shared = Shared::new();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let other = shared.clone();
                thread::spawn(move || assert!(other.read() <= 1))
            })
            .collect();
        shared.write();
        for reader in readers {
            reader.join().unwrap();
        }
        shared.finish(1);
    });
}

#[test]
fn release_races_enqueue() {
    // Exhaustive, and small: the queued writer mostly claims the lock with one CAS, where the
    // release used to take `WAKING` and hand the lock over (8265 schedules then, 387 now). The
    // hand-over path is still explored: breaking `hand_over` makes this model fail.
    check("release_races_enqueue", EXHAUSTIVE, 80, || {
        let shared = Shared::new();
        shared.lock.lock_exclusive();
        let other = shared.clone();
        let writer = thread::spawn(move || other.write());
        shared.write_held();
        // SAFETY: acquired above by this thread.
        unsafe { shared.lock.unlock_exclusive() };
        // Barge back in against the writer, which may be pushing, spinning, asleep or woken.
        shared.write();
        writer.join().unwrap();
        shared.finish(3);
    });
}

/// Two shares, one handed to a second thread, and a writer coming: `queued` runs before the
/// releases (it may wait for the writer to queue); each owner reads, then gives its share back
/// by `unlock_shared`, or by the mode-agnostic `unlock`.
fn drain_two_shares<P: Platform>(queued: impl FnOnce(&Shared<P>), mode_agnostic: bool) {
    let shared = Shared::<P>::on_platform();
    shared.lock.lock_shared();
    shared.lock.lock_shared();
    let other = shared.clone();
    let writer = thread::spawn(move || other.write());
    queued(&shared);
    #[cfg(feature = "verify")]
    pushlock::verify::disown(&shared.lock);
    let other = shared.clone();
    let co_owner = thread::spawn(move || {
        #[cfg(feature = "verify")]
        pushlock::verify::adopt(&other.lock, false);
        assert_eq!(other.read_held(), 0);
        // SAFETY: the main thread's second share, handed over: the lock has no affinity.
        unsafe { other.release_share(mode_agnostic) };
    });
    assert_eq!(shared.read_held(), 0);
    // SAFETY: one of the two shares taken above.
    unsafe { shared.release_share(mode_agnostic) };
    co_owner.join().unwrap();
    writer.join().unwrap();
    shared.finish(1);
}

#[test]
fn shared_drain_with_waiter() {
    // If the writer queues, its block takes the count 2 and sets MULTIPLE_SHARED; each release
    // then goes through the oldest block.
    check("shared_drain_with_waiter", Some(4), 5000, || {
        drain_two_shares::<LoomPlatform>(|_| {}, false);
    });
}

#[test]
fn wake_all_vs_barging_writer() {
    check("wake_all_vs_barging_writer", Some(1), 10000, || {
        let shared = Shared::new();
        shared.lock.lock_exclusive();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let other = shared.clone();
                thread::spawn(move || assert!((1..=2).contains(&other.read())))
            })
            .collect();
        let barger = shared.clone();
        let writer = thread::spawn(move || barger.write());
        shared.write_held();
        // SAFETY: acquired above by this thread.
        unsafe { shared.lock.unlock_exclusive() };
        for reader in readers {
            reader.join().unwrap();
        }
        writer.join().unwrap();
        shared.finish(2);
    });
}

#[test]
fn mode_agnostic_release_with_waiter() {
    check("mode_agnostic_release_with_waiter", Some(3), 20000, || {
        let shared = Shared::new();
        shared.lock.lock_shared();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let other = shared.clone();
                thread::spawn(move || {
                    other.lock.lock_exclusive();
                    other.write_held();
                    // SAFETY: held exclusively; `unlock` must work the mode out from the word.
                    unsafe { other.lock.unlock() };
                })
            })
            .collect();
        assert_eq!(shared.read_held(), 0);
        // SAFETY: one share held by this thread; the word may show waiters by now.
        unsafe { shared.lock.unlock() };
        for writer in writers {
            writer.join().unwrap();
        }
        shared.finish(2);
    });
}

/// An exclusive owner with a writer and a reader coming, in any order; the owner writes and
/// releases, then `then` runs on its thread, making `then_writes` writes.
fn writer_and_reader_behind_owner<P: Platform>(then_writes: u32, then: impl FnOnce(&Shared<P>)) {
    let shared = Shared::<P>::on_platform();
    shared.lock.lock_exclusive();
    let other = shared.clone();
    let writer = thread::spawn(move || other.write());
    let other = shared.clone();
    let reader = thread::spawn(move || {
        assert!((1..=2 + then_writes).contains(&other.read()));
    });
    shared.write_held();
    // SAFETY: acquired above by this thread.
    unsafe { shared.lock.unlock_exclusive() };
    then(&shared);
    writer.join().unwrap();
    reader.join().unwrap();
    shared.finish(2 + then_writes);
}

#[test]
fn oldest_writer_woken_alone() {
    check("oldest_writer_woken_alone", Some(4), 20000, || {
        writer_and_reader_behind_owner::<LoomPlatform>(0, |_| {});
    });
}

#[test]
fn late_reader_behind_woken_writer() {
    check("late_reader_behind_woken_writer", Some(2), 20000, || {
        // Arrive as a reader while the writer may have just been woken alone: the lock is then
        // free with waiters queued and nobody holding `WAKING`; we must queue, not wake.
        writer_and_reader_behind_owner::<LoomPlatform>(0, |shared| {
            assert!((1..=2).contains(&shared.read()));
        });
    });
}

#[test]
fn try_lock_shared_fails_behind_writer() {
    check(
        "try_lock_shared_fails_behind_writer",
        EXHAUSTIVE,
        200,
        || {
            let shared = Shared::new();
            shared.lock.lock_shared();
            let other = shared.clone();
            let writer = thread::spawn(move || other.write());
            // While we hold our share the writer cannot get in, so once it is seen queued it stays
            // queued, and a new reader must be refused.
            let writer_queued = shared.lock.word().is_waiting();
            assert_eq!(shared.read_held(), 0);
            let joined = shared.lock.try_lock_shared();
            if joined {
                // SAFETY: the extra share just acquired.
                unsafe { shared.lock.unlock_shared() };
            }
            assert!(
                !(writer_queued && joined),
                "a reader joined past a queued writer"
            );
            // SAFETY: the original share.
            unsafe { shared.lock.unlock_shared() };
            writer.join().unwrap();
            shared.finish(1);
        },
    );
}

/// Readers that do not leave until `size` of them are inside: one left outside is a deadlock,
/// which loom reports.
struct Group {
    inside: loom::sync::Mutex<usize>,
    all_in: loom::sync::Condvar,
    size: usize,
}

impl Group {
    fn new(size: usize) -> Arc<Self> {
        Arc::new(Self {
            inside: loom::sync::Mutex::new(0),
            all_in: loom::sync::Condvar::new(),
            size,
        })
    }

    #[allow(
        clippy::significant_drop_tightening,
        reason = "the guard is given to the condvar's wait"
    )]
    fn enter_and_wait_for_all(&self) {
        let mut inside = self.inside.lock().unwrap();
        *inside += 1;
        self.all_in.notify_all();
        while *inside < self.size {
            inside = self.all_in.wait(inside).unwrap();
        }
    }
}

loom::lazy_static! {
    /// How many waiters of the current execution went to sleep, and who waits for that count.
    /// The model's main thread must call [`Sleepers::watch`] before it spawns anyone.
    static ref SLEEPERS: Sleepers = Sleepers {
        count: loom::sync::atomic::AtomicUsize::new(0),
        watcher: thread::current(),
    };
}

struct Sleepers {
    count: loom::sync::atomic::AtomicUsize,
    watcher: thread::Thread,
}

impl Sleepers {
    /// Makes the calling thread the one that waits for sleepers.
    fn watch() {
        let _ = &*SLEEPERS;
    }

    fn one_more(&self) {
        self.count.fetch_add(1, Relaxed);
        self.watcher.unpark();
    }

    /// Blocks until `n` waiters went to sleep. (A model cannot spin for it: a spinning thread
    /// spends loom's preemption bound and then never lets the others run.)
    fn wait_for(&self, n: usize) {
        while self.count.load(Relaxed) < n {
            thread::park();
        }
    }
}

/// `LoomPlatform` with `SPINS` looks per spin, counting in [`SLEEPERS`] the waiters that go to
/// sleep. With no spins a waiter sleeps at once and a first writer does not claim the lock (the
/// kernel on one processor).
struct Tuned<const SPINS: u32>;

/// Spins as `LoomPlatform` does; counts sleepers.
type Counted = Tuned<2>;
/// Never spins; counts sleepers.
type NoSpin = Tuned<0>;

// SAFETY: every promise is `LoomPlatform`'s; the count is kept outside the event.
unsafe impl<const SPINS: u32> Platform for Tuned<SPINS> {
    type Event = <LoomPlatform as Platform>::Event;

    fn new_event() -> Self::Event {
        LoomPlatform::new_event()
    }

    unsafe fn prepare_wait(event: *const Self::Event) {
        // SAFETY: forwarded from the lock, which keeps `prepare_wait`'s contract.
        unsafe { LoomPlatform::prepare_wait(event) };
        SLEEPERS.one_more();
    }

    unsafe fn wait(event: *const Self::Event) {
        // SAFETY: as above.
        unsafe { LoomPlatform::wait(event) };
    }

    unsafe fn signal(event: *const Self::Event) {
        // SAFETY: as above.
        unsafe { LoomPlatform::signal(event) };
    }

    fn spin_count() -> u32 {
        SPINS
    }

    fn spin_hint() {
        LoomPlatform::spin_hint();
    }

    fn spin_on_word(round: u32) -> bool {
        round < SPINS && LoomPlatform::spin_on_word(round)
    }

    fn enter_critical_region() {}

    fn leave_critical_region() {}

    fn misuse(lock: *const (), misuse: Misuse) -> ! {
        LoomPlatform::misuse(lock, misuse)
    }

    pushlock::verify_hooks_from!(LoomPlatform);
}

/// `readers` readers asleep behind an exclusive owner, released together, while the owner comes
/// straight back as a writer: every reader must see the owner's first write and not its second
/// (the writer came later, so it must not get in before any of them). With `group`, the readers
/// also wait inside until all of them are in (contract 4), so one left outside is a deadlock.
fn readers_released_before_a_writer<P: Platform>(readers: usize, group: bool) {
    let shared = Shared::<P>::on_platform();
    Sleepers::watch();
    let group = group.then(|| Group::new(readers));
    shared.lock.lock_exclusive();
    let threads: Vec<_> = (0..readers)
        .map(|_| {
            let (shared, group) = (shared.clone(), group.clone());
            thread::spawn(move || {
                shared.lock.lock_shared();
                if let Some(group) = group {
                    group.enter_and_wait_for_all();
                }
                assert_eq!(
                    shared.read_held(),
                    1,
                    "a writer that came later overtook the released readers"
                );
                // SAFETY: held shared by this thread.
                unsafe { shared.lock.unlock_shared() };
            })
        })
        .collect();
    SLEEPERS.wait_for(readers);
    shared.write_held();
    // SAFETY: acquired above by this thread.
    unsafe { shared.lock.unlock_exclusive() };
    // Arrive as a writer while the released readers may be anywhere: some inside, others not
    // yet scheduled.
    shared.write();
    for thread in threads {
        thread.join().unwrap();
    }
    shared.finish(2);
}

#[test]
fn woken_readers_get_in_together() {
    check("woken_readers_get_in_together", Some(2), 100_000, || {
        readers_released_before_a_writer::<Counted>(2, true);
    });
}

#[test]
fn three_readers_handed_over_together() {
    // Three readers queue one after another; each later one takes `WAKING` and fills in a back
    // link, so the hand-over walks links written by different holders.
    check(
        "three_readers_handed_over_together",
        Some(0),
        10_000,
        || {
            readers_released_before_a_writer::<NoSpin>(3, false);
        },
    );
}

/// `writers` writers and `readers` readers asleep behind an exclusive owner, queued in any order,
/// then released.
fn three_waiters(writers: u32, readers: u32) {
    let shared = Shared::<NoSpin>::on_platform();
    Sleepers::watch();
    shared.lock.lock_exclusive();
    let mut threads: Vec<_> = (0..writers)
        .map(|_| {
            let other = shared.clone();
            thread::spawn(move || other.write())
        })
        .collect();
    threads.extend((0..readers).map(|_| {
        let other = shared.clone();
        thread::spawn(move || assert!((1..=1 + writers).contains(&other.read())))
    }));
    SLEEPERS.wait_for(usize::try_from(writers + readers).unwrap());
    shared.write_held();
    // SAFETY: acquired above by this thread.
    unsafe { shared.lock.unlock_exclusive() };
    for thread in threads {
        thread.join().unwrap();
    }
    shared.finish(1 + writers);
}

#[test]
fn three_waiters_back_to_back_detaches() {
    // Two writers and a reader: writers at the front are detached one after the other (the
    // next block becomes the oldest, cached in whichever block is the head then), a reader in
    // front is handed its share, and every release walks a list edited by an earlier `WAKING`
    // holder.
    check(
        "three_waiters_back_to_back_detaches",
        Some(1),
        10_000,
        || three_waiters(2, 1),
    );
}

#[test]
fn readers_handed_over_in_front_of_a_writer() {
    // Two readers and a writer: readers queued in front of the writer are handed their shares
    // and the writer, left queued, becomes the oldest block and holds their count
    // (`MULTIPLE_SHARED` for two); the last of them to leave wakes it.
    check(
        "readers_handed_over_in_front_of_a_writer",
        Some(1),
        10_000,
        || three_waiters(1, 2),
    );
}

#[test]
fn mode_agnostic_release_of_multiple_shared() {
    // Two shares with a writer asleep behind them: the count is in the writer's block
    // (`MULTIPLE_SHARED`) and both owners leave through `unlock`, which must find it there.
    check(
        "mode_agnostic_release_of_multiple_shared",
        Some(3),
        200,
        || {
            Sleepers::watch();
            let queued = |shared: &Shared<Counted>| {
                SLEEPERS.wait_for(1);
                assert!(shared.lock.word().is_multiple_shared());
            };
            drain_two_shares(queued, true);
        },
    );
}

#[test]
fn first_writer_that_does_not_claim() {
    // No spinning (the kernel on one processor): the first waiter, a writer, sleeps at once
    // without claiming; a reader queues behind it. The release detaches the writer alone and it
    // competes, against the releasing thread barging straight back in: it may have to queue
    // again behind the barger.
    check("first_writer_that_does_not_claim", Some(2), 10_000, || {
        writer_and_reader_behind_owner::<NoSpin>(1, Shared::write);
    });
}

#[test]
fn claiming_writer_against_barger_and_reader() {
    // A writer queues first behind a reader and polls the word to claim the lock; meanwhile the
    // reader leaves and barges straight back in as a writer (between two polls, or between the
    // claimer's read and its CAS), and a new reader pushes its block behind the claimer
    // (forcing the claim's CAS to retry). The claimer takes the lock, or gives up and sleeps.
    check(
        "claiming_writer_against_barger_and_reader",
        Some(2),
        1000,
        || {
            let shared = Shared::new();
            shared.lock.lock_shared();
            let other = shared.clone();
            let claimer = thread::spawn(move || other.write());
            // Let the claimer queue (loom also runs the schedules where it has not yet).
            thread::yield_now();
            let other = shared.clone();
            let reader = thread::spawn(move || assert!(other.read() <= 2));
            assert_eq!(shared.read_held(), 0);
            // SAFETY: acquired above by this thread.
            unsafe { shared.lock.unlock_shared() };
            shared.write();
            claimer.join().unwrap();
            reader.join().unwrap();
            shared.finish(2);
        },
    );
}
