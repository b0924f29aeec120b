//! `CacheAwarePushLock`: the kernel's cache-aware push lock (`EX_PUSH_LOCK_CACHE_AWARE`), for
//! read-mostly data. One [`RawPushLock`] per processor slot, each alone on a 128-byte line; a
//! reader takes the slot of the processor it runs on, a writer takes every slot. With
//! [`CountedPushLock`](crate::CountedPushLock) slots ([`CountedCacheAwarePushLock`]) it keeps
//! contention statistics, one set per processor on that processor's line: exact counts without
//! a shared counter all readers would write.
//!
//! With one word, every reader writes the same cache line twice (a share is a CAS both ways),
//! so readers on different processors queue for that line even though none ever waits for the
//! lock. Here readers on different processors write different lines: a read costs what an
//! uncontended one-word read costs, on any number of processors. A write costs one acquisition
//! per slot, and the lock costs `slots × 128` bytes, allocated once.
//!
//! # Slots
//!
//! | who | takes | releases |
//! |---|---|---|
//! | reader | slot `current_processor() % slots`, shared; returns a [`SlotToken`] naming it | the slot its token names (it may have moved to another processor since) |
//! | writer | every slot, exclusive, in index order | every slot, in reverse |
//!
//! The slot count is fixed at creation ([`Platform::processor_count`]); processors added later
//! share slots modulo the count (correct, only less spread).
//!
//! # Invariants
//!
//! - A writer holds every slot exclusively, so no reader holds any: exclusion is the one-word
//!   lock's, slot by slot.
//! - Writers take slots in one order (0, 1, …), so two writers never each hold a slot the other
//!   waits for; a reader holds one slot and waits for no other, so it closes no cycle either.
//! - A reader waits only on its own slot: behind a writer queued there (writer preference,
//!   slot by slot), never behind readers of other slots.
//!
//! # Under the verifier
//!
//! The verifier knows the lock by its first slot's address. A writer is checked and recorded
//! once, as the whole lock (one record, however many slots: a thread's table holds 16); its
//! slots only check that the writer does not wait on a part of the lock it holds. A reader is
//! recorded on its slot (the kernel-shaped release names only the slot) with the whole lock
//! beside it, so a thread that reads on one processor and then waits on another slot of the
//! same lock (a writer between them: a deadlock) is reported as recursion, as on one word.
//!
//! # Orderings
//!
//! None of its own: each slot is a [`RawPushLock`], whose acquisitions are `Acquire` and
//! releases `Release`. A writer that has taken every slot has synchronised with the last
//! release of each, so it sees every reader's and writer's critical section; a reader sees the
//! last writer's, whose release of the reader's slot it acquired.
//!
//! # Memory
//!
//! One block of `slots × 128` bytes, plus alignment slack, from [`Platform::allocate`] (the
//! kernel: non-paged pool tagged `PlkC`; user mode: the global allocator), freed on drop. No
//! memory, no lock: [`CacheAwarePushLock::new`] returns [`NoMemory`], never panics.

#[cfg(all(feature = "std", not(loom)))]
mod rwlock;
mod slot_lock;

use core::alloc::Layout;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::how::How;
use crate::platform::{Misuse, Platform, PoolTag};
use crate::raw::RawPushLock;
#[cfg(feature = "verify")]
use crate::verify;
#[cfg(not(loom))]
use crate::{CountedPushLock, LockClass, LockStatistics};

#[cfg(all(feature = "std", not(loom)))]
pub use rwlock::{CacheAwareReadGuard, CacheAwareRwLock, CacheAwareWriteGuard};
pub use slot_lock::SlotLock;

/// Bytes per slot: two 64-byte lines, since adjacent-line prefetching pairs lines.
pub const SLOT_BYTES: usize = 128;
/// The most slots a lock has (the kernel's cache-aware lock has 32 on x64; we allow more).
pub const MAX_SLOTS: u32 = 1024;
/// Pool tag of the slots.
pub const TAG: PoolTag = PoolTag(*b"PlkC");
/// The alignment `Platform::allocate` guarantees; the slots are aligned by hand beyond it.
const ALLOCATION_ALIGN: usize = 16;

/// One slot: a lock alone on its 128 bytes.
#[repr(C, align(128))]
struct Slot<L> {
    lock: L,
}

/// The platform had no memory for the slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMemory;

