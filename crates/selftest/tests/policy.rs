//! The filter policy on std: set semantics, counters, critical-region balance, and readers on
//! the "I/O path" racing replacements from the "port".
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    clippy::disallowed_types,
    reason = "user-mode tests: allocation failure aborts the test, as it should"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;

use pushlock::{LockClass, StdPlatform};
use pushlock_protocol::status;
use pushlock_selftest::{FilterStats, Policy};

static CLASS: LockClass = LockClass::new("policy");

/// A policy with its lock.
fn started() -> Policy<StdPlatform> {
    let policy = Policy::<StdPlatform>::new();
    // SAFETY: nothing else uses the new policy.
    unsafe { policy.start(&CLASS) }.unwrap();
    policy
}

#[test]
fn before_its_lock_is_made_nothing_matches_and_nothing_is_replaced() {
    let policy = Policy::<StdPlatform>::new();
    assert!(!policy.count_create(4));
    assert_eq!(policy.replace(&[4]), Err(status::DEVICE_NOT_READY));
    assert!(policy.named_lock("policy").is_none());
    // SAFETY: nothing else uses the policy.
    unsafe { policy.start(&CLASS) }.unwrap();
    policy.replace(&[4]).unwrap();
    assert!(policy.count_create(4));
    // SAFETY: as above; no lock is held.
    unsafe { policy.stop() };
    assert!(!policy.count_create(4), "stopped: no lock, no lookup");
    assert_eq!(
        policy.stats(),
        FilterStats {
            creates_seen: 3,
            creates_matched: 1,
            policy_updates: 1,
            policy_size: 0
        },
        "the counters stay; the set is unreadable without its lock"
    );
    assert_eq!(StdPlatform::critical_region_depth(), 0, "every region left");
}

#[test]
fn counts_creates_by_watched_processes() {
    let policy = started();
    assert!(!policy.count_create(4));
    policy.replace(&[4, 8]).unwrap();
    assert!(policy.count_create(4) && policy.count_create(8) && !policy.count_create(5));
    policy.replace(&[]).unwrap();
    assert!(!policy.count_create(4), "cleared");
    let stats = policy.stats();
    assert_eq!(
        stats,
        FilterStats {
            creates_seen: 5,
            creates_matched: 2,
            policy_updates: 2,
            policy_size: 0
        }
    );
    assert_eq!(StdPlatform::critical_region_depth(), 0, "every region left");
    let lock = policy.named_lock("policy").unwrap();
    assert_eq!(
        (lock.name, lock.word),
        ("policy", 0),
        "named as asked, and free"
    );
    assert_eq!(
        (
            lock.statistics.shared_acquisitions,
            lock.statistics.exclusive_acquisitions
        ),
        (6, 2),
        "five creates and the Stats read shared, two replacements exclusive"
    );
}

#[test]
fn more_than_64_ids_are_refused_and_change_nothing() {
    let policy = started();
    policy.replace(&[7]).unwrap();
    let too_many: Vec<u32> = (1..=65).collect();
    assert_eq!(policy.replace(&too_many), Err(status::INVALID_PARAMETER));
    assert!(policy.count_create(7), "the old set stays");
    assert_eq!(policy.stats().policy_updates, 1);
    let full: Vec<u32> = (1..=64).collect();
    policy.replace(&full).unwrap();
    assert!(policy.count_create(64));
}

#[test]
fn lookups_see_whole_sets_while_the_set_is_replaced() {
    // Process 200 is in both sets, first in one and last in the other: a lookup that saw a
    // half-written set could miss it. Process 999 is in neither.
    let front: Vec<u32> = std::iter::once(200).chain((0..63).map(|i| i * 2)).collect();
    let back: Vec<u32> = (0..63)
        .map(|i| i * 2 + 1)
        .chain(std::iter::once(200))
        .collect();
    let policy = Arc::new(started());
    policy.replace(&front).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (policy, stop) = (policy.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    assert!(policy.count_create(200), "a member of every set was missed");
                    assert!(!policy.count_create(999), "a stranger was found");
                }
            })
        })
        .collect();
    for round in 0..if cfg!(miri) { 20 } else { 2000 } {
        policy
            .replace(if round % 2 == 0 { &back } else { &front })
            .unwrap();
    }
    stop.store(true, SeqCst);
    for reader in readers {
        reader.join().unwrap();
    }
    assert_eq!(StdPlatform::critical_region_depth(), 0);
}
