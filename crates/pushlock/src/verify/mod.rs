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

mod map;
mod order;
mod report;
mod site;
pub mod threads;

use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicPtr, AtomicUsize};

pub use report::{HeldAt, Report, Violation};
pub use site::Site;
pub use threads::Held;

use crate::how::How;
use crate::{LockClass, LockWord, Misuse, Platform};
use order::{Added, Order};
use report::Other;
use threads::Threads;

/// Everything the verifier keeps, in one allocation.
pub struct Tables {
    threads: Threads,
    order: Order,
    reported: AtomicUsize,
    last_kind: AtomicUsize,
    last_lock: AtomicUsize,
}

/// See the module docs' state table.
static TABLES: AtomicPtr<Tables> = AtomicPtr::new(NOT_STARTED);
const NOT_STARTED: *mut Tables = core::ptr::null_mut();
/// Never an allocation's address (`Tables` is 8-aligned).
const OFF: *mut Tables = core::ptr::without_provenance_mut(1);

/// Whether `tables` is an allocation's address (not one of the two states without tables).
fn allocated(tables: *mut Tables) -> bool {
    tables.addr() > OFF.addr()
}
/// The lock whose violations are counted instead of reported (self-tests); 0: none.
static REPORT_ONLY: AtomicUsize = AtomicUsize::new(0);

/// Fibonacci hashing of an address: multiply by 2^64 / φ, keep the well-mixed high half.
const fn hash(word: usize) -> usize {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "on 32-bit targets the low half still mixes"
    )]
    const GOLDEN: usize = 0x9E37_79B9_7F4A_7C15_u64 as usize;
    word.wrapping_mul(GOLDEN).rotate_left(usize::BITS / 2)
}

/// The verifier could not allocate its tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMemory;

/// Allocates the verifier's tables now (the first lock operation does it otherwise), so that a
/// driver can fail its load rather than run unverified; after [`stop`], turns it on again.
///
/// # Errors
/// [`NoMemory`] if the platform could not allocate them; the verifier is then off.
pub fn start<P: Platform>() -> Result<(), NoMemory> {
    let _ = TABLES.compare_exchange(OFF, NOT_STARTED, AcqRel, Acquire);
    tables::<P>().map(|_| ()).ok_or(NoMemory)
}

/// Turns the verifier off and frees its tables.
///
/// # Safety
/// No push-lock operation is in progress on any thread, and none holds a lock.
pub unsafe fn stop<P: Platform>() {
    let previous = TABLES.swap(OFF, AcqRel);
    if allocated(previous) {
        // SAFETY: allocated by `tables` through `P`; nobody uses it (caller).
        unsafe { P::free_verifier(previous.cast(), core::alloc::Layout::new::<Tables>()) };
    }
}

/// Whether the verifier is on.
#[must_use]
pub fn is_on() -> bool {
    allocated(TABLES.load(Relaxed))
}

/// Starts report-only mode for violations on `lock` (its address). For self-tests only.
///
/// Violations on `lock` are counted ([`reported`]) instead of stopping the system, and a call
/// that would hang or corrupt the lock does nothing. Violations on other locks are reported as ever.
/// False if another lock is in report-only mode (one at a time); try again later.
#[must_use]
pub fn begin_report_only(lock: usize) -> bool {
    lock != 0
        && REPORT_ONLY
            .compare_exchange(0, lock, AcqRel, Acquire)
            .is_ok()
}

/// Ends the report-only mode [`begin_report_only`] started for `lock`.
pub fn end_report_only(lock: usize) {
    let _ = REPORT_ONLY.compare_exchange(lock, 0, AcqRel, Acquire);
}

/// Violations counted in report-only mode, and the last one's kind and lock.
#[must_use]
pub fn reported() -> (usize, usize, usize) {
    current().map_or((0, 0, 0), |t| {
        (
            t.reported.load(Acquire),
            t.last_kind.load(Relaxed),
            t.last_lock.load(Relaxed),
        )
    })
}

fn current() -> Option<&'static Tables> {
    let tables = TABLES.load(Acquire);
    // SAFETY: allocations are only published by `tables`, pointing at an initialised (zeroed)
    // `Tables` that stays allocated until `stop`, which no running lock operation overlaps.
    allocated(tables).then(|| unsafe { &*tables })
}

