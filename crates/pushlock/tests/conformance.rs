//! The conformance scenarios of PUSHLOCK.md §5 on `StdPlatform`, plus the "shared really is
//! shared" scenarios of contract 4. Each runs under a watchdog: a hang fails with a dump of the
//! lock word and of every thread's state.
//!
//! Scenarios that queue waiters observe the queue white-box: they wait until the word shows a new
//! newest wait block with `Waiting` set and `Waking` clear before starting the next actor.
#![cfg(not(loom))]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use support::{Gate, Phase, Scene};

/// Repetitions of the racy scenarios (reduced under Miri, which is slow).
const fn reps(normal: usize) -> usize {
    if cfg!(miri) { 4 } else { normal }
}

#[test]
fn uncontended_encodings() {
    let scene = Scene::new("uncontended_encodings");
    let main = scene.actor("main");
    let lock = &scene.lock;
    for mode_agnostic in [false, true] {
        main.lock_exclusive(lock);
        assert_eq!(lock.word().0, 0x1);
        main.release(lock, mode_agnostic);
        assert_eq!(lock.word().0, 0);

        for k in 1..=5 {
            main.lock_shared(lock);
            assert_eq!(
                lock.word().0,
                0x1 + k * 0x10,
                "after {k} shared acquisitions"
            );
        }
        for k in (0..5).rev() {
            main.release_one_share(lock, mode_agnostic);
            let expected = if k == 0 { 0 } else { 0x1 + k * 0x10 };
            assert_eq!(lock.word().0, expected, "after releasing down to {k}");
        }
    }
    scene.finish();
}

#[test]
fn try_matrix() {
    let mut scene = Scene::new("try_matrix");
    let lock = scene.lock.clone();
    assert!(lock.try_lock_exclusive(), "free: try-X");
    // SAFETY: just acquired.
    unsafe { lock.unlock_exclusive() };
    assert!(lock.try_lock_shared(), "free: try-S");
    // SAFETY: just acquired.
    unsafe { lock.unlock_shared() };

    // Another thread holds X: both tries fail.
    let release = Gate::new();
    let gate = release.clone();
    let owner = scene.spawn("owner-X", move |lock, me| {
        me.lock_exclusive(lock);
        gate.wait();
        me.release(lock, false);
    });
    scene.wait_phase(&owner, Phase::HoldsExclusive);
    assert!(!lock.try_lock_shared(), "held X: try-S must fail");
    assert!(!lock.try_lock_exclusive(), "held X: try-X must fail");
    release.open();
    scene.wait_phase(&owner, Phase::Finished);

    // Three other threads hold S: try-S succeeds, try-X fails until the last share is gone.
    let gates: Vec<_> = (0..3).map(|_| Gate::new()).collect();
    let readers: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, gate)| {
            let gate = gate.clone();
            scene.spawn(&format!("reader-{i}"), move |lock, me| {
                me.lock_shared(lock);
                gate.wait();
                me.release(lock, false);
            })
        })
        .collect();
    for reader in &readers {
        scene.wait_phase(reader, Phase::HoldsShared);
    }
    for (gate, reader) in gates.iter().zip(&readers) {
        assert!(!lock.try_lock_exclusive(), "held S: try-X must fail");
        assert!(
            lock.try_lock_shared(),
            "held S, nobody waiting: try-S must succeed"
        );
        // SAFETY: just acquired.
        unsafe { lock.unlock_shared() };
        gate.open();
        scene.wait_phase(reader, Phase::Finished);
    }
    assert!(lock.try_lock_exclusive(), "all released: try-X");
    // SAFETY: just acquired.
    unsafe { lock.unlock_exclusive() };
    scene.finish();
}

#[test]
fn oldest_exclusive_is_woken_alone() {
    for _ in 0..reps(20) {
        let mut scene = Scene::new("oldest_exclusive_is_woken_alone");
        let main = scene.actor("main");
        main.lock_exclusive(&scene.lock);
        let e1_release = Gate::new();
        let gate = e1_release.clone();
        let e1 = scene.spawn("E1", move |lock, me| {
            me.lock_exclusive(lock);
            gate.wait();
            me.release(lock, false);
        });
        let word = scene.wait_queued(None);
        // Both readers hold together before either lets go.
        let together = Arc::new(AtomicUsize::new(0));
        let mut readers = Vec::new();
        let mut newest = word.newest_waiter();
        for name in ["S1", "S2"] {
            let together = together.clone();
            readers.push(scene.spawn(name, move |lock, me| {
                me.lock_shared(lock);
                together.fetch_add(1, SeqCst);
                let start = Instant::now();
                while together.load(SeqCst) < 2 {
                    assert!(
                        start.elapsed() < support::TIMEOUT,
                        "the other reader never got in"
                    );
                    thread::yield_now();
                }
                me.release(lock, false);
            }));
            newest = scene.wait_queued(newest).newest_waiter();
        }
        main.release(&scene.lock, false);
        scene.wait_phase(&e1, Phase::HoldsExclusive);
        for reader in &readers {
            assert_eq!(
                reader.phase(),
                Phase::WantsShared,
                "a reader was let in with E1\n{}",
                scene.dump()
            );
        }
        e1_release.open();
        scene.finish();
        for reader in &readers {
            assert!(
                reader.last_grant() > e1.last_grant(),
                "E1 must be granted before the readers"
            );
        }
    }
}

