//! The context a conformance scenario runs in: actors on their own threads, one deadline, and a
//! report that turns a failed check or a hang into text with the lock word and every actor's state.

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt::Write as _;
use core::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};

use pushlock::{LockClass, LockWord, Platform, PushRwLock, RawPushLock};
use pushlock_protocol::{Outcome, Phase, Role, ThreadReport, U64};

use crate::fallible::{OutOfMemory, Shared, try_box, try_collect, try_push};
use crate::host::Host;
use crate::text::{Text, text};

/// How long stopped threads get to end before they count as stuck.
const GRACE_NS: u64 = 1_000_000_000;

/// Why a scenario did not pass. The description and dump of a check or time-out are kept by the
/// [`Ctx`] (its first failure), so that a `Result` stays one word on a kernel stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A check did not hold.
    Check,
    /// Something never happened before the deadline (a hang).
    TimedOut,
    /// The host could not start a thread: the run is refused ([`Refused`]).
    Spawn,
    /// An allocation failed: the run is refused ([`Refused`]).
    OutOfMemory,
}

impl From<OutOfMemory> for Failure {
    fn from(_: OutOfMemory) -> Self {
        Self::OutOfMemory
    }
}

/// A run that could not get what it needs — memory, or threads — and is refused with
/// `STATUS_INSUFFICIENT_RESOURCES` (its threads stopped and joined first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused;

impl From<OutOfMemory> for Refused {
    fn from(_: OutOfMemory) -> Self {
        Self
    }
}

/// A thread taking part in a scenario, with its state visible to the reports.
pub struct Actor {
    pub name: &'static str,
    role: Role,
    phase: AtomicU8,
    shared: AtomicU64,
    exclusive: AtomicU64,
    last_grant: AtomicU64,
    max_wait_ns: AtomicU64,
    grants: Shared<AtomicU64>,
}

impl Actor {
    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, SeqCst);
    }

    /// Records a grant. Inside the critical section, so the shared grant counter is `Relaxed`:
    /// a `SeqCst` read-modify-write there would order the critical sections itself, in place of
    /// the lock under test. The grant order is the counter's modification order all the same.
    fn granted(&self, phase: Phase) {
        let grant = self.grants.fetch_add(1, Relaxed).saturating_add(1);
        self.last_grant.store(grant, SeqCst);
        let count = if phase == Phase::HoldsShared {
            &self.shared
        } else {
            &self.exclusive
        };
        count.fetch_add(1, SeqCst);
        self.set(phase);
    }

    pub fn phase(&self) -> Phase {
        Phase::from_code(self.phase.load(SeqCst)).unwrap_or(Phase::Starting)
    }

    pub fn acquisitions(&self) -> u64 {
        self.shared
            .load(SeqCst)
            .saturating_add(self.exclusive.load(SeqCst))
    }

    /// When this actor last got the lock, in the round's order of grants (1 = first; 0 = never).
    pub fn last_grant(&self) -> u64 {
        self.last_grant.load(SeqCst)
    }

    /// Records a wait for the lock, in nanoseconds.
    pub fn waited(&self, ns: u64) {
        self.max_wait_ns.fetch_max(ns, SeqCst);
    }

    pub fn lock_shared<P: Platform>(&self, lock: &RawPushLock<P>) {
        self.set(Phase::WantsShared);
        lock.lock_shared();
        self.granted(Phase::HoldsShared);
    }

    pub fn lock_exclusive<P: Platform>(&self, lock: &RawPushLock<P>) {
        self.set(Phase::WantsExclusive);
        lock.lock_exclusive();
        self.granted(Phase::HoldsExclusive);
    }

    /// Records an acquisition made by other means (a try-lock, the `nt` API).
    pub fn took(&self, phase: Phase) {
        self.granted(phase);
    }

    /// Acquires by other means (`take`: another lock type, the `nt` API), with the phases
    /// [`lock_shared`](Self::lock_shared) and [`lock_exclusive`](Self::lock_exclusive) show.
    pub fn take<R>(&self, exclusive: bool, take: impl FnOnce() -> R) -> R {
        let (wants, holds) = if exclusive {
            (Phase::WantsExclusive, Phase::HoldsExclusive)
        } else {
            (Phase::WantsShared, Phase::HoldsShared)
        };
        self.set(wants);
        let taken = take();
        self.granted(holds);
        taken
    }

    /// Releases a share (by `unlock_shared`, or by `unlock` if `mode_agnostic`).
    ///
    /// # Safety
    /// This actor holds a share of `lock`.
    pub unsafe fn release_shared<P: Platform>(&self, lock: &RawPushLock<P>, mode_agnostic: bool) {
        self.set(Phase::Released);
        if mode_agnostic {
            // SAFETY: a share is held (caller).
            unsafe { lock.unlock() };
        } else {
            // SAFETY: as above.
            unsafe { lock.unlock_shared() };
        }
    }

    /// Releases an exclusive hold (by `unlock_exclusive`, or by `unlock` if `mode_agnostic`).
    ///
    /// # Safety
    /// This actor holds `lock` exclusively.
    pub unsafe fn release_exclusive<P: Platform>(
        &self,
        lock: &RawPushLock<P>,
        mode_agnostic: bool,
    ) {
        self.set(Phase::Released);
        if mode_agnostic {
            // SAFETY: held exclusively (caller).
            unsafe { lock.unlock() };
        } else {
            // SAFETY: as above.
            unsafe { lock.unlock_exclusive() };
        }
    }

    /// Records a release made by other means.
    pub fn released(&self) {
        self.set(Phase::Released);
    }

    fn report(&self) -> ThreadReport {
        ThreadReport {
            shared: U64::new(self.shared.load(SeqCst)),
            exclusive: U64::new(self.exclusive.load(SeqCst)),
            max_wait_ns: U64::new(self.max_wait_ns.load(SeqCst)),
            role: self.role as u8,
            phase: self.phase() as u8,
            reserved: [0; 6],
        }
    }
}

