//! The verifier's state: one allocation of tables behind one global pointer, and the
//! report-only switch (see the state table in the module docs).

use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use core::sync::atomic::{AtomicPtr, AtomicUsize};

use super::order::Order;
use super::threads::Threads;
use crate::Platform;

/// Everything the verifier keeps, in one allocation.
pub struct Tables {
    pub(super) threads: Threads,
    pub(super) order: Order,
    pub(super) reported: AtomicUsize,
    pub(super) last_kind: AtomicUsize,
    pub(super) last_lock: AtomicUsize,
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
pub(super) static REPORT_ONLY: AtomicUsize = AtomicUsize::new(0);

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

pub(super) fn current() -> Option<&'static Tables> {
    let tables = TABLES.load(Acquire);
    // SAFETY: allocations are only published by `tables`, pointing at an initialised (zeroed)
    // `Tables` that stays allocated until `stop`, which no running lock operation overlaps.
    allocated(tables).then(|| unsafe { &*tables })
}

pub(super) fn tables<P: Platform>() -> Option<&'static Tables> {
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

/// Whether the hooks have work to do: the verifier is on, or not yet started (the first lock
/// operation starts it). Inlined at every hook, so that a verifier switched off with [`stop`]
/// costs a load and a branch per operation.
#[inline]
pub(super) fn active() -> bool {
    TABLES.load(Relaxed) != OFF
}
