//! Contract 4 ("queued readers released together run concurrently"), against the two ways a
//! reader group can be split, each made deterministic with [`HeldWake`]: chosen threads, once
//! woken, stay off the CPU until the test opens a gate, as any scheduler may keep them.
//!
//! - **The kernel's trap**: a reader arrives while the lock is free but waiters are still queued.
//!   In the kernel it takes the lock without a count and so behaves like a writer.
//! - **The slow woken reader**: readers are woken together, one runs, a writer queues, and the
//!   other, signalled before the writer came, finds it queued when it finally runs. If woken
//!   readers competed for the lock again, the slow one would queue behind the writer, which waits
//!   for the fast one, which waits for the slow one.
//!
//! In both, readers wait until the whole group is inside before they leave.
#![cfg(not(loom))]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Instant;

use support::held_wake::{HeldWake, hold_wake_ups_until};
use support::{Actor, Gate, Phase, Scene};

/// A reader that holds its share until all `group` readers are inside.
fn group_reader(
    inside: &Arc<AtomicUsize>,
    group: usize,
    held: Option<Arc<Gate>>,
) -> impl FnOnce(&pushlock::RawPushLock<HeldWake>, &Actor) + Send + 'static {
    let inside = inside.clone();
    move |lock, me| {
        if let Some(gate) = held {
            hold_wake_ups_until(gate);
        }
        me.lock_shared(lock);
        inside.fetch_add(1, SeqCst);
        let start = Instant::now();
        while inside.load(SeqCst) < group {
            assert!(
                start.elapsed() < support::TIMEOUT,
                "the readers were never all inside"
            );
            thread::yield_now();
        }
        me.release(lock, false);
    }
}

#[test]
fn readers_arriving_while_free_with_waiters_are_not_turned_into_writers() {
    const READERS: usize = 4;
    let mut scene = Scene::<HeldWake>::on_platform("kernel_trap");
    let main = scene.actor("main");
    main.lock_exclusive(&scene.lock);

    let run = Gate::new();
    let held = run.clone();
    let writer = scene.spawn("E", move |lock, me| {
        hold_wake_ups_until(held);
        me.lock_exclusive(lock);
        me.release(lock, false);
    });
    let mut newest = scene.wait_queued(None).newest_waiter();

    let inside = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for name in ["R1", "R2"] {
        readers.push(scene.spawn(name, group_reader(&inside, READERS, None)));
        newest = scene.wait_queued(newest).newest_waiter();
    }

    // The writer at the front is woken alone and held: free lock, readers queued, no waker.
    main.release(&scene.lock, false);
    let word = scene.lock.word();
    assert!(
        word.is_waiting() && !word.is_locked() && !word.is_waking(),
        "expected a free lock with queued readers: {word}"
    );
    // (Waited for, not read once: the actor's Relaxed phase store need not be visible yet.)
    scene.wait_phase(&writer, Phase::WantsExclusive);

    // Readers arriving now must queue, not take the lock without a count.
    for name in ["R3", "R4"] {
        readers.push(scene.spawn(name, group_reader(&inside, READERS, None)));
        newest = scene.wait_queued(newest).newest_waiter();
        assert!(
            !scene.lock.word().is_locked(),
            "a newcomer took the free lock past the queue"
        );
    }

    run.open();
    scene.finish();
    for reader in &readers {
        assert!(
            reader.last_grant() > writer.last_grant(),
            "{} overtook the woken writer",
            reader.name
        );
    }
}

#[test]
fn readers_woken_together_get_in_together_however_late_one_runs() {
    let mut scene = Scene::<HeldWake>::on_platform("slow_woken_reader");
    let main = scene.actor("main");
    main.lock_exclusive(&scene.lock);

    let inside = Arc::new(AtomicUsize::new(0));
    let fast = scene.spawn("R1", group_reader(&inside, 2, None));
    let newest = scene.wait_queued(None).newest_waiter();
    let run = Gate::new();
    let slow = scene.spawn("R2", group_reader(&inside, 2, Some(run.clone())));
    scene.wait_queued(newest);

    // Both readers are released together; R1 runs, R2 stays off the CPU.
    main.release(&scene.lock, false);
    scene.wait_phase(&fast, Phase::HoldsShared);

    // A writer arrives while R1 is inside: it must queue (R1 holds a share).
    let writer = scene.spawn("W", |lock, me| {
        me.lock_exclusive(lock);
        me.release(lock, false);
    });
    scene.wait_queued(None);
    scene.wait_phase(&writer, Phase::WantsExclusive);

    // R2 runs only now: it was released with R1, before the writer came, and must get in.
    run.open();
    scene.finish();
    for reader in [&fast, &slow] {
        assert!(
            reader.last_grant() < writer.last_grant(),
            "{} was split from its group by the writer",
            reader.name
        );
    }
}