/// A hold of a round's lock by the controller (the scenario's own thread), released when
/// dropped: a failed check returns early with `?`, and a lock left held there would strand the
/// actors queued behind it — and, in the driver, keep `FilterUnload` waiting for them.
#[must_use = "the lock is released when the hold is dropped"]
pub struct Hold<P: Platform> {
    actor: Shared<Actor>,
    lock: Shared<RawPushLock<P>>,
    exclusive: bool,
    mode_agnostic: bool,
}

impl<P: Platform> Hold<P> {
    /// `actor` takes a share of `lock`.
    pub fn shared(actor: &Shared<Actor>, lock: &Shared<RawPushLock<P>>) -> Self {
        actor.lock_shared(lock);
        Self::new(actor, lock, false)
    }

    /// `actor` takes `lock` exclusively.
    pub fn exclusive(actor: &Shared<Actor>, lock: &Shared<RawPushLock<P>>) -> Self {
        actor.lock_exclusive(lock);
        Self::new(actor, lock, true)
    }

    fn new(actor: &Shared<Actor>, lock: &Shared<RawPushLock<P>>, exclusive: bool) -> Self {
        Self {
            actor: actor.clone(),
            lock: lock.clone(),
            exclusive,
            mode_agnostic: false,
        }
    }

    /// Releases now: by `unlock` if `mode_agnostic`, else by the mode's own release.
    pub fn release(mut self, mode_agnostic: bool) {
        self.mode_agnostic = mode_agnostic;
    }
}

impl<P: Platform> Drop for Hold<P> {
    fn drop(&mut self) {
        if self.exclusive {
            // SAFETY: taken exclusively by `Actor::hold_exclusive`; released once, here.
            unsafe { self.actor.release_exclusive(&self.lock, self.mode_agnostic) };
        } else {
            // SAFETY: a share taken by `Actor::hold_shared`; released once, here.
            unsafe { self.actor.release_shared(&self.lock, self.mode_agnostic) };
        }
    }
}

/// What an actor thread sees of its run: the host, the stop flag, the deadline, and a slot for
/// the first failure any actor reports.
pub struct Env<H: Host> {
    pub host: H,
    stop: Shared<AtomicBool>,
    deadline_ns: u64,
    failure: Shared<PushRwLock<H::Platform, Option<Text>>>,
}

impl<H: Host> Clone for Env<H> {
    fn clone(&self) -> Self {
        Self {
            host: self.host.clone(),
            stop: self.stop.clone(),
            deadline_ns: self.deadline_ns,
            failure: self.failure.clone(),
        }
    }
}

