//! The conformance scenarios of PUSHLOCK.md §5 (and contract 4), on any host.
//!
//! Scenarios that queue waiters observe the queue white-box: before starting the next actor they
//! wait until the word shows a new newest wait block with `Waiting` set and `Waking` clear. The
//! scenario's own thread holds the lock through [`Hold`]s, released on every return, early ones
//! included: a failed check never strands the actors queued behind it. Some
//! ideas follow the `ReactOS` kmtest `ExPushLock.c` (MIT); the code is ours.

use alloc::vec::Vec;
use core::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};

use pushlock::nt;
use pushlock_protocol::{Phase, Role};

use crate::engine::{Actor, Ctx, Env, Failure, Gate, Hold};
use crate::fallible::{Shared, try_push};
use crate::host::Host;
use crate::text::text;

type Outcome = Result<(), Failure>;

/// Long enough for a wrong wake-up to happen before a check looks (20 ms).
pub(super) const SETTLE_NS: u64 = 20_000_000;

/// Repetitions and iteration counts, cut down under Miri (which runs ~1000x slower).
pub(super) const fn scaled(count: u64) -> u64 {
    if cfg!(miri) {
        if count > 4 { 4 } else { count }
    } else {
        count
    }
}

/// The encodings a debugger reads: X → `0x1`, k readers → `0x1 + k*0x10`, back to 0, through the
/// mode-specific and the mode-agnostic releases.
pub fn uncontended_encodings<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Mixed)?;
    let lock = ctx.lock.clone();
    for mode_agnostic in [false, true] {
        let hold = Hold::exclusive(&main, &lock);
        ctx.check(lock.word().0 == 0x1, || text!("exclusive is not 0x1"))?;
        hold.release(mode_agnostic);
        ctx.check(lock.word().0 == 0, || text!("not 0 after the release"))?;
        let mut shares: [Option<Hold<_>>; 5] = core::array::from_fn(|_| None);
        for (k, share) in (1_usize..).zip(&mut shares) {
            *share = Some(Hold::shared(&main, &lock));
            let expected = (k << 4) | 0x1;
            ctx.check(lock.word().0 == expected, || {
                text!("{k} shares: expected {expected:#x}")
            })?;
        }
        for (k, share) in (0..5_usize).rev().zip(shares.iter_mut().rev()) {
            if let Some(share) = share.take() {
                share.release(mode_agnostic);
            }
            let expected = if k == 0 { 0 } else { (k << 4) | 0x1 };
            ctx.check(lock.word().0 == expected, || {
                text!("down to {k}: expected {expected:#x}")
            })?;
        }
    }
    Ok(())
}

/// try-S and try-X against another thread's X, against shares released one by one, and free.
pub fn try_matrix<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let lock = ctx.lock.clone();
    let try_both = || (try_shared(&lock), try_exclusive(&lock));
    ctx.check(try_both() == (true, true), || {
        text!("free: both tries must succeed")
    })?;

    let release = Gate::new()?;
    let gate = release.clone();
    let owner = ctx.spawn("owner-X", Role::Writer, move |env, lock, me| {
        me.lock_exclusive(lock);
        env.wait_until(|| gate.is_open());
        // SAFETY: held exclusively by this thread.
        unsafe { me.release_exclusive(lock, false) };
    })?;
    ctx.wait_phase(&owner, Phase::HoldsExclusive)?;
    ctx.check(try_both() == (false, false), || {
        text!("held X: both tries must fail")
    })?;
    release.open();
    ctx.wait_phase(&owner, Phase::Finished)?;

    let gates = [Gate::new()?, Gate::new()?, Gate::new()?];
    let mut readers = Vec::new();
    for (name, gate) in ["reader-0", "reader-1", "reader-2"].into_iter().zip(&gates) {
        let gate = gate.clone();
        let actor = ctx.spawn(name, Role::Reader, move |env, lock, me| {
            me.lock_shared(lock);
            env.wait_until(|| gate.is_open());
            // SAFETY: a share held by this thread.
            unsafe { me.release_shared(lock, false) };
        })?;
        try_push(&mut readers, actor)?;
    }
    for reader in &readers {
        ctx.wait_phase(reader, Phase::HoldsShared)?;
    }
    for (gate, reader) in gates.iter().zip(&readers) {
        ctx.check(try_both() == (true, false), || text!("held S: try-S only"))?;
        gate.open();
        ctx.wait_phase(reader, Phase::Finished)?;
    }
    ctx.check(try_both() == (true, true), || {
        text!("released: both tries must succeed")
    })
}