impl core::fmt::Display for NoMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("no memory for a cache-aware push lock's slots")
    }
}

/// Which slot a shared acquisition took: give it back to release that slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the token is how the share is released"]
pub struct SlotToken(u32);

impl SlotToken {
    /// The slot's index.
    #[must_use]
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// NT's cache-aware push lock: a push lock per processor slot (see the module docs).
///
/// `L` is what a slot is: the one-word [`RawPushLock`], or a
/// [`CountedPushLock`](crate::CountedPushLock) ([`CountedCacheAwarePushLock`]).
pub struct CacheAwarePushLock<P: Platform, L: SlotLock<P> = RawPushLock<P>> {
    /// The first slot, 128-aligned, inside `block`.
    slots: NonNull<Slot<L>>,
    count: u32,
    /// What `Platform::allocate` returned, for `free`.
    block: NonNull<u8>,
    platform: PhantomData<P>,
}

/// A cache-aware push lock whose slots keep [`LockStatistics`] (see
/// [`statistics`](CacheAwarePushLock::statistics)).
#[cfg(not(loom))]
pub type CountedCacheAwarePushLock<P> = CacheAwarePushLock<P, CountedPushLock<P>>;

// SAFETY: the slots are push locks, made to be shared between threads; the block is owned.
unsafe impl<P: Platform, L: SlotLock<P>> Send for CacheAwarePushLock<P, L> {}
// SAFETY: as above: every access through `&self` is a push-lock operation.
unsafe impl<P: Platform, L: SlotLock<P>> Sync for CacheAwarePushLock<P, L> {}

impl<P: Platform, L: SlotLock<P>> CacheAwarePushLock<P, L> {
    /// A free lock with a slot per processor ([`Platform::processor_count`]).
    ///
    /// # Errors
    /// [`NoMemory`] if the platform has no memory for the slots.
    pub fn new() -> Result<Self, NoMemory> {
        Self::with_slots(P::processor_count())
    }

    /// A free lock with `slots` slots (at least 1, at most [`MAX_SLOTS`]).
    ///
    /// # Errors
    /// [`NoMemory`] if the platform has no memory for the slots.
    pub fn with_slots(slots: u32) -> Result<Self, NoMemory> {
        const { assert!(size_of::<Slot<L>>() == SLOT_BYTES) };
        let count = slots.clamp(1, MAX_SLOTS);
        let layout = Self::layout(count).ok_or(NoMemory)?;
        let block = NonNull::new(P::allocate(layout, TAG)).ok_or(NoMemory)?;
        let offset = block.as_ptr().align_offset(SLOT_BYTES);
        if offset > SLOT_BYTES - ALLOCATION_ALIGN {
            // Not a 16-aligned block, or `align_offset` could not say (it may give up).
            // SAFETY: allocated just above with this layout and tag, never used.
            unsafe { P::free(block.as_ptr(), layout, TAG) };
            return Err(NoMemory);
        }
        // SAFETY: the block has `SLOT_BYTES - ALLOCATION_ALIGN` bytes of slack in front of the
        // slots, and `offset` is at most that (checked).
        let first = unsafe { block.add(offset) }.cast::<Slot<L>>();
        for index in 0..count as usize {
            // SAFETY: slot `index` lies inside the block (`layout`).
            let slot = unsafe { first.add(index) };
            // SAFETY: aligned (to 128 above), writable, not yet in use.
            unsafe { slot.write(Slot { lock: L::free() }) };
        }
        Ok(Self {
            slots: first,
            count,
            block,
            platform: PhantomData,
        })
    }

    /// The block holding `count` slots and the slack to align them.
    fn layout(count: u32) -> Option<Layout> {
        let slots = (count as usize).checked_mul(SLOT_BYTES)?;
        let size = slots.checked_add(SLOT_BYTES - ALLOCATION_ALIGN)?;
        Layout::from_size_align(size, ALLOCATION_ALIGN).ok()
    }

    /// The bytes of its slots' block: `slots × 128`, plus the slack that aligns them.
    #[must_use]
    pub fn allocated_bytes(&self) -> usize {
        Self::layout(self.count).map_or(0, |layout| layout.size())
    }

    /// How many slots the lock has.
    #[must_use]
    pub const fn slot_count(&self) -> u32 {
        self.count
    }