impl<H: Host> Env<H> {
    /// Polls `condition` until it holds (true), or the run is stopped or out of time (false).
    pub fn wait_until(&self, mut condition: impl FnMut() -> bool) -> bool {
        loop {
            if condition() {
                return true;
            }
            if self.stopped() {
                return false;
            }
            self.host.yield_now();
        }
    }

    /// Whether the run was stopped or its deadline passed.
    pub fn stopped(&self) -> bool {
        self.stop.load(SeqCst) || self.host.now_ns() > self.deadline_ns
    }

    /// Records a failed check (the first one wins).
    pub fn fail(&self, message: Text) {
        let mut slot = self.failure.write();
        if slot.is_none() {
            *slot = Some(message);
        }
    }
}

/// A one-way signal from the controller to actors.
#[derive(Clone)]
pub struct Gate(Shared<AtomicBool>);

impl Gate {
    /// A closed gate.
    ///
    /// # Errors
    /// [`Failure::OutOfMemory`].
    pub fn new() -> Result<Self, Failure> {
        Ok(Self(Shared::try_new(AtomicBool::new(false))?))
    }

    pub fn open(&self) {
        self.0.store(true, SeqCst);
    }

    pub fn is_open(&self) -> bool {
        self.0.load(SeqCst)
    }
}

/// What a finished scenario reports.
pub struct Report {
    pub outcome: Outcome,
    pub detail: Text,
    pub lock_word: u64,
    pub stuck_threads: u32,
    pub shared: u64,
    pub exclusive: u64,
    pub max_readers_inside: u32,
    pub violations: u32,
    pub max_writer_wait_ns: u64,
    /// The 50th, 99th and 99.9th percentile of the exclusive waits (zeros if not measured).
    pub writer_wait_percentiles_ns: [u64; 3],
    pub elapsed_ns: u64,
    pub threads: Vec<ThreadReport>,
}

/// A conformance scenario's world: its lock, its actors and their threads, one deadline.
pub struct Ctx<H: Host> {
    pub env: Env<H>,
    pub lock: Shared<RawPushLock<H::Platform>>,
    pub seed: u64,
    start_ns: u64,
    actors: Vec<Shared<Actor>>,
    threads: Vec<H::Thread>,
    grants: Shared<AtomicU64>,
    shared: u64,
    exclusive: u64,
    stuck: u32,
    /// The first failure's description and dump.
    detail: Cell<Text>,
}

/// The lock each scenario round tests, as verifier reports name it.
static SCENARIO_LOCK: LockClass = LockClass::new("scenario lock");
/// The lock over a run's first failure.
static FAILURE_LOCK: LockClass = LockClass::new("scenario failure record");

impl<H: Host> Ctx<H> {
    /// A scenario's world, allocated up front.
    ///
    /// # Errors
    /// [`OutOfMemory`].
    pub fn new(host: &H, time_limit_ns: u64, seed: u64) -> Result<Self, OutOfMemory> {
        let start_ns = host.now_ns();
        let deadline_ns = start_ns.saturating_add(time_limit_ns);
        let failure = Shared::try_new(PushRwLock::new(None))?;
        // SAFETY: only names the lock; its state is untouched.
        unsafe { failure.raw() }.set_class(&FAILURE_LOCK);
        let lock = Shared::try_new(RawPushLock::new())?;
        lock.set_class(&SCENARIO_LOCK);
        Ok(Self {
            env: Env {
                host: host.clone(),
                stop: Shared::try_new(AtomicBool::new(false))?,
                deadline_ns,
                failure,
            },
            lock,
            seed,
            start_ns,
            actors: Vec::new(),
            threads: Vec::new(),
            grants: Shared::try_new(AtomicU64::new(0))?,
            shared: 0,
            exclusive: 0,
            stuck: 0,
            detail: Cell::new(Text::new()),
        })
    }

    pub const fn host(&self) -> &H {
        &self.env.host
    }

    /// An actor the controller drives on its own thread.
    ///
    /// # Errors
    /// [`Failure::OutOfMemory`].
    pub fn actor(&mut self, name: &'static str, role: Role) -> Result<Shared<Actor>, Failure> {
        let actor = Shared::try_new(Actor {
            name,
            role,
            phase: AtomicU8::new(Phase::Starting as u8),
            shared: AtomicU64::new(0),
            exclusive: AtomicU64::new(0),
            last_grant: AtomicU64::new(0),
            max_wait_ns: AtomicU64::new(0),
            grants: self.grants.clone(),
        })?;
        try_push(&mut self.actors, actor.clone())?;
        Ok(actor)
    }