/// Tries a shared acquisition and gives it straight back.
fn try_shared<P: pushlock::Platform>(lock: &pushlock::RawPushLock<P>) -> bool {
    let taken = lock.try_lock_shared();
    if taken {
        // SAFETY: just acquired.
        unsafe { lock.unlock_shared() };
    }
    taken
}

/// Tries an exclusive acquisition and gives it straight back.
fn try_exclusive<P: pushlock::Platform>(lock: &pushlock::RawPushLock<P>) -> bool {
    let taken = lock.try_lock_exclusive();
    if taken {
        // SAFETY: just acquired.
        unsafe { lock.unlock_exclusive() };
    }
    taken
}

/// Main holds X; E1 (X), then S1, S2 (S) queue; main releases: only E1 gets in; after E1, S1 and
/// S2 hold together.
pub fn oldest_writer_woken_alone<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    for _ in 0..scaled(20) {
        let main = ctx.actor("main", Role::Writer)?;
        let lock = ctx.lock.clone();
        let hold = Hold::exclusive(&main, &lock);
        let e1_release = Gate::new()?;
        let gate = e1_release.clone();
        let e1 = ctx.spawn("E1", Role::Writer, move |env, lock, me| {
            me.lock_exclusive(lock);
            env.wait_until(|| gate.is_open());
            // SAFETY: held exclusively by this thread.
            unsafe { me.release_exclusive(lock, false) };
        })?;
        let mut newest = ctx.wait_queued(None)?.newest_waiter();
        let together = Shared::try_new(AtomicUsize::new(0))?;
        let mut readers = Vec::new();
        for name in ["S1", "S2"] {
            let together = together.clone();
            let actor = ctx.spawn(name, Role::Reader, move |env, lock, me| {
                me.lock_shared(lock);
                together.fetch_add(1, SeqCst);
                if !env.wait_until(|| together.load(SeqCst) >= 2) {
                    env.fail(text!("the other reader never got in"));
                }
                // SAFETY: a share held by this thread.
                unsafe { me.release_shared(lock, false) };
            })?;
            try_push(&mut readers, actor)?;
            newest = ctx.wait_queued(newest)?.newest_waiter();
        }
        hold.release(false);
        ctx.wait_phase(&e1, Phase::HoldsExclusive)?;
        ctx.pause(SETTLE_NS / 4);
        for reader in &readers {
            ctx.check(reader.phase() == Phase::WantsShared, || {
                text!("{} was let in with E1", reader.name)
            })?;
        }
        e1_release.open();
        for reader in &readers {
            ctx.wait_phase(reader, Phase::Finished)?;
            ctx.check(reader.last_grant() > e1.last_grant(), || {
                text!("E1 must be first")
            })?;
        }
        ctx.next_round()?;
    }
    Ok(())
}

/// Main holds S three times; E (X) queues (`MultipleShared`, count 3 in its block); R (S)
/// queues behind; E gets in only after the third release, R after E.
pub fn shared_owner_drain<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Reader)?;
    let lock = ctx.lock.clone();
    let shares = [(); 3].map(|()| Hold::shared(&main, &lock));
    let e = ctx.spawn("E", Role::Writer, |_, lock, me| {
        me.lock_exclusive(lock);
        // SAFETY: held exclusively by this thread.
        unsafe { me.release_exclusive(lock, false) };
    })?;
    let word = ctx.wait_queued(None)?;
    ctx.check(word.is_multiple_shared() && word.is_locked(), || {
        text!("no MultipleShared")
    })?;
    let r = ctx.spawn("R", Role::Reader, |_, lock, me| {
        me.lock_shared(lock);
        // SAFETY: a share held by this thread.
        unsafe { me.release_shared(lock, false) };
    })?;
    ctx.wait_queued(word.newest_waiter())?;
    for (left, share) in (0..3).rev().zip(shares) {
        share.release(false);
        if left > 0 {
            ctx.pause(SETTLE_NS);
            ctx.check(e.acquisitions() == 0, || {
                text!("E got in with {left} shares left")
            })?;
            ctx.check(r.acquisitions() == 0, || text!("R overtook E"))?;
        }
    }
    ctx.wait_phase(&r, Phase::Finished)?;
    ctx.check(e.last_grant() < r.last_grant(), || {
        text!("E must get the lock before R")
    })
}

