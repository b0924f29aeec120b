//! The push-lock verifier (feature `verify`): lock bugs reported where they happen, instead of a
//! hang that shows nothing.
//!
//! The kernel's push lock records no owner: a recursive acquisition hangs, silently, and Driver
//! Verifier's deadlock detection does not look at push locks. With this feature every
//! acquisition and release also goes through the checks below; without it none of this code
//! exists (the hooks in `raw.rs` and `nt.rs` are `cfg`'d out).
//!
//! | check | when | kind |
//! |---|---|---|
//! | recursion | an acquisition about to *wait* on a lock its thread holds: exclusive after either mode, shared after exclusive, shared after shared with a writer queued | 6, 7, 8 |
//! | release by a non-owner, in the wrong mode | every release, before the word changes | 9, 10 |
//! | lock-order inversion | every blocking acquisition made while holding other locks (see `order`) | 11 |
//! | held at the wrong time | [`check_none_held`] at a callback's return or a thread's exit; [`check_nobody_holds`] at unload | 12 |
//! | IRQL above `APC_LEVEL` | every acquisition | 13 |
//! | critical region left while a `Flt*` acquisition is held | every acquisition and release by a thread holding one | 14 |
//! | its own tables full | overflow is reported, never ignored | 15, 16, 17 |
//! | the lock's own checks (flags, delete in use, release not held, share overflow) | as without the verifier, reported the same way | 1–4 |
//!
//! A violation builds a [`Report`] (the lock, its word, the thread, the call site, the other
//! party, every lock the thread holds) and hands it to [`Platform::violation`]: the kernel
//! prints it with `DbgPrintEx` and bug-checks with `PLCK` and the kind; user mode panics with
//! it. In report-only mode ([`begin_report_only`], for self-tests that commit violations on
//! purpose, one lock at a time) a violation on that lock is counted instead, and a call that
//! would hang or corrupt the lock does nothing.
//!
//! # State
//!
//! There is no thread-local storage in the kernel, so what each thread holds lives in a table
//! keyed by the thread (`KTHREAD`), bounded ([`threads::THREADS`] threads holding locks at once,
//! [`threads::HELD`] locks each), in one allocation ([`Platform::allocate_verifier`]: non-paged
//! pool tagged `PlkR` in the kernel) made by [`start`] or by the first lock operation. The
//! lock-order graph (`order`) is in the same allocation. Lock words are untouched: a verified
//! lock is still one word with the kernel's encoding.
//!
//! | global word | meaning |
//! |---|---|
//! | `0` | not started: the next lock operation starts it |
//! | `1` | off ([`stop`], or the allocation failed): every hook returns at once; [`start`] tries again |
//! | an address | on: the tables |
//!
//! # Orderings
//!
//! The tables are published with `Release` and read with `Acquire`. A thread's records are
//! written only by that thread; others read them (reports) with `Relaxed` loads, as snapshots.
//! The order graph changes under a spin lock of its own (`Acquire`/`Release`).
//!
//! # Limits
//!
//! A lock acquired on one thread and released on another is reported (kind 9): with the
//! verifier on, a lock belongs to the thread that took it, unless handed over with [`disown`]
//! and [`adopt`]. Nesting two locks of one class is
//! not checked. Recursion is reported when the acquisition would wait, so a shared
//! re-acquisition while no writer waits (which does not hang) is allowed.

mod caller;
mod hooks;
mod map;
mod order;
mod report;
mod site;
mod tables;
pub mod threads;

pub(crate) use hooks::{
    acquired, before_acquire, before_release, before_wait, classify, deleted, dropped, misuse,
    rejected,
};
pub use order::{CLASSES, EDGES, LOCKS};
pub use report::{HeldAt, Report, Violation};
pub use site::Site;
pub use tables::{
    NoMemory, Tables, begin_report_only, end_report_only, is_on, reported, start, stop,
};
pub use threads::Held;

use crate::Platform;
use crate::how::How;
use caller::Caller;
use report::Other;

/// Gives up the calling thread's hold of `lock` to another thread, which will release it.
///
/// The hold is no longer this thread's (it must not release it), and the receiver calls
/// [`adopt`]. Without this a release by the receiver is reported (kind 9): with the verifier on, a lock
/// belongs to the thread that took it, unless handed over (a work item that releases a lock its
/// queuer took, say).
#[track_caller]
pub fn disown<P: Platform>(lock: &crate::RawPushLock<P>) {
    let lock = lock.as_ex_push_lock().expose_provenance();
    let Some(thread) = Caller::<P>::current() else {
        return;
    };
    let threads = &thread.tables.threads;
    match threads.find_held(thread.id, lock) {
        Some((slot, position, _)) => threads.remove(slot, position),
        None => {
            thread.report(
                Violation::ReleaseNotOwner,
                lock,
                Site::caller(),
                Other::None,
            );
        }
    }
}

/// Takes over a hold of `lock` (in the mode given) that another thread gave up with [`disown`].
#[track_caller]
pub fn adopt<P: Platform>(lock: &crate::RawPushLock<P>, exclusive: bool) {
    let how = How::at(Site::caller());
    hooks::record::<P>(lock.as_ex_push_lock().expose_provenance(), exclusive, how);
}

/// Reports a lock the calling thread holds when it must hold none.
#[track_caller]
pub fn check_none_held<P: Platform>(when: HeldAt) {
    let Some(thread) = Caller::<P>::current() else {
        return;
    };
    let mut first = None;
    thread
        .tables
        .threads
        .for_each_held(thread.id, |held| first = first.or(Some(*held)));
    if let Some(held) = first {
        thread.report(
            Violation::HeldAt(when),
            held.lock,
            Site::caller(),
            Other::Mine(held),
        );
    }
}

/// Reports a lock any thread holds (at unload, when none may).
#[track_caller]
pub fn check_nobody_holds<P: Platform>() {
    let Some(thread) = Caller::<P>::current() else {
        return;
    };
    if let Some((id, held)) = thread.tables.threads.find_any(|_| true) {
        let other = Other::Theirs(id, held);
        thread.report(
            Violation::HeldAt(HeldAt::Unload),
            held.lock,
            Site::caller(),
            other,
        );
    }
}

/// The locks the calling thread holds, oldest first, into `out`; returns how many it holds
/// (more than `out.len()` if `out` is short).
pub fn held_by_current_thread<P: Platform>(out: &mut [Held]) -> usize {
    let Some(thread) = Caller::<P>::current() else {
        return 0;
    };
    let mut count = 0_usize;
    thread.tables.threads.for_each_held(thread.id, |held| {
        if let Some(slot) = out.get_mut(count) {
            *slot = *held;
        }
        count = count.saturating_add(1);
    });
    count
}
