//! The hooks the lock (`raw.rs`) and the `nt` functions call: checks before an acquisition, a
//! wait and a release, the records after an acquisition, and the lock's own misuse reports.

use super::caller::{Caller, word_of};
use super::order::Added;
use super::report::{Other, Report, Violation};
use super::site::Site;
use super::tables::{active, current};
use super::threads::Held;
use crate::how::How;
use crate::{LockClass, Misuse, Platform};

/// Before any acquisition: IRQL, critical region, and (for a blocking one) lock order. Returns
/// whether to go on.
#[inline]
pub fn before_acquire<P: Platform>(lock: usize, blocking: bool, how: How) -> bool {
    !active() || how.sweep || check_acquire::<P>(lock, blocking, how)
}

#[inline(never)]
fn check_acquire<P: Platform>(lock: usize, blocking: bool, how: How) -> bool {
    let Some(thread) = Caller::<P>::current() else {
        return true;
    };
    if let Some(irql) = P::irql_above_apc_level()
        && !thread.report(Violation::AboveApcLevel(irql), lock, how.site, Other::None)
    {
        return false;
    }
    if !thread.check_critical_region(lock, how.site) {
        return false;
    }
    if let Err(full) = thread.tables.threads.has_room(thread.id)
        && !thread.report(full.into(), lock, how.site, Other::None)
    {
        return false;
    }
    if !blocking {
        return true;
    }
    let order = &thread.tables.order;
    // Looked up once, and only if the thread holds another lock (`record` looks it up too).
    let mut class = None;
    let mut found = None;
    thread.tables.threads.for_each_held(thread.id, |held| {
        if found.is_none() && !held.covers(lock, how.whole) {
            let class = *class.get_or_insert_with(|| order.class_of(how.named(lock)));
            match order.add(held.class, held.site, class, how.site) {
                Added::Fine => {}
                Added::Cycle(chain) => {
                    found = Some(Other::Inversion(*held, order.class(held.class), chain));
                }
                Added::Full => found = Some(Other::None),
            }
        }
    });
    match found {
        Some(other @ Other::Inversion(..)) => {
            thread.report(Violation::OrderInversion, lock, how.site, other)
        }
        Some(_) => thread.report(Violation::OrderGraphFull, lock, how.site, Other::None),
        None => true,
    }
}

/// Before an acquisition waits in the queue: the waiting thread must not hold the lock (for a
/// slot, any part of its cache-aware lock). Returns whether to go on.
pub fn before_wait<P: Platform>(lock: usize, exclusive: bool, how: How) -> bool {
    let Some(thread) = Caller::<P>::current() else {
        return true;
    };
    let threads = &thread.tables.threads;
    let mine = threads.find_held_where(thread.id, |held| held.covers(lock, how.whole));
    let Some((_, _, held)) = mine else {
        return true;
    };
    let violation = match (exclusive, held.exclusive) {
        (true, _) => Violation::RecursiveExclusive,
        (false, true) => Violation::SharedAfterExclusive,
        (false, false) => Violation::SharedWhileWriterWaits,
    };
    thread.report(violation, lock, how.site, Other::Mine(held))
}

/// After an acquisition: record it (a writer's sweep over slots is recorded by its cache-aware
/// lock, once).
#[inline]
pub fn acquired<P: Platform>(lock: usize, exclusive: bool, how: How) {
    if active() && !how.sweep {
        record::<P>(lock, exclusive, how);
    }
}

#[inline(never)]
pub(super) fn record<P: Platform>(lock: usize, exclusive: bool, how: How) {
    let Some(thread) = Caller::<P>::current() else {
        return;
    };
    let held = Held {
        lock,
        exclusive,
        flt: how.flt,
        site: how.site,
        class: thread.tables.order.class_of(how.named(lock)),
        whole: how.whole,
    };
    if let Err(full) = thread.tables.threads.push(thread.id, &held) {
        thread.report(full.into(), lock, how.site, Other::None);
    }
}

/// Before a release (`exclusive`: `Some` for a mode-specific release): the thread must hold
/// the lock, in that mode. Forgets the record. Returns whether to go on.
#[inline]
pub fn before_release<P: Platform>(lock: usize, exclusive: Option<bool>, how: How) -> bool {
    !active() || how.sweep || check_release::<P>(lock, exclusive, how)
}

#[inline(never)]
fn check_release<P: Platform>(lock: usize, exclusive: Option<bool>, how: How) -> bool {
    let Some(thread) = Caller::<P>::current() else {
        return true;
    };
    let threads = &thread.tables.threads;
    let Some((slot, position, held)) = threads.find_held(thread.id, lock) else {
        let owner = thread.holder_of(lock);
        return thread.report(Violation::ReleaseNotOwner, lock, how.site, owner);
    };
    if exclusive.is_some_and(|exclusive| exclusive != held.exclusive) {
        return thread.report(
            Violation::ReleaseWrongMode,
            lock,
            how.site,
            Other::Mine(held),
        );
    }
    if how.flt && !thread.check_critical_region(lock, how.site) {
        return false;
    }
    threads.remove(slot, position);
    true
}

/// Reports a lock bug found by the lock's own checks, with the verifier's report.
pub fn misuse<P: Platform>(lock: usize, misuse: Misuse) -> ! {
    let id = P::current_thread();
    let tables = current();
    P::violation(&Report {
        violation: Violation::Misuse(misuse),
        lock,
        word: word_of(lock),
        thread: id,
        site: Site::Unknown,
        other: Other::None,
        tables,
    })
}

/// A bug the `nt` functions found in their arguments (flags): reported, and in report-only
/// mode the call does nothing. Returns whether to go on.
pub fn rejected<P: Platform>(lock: usize, misuse: Misuse, how: How) -> bool {
    let Some(thread) = Caller::<P>::current() else {
        self::misuse::<P>(lock, misuse)
    };
    thread.report(Violation::Misuse(misuse), lock, how.site, Other::None)
}

/// `FltDeletePushLock`: no thread may hold the lock. Forgets its class. Returns whether to go
/// on.
pub fn deleted<P: Platform>(lock: usize, how: How) -> bool {
    let Some(thread) = Caller::<P>::current() else {
        return true;
    };
    let owner = thread.holder_of(lock);
    if !matches!(owner, Other::None) {
        let violation = Violation::Misuse(Misuse::DeleteInUse(word_of(lock)));
        return thread.report(violation, lock, how.site, owner);
    }
    thread.tables.order.forget(lock);
    true
}

/// A lock was dropped: forget it, so that a new lock at its address starts afresh.
pub fn dropped(lock: usize) {
    if let Some(tables) = current() {
        tables.order.forget(lock);
    }
}

/// Gives `lock` a class: a named one, or the site that initialised it.
pub fn classify<P: Platform>(lock: usize, class: Option<&'static LockClass>, site: Site) {
    let Some(thread) = Caller::<P>::current() else {
        return;
    };
    let key = class.map_or_else(
        || site.encode(),
        |class| core::ptr::from_ref(class).expose_provenance(),
    );
    if key != 0 && !thread.tables.order.register(lock, key, class, site) {
        thread.report(Violation::OrderGraphFull, lock, site, Other::None);
    }
}