/// T1 holds S, T2 queues X, T3 asks S: T3 waits (and try-S fails); T2 gets in before T3.
pub fn writer_beats_later_reader<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let release = Gate::new()?;
    let gate = release.clone();
    let t1 = ctx.spawn("T1", Role::Reader, move |env, lock, me| {
        me.lock_shared(lock);
        env.wait_until(|| gate.is_open());
        // SAFETY: a share held by this thread.
        unsafe { me.release_shared(lock, false) };
    })?;
    ctx.wait_phase(&t1, Phase::HoldsShared)?;
    let t2 = ctx.spawn("T2", Role::Writer, |_, lock, me| {
        me.lock_exclusive(lock);
        // SAFETY: held exclusively by this thread.
        unsafe { me.release_exclusive(lock, false) };
    })?;
    let word = ctx.wait_queued(None)?;
    ctx.check(!try_shared(&ctx.lock), || {
        text!("try-S must fail once a writer waits")
    })?;
    let t3 = ctx.spawn("T3", Role::Reader, |_, lock, me| {
        me.lock_shared(lock);
        // SAFETY: a share held by this thread.
        unsafe { me.release_shared(lock, false) };
    })?;
    ctx.wait_queued(word.newest_waiter())?;
    ctx.check(t3.phase() == Phase::WantsShared, || {
        text!("T3 got in past a queued writer")
    })?;
    release.open();
    ctx.wait_phase(&t3, Phase::Finished)?;
    ctx.check(t2.last_grant() < t3.last_grant(), || {
        text!("T2 must get the lock before T3")
    })
}

/// Main holds S, E1 queued, E2 released from a gate just before main releases (64 times): both
/// get in, the word returns to 0, the release never spins.
pub fn waiter_arrives_during_release<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    for _ in 0..scaled(64) {
        let main = ctx.actor("main", Role::Reader)?;
        let lock = ctx.lock.clone();
        let hold = Hold::shared(&main, &lock);
        let e1 = ctx.spawn("E1", Role::Writer, |_, lock, me| {
            me.lock_exclusive(lock);
            // SAFETY: held exclusively by this thread.
            unsafe { me.release_exclusive(lock, false) };
        })?;
        ctx.wait_queued(None)?;
        let go = Gate::new()?;
        let gate = go.clone();
        let e2 = ctx.spawn("E2", Role::Writer, move |env, lock, me| {
            if env.wait_until(|| gate.is_open()) {
                me.lock_exclusive(lock);
                // SAFETY: held exclusively by this thread.
                unsafe { me.release_exclusive(lock, true) };
            }
        })?;
        go.open();
        hold.release(false);
        ctx.wait_phase(&e1, Phase::Finished)?;
        ctx.wait_phase(&e2, Phase::Finished)?;
        ctx.check(e1.acquisitions() == 1 && e2.acquisitions() == 1, || {
            text!("a writer missed")
        })?;
        ctx.next_round()?;
    }
    Ok(())
}

/// The record the mixed scenarios guard: a value, its complement and the value mixed with a
/// constant, in `Relaxed` atomics with a yield between the fields, so that only the lock under
/// test orders one critical section before the next: a lock that does not shows as a torn
/// record.
pub(super) struct Record([AtomicU64; 3]);

impl Record {
    const MIX: u64 = 0xA5A5_5A5A_0FF1_CE00;
    /// Acquisitions per actor.
    pub(super) const ITERATIONS: u64 = scaled(2048);
    /// The actors: two writers, four readers.
    pub(super) const ACTORS: [&'static str; 6] = [
        "writer-0", "writer-1", "reader-2", "reader-3", "reader-4", "reader-5",
    ];

    pub(super) fn new() -> Result<Shared<Self>, Failure> {
        let fields = [
            AtomicU64::new(0),
            AtomicU64::new(!0),
            AtomicU64::new(Self::MIX),
        ];
        Ok(Shared::try_new(Self(fields))?)
    }

    /// Reads the record inside the lock (any mode), reporting a torn one as `me`'s failure;
    /// returns the value.
    pub(super) fn read<H: Host>(&self, env: &Env<H>, me: &Actor) -> u64 {
        let [value, complement, mixed] = &self.0;
        let seen = value.load(Relaxed);
        env.host.yield_now();
        if complement.load(Relaxed) != !seen || mixed.load(Relaxed) != seen ^ Self::MIX {
            env.fail(text!("{} saw a torn record at {seen}", me.name));
        }
        seen
    }

    /// Writes the value after `seen` (inside the lock, exclusively).
    pub(super) fn write_next<H: Host>(&self, env: &Env<H>, seen: u64) {
        let [value, complement, mixed] = &self.0;
        let next = seen.wrapping_add(1);
        value.store(next, Relaxed);
        env.host.yield_now();
        complement.store(!next, Relaxed);
        mixed.store(next ^ Self::MIX, Relaxed);
    }

