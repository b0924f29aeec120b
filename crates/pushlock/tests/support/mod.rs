//! Test scaffolding: actors whose state can be watched, and a watchdog that turns a hang into a
//! test failure carrying a dump of the lock word and of every actor, never a CI timeout.
#![allow(dead_code, reason = "each test binary uses a different part")]

pub mod held_wake;

use std::fmt::Write as _;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pushlock::{LockWord, Platform, RawPushLock, StdPlatform};

/// How long any one scenario may take before it counts as hung. Generous: CI machines are slow
/// and oversubscribed; a real hang never finishes.
pub const TIMEOUT: Duration = Duration::from_secs(if cfg!(miri) { 3600 } else { 30 });

/// What an actor is doing, as last reported by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Starting,
    WantsShared,
    WantsExclusive,
    HoldsShared,
    HoldsExclusive,
    Released,
    Finished,
}

impl Phase {
    const ALL: [Self; 7] = [
        Self::Starting,
        Self::WantsShared,
        Self::WantsExclusive,
        Self::HoldsShared,
        Self::HoldsExclusive,
        Self::Released,
        Self::Finished,
    ];
}

/// A thread taking part in a scene, with its state visible to the watchdog.
pub struct Actor {
    pub name: String,
    phase: AtomicU8,
    acquisitions: AtomicU64,
    /// The scene-wide order in which this actor last got the lock.
    last_grant: AtomicU64,
    grants: Arc<AtomicU64>,
}

impl Actor {
    // Relaxed: these run inside critical sections, and must not order them for the lock under
    // test (a SeqCst read-modify-write on the shared `grants` would). The grant order is still
    // `grants`' modification order.
    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Relaxed);
    }

    fn granted(&self, phase: Phase) {
        self.last_grant
            .store(self.grants.fetch_add(1, Relaxed) + 1, Relaxed);
        self.acquisitions.fetch_add(1, Relaxed);
        self.set(phase);
    }

    pub fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.phase.load(SeqCst))]
    }

    pub fn acquisitions(&self) -> u64 {
        self.acquisitions.load(SeqCst)
    }

    /// When this actor last got the lock, in the scene's order of grants (1 = first).
    pub fn last_grant(&self) -> u64 {
        self.last_grant.load(SeqCst)
    }

    /// Records a shared acquisition made by other means (try-lock, the `nt` API).
    pub fn lock_shared_taken(&self) {
        self.granted(Phase::HoldsShared);
    }

    /// Records an exclusive acquisition made by other means.
    pub fn lock_exclusive_taken(&self) {
        self.granted(Phase::HoldsExclusive);
    }

    /// Records a release made by other means.
    pub fn released(&self) {
        self.set(Phase::Released);
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

    /// Releases what this actor holds, by the mode-specific release or by `unlock`.
    pub fn release<P: Platform>(&self, lock: &RawPushLock<P>, mode_agnostic: bool) {
        let phase = self.phase();
        self.set(Phase::Released);
        match (phase, mode_agnostic) {
            // SAFETY: the phase says this actor holds the lock.
            (Phase::HoldsShared | Phase::HoldsExclusive, true) => unsafe { lock.unlock() },
            // SAFETY: the phase says this actor holds a share.
            (Phase::HoldsShared, false) => unsafe { lock.unlock_shared() },
            // SAFETY: the phase says this actor holds the lock exclusively.
            (Phase::HoldsExclusive, false) => unsafe { lock.unlock_exclusive() },
            (other, _) => panic!("{} releases while {other:?}", self.name),
        }
    }

    /// Releases one of several shares this actor holds, by `unlock_shared` or by `unlock`.
    pub fn release_one_share<P: Platform>(&self, lock: &RawPushLock<P>, mode_agnostic: bool) {
        assert!(
            matches!(self.phase(), Phase::HoldsShared | Phase::Released),
            "{} holds no share",
            self.name
        );
        self.set(Phase::Released);
        if mode_agnostic {
            // SAFETY: the caller took more shares than it has released.
            unsafe { lock.unlock() };
        } else {
            // SAFETY: as above.
            unsafe { lock.unlock_shared() };
        }
    }
}

/// A one-way signal from the scene to its actors.
#[derive(Default)]
pub struct Gate(AtomicBool);

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn open(&self) {
        self.0.store(true, SeqCst);
    }

    pub fn is_open(&self) -> bool {
        self.0.load(SeqCst)
    }

    /// Waits for `open`; gives up after [`TIMEOUT`] (the scene's watchdog reports the hang).
    pub fn wait(&self) {
        let start = Instant::now();
        while !self.0.load(SeqCst) {
            assert!(start.elapsed() < TIMEOUT, "gate never opened");
            thread::yield_now();
        }
    }
}