#[test]
fn shared_owner_drain() {
    let mut scene = Scene::new("shared_owner_drain");
    let main = scene.actor("main");
    for _ in 0..3 {
        main.lock_shared(&scene.lock);
    }
    let e = scene.spawn("E", |lock, me| {
        me.lock_exclusive(lock);
        me.release(lock, false);
    });
    let word = scene.wait_queued(None);
    assert!(
        word.is_multiple_shared() && word.is_locked(),
        "E queued on 3 shares: {word}"
    );
    let r = scene.spawn("R", |lock, me| {
        me.lock_shared(lock);
        me.release(lock, false);
    });
    scene.wait_queued(word.newest_waiter());
    for left in (0..3).rev() {
        main.release_one_share(&scene.lock, false);
        if left > 0 {
            thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
            assert_eq!(
                e.acquisitions(),
                0,
                "E got in with {left} shares left\n{}",
                scene.dump()
            );
            assert_eq!(r.acquisitions(), 0, "R overtook E\n{}", scene.dump());
        }
    }
    scene.finish();
    assert!(
        e.last_grant() < r.last_grant(),
        "E must get the lock before R"
    );
}

#[test]
fn writer_beats_later_reader() {
    let mut scene = Scene::new("writer_beats_later_reader");
    let t1_release = Gate::new();
    let gate = t1_release.clone();
    let t1 = scene.spawn("T1", move |lock, me| {
        me.lock_shared(lock);
        gate.wait();
        me.release(lock, false);
    });
    scene.wait_phase(&t1, Phase::HoldsShared);
    let t2 = scene.spawn("T2", |lock, me| {
        me.lock_exclusive(lock);
        me.release(lock, false);
    });
    let word = scene.wait_queued(None);
    assert!(
        !scene.lock.try_lock_shared(),
        "try-S must fail once a writer waits"
    );
    let t3 = scene.spawn("T3", |lock, me| {
        me.lock_shared(lock);
        me.release(lock, false);
    });
    scene.wait_queued(word.newest_waiter());
    assert_eq!(t3.phase(), Phase::WantsShared);
    t1_release.open();
    scene.finish();
    assert!(
        t2.last_grant() < t3.last_grant(),
        "T2 must get the lock before T3"
    );
}

#[test]
fn waiter_arrives_during_release() {
    for _ in 0..reps(64) {
        let mut scene = Scene::new("waiter_arrives_during_release");
        let main = scene.actor("main");
        main.lock_shared(&scene.lock);
        let e1 = scene.spawn("E1", |lock, me| {
            me.lock_exclusive(lock);
            me.release(lock, false);
        });
        scene.wait_queued(None);
        let go = Gate::new();
        let gate = go.clone();
        let e2 = scene.spawn("E2", move |lock, me| {
            gate.wait();
            me.lock_exclusive(lock);
            me.release(lock, true);
        });
        go.open();
        main.release(&scene.lock, false);
        scene.finish();
        assert_eq!((e1.acquisitions(), e2.acquisitions()), (1, 1));
    }
}

/// A record a writer updates in three steps; a reader that sees a torn one caught a writer.
struct Record {
    value: AtomicU64,
    complement: AtomicU64,
    mixed: AtomicU64,
}

const MIX: u64 = 0x5A5A_A5A5_F00D_CAFE;

impl Record {
    fn write(&self, value: u64) {
        self.value.store(value, SeqCst);
        thread::yield_now();
        self.complement.store(!value, SeqCst);
        self.mixed.store(value ^ MIX, SeqCst);
    }

    fn check(&self) -> u64 {
        let value = self.value.load(SeqCst);
        thread::yield_now();
        let complement = self.complement.load(SeqCst);
        let mixed = self.mixed.load(SeqCst);
        assert!(
            complement == !value && mixed == value ^ MIX,
            "torn record: {value:#x}"
        );
        value
    }
}