    /// Once the actors are started: each finishes with its count, and the record counts every
    /// write.
    pub(super) fn check_counts<H: Host>(&self, ctx: &Ctx<H>, actors: &[Shared<Actor>]) -> Outcome {
        for actor in actors {
            ctx.wait_phase(actor, Phase::Finished)?;
            ctx.check(actor.acquisitions() == Self::ITERATIONS, || {
                text!("{} miscounted", actor.name)
            })?;
        }
        let writes = self.0[0].load(SeqCst);
        let expected = Self::ITERATIONS.saturating_mul(2);
        ctx.check(writes == expected, || {
            text!("{writes} writes recorded, expected {expected}")
        })
    }
}

/// 6 threads (2 writers) x 2048 iterations from one start gate, alternating release kinds;
/// writers update a three-field [`Record`], readers validate it; exact counts; word 0 at the
/// end.
pub fn mixed_record<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let record = Record::new()?;
    let start = Gate::new()?;
    let mut actors = Vec::new();
    for (index, name) in Record::ACTORS.into_iter().enumerate() {
        let (record, start) = (record.clone(), start.clone());
        let writer = index < 2;
        let role = if writer { Role::Writer } else { Role::Reader };
        let actor = ctx.spawn(name, role, move |env, lock, me| {
            if !env.wait_until(|| start.is_open()) {
                return;
            }
            for i in 0..Record::ITERATIONS {
                if env.stopped() {
                    return;
                }
                let mode_agnostic = i % 2 == 1;
                if writer {
                    me.lock_exclusive(lock);
                } else {
                    me.lock_shared(lock);
                }
                let seen = record.read(env, me);
                if writer {
                    record.write_next(env, seen);
                    // SAFETY: held exclusively by this thread.
                    unsafe { me.release_exclusive(lock, mode_agnostic) };
                } else {
                    // SAFETY: a share held by this thread.
                    unsafe { me.release_shared(lock, mode_agnostic) };
                }
            }
        })?;
        try_push(&mut actors, actor)?;
    }
    start.open();
    record.check_counts(ctx, &actors)
}

/// The `Flt*` functions hold a critical region (APCs disabled) while the lock is held, and
/// balance it after; the `Ex*` functions leave APCs to the caller.
///
/// Runs on the caller's thread (in the driver: the message callback's). What is seen while the
/// lock is held is checked only after the release, so a failed check never returns to the
/// caller inside a critical region (in the kernel: bug check `APC_INDEX_MISMATCH`).
pub fn flt_critical_region<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Mixed)?;
    let host = ctx.host().clone();
    let p = ctx.lock.as_ex_push_lock();
    ctx.check(!host.apcs_disabled(), || {
        text!("APCs disabled before the test")
    })?;
    for shared in [false, true] {
        if shared {
            // SAFETY: `p` is this scenario's live lock; the release below matches.
            unsafe { nt::FltAcquirePushLockShared::<H::Platform>(p) };
        } else {
            // SAFETY: as above.
            unsafe { nt::FltAcquirePushLockExclusive::<H::Platform>(p) };
        }
        main.took(if shared {
            Phase::HoldsShared
        } else {
            Phase::HoldsExclusive
        });
        let disabled_while_held = host.apcs_disabled();
        main.released();
        // SAFETY: acquired just above through the Flt API.
        unsafe { nt::FltReleasePushLock::<H::Platform>(p) };
        ctx.check(disabled_while_held, || {
            text!("Flt acquire did not disable APCs")
        })?;
        ctx.check(!host.apcs_disabled(), || {
            text!("FltReleasePushLock left APCs disabled")
        })?;
    }
    // SAFETY: as above, through the Ex API.
    unsafe { nt::ExAcquirePushLockExclusive::<H::Platform>(p) };
    main.took(Phase::HoldsExclusive);
    let disabled_while_held = host.apcs_disabled();
    main.released();
    // SAFETY: acquired just above.
    unsafe { nt::ExReleasePushLock::<H::Platform>(p) };
    ctx.check(!disabled_while_held, || text!("Ex acquire touched APCs"))
}