/// How an actor thread ended: its name and whether it panicked.
type Outcome = (String, thread::Result<()>);

/// A group of actors around one lock, watched by a deadline.
pub struct Scene<P: Platform = StdPlatform> {
    name: String,
    pub lock: Arc<RawPushLock<P>>,
    actors: Mutex<Vec<Arc<Actor>>>,
    grants: Arc<AtomicU64>,
    finished: (Sender<Outcome>, Receiver<Outcome>),
    running: usize,
    deadline: Instant,
}

impl Scene {
    /// A scene around a lock on `StdPlatform`.
    pub fn new(name: &str) -> Self {
        Self::on_platform(name)
    }
}

impl<P: Platform> Scene<P> {
    /// A scene around a lock on the platform `P`.
    pub fn on_platform(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            lock: Arc::new(RawPushLock::new()),
            actors: Mutex::new(Vec::new()),
            grants: Arc::new(AtomicU64::new(0)),
            finished: channel(),
            running: 0,
            deadline: Instant::now() + TIMEOUT,
        }
    }

    /// An actor driven by the test's own thread.
    pub fn actor(&self, name: &str) -> Arc<Actor> {
        let actor = Arc::new(Actor {
            name: name.to_owned(),
            phase: AtomicU8::new(Phase::Starting as u8),
            acquisitions: AtomicU64::new(0),
            last_grant: AtomicU64::new(0),
            grants: self.grants.clone(),
        });
        self.actors.lock().unwrap().push(actor.clone());
        actor
    }

    /// An actor on its own thread, running `body`.
    pub fn spawn(
        &mut self,
        name: &str,
        body: impl FnOnce(&RawPushLock<P>, &Actor) + Send + 'static,
    ) -> Arc<Actor> {
        let actor = self.actor(name);
        let (lock, me, done) = (self.lock.clone(), actor.clone(), self.finished.0.clone());
        let name = name.to_owned();
        thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    body(&lock, &me);
                    me.set(Phase::Finished);
                }));
                let _ = done.send((name, result));
            })
            .unwrap();
        self.running += 1;
        actor
    }

    /// Polls `condition` until it holds; past the deadline, fails with a dump.
    pub fn wait_for(&self, what: &str, mut condition: impl FnMut() -> bool) {
        while !condition() {
            if Instant::now() > self.deadline {
                self.fail(&format!("timed out waiting for {what}"));
            }
            thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn wait_phase(&self, actor: &Actor, phase: Phase) {
        self.wait_for(&format!("{} to reach {phase:?}", actor.name), || {
            actor.phase() == phase
        });
    }

    /// Waits until a new waiter has queued on top of `newest` (the head seen before it was
    /// started) and the list is settled (`Waiting` set, `Waking` clear). Returns the word.
    pub fn wait_queued(&self, newest: Option<usize>) -> LockWord {
        let mut word = self.lock.word();
        self.wait_for("a new waiter to queue", || {
            word = self.lock.word();
            word.is_queued_and_settled() && word.newest_waiter() != newest
        });
        word
    }

    /// Waits for every spawned actor; a panic in one fails the scene, a hang fails it with a
    /// dump. Checks the lock is back to 0.
    pub fn finish(mut self) {
        while self.running > 0 {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.finished.1.recv_timeout(left) {
                Ok((_, Ok(()))) => self.running -= 1,
                Ok((name, Err(panic))) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    self.fail(&format!("actor {name} panicked: {message}"));
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    self.fail("timed out waiting for the actors to finish");
                }
            }
        }
        let word = self.lock.word();
        if word.0 != 0 {
            self.fail("lock word not back to 0");
        }
        self.running = 0;
    }

    pub fn dump(&self) -> String {
        let mut out = format!("scene {}: lock word {}\n", self.name, self.lock.word());
        for actor in self.actors.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "  {:<12} {:<15} acquisitions {:<8} last grant #{}",
                actor.name,
                format!("{:?}", actor.phase()),
                actor.acquisitions(),
                actor.last_grant()
            );
        }
        out
    }

    pub fn fail(&self, what: &str) -> ! {
        // The actors may be stuck inside the lock: they are left behind, not joined.
        panic!("{what}\n{}", self.dump())
    }
}

impl<P: Platform> Drop for Scene<P> {
    fn drop(&mut self) {
        assert!(
            self.running == 0 || thread::panicking(),
            "scene {} dropped without finish()
{}",
            self.name,
            self.dump()
        );
    }
}
