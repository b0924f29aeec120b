//! Workloads: many threads on one lock, a write share, a critical-section length, for a number of
//! operations or a span of time. One engine for the stress run (invariant-checked), the
//! throughput bench (nothing but the lock in the loop) and the writer-wait run (one writer
//! against a reader flood, every wait timed).

use alloc::vec::Vec;
use core::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};

use pushlock_protocol::{Outcome, Phase, Role, ThreadReport, U64};

use crate::engine::{Refused, Report};
use crate::fallible::{OutOfMemory, Shared, try_box, try_collect, try_push};
use crate::histogram::{WaitHistogram, percentiles};
use crate::host::{Host, LockVisitor, TestLock};
use crate::text::{Text, text};

/// What a workload run measures and checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every thread mixed by the write share; invariants checked, waits timed.
    Stress,
    /// Every thread mixed by the write share; nothing in the loop but the lock and the hold.
    Bench,
    /// Thread 0 writes, every other thread reads; invariants checked, waits timed.
    WriterWait,
}

impl Mode {
    const fn checks(self) -> bool {
        !matches!(self, Self::Bench)
    }

    const fn role(self, thread: usize) -> Role {
        match (self, thread) {
            (Self::WriterWait, 0) => Role::Writer,
            (Self::WriterWait, _) => Role::Reader,
            _ => Role::Mixed,
        }
    }
}

/// A validated workload request.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub mode: Mode,
    pub threads: u32,
    /// Operations per thread; 0 = until the time limit.
    pub iterations: u64,
    pub write_permille: u16,
    pub hold_ns: u32,
    pub seed: u64,
    pub time_limit_ns: u64,
}

/// How often (in operations) a thread looks at the clock and publishes its counts.
const CHECK_EVERY: u64 = 64;
/// How often the starting thread looks whether the run is over.
const POLL_NS: u64 = 1_000_000;
/// How long stopped threads get to end before they count as stuck.
const GRACE_NS: u64 = 1_000_000_000;
/// Consistency of the protected record: `mixed == value ^ MIX`.
const MIX: u64 = 0x5A5A_A5A5_F00D_CAFE;

/// One thread's counters, on its own cache line.
#[repr(align(128))]
struct Slot {
    shared: AtomicU64,
    exclusive: AtomicU64,
    max_wait_ns: AtomicU64,
    max_exclusive_wait_ns: AtomicU64,
    exclusive_waits: WaitHistogram,
    phase: AtomicU8,
    done: AtomicBool,
    end_ns: AtomicU64,
}

impl Slot {
    fn try_new() -> Result<Self, OutOfMemory> {
        Ok(Self {
            shared: AtomicU64::new(0),
            exclusive: AtomicU64::new(0),
            max_wait_ns: AtomicU64::new(0),
            max_exclusive_wait_ns: AtomicU64::new(0),
            exclusive_waits: WaitHistogram::try_new()?,
            phase: AtomicU8::new(0),
            done: AtomicBool::new(false),
            end_ns: AtomicU64::new(0),
        })
    }
}

/// Everything the run's threads share.
struct Run {
    params: Params,
    start: AtomicBool,
    stop: AtomicBool,
    deadline_ns: AtomicU64,
    /// -1 a writer inside, n > 0 readers inside.
    inside: AtomicI64,
    max_readers: AtomicU32,
    violations: AtomicU32,
    /// The protected record: written in three steps by writers, checked by everyone. Atomics
    /// (relaxed), so that a broken lock is a counted violation, not undefined behaviour.
    record: [AtomicU64; 3],
    /// Spin-loop iterations per 1024 ns, for the hold.
    spins_per_1024ns: u64,
    slots: Vec<Slot>,
}

impl Run {
    fn enter(&self, write: bool) {
        if write {
            if self.inside.compare_exchange(0, -1, SeqCst, SeqCst).is_err() {
                self.violations.fetch_add(1, SeqCst);
            }
            let [value, complement, mixed] = &self.record;
            let next = value.load(Relaxed).wrapping_add(1);
            value.store(next, Relaxed);
            complement.store(!next, Relaxed);
            mixed.store(next ^ MIX, Relaxed);
        } else {
            let before = self.inside.fetch_add(1, SeqCst);
            if before < 0 {
                self.violations.fetch_add(1, SeqCst);
            }
            let readers = u32::try_from(before.saturating_add(1)).unwrap_or(0);
            self.max_readers.fetch_max(readers, SeqCst);
        }
        let [value, complement, mixed] = &self.record;
        let seen = value.load(Relaxed);
        if complement.load(Relaxed) != !seen || mixed.load(Relaxed) != seen ^ MIX {
            self.violations.fetch_add(1, SeqCst);
        }
    }

    fn leave(&self, write: bool) {
        let ok = if write {
            self.inside.compare_exchange(-1, 0, SeqCst, SeqCst).is_ok()
        } else {
            self.inside.fetch_sub(1, SeqCst) > 0
        };
        if !ok {
            self.violations.fetch_add(1, SeqCst);
        }
    }

