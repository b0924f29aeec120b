//! The scenario catalogue: ids, names, what each checks, and how each is run.

mod cache_aware;
mod conformance;
#[cfg(feature = "verify")]
mod violations;

use pushlock_protocol::ScenarioKind;

use crate::engine::{Ctx, Failure, Refused, Report};
use crate::host::Host;
use crate::workload::Mode;

/// One catalogue entry.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The id to run it by.
    pub id: u16,
    /// Short name, for the command line.
    pub name: &'static str,
    /// One line on what it checks.
    pub summary: &'static str,
    /// Conformance check or workload.
    pub kind: ScenarioKind,
    /// Conformance: the threads it reports (its actors). Workload: a suggestion.
    pub threads: u16,
    what: What,
}

#[derive(Clone, Copy, Debug)]
enum What {
    Conformance(Check),
    Workload(Mode),
}

/// The conformance checks, by name.
#[derive(Clone, Copy, Debug)]
enum Check {
    Encodings,
    TryMatrix,
    OldestWriterAlone,
    SharedOwnerDrain,
    WriterBeatsReader,
    ArrivalDuringRelease,
    MixedRecord,
    FltCriticalRegion,
    ExFlags,
    WriterNotStarved,
    ReadersTogether,
    QueuedReadersTogether,
    NotReentrant,
    CacheAwareSlots,
    CacheAwareWriterSweep,
    CacheAwareMixedRecord,
    #[cfg(feature = "verify")]
    Violation(Commit),
}

/// The verifier's scenarios: each commits one violation on purpose.
#[cfg(feature = "verify")]
#[derive(Clone, Copy, Debug)]
enum Commit {
    RecursiveExclusive,
    SharedAfterExclusive,
    SharedWhileWriterWaits,
    ReleaseNotOwner,
    ReleaseWrongMode,
    LockOrderInversion,
    HeldAtReturn,
    CriticalRegionLeft,
    OwnChecks,
}

const fn conformance(
    id: u16,
    name: &'static str,
    threads: u16,
    check: Check,
    summary: &'static str,
) -> Entry {
    Entry {
        id,
        name,
        summary,
        kind: ScenarioKind::Conformance,
        threads,
        what: What::Conformance(check),
    }
}

#[cfg(feature = "verify")]
const fn violation(
    id: u16,
    name: &'static str,
    threads: u16,
    commit: Commit,
    summary: &'static str,
) -> Entry {
    conformance(id, name, threads, Check::Violation(commit), summary)
}

const fn workload(
    id: u16,
    name: &'static str,
    threads: u16,
    mode: Mode,
    summary: &'static str,
) -> Entry {
    Entry {
        id,
        name,
        summary,
        kind: ScenarioKind::Workload,
        threads,
        what: What::Workload(mode),
    }
}

/// Scenarios in the catalogue: the verifier's nine only where it is built in.
const SCENARIOS: usize = if cfg!(feature = "verify") { 28 } else { 19 };

