//! `CacheAwareRwLock<T>`: data behind a [`CacheAwarePushLock`], with guards. `lock_api` cannot
//! carry a token from the lock to the unlock, so the guards are this module's own; a read guard
//! remembers the slot it took.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::{CacheAwarePushLock, NoMemory, SlotToken};
use crate::platform::{Platform, StdPlatform};

/// A reader-writer lock for read-mostly data: reads on different processors touch different
/// cache lines (see [`CacheAwarePushLock`]).
pub struct CacheAwareRwLock<T: ?Sized, P: Platform = StdPlatform> {
    lock: CacheAwarePushLock<P>,
    data: UnsafeCell<T>,
}

// SAFETY: as for `std::sync::RwLock`: the lock hands `&T` to many threads and `&mut T` to one.
unsafe impl<T: ?Sized + Send, P: Platform> Send for CacheAwareRwLock<T, P> {}
// SAFETY: as above; readers share `&T` across threads, so `T: Sync` too.
unsafe impl<T: ?Sized + Send + Sync, P: Platform> Sync for CacheAwareRwLock<T, P> {}

/// Shared access, on the slot it took; released on drop (on that slot, wherever the thread runs
/// by then). Not `Send`: the share belongs to the thread that took it.
#[must_use = "the lock is released when the guard is dropped"]
pub struct CacheAwareReadGuard<'a, T: ?Sized, P: Platform = StdPlatform> {
    lock: &'a CacheAwareRwLock<T, P>,
    token: SlotToken,
    not_send: PhantomData<*const ()>,
}

/// Exclusive access (every slot); released on drop.
#[must_use = "the lock is released when the guard is dropped"]
pub struct CacheAwareWriteGuard<'a, T: ?Sized, P: Platform = StdPlatform> {
    lock: &'a CacheAwareRwLock<T, P>,
    not_send: PhantomData<*const ()>,
}

// SAFETY: a read guard only hands out `&T`.
unsafe impl<T: ?Sized + Sync, P: Platform> Sync for CacheAwareReadGuard<'_, T, P> {}
// SAFETY: a write guard hands out `&T` through `&self`.
unsafe impl<T: ?Sized + Sync, P: Platform> Sync for CacheAwareWriteGuard<'_, T, P> {}

impl<T> CacheAwareRwLock<T> {
    /// `value` behind a lock with a slot per processor.
    ///
    /// # Errors
    /// [`NoMemory`] if there is no memory for the slots.
    pub fn new(value: T) -> Result<Self, NoMemory> {
        Ok(Self::with_lock(CacheAwarePushLock::new()?, value))
    }
}

impl<T, P: Platform> CacheAwareRwLock<T, P> {
    /// `value` behind `lock` (on any platform, with the slot count wanted).
    pub const fn with_lock(lock: CacheAwarePushLock<P>, value: T) -> Self {
        Self {
            lock,
            data: UnsafeCell::new(value),
        }
    }

    /// The value, the lock gone.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized, P: Platform> CacheAwareRwLock<T, P> {
    /// Shared access: this processor's slot.
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn read(&self) -> CacheAwareReadGuard<'_, T, P> {
        let token = self.lock.lock_shared();
        CacheAwareReadGuard {
            lock: self,
            token,
            not_send: PhantomData,
        }
    }

    /// Shared access if no writer holds or waits for this processor's slot.
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn try_read(&self) -> Option<CacheAwareReadGuard<'_, T, P>> {
        let token = self.lock.try_lock_shared()?;
        Some(CacheAwareReadGuard {
            lock: self,
            token,
            not_send: PhantomData,
        })
    }

    /// Exclusive access: every slot.
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn write(&self) -> CacheAwareWriteGuard<'_, T, P> {
        self.lock.lock_exclusive();
        CacheAwareWriteGuard {
            lock: self,
            not_send: PhantomData,
        }
    }

    /// Exclusive access if every slot is free.
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn try_write(&self) -> Option<CacheAwareWriteGuard<'_, T, P>> {
        // `then`, not `then_some`: a guard built and dropped on failure would release.
        self.lock
            .try_lock_exclusive()
            .then(|| CacheAwareWriteGuard {
                lock: self,
                not_send: PhantomData,
            })
    }

    /// The value, through `&mut` (no locking needed).
    pub const fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The lock itself.
    pub const fn raw(&self) -> &CacheAwarePushLock<P> {
        &self.lock
    }
}

impl<T: ?Sized, P: Platform> CacheAwareReadGuard<'_, T, P> {
    /// The slot this guard holds.
    #[must_use]
    pub const fn slot(&self) -> u32 {
        self.token.index()
    }
}

impl<T: ?Sized, P: Platform> Deref for CacheAwareReadGuard<'_, T, P> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a share of the lock is held: no writer until the guard drops.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, P: Platform> Deref for CacheAwareWriteGuard<'_, T, P> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the lock is held exclusively.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, P: Platform> DerefMut for CacheAwareWriteGuard<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held exclusively, and this guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized, P: Platform> Drop for CacheAwareReadGuard<'_, T, P> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the share its token names.
        unsafe { self.lock.lock.unlock_shared(self.token) };
    }
}

impl<T: ?Sized, P: Platform> Drop for CacheAwareWriteGuard<'_, T, P> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the lock exclusively.
        unsafe { self.lock.lock.unlock_exclusive() };
    }
}

impl<T: ?Sized + core::fmt::Debug, P: Platform> core::fmt::Debug for CacheAwareReadGuard<'_, T, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + core::fmt::Debug, P: Platform> core::fmt::Debug
    for CacheAwareWriteGuard<'_, T, P>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + core::fmt::Debug, P: Platform> core::fmt::Debug for CacheAwareRwLock<T, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut debug = f.debug_struct("CacheAwareRwLock");
        match self.try_read() {
            Some(guard) => debug.field("data", &&*guard),
            None => debug.field("data", &format_args!("<locked>")),
        };
        debug.field("slots", &self.lock.slot_count()).finish()
    }
}