    fn hold(&self) {
        let spins = u64::from(self.params.hold_ns).saturating_mul(self.spins_per_1024ns) >> 10;
        for _ in 0..spins {
            core::hint::spin_loop();
        }
    }
}

/// A small, fast, seedable generator (xorshift64*): the operation mix, reproducible by seed.
struct Rng(u64);

impl Rng {
    const fn new(seed: u64, stream: u64) -> Self {
        Self((seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn below_1000(&mut self) -> u16 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
        u16::try_from(value.checked_rem(1000).unwrap_or(0)).unwrap_or(0)
    }
}

/// Runs the workload on whatever lock the host hands over.
pub struct Workload<H: Host> {
    pub host: H,
    pub params: Params,
}

impl<H: Host> LockVisitor for Workload<H> {
    type Output = Result<Report, Refused>;

    fn visit<L: TestLock>(self, lock: Shared<L>) -> Self::Output {
        run(&self.host, self.params, &lock)
    }
}

fn calibrate_spins<H: Host>(host: &H) -> u64 {
    const SPINS: u64 = 20_000;
    let start = host.now_ns();
    for _ in 0..SPINS {
        core::hint::spin_loop();
    }
    let elapsed = host.now_ns().saturating_sub(start).max(1);
    SPINS.saturating_mul(1024).checked_div(elapsed).unwrap_or(0)
}

/// Runs the workload; every allocation comes before the first thread starts, so running out
/// of memory strands nothing. A thread the host cannot start refuses the run, once the threads
/// already started are stopped and joined.
fn run<H: Host, L: TestLock>(
    host: &H,
    params: Params,
    lock: &Shared<L>,
) -> Result<Report, Refused> {
    let threads = usize::try_from(params.threads).unwrap_or(0);
    let mut slots = Vec::new();
    slots.try_reserve_exact(threads).map_err(|_| OutOfMemory)?;
    for _ in 0..threads {
        try_push(&mut slots, Slot::try_new()?)?;
    }
    let run = Shared::try_new(Run {
        params,
        start: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        deadline_ns: AtomicU64::new(u64::MAX),
        inside: AtomicI64::new(0),
        max_readers: AtomicU32::new(0),
        violations: AtomicU32::new(0),
        record: [AtomicU64::new(0), AtomicU64::new(!0), AtomicU64::new(MIX)],
        spins_per_1024ns: if params.hold_ns == 0 {
            0
        } else {
            calibrate_spins(host)
        },
        slots,
    })?;
    let mut bodies = Vec::new();
    bodies.try_reserve_exact(threads).map_err(|_| OutOfMemory)?;
    for index in 0..threads {
        let (thread_host, thread_run, thread_lock) = (host.clone(), run.clone(), lock.clone());
        let body = try_box(move || worker(&thread_host, &thread_run, &*thread_lock, index))?;
        try_push(&mut bodies, body)?;
    }
    let mut handles = Vec::new();
    handles
        .try_reserve_exact(threads)
        .map_err(|_| OutOfMemory)?;
    for body in bodies {
        let Ok(handle) = host.spawn(body) else {
            run.stop.store(true, SeqCst);
            break;
        };
        try_push(&mut handles, handle)?;
    }
    let spawned_all = handles.len() == threads;
    let start_ns = host.now_ns();
    run.deadline_ns
        .store(start_ns.saturating_add(params.time_limit_ns), SeqCst);
    run.start.store(true, SeqCst);

    let all_done = || {
        run.slots
            .iter()
            .take(handles.len())
            .all(|slot| slot.done.load(SeqCst))
    };
    let mut hit_deadline = false;
    while !all_done() {
        let now = host.now_ns();
        let deadline = run.deadline_ns.load(SeqCst);
        if now > deadline {
            hit_deadline = true;
            run.stop.store(true, SeqCst);
            break;
        }
        // Sleep, not yield: a yielding poller is one more runnable thread, and it took whole
        // time slices from the threads measured (the longest writer wait with one reader on two
        // processors was a 4 ms tick for every lock).
        host.sleep_ns(POLL_NS.min(deadline.saturating_sub(now)));
    }
    let until = host.now_ns().saturating_add(GRACE_NS);
    let mut stuck = 0_u32;
    for handle in handles {
        if let Err(handle) = host.join(handle, until.saturating_sub(host.now_ns())) {
            host.abandon(handle);
            stuck = stuck.saturating_add(1);
        }
    }
    report(
        &run,
        lock.word(),
        start_ns,
        stuck,
        hit_deadline,
        spawned_all,
    )
}

fn worker<L: TestLock, H: Host>(host: &H, run: &Run, lock: &L, index: usize) {
    let Some(slot) = run.slots.get(index) else {
        return;
    };
    while !run.start.load(SeqCst) {
        host.yield_now();
    }
    let params = run.params;
    let (checks, role) = (params.mode.checks(), params.mode.role(index));
    let mut rng = Rng::new(params.seed, index as u64);
    let deadline = run.deadline_ns.load(SeqCst);
    let (mut shared, mut exclusive) = (0_u64, 0_u64);
    let (mut max_wait, mut max_exclusive_wait) = (0_u64, 0_u64);
    let mut op = 0_u64;
    loop {
        if params.iterations != 0 && op >= params.iterations {
            break;
        }
        if op.is_multiple_of(CHECK_EVERY) {
            slot.shared.store(shared, Relaxed);
            slot.exclusive.store(exclusive, Relaxed);
            if run.stop.load(Relaxed) || host.now_ns() > deadline {
                break;
            }
        }
        op = op.wrapping_add(1);
        let write = match role {
            Role::Writer => true,
            Role::Reader => false,
            Role::Mixed => rng.below_1000() < params.write_permille,
        };
        let asked = if checks {
            slot.phase.store(
                if write {
                    Phase::WantsExclusive
                } else {
                    Phase::WantsShared
                } as u8,
                Relaxed,
            );
            host.now_ns()
        } else {
            0
        };
        let critical_section = || {
            if checks {
                let waited = host.now_ns().saturating_sub(asked);
                max_wait = max_wait.max(waited);
                if write {
                    max_exclusive_wait = max_exclusive_wait.max(waited);
                    slot.exclusive_waits.record(waited);
                }
                slot.phase.store(
                    if write {
                        Phase::HoldsExclusive
                    } else {
                        Phase::HoldsShared
                    } as u8,
                    Relaxed,
                );
                run.enter(write);
            }
            run.hold();
            if checks {
                run.leave(write);
            }
        };
        if write {
            lock.exclusive(critical_section);
            exclusive = exclusive.wrapping_add(1);
        } else {
            lock.shared(critical_section);
            shared = shared.wrapping_add(1);
        }
        if checks {
            slot.phase.store(Phase::Released as u8, Relaxed);
        }
    }
    slot.shared.store(shared, SeqCst);
    slot.exclusive.store(exclusive, SeqCst);
    slot.max_wait_ns.store(max_wait, SeqCst);
    slot.max_exclusive_wait_ns.store(max_exclusive_wait, SeqCst);
    slot.end_ns.store(host.now_ns(), SeqCst);
    slot.phase.store(Phase::Finished as u8, SeqCst);
    slot.done.store(true, SeqCst);
}

fn report(
    run: &Run,
    word: Option<usize>,
    start_ns: u64,
    stuck: u32,
    hit_deadline: bool,
    spawned_all: bool,
) -> Result<Report, Refused> {
    let params = run.params;
    let end_ns = run
        .slots
        .iter()
        .map(|slot| slot.end_ns.load(SeqCst))
        .max()
        .unwrap_or(start_ns);
    let threads = try_collect(
        run.slots
            .iter()
            .enumerate()
            .map(|(index, slot)| ThreadReport {
                shared: U64::new(slot.shared.load(SeqCst)),
                exclusive: U64::new(slot.exclusive.load(SeqCst)),
                max_wait_ns: U64::new(slot.max_wait_ns.load(SeqCst)),
                role: params.mode.role(index) as u8,
                phase: slot.phase.load(SeqCst),
                reserved: [0; 6],
            }),
    )?;
    let sum =
        |pick: fn(&ThreadReport) -> u64| threads.iter().map(pick).fold(0_u64, u64::saturating_add);
    let violations = run.violations.load(SeqCst);
    let unfinished = params.iterations != 0 && hit_deadline;
    if !spawned_all {
        return Err(Refused);
    }
    let (outcome, detail) = if violations != 0 {
        (
            Outcome::Failed,
            text!("{violations} invariant violations: exclusion failed"),
        )
    } else if stuck != 0 {
        (
            Outcome::TimedOut,
            text!("{stuck} threads stuck in the lock after the run was stopped"),
        )
    } else if unfinished {
        (
            Outcome::TimedOut,
            text!("the time limit passed before every thread finished"),
        )
    } else {
        (Outcome::Passed, Text::new())
    };
    let writer_wait = run
        .slots
        .iter()
        .map(|slot| slot.max_exclusive_wait_ns.load(SeqCst))
        .max()
        .unwrap_or(0);
    let writer_wait_percentiles_ns = percentiles(
        &run.slots.iter().map(|slot| &slot.exclusive_waits),
        writer_wait,
    );
    Ok(Report {
        outcome,
        detail,
        lock_word: word.map_or(0, |word| u64::try_from(word).unwrap_or(u64::MAX)),
        stuck_threads: stuck,
        shared: sum(|t| t.shared.get()),
        exclusive: sum(|t| t.exclusive.get()),
        max_readers_inside: run.max_readers.load(SeqCst),
        violations,
        max_writer_wait_ns: writer_wait,
        writer_wait_percentiles_ns,
        elapsed_ns: end_ns.saturating_sub(start_ns),
        threads,
    })
}