fn tables<P: Platform>() -> Option<&'static Tables> {
    let state = TABLES.load(Acquire);
    if state != NOT_STARTED {
        return current();
    }
    let layout = core::alloc::Layout::new::<Tables>();
    let fresh = P::allocate_verifier(layout);
    let published = if fresh.is_null() { OFF } else { fresh.cast() };
    if TABLES
        .compare_exchange(NOT_STARTED, published, AcqRel, Acquire)
        .is_err()
        && !fresh.is_null()
    {
        // SAFETY: ours, never published: another thread published its own first.
        unsafe { P::free_verifier(fresh, layout) };
    }
    current()
}

struct Thread<P> {
    tables: &'static Tables,
    id: usize,
    platform: core::marker::PhantomData<P>,
}

impl<P: Platform> Thread<P> {
    fn current() -> Option<Self> {
        let tables = tables::<P>()?;
        let id = P::current_thread();
        (id != 0).then_some(Self {
            tables,
            id,
            platform: core::marker::PhantomData,
        })
    }

    /// Reports `violation`; returns whether the call goes on (report-only mode only).
    fn report(&self, violation: Violation, lock: usize, site: Site, other: Other) -> bool {
        let report = Report {
            violation,
            lock,
            word: word_of(lock),
            thread: self.id,
            site,
            other,
            tables: Some(self.tables),
        };
        if REPORT_ONLY.load(Acquire) != lock {
            P::violation(&report);
        }
        self.tables.last_kind.store(violation.kind(), Relaxed);
        self.tables.last_lock.store(lock, Relaxed);
        self.tables.reported.fetch_add(1, Release);
        !violation.skips_the_call()
    }

    fn holds_flt(&self) -> bool {
        let mut flt = false;
        self.tables
            .threads
            .for_each_held(self.id, |held| flt |= held.flt);
        flt
    }

    /// The critical-region check: a thread holding a lock it took through `Flt*` must still be
    /// inside the critical region that acquisition entered.
    fn check_critical_region(&self, lock: usize, site: Site) -> bool {
        if P::apcs_disabled() || !self.holds_flt() {
            return true;
        }
        self.report(Violation::CriticalRegionLeft, lock, site, Other::None)
    }
}

/// The word of the lock at `lock`, for a report.
fn word_of(lock: usize) -> LockWord {
    let word = core::ptr::with_exposed_provenance::<crate::EX_PUSH_LOCK>(lock);
    // SAFETY: reports are made for locks the caller passed to a lock operation, valid for it.
    unsafe { &*word }.word()
}

/// Whether the hooks have work to do: the verifier is on, or not yet started (the first lock
/// operation starts it). Inlined at every hook, so that a verifier switched off with [`stop`]
/// costs a load and a branch per operation.
#[inline]
fn active() -> bool {
    TABLES.load(Relaxed) != OFF
}

/// Before any acquisition: IRQL, critical region, and (for a blocking one) lock order. Returns
/// whether to go on.
#[inline]
pub(crate) fn before_acquire<P: Platform>(lock: usize, blocking: bool, how: How) -> bool {
    !active() || check_acquire::<P>(lock, blocking, how)
}