/// The `*Ex` functions accept flags 0-3 (0x1 and 0x2 are the auto-boost flags). Other flags are
/// a bug check in the kernel (0x152) and a panic in user mode, tested on std only. As in
/// [`flt_critical_region`], checks come after the release.
pub fn ex_flags_accepted<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Mixed)?;
    let p = ctx.lock.as_ex_push_lock();
    for flags in 0..=nt::FLT_PUSH_LOCK_VALID_FLAGS {
        for shared in [false, true] {
            if shared {
                // SAFETY: `p` is this scenario's live lock; the release below matches.
                unsafe { nt::FltAcquirePushLockSharedEx::<H::Platform>(p, flags) };
            } else {
                // SAFETY: as above.
                unsafe { nt::FltAcquirePushLockExclusiveEx::<H::Platform>(p, flags) };
            }
            main.took(if shared {
                Phase::HoldsShared
            } else {
                Phase::HoldsExclusive
            });
            let expected = if shared { 0x11 } else { 0x1 };
            let word = ctx.lock.word().0;
            main.released();
            // SAFETY: acquired just above.
            unsafe { nt::FltReleasePushLockEx::<H::Platform>(p, flags) };
            ctx.check(word == expected, || {
                text!("flags {flags:#x}: wrong word {word:#x}")
            })?;
        }
    }
    Ok(())
}

/// 8 readers in a tight loop; one writer completes 1000 exclusive acquisitions.
pub fn writer_not_starved<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    const WRITES: u64 = scaled(1000);
    let stop = Gate::new()?;
    for name in [
        "reader-0", "reader-1", "reader-2", "reader-3", "reader-4", "reader-5", "reader-6",
        "reader-7",
    ] {
        let stop = stop.clone();
        ctx.spawn(name, Role::Reader, move |env, lock, me| {
            while !stop.is_open() && !env.stopped() {
                me.lock_shared(lock);
                // SAFETY: a share held by this thread.
                unsafe { me.release_shared(lock, false) };
            }
        })?;
    }
    let done = stop;
    let writer = ctx.spawn("writer", Role::Writer, move |env, lock, me| {
        for _ in 0..WRITES {
            let asked = env.host.now_ns();
            me.lock_exclusive(lock);
            me.waited(env.host.now_ns().saturating_sub(asked));
            // SAFETY: held exclusively by this thread.
            unsafe { me.release_exclusive(lock, false) };
        }
        done.open();
    })?;
    ctx.wait_phase(&writer, Phase::Finished)?;
    ctx.check(writer.acquisitions() == WRITES, || {
        text!("the writer miscounted")
    })
}

/// Contract 4: readers that arrive while no writer holds or waits are all inside together.
pub fn readers_inside_together<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    spawn_reader_group(ctx, &["reader-0", "reader-1", "reader-2", "reader-3"])?;
    ctx.next_round()
}

/// Contract 4, the kernel's trap by timing: a writer releases while readers are queued and new
/// readers arrive during the wake; all four readers are inside together, every time (200 times).
pub fn queued_readers_released_together<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    for round in 0..scaled(200) {
        let writer = ctx.actor("writer", Role::Writer)?;
        let lock = ctx.lock.clone();
        let hold = Hold::exclusive(&writer, &lock);
        spawn_reader_group(ctx, &["reader-0", "reader-1", "reader-2", "reader-3"])?;
        // Vary how many readers queue before the release and how many arrive during it.
        for _ in 0..(round ^ ctx.seed) % 5 {
            ctx.host().yield_now();
        }
        hold.release(round % 2 == 0);
        ctx.next_round()?;
    }
    Ok(())
}

/// Readers that each wait, inside the lock, until all of them are inside.
fn spawn_reader_group<H: Host>(ctx: &mut Ctx<H>, names: &[&'static str]) -> Outcome {
    let inside = Shared::try_new(AtomicUsize::new(0))?;
    let group = names.len();
    for &name in names {
        let inside = inside.clone();
        ctx.spawn(name, Role::Reader, move |env, lock, me| {
            me.lock_shared(lock);
            inside.fetch_add(1, SeqCst);
            if !env.wait_until(|| inside.load(SeqCst) >= group) {
                env.fail(text!("the readers were never all inside together"));
            }
            // SAFETY: a share held by this thread.
            unsafe { me.release_shared(lock, false) };
        })?;
    }
    Ok(())
}

/// Exclusive is not re-entrant: the owner's own tries fail (a blocking re-acquire would hang).
pub fn not_reentrant<H: Host>(ctx: &mut Ctx<H>) -> Outcome {
    let main = ctx.actor("main", Role::Writer)?;
    let lock = ctx.lock.clone();
    let hold = Hold::exclusive(&main, &lock);
    let tries = (try_exclusive(&lock), try_shared(&lock));
    hold.release(false);
    ctx.check(tries == (false, false), || {
        text!("the owner re-acquired its own lock")
    })
}