    /// An actor on its own thread, running `body`.
    ///
    /// # Errors
    /// [`Failure::Spawn`] if the host cannot start the thread; [`Failure::OutOfMemory`].
    pub fn spawn(
        &mut self,
        name: &'static str,
        role: Role,
        body: impl FnOnce(&Env<H>, &RawPushLock<H::Platform>, &Actor) + Send + 'static,
    ) -> Result<Shared<Actor>, Failure> {
        // Room first: a thread once started must be recorded, or nobody would join it.
        self.threads.try_reserve(1).map_err(|_| OutOfMemory)?;
        let actor = self.actor(name, role)?;
        let (env, lock, me) = (self.env.clone(), self.lock.clone(), actor.clone());
        let body = try_box(move || {
            body(&env, &lock, &me);
            me.set(Phase::Finished);
        })?;
        let thread = self.env.host.spawn(body).map_err(|_| Failure::Spawn)?;
        try_push(&mut self.threads, thread)?;
        Ok(actor)
    }

    /// Polls `condition` until it holds; past the deadline, a [`Failure::TimedOut`] naming `what`.
    ///
    /// # Errors
    /// The deadline passed (or an actor already failed).
    pub fn wait_for(
        &self,
        what: impl core::fmt::Display,
        condition: impl FnMut() -> bool,
    ) -> Result<(), Failure> {
        if self.env.wait_until(condition) {
            return self.actor_failure();
        }
        self.actor_failure()?;
        Err(self.record(
            Failure::TimedOut,
            format_args!("timed out waiting for {what}"),
        ))
    }

    /// Waits until `actor` reports `phase`.
    ///
    /// # Errors
    /// As [`wait_for`](Self::wait_for).
    pub fn wait_phase(&self, actor: &Actor, phase: Phase) -> Result<(), Failure> {
        self.wait_for(format_args!("{} to reach {phase:?}", actor.name), || {
            actor.phase() == phase
        })
    }

    /// Waits until a new waiter has queued on top of `newest` (the head seen before it was
    /// started) and the list is settled: `Waiting` set, `Waking` clear.
    ///
    /// # Errors
    /// As [`wait_for`](Self::wait_for).
    pub fn wait_queued(&self, newest: Option<usize>) -> Result<LockWord, Failure> {
        let mut word = self.lock.word();
        self.wait_for("a new waiter to queue", || {
            word = self.lock.word();
            word.is_queued_and_settled() && word.newest_waiter() != newest
        })?;
        Ok(word)
    }

    /// Lets `ns` pass (to give a wrong wake-up the chance to happen before a check).
    pub fn pause(&self, ns: u64) {
        let until = self.env.host.now_ns().saturating_add(ns);
        while self.env.host.now_ns() < until {
            self.env.host.yield_now();
        }
    }

    /// Fails with `what()` and a dump unless `condition` holds.
    ///
    /// # Errors
    /// [`Failure::Check`], or [`Failure::TimedOut`] past the deadline.
    pub fn check(&self, condition: bool, what: impl FnOnce() -> Text) -> Result<(), Failure> {
        if condition {
            Ok(())
        } else {
            Err(self.failure(what()))
        }
    }

    /// A failed check with a dump: a time-out if the run was stopped or past its deadline by
    /// then (actors give up their scripts once it is, so the check proves nothing more).
    pub(crate) fn failure(&self, what: impl core::fmt::Display) -> Failure {
        if self.env.stopped() {
            self.record(
                Failure::TimedOut,
                format_args!("time limit passed, then: {what}"),
            )
        } else {
            self.record(Failure::Check, what)
        }
    }

    /// `failure`, with `what` and a dump kept as the detail unless an earlier failure's is.
    fn record(&self, failure: Failure, what: impl core::fmt::Display) -> Failure {
        let detail = self.detail.take();
        let detail = if detail.as_str().is_empty() {
            self.dump(what)
        } else {
            detail
        };
        self.detail.set(detail);
        failure
    }

