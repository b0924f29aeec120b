//! The scenario catalogue: ids, names, what each checks, and how each is run.

mod conformance;

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

/// Every scenario, in id order.
pub const CATALOGUE: [Entry; 16] = [
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
];

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
    }
}
