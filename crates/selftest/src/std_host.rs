//! `StdHost`: scenarios on std threads, for the harness's `sim` backend and the tests.

use alloc::boxed::Box;
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pushlock::{CacheAwarePushLock, CountedCacheAwarePushLock, CountedPushLock, StdPlatform};
use pushlock_protocol::{LockKind, PlatformKind};

use crate::fallible::Shared;
use crate::host::{Host, LockUnavailable, LockVisitor, SpawnError, TestLock};

/// Scenarios in this process: std threads, `Instant`, and the user-mode peer locks.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdHost;

/// Every lock the sim can run workloads against.
const LOCKS: [LockKind; 9] = [
    LockKind::PushLock,
    LockKind::ParkingLot,
    LockKind::StdRwLock,
    LockKind::Spin,
    LockKind::Usync,
    LockKind::CountedPushLock,
    LockKind::CacheAwarePushLock,
    LockKind::CrossbeamSharded,
    LockKind::CountedCacheAwarePushLock,
];

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Host for StdHost {
    type Platform = StdPlatform;
    type Thread = JoinHandle<()>;

    const PLATFORM: PlatformKind = PlatformKind::Sim;
    const VERSION: [u16; 3] = crate::VERSION;

    fn spawn(&self, body: Box<dyn FnOnce() + Send>) -> Result<JoinHandle<()>, SpawnError> {
        thread::Builder::new()
            .name("pushlock-scenario".into())
            .spawn(body)
            .map_err(|_| SpawnError)
    }

    fn join(&self, thread: JoinHandle<()>, timeout_ns: u64) -> Result<(), JoinHandle<()>> {
        let until = Instant::now().checked_add(Duration::from_nanos(timeout_ns));
        while !thread.is_finished() {
            if until.is_none_or(|until| Instant::now() >= until) {
                return Err(thread);
            }
            thread::sleep(Duration::from_micros(100));
        }
        // A scenario thread that panicked has already reported through its actor state.
        let _ = thread.join();
        Ok(())
    }

    fn abandon(&self, thread: JoinHandle<()>) {
        drop(thread); // detached: it stays blocked in the lock it is stuck in
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn processor_count(&self) -> u32 {
        thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    }

    fn yield_now(&self) {
        thread::yield_now();
    }

    fn sleep_ns(&self, ns: u64) {
        thread::sleep(Duration::from_nanos(ns));
    }

    fn apcs_disabled(&self) -> bool {
        StdPlatform::critical_region_depth() > 0
    }

    fn with_lock<V: LockVisitor>(
        &self,
        kind: LockKind,
        visitor: V,
    ) -> Result<V::Output, LockUnavailable> {
        Ok(match kind {
            LockKind::PushLock => {
                visitor.visit(Shared::try_new(pushlock::RawPushLock::<StdPlatform>::new())?)
            }
            LockKind::ParkingLot => visitor.visit(Shared::try_new(parking_lot::RwLock::new(()))?),
            LockKind::StdRwLock => visitor.visit(Shared::try_new(std::sync::RwLock::new(()))?),
            LockKind::Spin => visitor.visit(Shared::try_new(spin::RwLock::new(()))?),
            LockKind::Usync => visitor.visit(Shared::try_new(usync::RwLock::new(()))?),
            LockKind::CountedPushLock => {
                visitor.visit(Shared::try_new(CountedPushLock::<StdPlatform>::new())?)
            }
            LockKind::CacheAwarePushLock => {
                visitor.visit(Shared::try_new(CacheAwarePushLock::<StdPlatform>::new()?)?)
            }
            LockKind::CountedCacheAwarePushLock => visitor.visit(Shared::try_new(
                CountedCacheAwarePushLock::<StdPlatform>::new()?,
            )?),
            LockKind::CrossbeamSharded => visitor.visit(Shared::try_new(
                crossbeam_utils::sync::ShardedLock::new(()),
            )?),
            LockKind::KernelPushLock | LockKind::EResource => {
                return Err(LockUnavailable::NotOffered);
            }
        })
    }

    fn lock_kinds(&self) -> &'static [LockKind] {
        &LOCKS
    }
}

macro_rules! guard_test_lock {
    ($($lock:ty),* $(,)?) => {$(
        impl TestLock for $lock {
            fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
                let _guard = self.write();
                f()
            }

            fn shared<R>(&self, f: impl FnOnce() -> R) -> R {
                let _guard = self.read();
                f()
            }
        }
    )*};
}

guard_test_lock!(parking_lot::RwLock<()>, spin::RwLock<()>, usync::RwLock<()>);

/// `TestLock` for the peers whose guards come in a `Result` (poisoning): a poisoned lock is
/// still a lock to measure.
macro_rules! poisoning_test_lock {
    ($($lock:ty),* $(,)?) => {$(
        impl TestLock for $lock {
            fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
                let _guard = self
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                f()
            }

            fn shared<R>(&self, f: impl FnOnce() -> R) -> R {
                let _guard = self
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                f()
            }
        }
    )*};
}

poisoning_test_lock!(
    std::sync::RwLock<()>,
    crossbeam_utils::sync::ShardedLock<()>
);