    /// Waits for this round's threads, checks the lock is free again, and starts a new round on
    /// a fresh lock with no actors.
    ///
    /// # Errors
    /// A thread did not end by the deadline, an actor failed, the word is not 0, or the new
    /// round's lock could not be allocated.
    pub fn next_round(&mut self) -> Result<(), Failure> {
        self.wait_for("the actors to finish", || self.threads_done())?;
        self.check(self.lock.word().0 == 0, || text!("lock word not back to 0"))?;
        self.join_threads();
        self.account_actors();
        self.actors.clear();
        self.grants.store(0, SeqCst);
        self.lock = Shared::try_new(RawPushLock::new())?;
        self.lock.set_class(&SCENARIO_LOCK);
        Ok(())
    }

    fn threads_done(&self) -> bool {
        let spawned = self.threads.len();
        let finished = self
            .actors
            .iter()
            .filter(|actor| actor.phase() == Phase::Finished)
            .count();
        finished >= spawned
    }

    fn actor_failure(&self) -> Result<(), Failure> {
        self.env
            .failure
            .read()
            .as_ref()
            .map_or(Ok(()), |message| Err(self.failure(message)))
    }

    fn account_actors(&mut self) {
        for actor in &self.actors {
            self.shared = self.shared.saturating_add(actor.shared.load(SeqCst));
            self.exclusive = self.exclusive.saturating_add(actor.exclusive.load(SeqCst));
        }
    }

    /// Joins every thread, abandoning those that do not end within the grace period.
    fn join_threads(&mut self) {
        let host = self.env.host.clone();
        let until = host.now_ns().saturating_add(GRACE_NS);
        for thread in self.threads.drain(..) {
            let left = until.saturating_sub(host.now_ns());
            if let Err(thread) = host.join(thread, left) {
                host.abandon(thread);
                self.stuck = self.stuck.saturating_add(1);
            }
        }
    }

    /// Text naming `what` happened, the lock word and every actor's state (cut at 256 bytes).
    pub fn dump(&self, what: impl core::fmt::Display) -> Text {
        let mut out = text!("{what}; word {}", self.lock.word());
        for actor in &self.actors {
            let _ = write!(
                out,
                "; {} {:?} x{}",
                actor.name,
                actor.phase(),
                actor.acquisitions()
            );
        }
        out
    }

    /// Ends the scenario: stops and joins the actors, and reports `result`.
    ///
    /// # Errors
    /// [`Refused`] if the run lacked memory or threads, or the report could not be allocated;
    /// the actors are stopped and joined first either way.
    pub fn finish(mut self, result: Result<(), Failure>) -> Result<Report, Refused> {
        let result = result.and_then(|()| self.actor_failure()).and_then(|()| {
            self.wait_for("the actors to finish", || self.threads_done())?;
            self.check(self.lock.word().0 == 0, || text!("lock word not back to 0"))
        });
        let elapsed_ns = self.env.host.now_ns().saturating_sub(self.start_ns);
        let threads = try_collect(self.actors.iter().map(|actor| actor.report()));
        self.env.stop.store(true, SeqCst);
        self.join_threads();
        let threads = threads?;
        // After the join: what the actors left behind (a failure's own word is in its detail).
        let lock_word = u64::try_from(self.lock.word().0).unwrap_or(u64::MAX);
        self.account_actors();
        let (outcome, detail) = match result {
            Ok(()) if self.stuck == 0 => (Outcome::Passed, Text::new()),
            Ok(()) => (Outcome::Failed, text!("threads did not end after the run")),
            Err(Failure::Check) => (Outcome::Failed, self.detail.take()),
            Err(Failure::TimedOut) => (Outcome::TimedOut, self.detail.take()),
            Err(Failure::Spawn | Failure::OutOfMemory) => return Err(Refused),
        };
        Ok(Report {
            outcome,
            detail,
            lock_word,
            stuck_threads: self.stuck,
            shared: self.shared,
            exclusive: self.exclusive,
            max_readers_inside: 0,
            violations: 0,
            max_writer_wait_ns: self
                .actors
                .iter()
                .map(|a| a.max_wait_ns.load(SeqCst))
                .max()
                .unwrap_or(0),
            writer_wait_percentiles_ns: [0; 3],
            elapsed_ns,
            threads,
        })
    }
}