#[inline(never)]
fn check_acquire<P: Platform>(lock: usize, blocking: bool, how: How) -> bool {
    let Some(thread) = Thread::<P>::current() else {
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
    let class = order.class_of(lock);
    let mut found = None;
    thread.tables.threads.for_each_held(thread.id, |held| {
        if found.is_none() && held.lock != lock {
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

/// Before an acquisition waits in the queue: the waiting thread must not hold the lock.
/// Returns whether to go on.
pub(crate) fn before_wait<P: Platform>(lock: usize, exclusive: bool, how: How) -> bool {
    let Some(thread) = Thread::<P>::current() else {
        return true;
    };
    let Some((_, _, held)) = thread.tables.threads.find_held(thread.id, lock) else {
        return true;
    };
    let violation = match (exclusive, held.exclusive) {
        (true, _) => Violation::RecursiveExclusive,
        (false, true) => Violation::SharedAfterExclusive,
        (false, false) => Violation::SharedWhileWriterWaits,
    };
    thread.report(violation, lock, how.site, Other::Mine(held))
}

/// After an acquisition: record it.
#[inline]
pub(crate) fn acquired<P: Platform>(lock: usize, exclusive: bool, how: How) {
    if active() {
        record::<P>(lock, exclusive, how);
    }
}

#[inline(never)]
fn record<P: Platform>(lock: usize, exclusive: bool, how: How) {
    let Some(thread) = Thread::<P>::current() else {
        return;
    };
    let held = Held {
        lock,
        exclusive,
        flt: how.flt,
        site: how.site,
        class: thread.tables.order.class_of(lock),
    };
    if let Err(full) = thread.tables.threads.push(thread.id, &held) {
        thread.report(full.into(), lock, how.site, Other::None);
    }
}

/// Before a release (`exclusive`: `Some` for a mode-specific release): the thread must hold
/// the lock, in that mode. Forgets the record. Returns whether to go on.
#[inline]
pub(crate) fn before_release<P: Platform>(lock: usize, exclusive: Option<bool>, how: How) -> bool {
    !active() || check_release::<P>(lock, exclusive, how)
}

#[inline(never)]
fn check_release<P: Platform>(lock: usize, exclusive: Option<bool>, how: How) -> bool {
    let Some(thread) = Thread::<P>::current() else {
        return true;
    };
    let threads = &thread.tables.threads;
    let Some((slot, position, held)) = threads.find_held(thread.id, lock) else {
        let mut owner = Other::None;
        threads.for_each_thread(|id, held| {
            if held.lock == lock {
                owner = Other::Theirs(id, *held);
            }
        });
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

/// Gives up the calling thread's hold of `lock` to another thread, which will release it.
///
/// The hold is no longer this thread's (it must not release it), and the receiver calls
/// [`adopt`]. Without this a release by the receiver is reported (kind 9): with the verifier on, a lock
/// belongs to the thread that took it, unless handed over (a work item that releases a lock its
/// queuer took, say).
#[track_caller]
pub fn disown<P: Platform>(lock: &crate::RawPushLock<P>) {
    let lock = lock.as_ex_push_lock().expose_provenance();
    let Some(thread) = Thread::<P>::current() else {
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
    let how = How {
        site: Site::caller(),
        flt: false,
    };
    record::<P>(lock.as_ex_push_lock().expose_provenance(), exclusive, how);
}

/// Reports a lock bug found by the lock's own checks, with the verifier's report.
pub(crate) fn misuse<P: Platform>(lock: usize, misuse: Misuse) -> ! {
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
pub(crate) fn rejected<P: Platform>(lock: usize, misuse: Misuse, how: How) -> bool {
    let Some(thread) = Thread::<P>::current() else {
        self::misuse::<P>(lock, misuse)
    };
    thread.report(Violation::Misuse(misuse), lock, how.site, Other::None)
}

/// `FltDeletePushLock`: no thread may hold the lock. Forgets its class. Returns whether to go
/// on.
pub(crate) fn deleted<P: Platform>(lock: usize, how: How) -> bool {
    let Some(thread) = Thread::<P>::current() else {
        return true;
    };
    let mut owner = None;
    thread.tables.threads.for_each_thread(|id, held| {
        if held.lock == lock {
            owner = Some(Other::Theirs(id, *held));
        }
    });
    if let Some(owner) = owner {
        let violation = Violation::Misuse(Misuse::DeleteInUse(word_of(lock)));
        return thread.report(violation, lock, how.site, owner);
    }
    thread.tables.order.forget(lock);
    true
}

/// A lock was dropped: forget it, so that a new lock at its address starts afresh.
pub(crate) fn dropped(lock: usize) {
    if let Some(tables) = current() {
        tables.order.forget(lock);
    }
}

/// Gives `lock` a class: a named one, or the site that initialised it.
pub(crate) fn classify<P: Platform>(lock: usize, class: Option<&'static LockClass>, site: Site) {
    let Some(thread) = Thread::<P>::current() else {
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

/// Reports a lock the calling thread holds when it must hold none.
#[track_caller]
pub fn check_none_held<P: Platform>(when: HeldAt) {
    let Some(thread) = Thread::<P>::current() else {
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
    let Some(thread) = Thread::<P>::current() else {
        return;
    };
    let mut first = None;
    thread
        .tables
        .threads
        .for_each_thread(|id, held| first = first.or(Some((id, *held))));
    if let Some((id, held)) = first {
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
    let Some(thread) = Thread::<P>::current() else {
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
