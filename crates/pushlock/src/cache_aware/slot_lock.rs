//! What a cache-aware lock's slot is made of: the one-word [`RawPushLock`], or a
//! [`CountedPushLock`], whose counters then sit on the slot's own line, one set per processor.
//!
//! The trait is sealed: a slot's operations take the verifier's [`How`], which is the crate's
//! own business.

use crate::how::How;
use crate::platform::Platform;
use crate::raw::RawPushLock;
#[cfg(not(loom))]
use crate::{CountedPushLock, LockStatistics};

/// A lock a [`CacheAwarePushLock`](super::CacheAwarePushLock) slot can be: [`RawPushLock`] or
/// [`CountedPushLock`] (at most 128 bytes, so that a slot stays two cache lines).
pub trait SlotLock<P: Platform>: sealed::Slot<P> {}

impl<P: Platform> SlotLock<P> for RawPushLock<P> {}
#[cfg(not(loom))]
impl<P: Platform> SlotLock<P> for CountedPushLock<P> {}

pub(super) mod sealed {
    use super::{How, Platform, RawPushLock};

    /// The operations a cache-aware lock needs of a slot.
    pub trait Slot<P: Platform>: Sized {
        /// A free lock.
        fn free() -> Self;
        /// The push lock itself.
        fn raw(&self) -> &RawPushLock<P>;
        /// A shared acquisition of a lock usually held by nobody else; false only if the
        /// verifier, in report-only mode, stopped it.
        fn lock_shared_alone_as(&self, how: How) -> bool;
        /// A try for a share.
        fn try_lock_shared_as(&self, how: How) -> bool;
        /// Releases the share taken by `lock_shared_alone_as` or `try_lock_shared_as`.
        ///
        /// # Safety
        /// The caller holds a share.
        unsafe fn unlock_shared_alone_as(&self, how: How);
        /// An exclusive acquisition; false only if the verifier, in report-only mode, stopped
        /// it.
        fn lock_exclusive_as(&self, how: How) -> bool;
        /// A try for exclusive ownership.
        fn try_lock_exclusive_as(&self, how: How) -> bool;
        /// Releases an exclusive acquisition.
        ///
        /// # Safety
        /// The caller holds the lock exclusively.
        unsafe fn unlock_exclusive_as(&self, how: How);
    }
}

/// `sealed::Slot` for a lock type with the crate's `*_as` operations, whose push lock `raw`
/// gives.
macro_rules! slot {
    ($(#[$only:meta])* $lock:ident, raw: |$this:ident| $raw:expr) => {
        $(#[$only])*
        impl<P: Platform> sealed::Slot<P> for $lock<P> {
            fn free() -> Self {
                Self::new()
            }

            #[inline]
            fn raw(&self) -> &RawPushLock<P> {
                let $this = self;
                $raw
            }

            #[inline]
            fn lock_shared_alone_as(&self, how: How) -> bool {
                Self::lock_shared_alone_as(self, how).is_some()
            }

            #[inline]
            fn try_lock_shared_as(&self, how: How) -> bool {
                Self::try_lock_shared_as(self, how)
            }

            #[inline]
            unsafe fn unlock_shared_alone_as(&self, how: How) {
                // SAFETY: forwarded from the caller.
                unsafe { Self::unlock_shared_alone_as(self, how) };
            }

            #[inline]
            fn lock_exclusive_as(&self, how: How) -> bool {
                Self::lock_exclusive_as(self, how).is_some()
            }

            #[inline]
            fn try_lock_exclusive_as(&self, how: How) -> bool {
                Self::try_lock_exclusive_as(self, how)
            }

            #[inline]
            unsafe fn unlock_exclusive_as(&self, how: How) {
                // SAFETY: forwarded from the caller.
                unsafe { Self::unlock_exclusive_as(self, how) };
            }
        }
    };
}

slot!(RawPushLock, raw: |lock| lock);
slot!(#[cfg(not(loom))] CountedPushLock, raw: |lock| lock.raw());

/// The statistics of counted slots, as one lock's (see `CountedCacheAwarePushLock::statistics`).
#[cfg(not(loom))]
pub(super) fn sum<'a, P: Platform + 'a>(
    slots: impl Iterator<Item = &'a CountedPushLock<P>>,
) -> LockStatistics {
    let mut total = LockStatistics::default();
    for slot in slots {
        let one = slot.statistics();
        total.shared_acquisitions = total
            .shared_acquisitions
            .wrapping_add(one.shared_acquisitions);
        total.exclusive_acquisitions = one.exclusive_acquisitions;
        total.contended = total.contended.wrapping_add(one.contended);
        total.spun = total.spun.wrapping_add(one.spun);
        total.sleeps = total.sleeps.wrapping_add(one.sleeps);
        total.longest_wait_ns = total.longest_wait_ns.max(one.longest_wait_ns);
        total.longest_hold_ns = total.longest_hold_ns.max(one.longest_hold_ns);
    }
    total
}
