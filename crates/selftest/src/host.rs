//! What the engine needs from where it runs: threads, a clock, the lock platform, peer locks.

use alloc::boxed::Box;

use pushlock::{
    CacheAwarePushLock, CountedPushLock, LockStatistics, NoMemory, Platform, RawPushLock, SlotLock,
};
use pushlock_protocol::{LockKind, PlatformKind};

use crate::fallible::{OutOfMemory, Shared};

/// A place scenarios run: std threads in the harness's sim, system threads in the driver.
///
/// Scenario threads are `'static` closures; a host that cannot start one reports it and the run
/// is refused with `STATUS_INSUFFICIENT_RESOURCES`. A thread that never ends (stuck in a lock: a
/// lock bug) is abandoned, never joined forever: the engine keeps everything it touches alive.
pub trait Host: Clone + Send + Sync + 'static {
    /// The platform the push lock under test sleeps on.
    type Platform: Platform;
    /// A running scenario thread.
    type Thread: Send;

    /// What `Hello` reports as the platform.
    const PLATFORM: PlatformKind;
    /// What `Hello` reports as the server's version (major, minor, patch).
    const VERSION: [u16; 3];

    /// Starts a thread running `body`.
    ///
    /// # Errors
    /// The OS refused a thread.
    fn spawn(&self, body: Box<dyn FnOnce() + Send>) -> Result<Self::Thread, SpawnError>;

    /// Waits up to `timeout_ns` for `thread` to end.
    ///
    /// # Errors
    /// Gives the thread back if it is still running.
    fn join(&self, thread: Self::Thread, timeout_ns: u64) -> Result<(), Self::Thread>;

    /// Gives up on a thread that did not end; it keeps running (or stays blocked).
    fn abandon(&self, thread: Self::Thread);

    /// A monotonic clock, in nanoseconds.
    fn now_ns(&self) -> u64;

    /// Processors scenarios can run on.
    fn processor_count(&self) -> u32;

    /// Lets other threads run (polling loops that must react at once call it).
    fn yield_now(&self);

    /// Sleeps for about `ns` (at least one timer tick). A poller that can afford to react late
    /// sleeps: one that yields stays runnable and takes processor time from the threads it
    /// measures.
    fn sleep_ns(&self, ns: u64);

    /// Whether normal kernel APCs are disabled on the calling thread (a critical region).
    fn apcs_disabled(&self) -> bool;

    /// Runs `visitor` with a fresh lock of `kind`. The default offers our push lock only.
    ///
    /// # Errors
    /// This host has no such lock, or it could not be allocated.
    fn with_lock<V: LockVisitor>(
        &self,
        kind: LockKind,
        visitor: V,
    ) -> Result<V::Output, LockUnavailable> {
        if kind != LockKind::PushLock {
            return Err(LockUnavailable::NotOffered);
        }
        let lock = Shared::try_new(RawPushLock::<Self::Platform>::new())?;
        Ok(visitor.visit(lock))
    }

    /// Every lock kind [`with_lock`](Self::with_lock) accepts.
    fn lock_kinds(&self) -> &'static [LockKind] {
        &[LockKind::PushLock]
    }

    /// The filter's counters, if this host is a file-system filter.
    fn filter_stats(&self) -> Option<FilterStats> {
        None
    }

    /// The `index`th of the locks this host keeps contention statistics for (from 0; `None`
    /// past the last), for `Locks`. By default none: only the driver's filter has locks of its
    /// own that outlive a run.
    fn named_lock(&self, index: usize) -> Option<NamedLock> {
        let _ = index;
        None
    }

    /// Replaces the filter's policy set.
    ///
    /// # Errors
    /// An NTSTATUS; by default `STATUS_NOT_SUPPORTED` (no filter here).
    fn set_policy(&self, pids: &[u32]) -> Result<(), i32> {
        let _ = pids;
        Err(pushlock_protocol::status::NOT_SUPPORTED)
    }
}

/// The OS could not start a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpawnError;

/// Why [`Host::with_lock`] has no lock to visit with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockUnavailable {
    /// This host does not offer that kind.
    NotOffered,
    /// Creating it ran out of memory (or of the resource it wraps).
    OutOfMemory,
}

impl From<OutOfMemory> for LockUnavailable {
    fn from(_: OutOfMemory) -> Self {
        Self::OutOfMemory
    }
}

/// A cache-aware lock with no memory for its slots.
impl From<NoMemory> for LockUnavailable {
    fn from(_: NoMemory) -> Self {
        Self::OutOfMemory
    }
}

/// Counters of the driver's file-system filter, reported by `Stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// `IRP_MJ_CREATE` operations seen.
    pub creates_seen: u64,
    /// Creates by a process in the policy set.
    pub creates_matched: u64,
    /// Updates of the policy set.
    pub policy_updates: u64,
    /// Processes in the policy set.
    pub policy_size: u32,
}

/// A lock of the host's own, as `Locks` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedLock {
    /// Its name (at most 24 bytes go on the wire).
    pub name: &'static str,
    /// Its counters.
    pub statistics: LockStatistics,
    /// Its lock word when read.
    pub word: usize,
}

/// A reader-writer lock a workload can run against.
pub trait TestLock: Send + Sync + 'static {
    /// Runs `f` holding the lock exclusively.
    fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R;

    /// Runs `f` holding the lock shared.
    fn shared<R>(&self, f: impl FnOnce() -> R) -> R;

    /// The lock word, for reports, where the lock has one to show.
    fn word(&self) -> Option<usize> {
        None
    }

    /// Heap bytes the lock allocated for itself beyond its own size, where we can tell.
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Something to do with a lock whose type only the host knows.
pub trait LockVisitor {
    /// What the visit produces.
    type Output;

    /// Called once with the lock.
    fn visit<L: TestLock>(self, lock: Shared<L>) -> Self::Output;
}

/// `TestLock` for our push locks, which share their method names.
macro_rules! test_lock_for_push_locks {
    ($($lock:ident),*) => {$(
        impl<P: Platform> TestLock for $lock<P> {
            fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
                self.lock_exclusive();
                let result = f();
                // SAFETY: acquired exclusively just above.
                unsafe { self.unlock_exclusive() };
                result
            }

            fn shared<R>(&self, f: impl FnOnce() -> R) -> R {
                self.lock_shared();
                let result = f();
                // SAFETY: acquired shared just above.
                unsafe { self.unlock_shared() };
                result
            }

            fn word(&self) -> Option<usize> {
                Some(self.word().0)
            }
        }
    )*};
}

test_lock_for_push_locks!(RawPushLock, CountedPushLock);

impl<P: Platform, L: SlotLock<P> + 'static> TestLock for CacheAwarePushLock<P, L> {
    fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
        self.lock_exclusive();
        let result = f();
        // SAFETY: acquired exclusively just above.
        unsafe { self.unlock_exclusive() };
        result
    }

    fn shared<R>(&self, f: impl FnOnce() -> R) -> R {
        let token = self.lock_shared();
        let result = f();
        // SAFETY: the share `token` names, taken just above.
        unsafe { self.unlock_shared(token) };
        result
    }

    /// The first slot's word: held by every writer, so it shows one that is stuck.
    fn word(&self) -> Option<usize> {
        self.slot(0).map(|slot| slot.word().0)
    }

    fn heap_bytes(&self) -> usize {
        self.allocated_bytes()
    }
}