/// Every scenario, in id order.
pub const CATALOGUE: [Entry; SCENARIOS] = [
    conformance(
        1,
        "encodings",
        1,
        Check::Encodings,
        "X is 0x1, k readers 0x1+k*0x10, back to 0, by both releases",
    ),
    conformance(
        2,
        "try-matrix",
        4,
        Check::TryMatrix,
        "try-S/try-X against X, against shares released one by one, free",
    ),
    conformance(
        3,
        "oldest-writer-alone",
        4,
        Check::OldestWriterAlone,
        "a queued writer at the front is woken alone; readers behind hold together",
    ),
    conformance(
        4,
        "shared-owner-drain",
        3,
        Check::SharedOwnerDrain,
        "3 shares move into the writer's block; it gets in after the third release",
    ),
    conformance(
        5,
        "writer-beats-reader",
        3,
        Check::WriterBeatsReader,
        "once a writer waits, a later reader queues behind it (and try-S fails)",
    ),
    conformance(
        6,
        "arrival-during-release",
        3,
        Check::ArrivalDuringRelease,
        "a writer arriving during a release: both writers get in, word back to 0",
    ),
    conformance(
        7,
        "mixed-record",
        6,
        Check::MixedRecord,
        "2 writers, 4 readers x 2048: a three-field record never torn, exact counts",
    ),
    conformance(
        8,
        "flt-critical-region",
        1,
        Check::FltCriticalRegion,
        "Flt* hold a critical region while held; Ex* leave APCs alone",
    ),
    conformance(
        9,
        "ex-flags",
        1,
        Check::ExFlags,
        "Flt*Ex accept flags 0-3 in both modes",
    ),
    conformance(
        10,
        "writer-not-starved",
        9,
        Check::WriterNotStarved,
        "8 readers in a tight loop; a writer completes 1000 acquisitions",
    ),
    conformance(
        11,
        "readers-together",
        4,
        Check::ReadersTogether,
        "4 readers that wait for each other inside all get in together",
    ),
    conformance(
        12,
        "queued-readers-together",
        5,
        Check::QueuedReadersTogether,
        "readers queued behind a writer and arriving during its wake: all inside at once",
    ),
    conformance(
        13,
        "not-reentrant",
        1,
        Check::NotReentrant,
        "the exclusive owner's own tries fail",
    ),
    conformance(
        14,
        "cache-aware-slots",
        1,
        Check::CacheAwareSlots,
        "cache-aware: X holds every slot, S one (its token's); a failed try-X gives back",
    ),
    conformance(
        15,
        "cache-aware-writer-sweep",
        3,
        Check::CacheAwareWriterSweep,
        "cache-aware: a writer queues at a reader's slot holding those before; later reader waits",
    ),
    conformance(
        16,
        "cache-aware-mixed-record",
        6,
        Check::CacheAwareMixedRecord,
        "cache-aware: 2 writers, 4 readers x 2048: record never torn, exact counts",
    ),
    workload(
        20,
        "stress",
        8,
        Mode::Stress,
        "invariant-checked mix of readers and writers; counts, waits, readers inside",
    ),
    workload(
        21,
        "bench",
        8,
        Mode::Bench,
        "throughput: nothing in the loop but the lock and the hold",
    ),
    workload(
        22,
        "writer-wait",
        9,
        Mode::WriterWait,
        "one writer against a reader flood; the longest writer wait",
    ),
    #[cfg(feature = "verify")]
    violation(
        30,
        "verify-recursive-x",
        1,
        Commit::RecursiveExclusive,
        "verifier kind 6: the exclusive owner acquires again, reported before it waits",
    ),
    #[cfg(feature = "verify")]
    violation(
        31,
        "verify-shared-after-x",
        1,
        Commit::SharedAfterExclusive,
        "verifier kind 7: the exclusive owner asks for a share",
    ),
    #[cfg(feature = "verify")]
    violation(
        32,
        "verify-reader-re-entry",
        2,
        Commit::SharedWhileWriterWaits,
        "verifier kind 8: a reader re-acquires while a writer waits behind it",
    ),
    #[cfg(feature = "verify")]
    violation(
        33,
        "verify-release-not-owner",
        2,
        Commit::ReleaseNotOwner,
        "verifier kind 9: another thread releases the owner's lock",
    ),
    #[cfg(feature = "verify")]
    violation(
        34,
        "verify-wrong-mode",
        1,
        Commit::ReleaseWrongMode,
        "verifier kind 10: a share released as exclusive",
    ),
    #[cfg(feature = "verify")]
    violation(
        35,
        "verify-lock-order",
        1,
        Commit::LockOrderInversion,
        "verifier kind 11: A then B, later B then A, on one thread (no deadlock needed)",
    ),
    #[cfg(feature = "verify")]
    violation(
        36,
        "verify-held-at-return",
        1,
        Commit::HeldAtReturn,
        "verifier kind 12: a lock held at a message callback's return",
    ),
    #[cfg(feature = "verify")]
    violation(
        37,
        "verify-critical-region",
        1,
        Commit::CriticalRegionLeft,
        "verifier kind 14: the critical region of a held Flt* lock is left",
    ),
    #[cfg(feature = "verify")]
    violation(
        38,
        "verify-own-checks",
        1,
        Commit::OwnChecks,
        "verifier kinds 1, 2: bad *Ex flags, delete of a lock in use",
    ),
];

