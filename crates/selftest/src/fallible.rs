//! Allocation that reports failure instead of panicking.
//!
//! In the driver every allocation is nonpaged pool, and pool runs out (a low-resources Verifier
//! run makes it run out on purpose). `Box::new`, `Arc::new`, `Vec::push` and `collect` treat
//! that as fatal: the allocation-error handler panics, and a kernel panic is a bug check. Every
//! allocation on a path the port can reach goes through this module instead, and a failure
//! becomes [`OutOfMemory`], then `STATUS_INSUFFICIENT_RESOURCES` for the message, with every
//! thread started so far stopped and joined. `crates/selftest/clippy.toml` denies the infallible
//! forms in this crate; the host lane's fault injection fails each allocation of each message in
//! turn.
//!
//! [`Shared`] is `Arc` with a fallible constructor (`Arc::try_new` is unstable): one count,
//! incremented `Relaxed` (a new reference is made from an existing one, which already keeps the
//! value alive), decremented `Release`, and the last owner's `Acquire` fence before it drops the
//! value, so every owner's use of the value happens before the drop — the same protocol as
//! `std::sync::Arc`'s strong count. There are no weak references.
#![allow(
    clippy::disallowed_methods,
    reason = "the fallible forms are built here from the infallible ones, after the check"
)]

use alloc::alloc::{Layout, alloc, dealloc};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

/// The allocator had no memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// `Box::new`, or [`OutOfMemory`].
///
/// # Errors
/// The allocation failed.
pub fn try_box<T>(value: T) -> Result<Box<T>, OutOfMemory> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        // Zero-sized: nothing is allocated.
        return Ok(Box::new(value));
    }
    // SAFETY: a non-zero size.
    let raw = unsafe { alloc(layout) }.cast::<T>();
    if raw.is_null() {
        return Err(OutOfMemory);
    }
    // SAFETY: fresh memory for one `T`, aligned by `layout`.
    unsafe { raw.write(value) };
    // SAFETY: allocated by the global allocator with `T`'s layout, initialised, owned here.
    Ok(unsafe { Box::from_raw(raw) })
}

/// `Vec::push`, or [`OutOfMemory`] (and `vec` unchanged).
///
/// # Errors
/// Growing the vector failed.
pub fn try_push<T>(vec: &mut Vec<T>, value: T) -> Result<(), OutOfMemory> {
    vec.try_reserve(1).map_err(|_| OutOfMemory)?;
    vec.push(value);
    Ok(())
}

/// `collect()` into a vector, or [`OutOfMemory`].
///
/// # Errors
/// The allocation failed.
pub fn try_collect<T>(items: impl ExactSizeIterator<Item = T>) -> Result<Vec<T>, OutOfMemory> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(items.len())
        .map_err(|_| OutOfMemory)?;
    for item in items {
        try_push(&mut vec, item)?;
    }
    Ok(vec)
}

/// A shared, reference-counted value with a fallible constructor (see the module docs).
pub struct Shared<T> {
    inner: NonNull<Inner<T>>,
    _owns: PhantomData<Inner<T>>,
}

struct Inner<T> {
    count: AtomicUsize,
    value: T,
}

// SAFETY: as `Arc<T>`: the value is shared between threads (`Sync`) and dropped by whichever
// owner is last (`Send`).
unsafe impl<T: Send + Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// `Arc::new`, or [`OutOfMemory`].
    ///
    /// # Errors
    /// The allocation failed.
    pub fn try_new(value: T) -> Result<Self, OutOfMemory> {
        let inner = try_box(Inner {
            count: AtomicUsize::new(1),
            value,
        })?;
        Ok(Self {
            inner: NonNull::from(Box::leak(inner)),
            _owns: PhantomData,
        })
    }

    const fn inner(&self) -> &Inner<T> {
        // SAFETY: this reference keeps the allocation alive.
        unsafe { self.inner.as_ref() }
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        // Relaxed: `self` keeps the value alive; no other memory is published by the count.
        // The count stays far below `usize::MAX` (a run shares a value among at most a few
        // dozen threads).
        self.inner().count.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: self.inner,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Every other owner's last use happened before its Release decrement; this Acquire
        // makes those uses happen before the drop below.
        fence(Ordering::Acquire);
        let layout = Layout::new::<Inner<T>>();
        // SAFETY: the last reference: nobody else can reach the value.
        unsafe { core::ptr::drop_in_place(self.inner.as_ptr()) };
        // SAFETY: allocated by `try_box` with this layout (never zero-sized: it has a count).
        unsafe { dealloc(self.inner.as_ptr().cast(), layout) };
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner().value.fmt(f)
    }
}