#[test]
fn mixed_stress() {
    const THREADS: usize = 6;
    const WRITERS: usize = 2;
    let iterations: u64 = if cfg!(miri) { 16 } else { 2048 };
    let mut scene = Scene::new("mixed_stress");
    let record = Arc::new(Record {
        value: AtomicU64::new(0),
        complement: AtomicU64::new(!0),
        mixed: AtomicU64::new(MIX),
    });
    let start = Gate::new();
    let actors: Vec<_> = (0..THREADS)
        .map(|t| {
            let (record, start) = (record.clone(), start.clone());
            scene.spawn(
                &format!("{}{t}", if t < WRITERS { "writer-" } else { "reader-" }),
                move |lock, me| {
                    start.wait();
                    for i in 0..iterations {
                        let mode_agnostic = i % 2 == 1;
                        if t < WRITERS {
                            me.lock_exclusive(lock);
                            let value = record.check();
                            record.write(value + 1);
                        } else {
                            me.lock_shared(lock);
                            record.check();
                        }
                        me.release(lock, mode_agnostic);
                    }
                },
            )
        })
        .collect();
    start.open();
    scene.finish();
    for actor in &actors {
        assert_eq!(actor.acquisitions(), iterations, "{}", actor.name);
    }
    assert_eq!(record.check(), iterations * WRITERS as u64);
}

#[test]
fn writer_not_starved() {
    const READERS: usize = 8;
    let writes: u64 = if cfg!(miri) { 5 } else { 1000 };
    let mut scene = Scene::new("writer_not_starved");
    let stop = Gate::new();
    for r in 0..READERS {
        let stop = stop.clone();
        scene.spawn(&format!("reader-{r}"), move |lock, me| {
            while !stop.is_open() {
                me.lock_shared(lock);
                me.release(lock, false);
            }
        });
    }
    let done = stop;
    let longest_wait = Arc::new(AtomicU64::new(0));
    let longest = longest_wait.clone();
    let the_writer = scene.spawn("writer", move |lock, me| {
        for _ in 0..writes {
            let asked = Instant::now();
            me.lock_exclusive(lock);
            let waited = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX);
            longest.fetch_max(waited, SeqCst);
            me.release(lock, false);
        }
        done.open();
    });
    scene.finish();
    assert_eq!(the_writer.acquisitions(), writes);
    println!(
        "writer_not_starved: longest writer wait {} µs",
        longest_wait.load(SeqCst)
    );
}

/// Contract 4: readers that arrive while no writer holds or waits are all inside together.
#[test]
fn group_of_readers_all_inside_at_once() {
    const READERS: usize = 4;
    let mut scene = Scene::new("group_of_readers_all_inside_at_once");
    let inside = Arc::new(AtomicUsize::new(0));
    for r in 0..READERS {
        let inside = inside.clone();
        scene.spawn(&format!("reader-{r}"), move |lock, me| {
            me.lock_shared(lock);
            inside.fetch_add(1, SeqCst);
            let start = Instant::now();
            while inside.load(SeqCst) < READERS {
                assert!(
                    start.elapsed() < support::TIMEOUT,
                    "the group never got inside together"
                );
                thread::yield_now();
            }
            me.release(lock, false);
        });
    }
    scene.finish();
}

/// Contract 4, the kernel's trap: a writer releases while readers are queued *and* new readers
/// arrive during the wake (lock free, waiters still queued). In the kernel such a reader takes
/// the lock without a count, behaves as a writer, and a group that must all be inside hangs.
/// Here every reader is inside together, whatever the timing.
#[test]
fn queued_readers_released_together() {
    const READERS: usize = 4;
    for round in 0..reps(200) {
        let mut scene = Scene::new("queued_readers_released_together");
        let writer = scene.actor("writer");
        writer.lock_exclusive(&scene.lock);
        let inside = Arc::new(AtomicUsize::new(0));
        for r in 0..READERS {
            let inside = inside.clone();
            scene.spawn(&format!("reader-{r}"), move |lock, me| {
                me.lock_shared(lock);
                inside.fetch_add(1, SeqCst);
                let start = Instant::now();
                while inside.load(SeqCst) < READERS {
                    assert!(
                        start.elapsed() < support::TIMEOUT,
                        "queued readers not inside together"
                    );
                    thread::yield_now();
                }
                me.release(lock, false);
            });
        }
        // Vary how many readers queue before the release and how many arrive during it.
        for _ in 0..round % 5 {
            thread::yield_now();
        }
        writer.release(&scene.lock, round % 2 == 0);
        scene.finish();
    }
}

#[test]
fn exclusive_is_not_reentrant() {
    let scene = Scene::new("exclusive_is_not_reentrant");
    scene.lock.lock_exclusive();
    assert!(
        !scene.lock.try_lock_exclusive(),
        "a second exclusive acquisition must fail"
    );
    assert!(
        !scene.lock.try_lock_shared(),
        "a shared acquisition by the owner must fail"
    );
    // SAFETY: held exclusively.
    unsafe { scene.lock.unlock_exclusive() };
    scene.finish();
}