    /// The push lock of slot `index` (`None` past the last).
    #[must_use]
    pub fn slot(&self, index: u32) -> Option<&RawPushLock<P>> {
        self.slot_lock(index).map(L::raw)
    }

    /// Names the lock in verifier reports (see [`LockClass`]).
    #[cfg(not(loom))]
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn set_class(&self, class: &'static LockClass) {
        // The verifier knows the lock by its first slot.
        if let Some(first) = self.slot(0) {
            first.set_class(class);
        }
    }

    /// Slot `index` (`None` past the last).
    #[inline]
    fn slot_lock(&self, index: u32) -> Option<&L> {
        (index < self.count).then(|| {
            // SAFETY: `index` is below the count of slots in the block.
            let slot = unsafe { self.slots.add(index as usize) };
            // SAFETY: initialised in `with_slots`, alive as long as `self`, only shared.
            unsafe { &slot.as_ref().lock }
        })
    }

    /// The slot of a token this lock gave out, or a caller-bug report for any other.
    #[inline]
    fn slot_of(&self, token: SlotToken) -> &L {
        let forged = || {
            let lock = self.slots.as_ptr().cast_const().cast();
            crate::platform::misuse::<P>(lock, Misuse::ReleaseNotHeld(crate::LockWord(0)))
        };
        self.slot_lock(token.0).unwrap_or_else(forged)
    }

    /// Every slot, in index order.
    fn slots(&self) -> impl DoubleEndedIterator<Item = &L> {
        (0..self.count).filter_map(|index| self.slot_lock(index))
    }

    /// The address the verifier knows the whole lock by: its first slot's.
    #[inline]
    fn whole(&self) -> usize {
        self.slots.as_ptr().expose_provenance()
    }

    /// The slot readers on this processor take.
    #[inline]
    fn reader_slot(&self) -> (SlotToken, &L) {
        let processor = P::current_processor();
        // A division costs several nanoseconds, as much as the rest of a read: only processors
        // added after creation need it.
        let index = if processor < self.count {
            processor
        } else {
            processor.checked_rem(self.count).unwrap_or(0)
        };
        let token = SlotToken(index);
        (token, self.slot_of(token))
    }

    /// Acquires shared: the slot of the processor the caller runs on. Release with
    /// [`unlock_shared`](Self::unlock_shared) and the token.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn lock_shared(&self) -> SlotToken {
        self.lock_shared_as(How::here())
    }

    /// Tries to acquire shared without waiting; fails if a writer holds or waits for this
    /// processor's slot.
    #[cfg_attr(feature = "verify", track_caller)]
    #[must_use = "if some, the share is held and must be released with the token"]
    pub fn try_lock_shared(&self) -> Option<SlotToken> {
        let (token, slot) = self.reader_slot();
        slot.try_lock_shared_as(How::here().on_slot_of(self.whole()))
            .then_some(token)
    }