/// Every name fits the protocol's 24-byte field, or `ListScenarios` would cut it short.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "evaluated at compile time: a bad index or an overflow fails the build"
)]
const _: () = {
    let mut index = 0;
    while index < CATALOGUE.len() {
        assert!(
            CATALOGUE[index].name.len() <= 24,
            "a scenario name is longer than 24 bytes"
        );
        index += 1;
    }
};

/// The entry with `id`.
pub fn find(id: u16) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|entry| entry.id == id)
}

impl Entry {
    /// The workload mode, for workload entries.
    #[must_use]
    pub const fn mode(&self) -> Option<Mode> {
        match self.what {
            What::Workload(mode) => Some(mode),
            What::Conformance(_) => None,
        }
    }

    /// Runs a conformance entry within `time_limit_ns` (workload entries report a failure: the
    /// server runs those through the workload engine).
    ///
    /// # Errors
    /// `Refused`: no memory or threads for it (its threads stopped and joined first).
    pub fn run_conformance<H: Host>(
        &self,
        host: &H,
        time_limit_ns: u64,
        seed: u64,
    ) -> Result<Report, Refused> {
        let mut ctx = Ctx::new(host, time_limit_ns, seed)?;
        let result = match self.what {
            What::Conformance(check) => run_check(check, &mut ctx),
            What::Workload(_) => Err(ctx.failure("not a conformance scenario")),
        };
        ctx.finish(result)
    }
}

fn run_check<H: Host>(check: Check, ctx: &mut Ctx<H>) -> Result<(), Failure> {
    match check {
        Check::Encodings => conformance::uncontended_encodings(ctx),
        Check::TryMatrix => conformance::try_matrix(ctx),
        Check::OldestWriterAlone => conformance::oldest_writer_woken_alone(ctx),
        Check::SharedOwnerDrain => conformance::shared_owner_drain(ctx),
        Check::WriterBeatsReader => conformance::writer_beats_later_reader(ctx),
        Check::ArrivalDuringRelease => conformance::waiter_arrives_during_release(ctx),
        Check::MixedRecord => conformance::mixed_record(ctx),
        Check::FltCriticalRegion => conformance::flt_critical_region(ctx),
        Check::ExFlags => conformance::ex_flags_accepted(ctx),
        Check::WriterNotStarved => conformance::writer_not_starved(ctx),
        Check::ReadersTogether => conformance::readers_inside_together(ctx),
        Check::QueuedReadersTogether => conformance::queued_readers_released_together(ctx),
        Check::NotReentrant => conformance::not_reentrant(ctx),
        Check::CacheAwareSlots => cache_aware::slots(ctx),
        Check::CacheAwareWriterSweep => cache_aware::writer_sweep(ctx),
        Check::CacheAwareMixedRecord => cache_aware::mixed_record(ctx),
        #[cfg(feature = "verify")]
        Check::Violation(commit) => commit_violation(commit, ctx),
    }
}

#[cfg(feature = "verify")]
fn commit_violation<H: Host>(commit: Commit, ctx: &mut Ctx<H>) -> Result<(), Failure> {
    match commit {
        Commit::RecursiveExclusive => violations::recursive_exclusive(ctx),
        Commit::SharedAfterExclusive => violations::shared_after_exclusive(ctx),
        Commit::SharedWhileWriterWaits => violations::shared_while_writer_waits(ctx),
        Commit::ReleaseNotOwner => violations::release_not_owner(ctx),
        Commit::ReleaseWrongMode => violations::release_wrong_mode(ctx),
        Commit::LockOrderInversion => violations::lock_order_inversion(ctx),
        Commit::HeldAtReturn => violations::held_at_return(ctx),
        Commit::CriticalRegionLeft => violations::critical_region_left(ctx),
        Commit::OwnChecks => violations::own_checks(ctx),
    }
}
