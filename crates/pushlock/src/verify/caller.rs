//! The calling thread as the verifier sees it: its key, the tables, and how it reports.

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::report::{Other, Report, Violation};
use super::site::Site;
use super::tables::{REPORT_ONLY, Tables, tables};
use crate::{LockWord, Platform};

/// The calling thread, with the tables it is recorded in.
pub(super) struct Caller<P> {
    pub(super) tables: &'static Tables,
    pub(super) id: usize,
    platform: core::marker::PhantomData<P>,
}

impl<P: Platform> Caller<P> {
    /// The calling thread, if the verifier is on and the platform can tell threads apart.
    pub(super) fn current() -> Option<Self> {
        let tables = tables::<P>()?;
        let id = P::current_thread();
        (id != 0).then_some(Self {
            tables,
            id,
            platform: core::marker::PhantomData,
        })
    }

    /// Reports `violation`; returns whether the call goes on (report-only mode only).
    pub(super) fn report(
        &self,
        violation: Violation,
        lock: usize,
        site: Site,
        other: Other,
    ) -> bool {
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

    /// Another party holding `lock` (the first found), for a report.
    pub(super) fn holder_of(&self, lock: usize) -> Other {
        self.tables
            .threads
            .find_any(|held| held.lock == lock)
            .map_or(Other::None, |(id, held)| Other::Theirs(id, held))
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
    pub(super) fn check_critical_region(&self, lock: usize, site: Site) -> bool {
        if P::apcs_disabled() || !self.holds_flt() {
            return true;
        }
        self.report(Violation::CriticalRegionLeft, lock, site, Other::None)
    }
}

/// The word of the lock at `lock`, for a report.
pub(super) fn word_of(lock: usize) -> LockWord {
    let word = core::ptr::with_exposed_provenance::<crate::EX_PUSH_LOCK>(lock);
    // SAFETY: reports are made for locks the caller passed to a lock operation, valid for it.
    unsafe { &*word }.word()
}