    /// Releases the share `token` names.
    ///
    /// # Safety
    /// The caller holds that share, from this lock's `lock_shared` or `try_lock_shared`.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub unsafe fn unlock_shared(&self, token: SlotToken) {
        let how = How::here().on_slot_of(self.whole());
        // SAFETY: the caller holds a share of this slot.
        unsafe { self.slot_of(token).unlock_shared_alone_as(how) };
    }

    /// Acquires exclusively: every slot, in index order.
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn lock_exclusive(&self) {
        self.lock_exclusive_as(How::here());
    }

    /// Tries to acquire exclusively without waiting: every slot, or none.
    #[cfg_attr(feature = "verify", track_caller)]
    #[must_use = "if true, the lock is held and must be released"]
    pub fn try_lock_exclusive(&self) -> bool {
        let how = How::here().on_slot_of(self.whole());
        #[cfg(feature = "verify")]
        if !verify::before_acquire::<P>(self.whole(), false, how) {
            return false;
        }
        let sweep = how.sweeping(self.whole());
        for (taken, slot) in (0..self.count).zip(self.slots()) {
            if !slot.try_lock_exclusive_as(sweep) {
                self.give_back(taken, sweep);
                return false;
            }
        }
        #[cfg(feature = "verify")]
        verify::acquired::<P>(self.whole(), true, how);
        true
    }

    /// Releases an exclusive acquisition: every slot, in reverse order.
    ///
    /// # Safety
    /// The caller holds the lock exclusively.
    #[cfg_attr(feature = "verify", track_caller)]
    pub unsafe fn unlock_exclusive(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.unlock_exclusive_as(How::here()) };
    }

    /// [`lock_shared`](Self::lock_shared), called as `how` says.
    #[inline]
    pub(crate) fn lock_shared_as(&self, how: How) -> SlotToken {
        let (token, slot) = self.reader_slot();
        // Stopped only by the verifier in report-only mode; the release is then reported too.
        let _taken = slot.lock_shared_alone_as(how.on_slot_of(self.whole()));
        token
    }

    /// [`lock_exclusive`](Self::lock_exclusive), called as `how` says.
    pub(crate) fn lock_exclusive_as(&self, how: How) {
        let how = how.on_slot_of(self.whole());
        // A writer that holds any part of the lock would wait for itself at that slot: caught
        // here, before it takes a slot, wherever the sweep would first have waited.
        #[cfg(feature = "verify")]
        if !verify::before_acquire::<P>(self.whole(), true, how)
            || !verify::before_wait::<P>(self.whole(), true, how)
        {
            return;
        }
        let sweep = how.sweeping(self.whole());
        for (taken, slot) in (0..self.count).zip(self.slots()) {
            if !slot.lock_exclusive_as(sweep) {
                // Only the verifier, in report-only mode, stops a slot: take nothing.
                return self.give_back(taken, sweep);
            }
        }
        #[cfg(feature = "verify")]
        verify::acquired::<P>(self.whole(), true, how);
    }

    /// Releases slots `0..taken`, taken exclusively by a sweep that could not finish.
    fn give_back(&self, taken: u32, sweep: How) {
        for held in (0..taken).rev().filter_map(|index| self.slot_lock(index)) {
            // SAFETY: taken exclusively by this sweep.
            unsafe { held.unlock_exclusive_as(sweep) };
        }
    }

    /// [`unlock_exclusive`](Self::unlock_exclusive), called as `how` says.
    ///
    /// # Safety
    /// The caller holds the lock exclusively.
    pub(crate) unsafe fn unlock_exclusive_as(&self, how: How) {
        let how = how.on_slot_of(self.whole());
        #[cfg(feature = "verify")]
        if !verify::before_release::<P>(self.whole(), Some(true), how) {
            return;
        }
        let sweep = how.sweeping(self.whole());
        for slot in self.slots().rev() {
            // SAFETY: the caller holds every slot exclusively.
            unsafe { slot.unlock_exclusive_as(sweep) };
        }
    }

    /// Whether any slot is held or waited for (for diagnostics: it may change at once).
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.slots().any(|slot| slot.raw().is_locked())
    }
}

#[cfg(not(loom))]
impl<P: Platform> CountedCacheAwarePushLock<P> {
    /// The slots' counters, as one lock's:
    ///
    /// | counter | from the slots |
    /// |---|---|
    /// | shared acquisitions | the sum: a reader counts on its own slot |
    /// | exclusive acquisitions | the last slot's: a writer reaches it only once it holds every other, so a try that failed part-way is not counted |
    /// | contended, spun, sleeps | the sums, per slot acquisition (a writer that waited at three slots counts three) |
    /// | longest wait, longest hold | the largest of any slot's (a wait at one slot, not a writer's whole sweep) |
    ///
    /// Each slot is read exactly, but not all at one instant.
    #[must_use]
    pub fn statistics(&self) -> LockStatistics {
        slot_lock::sum(self.slots())
    }
}

impl<P: Platform, L: SlotLock<P>> Drop for CacheAwarePushLock<P, L> {
    fn drop(&mut self) {
        for index in 0..self.count as usize {
            // SAFETY: slot `index` lies inside the block.
            let slot = unsafe { self.slots.add(index) };
            // SAFETY: initialised in `with_slots`; nothing borrows it (`&mut self`).
            unsafe { slot.drop_in_place() };
        }
        if let Some(layout) = Self::layout(self.count) {
            // SAFETY: allocated by `with_slots` with this layout and tag; the slots are gone.
            unsafe { P::free(self.block.as_ptr(), layout, TAG) };
        }
    }
}

impl<P: Platform, L: SlotLock<P>> core::fmt::Debug for CacheAwarePushLock<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CacheAwarePushLock")
            .field("slots", &self.count)
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}
