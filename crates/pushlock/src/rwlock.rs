//! `lock_api` integration: guards, `RwLock<T>`, and everything else `lock_api` builds on a raw lock.

use crate::counted::{CountedPushLock, LockStatistics};
use crate::platform::Platform;
use crate::raw::RawPushLock;

/// `lock_api::RawRwLock` for a lock type with the push lock's methods: `RawPushLock` and
/// `CountedPushLock` (the same lock with counters beside it).
macro_rules! raw_rw_lock {
    ($lock:ident) => {
        // SAFETY: a reader-writer lock: an exclusive owner excludes everyone, shared owners
        // exclude writers, acquisitions are `Acquire` and releases `Release` (see `raw.rs`);
        // `CountedPushLock`'s counters change nothing of that.
        unsafe impl<P: Platform> lock_api::RawRwLock for $lock<P> {
            #[allow(clippy::declare_interior_mutable_const)]
            const INIT: Self = Self::new();

            // The lock has no thread affinity: any thread may release it.
            type GuardMarker = lock_api::GuardSend;

            #[cfg_attr(feature = "verify", track_caller)]
            fn lock_shared(&self) {
                Self::lock_shared(self);
            }

            #[cfg_attr(feature = "verify", track_caller)]
            fn try_lock_shared(&self) -> bool {
                Self::try_lock_shared(self)
            }

            #[cfg_attr(feature = "verify", track_caller)]
            unsafe fn unlock_shared(&self) {
                // SAFETY: forwarded from the caller, who holds a share.
                unsafe { Self::unlock_shared(self) };
            }

            #[cfg_attr(feature = "verify", track_caller)]
            fn lock_exclusive(&self) {
                Self::lock_exclusive(self);
            }

            #[cfg_attr(feature = "verify", track_caller)]
            fn try_lock_exclusive(&self) -> bool {
                Self::try_lock_exclusive(self)
            }

            #[cfg_attr(feature = "verify", track_caller)]
            unsafe fn unlock_exclusive(&self) {
                // SAFETY: forwarded from the caller, who holds the lock exclusively.
                unsafe { Self::unlock_exclusive(self) };
            }

            fn is_locked(&self) -> bool {
                self.word().is_locked()
            }

            /// Exact without waiters. With waiters queued the word cannot tell a writer from a
            /// sole reader (the kernel's encoding), and this answers false.
            fn is_locked_exclusive(&self) -> bool {
                self.word().is_exclusive_uncontended()
            }
        }
    };
}

raw_rw_lock!(RawPushLock);
raw_rw_lock!(CountedPushLock);

/// A reader-writer lock protecting a `T`, over a push lock on `P`.
pub type PushRwLock<P, T> = lock_api::RwLock<RawPushLock<P>, T>;

/// A reader-writer lock for ordinary Rust programs: a push lock on [`StdPlatform`](crate::StdPlatform).
#[cfg(feature = "std")]
pub type RwLock<T> = PushRwLock<crate::StdPlatform, T>;
/// Shared guard of [`RwLock`].
#[cfg(feature = "std")]
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawPushLock<crate::StdPlatform>, T>;
/// Exclusive guard of [`RwLock`].
#[cfg(feature = "std")]
pub type RwLockWriteGuard<'a, T> =
    lock_api::RwLockWriteGuard<'a, RawPushLock<crate::StdPlatform>, T>;

/// A reader-writer lock protecting a `T` that keeps contention statistics, over `P`.
pub type CountedPushRwLock<P, T> = lock_api::RwLock<CountedPushLock<P>, T>;

/// [`CountedPushRwLock`] for ordinary Rust programs, on [`StdPlatform`](crate::StdPlatform).
#[cfg(feature = "std")]
pub type CountedRwLock<T> = CountedPushRwLock<crate::StdPlatform, T>;

/// The statistics of a lock that keeps them: `lock.statistics()` on a [`CountedRwLock`].
pub trait Statistics {
    /// The lock's counters now.
    fn statistics(&self) -> LockStatistics;
}

impl<P: Platform, T: ?Sized> Statistics for CountedPushRwLock<P, T> {
    fn statistics(&self) -> LockStatistics {
        // SAFETY: only the counters are read; the lock's state is neither read nor changed.
        unsafe { self.raw() }.statistics()
    }
}
