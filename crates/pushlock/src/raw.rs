//! The push lock: one pointer-sized word, waiters queued on their own stacks.
//!
//! # The word
//!
//! | bits | name | meaning |
//! |---|---|---|
//! | 0 (`0x1`) | `LOCKED` | owned, in either mode |
//! | 1 (`0x2`) | `WAITING` | the upper bits point to the newest wait block, not a count |
//! | 2 (`0x4`) | `WAKING` | one thread owns the waiter list: it may edit links and wake waiters |
//! | 3 (`0x8`) | `MULTIPLE_SHARED` | shared by several owners *and* waited on: the owner count was moved into the oldest wait block |
//! | 4.. (step `0x10`) | count / pointer | without `WAITING`: shared owners; with it: newest wait block |
//!
//! The encodings a debugger shows are the kernel's: free `0`, one exclusive owner `0x1`, `n`
//! shared owners `0x1 + n*0x10`.
//!
//! # The queue
//!
//! A thread that cannot take the lock builds a [`WaitBlock`] on its own stack and pushes it with
//! one CAS. The word points at the newest block; `next` links lead to older ones. Back links and
//! the shortcut to the oldest are filled in later, lazily, by whoever holds `WAKING`:
//!
//! ```text
//!   word ──► [newest]──next──►[ ]──next──►[ ]──next──►[oldest]──next──► null
//!            last = oldest    ◄───prev────  ◄───prev────          last = oldest (itself)
//!                             (null lasts in between)             share_count (MULTIPLE_SHARED)
//! ```
//!
//! Walking `next` from the head, the first block with a non-null `last` names the true oldest
//! block; the walker caches it in the head so the next walk stops there. Walks start at the head,
//! so links and cached `last`s below the first non-null one are never followed, however stale.
//!
//! Waiters are woken from the oldest end, in one of three ways:
//!
//! | oldest waiter | the waker's CAS | woken | they then |
//! |---|---|---|---|
//! | a writer, others behind it | none: it detaches the writer (the next block becomes the oldest) | that writer | compete for the lock (a running thread may barge in first) |
//! | a writer, alone | word → `0x1` | that writer | own the lock |
//! | a reader | `LOCKED` + the readers' shares: word → `0x1 + n*0x10` if all `n` waiters are readers; else `LOCKED` (+ `MULTIPLE_SHARED` if `n > 1`), the first writer becomes the oldest block and holds `n` | the `n` readers in front of the first writer | own a share each |
//!
//! A detached writer competes, which keeps its release short and lets a running thread barge
//! ahead of a sleeping one. A writer waiting alone is handed the lock: competing would leave the
//! word free with nobody queued until it runs, and on a busy machine that is a whole scheduling
//! round of readers streaming in past it (measured: 16–28 ms writer waits under a reader flood,
//! 0.2 ms with the hand-off). Readers are always handed their shares: a woken reader that had to
//! compete again could be slow to run, find a writer queued meanwhile and queue behind it, split
//! from the readers it was released with (contract 4).
//!
//! # Operations
//!
//! - **Exclusive acquire**: `fetch_or(LOCKED)`; owned if the bit was clear (even with waiters:
//!   barging). **Shared acquire**: read, then CAS `0 → 0x11` or `count → count+1` while no one
//!   waits. (Reading first costs a load when alone, but a CAS that guesses the value misses
//!   nearly always among other readers.)
//! - **Before queueing**: a thread that finds the lock held by a writer and nobody queued, or
//!   finds `WAKING` taken, watches the word for a while ([`Platform::spin_on_word`]: 1, 2, 4
//!   then 8 pauses between looks, in user mode then a few yields), since the owner is likely
//!   running and about to leave, or the `WAKING` holder about to hand the lock on. A writer that
//!   finds readers queues at once: readers may keep coming, and only a queued writer stops them
//!   (contract 3).
//! - **Release** (exclusive, or the last/sole shared owner): clear `LOCKED` (and
//!   `MULTIPLE_SHARED`) with one subtraction; if waiters exist and nobody holds `WAKING`, take
//!   `WAKING` and wake. Shared release without waiters: decrement the count. With
//!   `MULTIPLE_SHARED`: decrement the oldest block's count; the last owner releases as above.
//! - **Queueing**: the first waiter marks itself oldest and moves the share count into its block
//!   (setting `MULTIPLE_SHARED` if it is above one); a later waiter links to the old head and,
//!   if the lock is owned and `WAKING` free, takes `WAKING` and optimises the list (fills back
//!   links, caches the oldest), or wakes if it finds the lock released meanwhile. The waiter then
//!   spins on its own block's `SPINNING` bit for the platform's spin count, then sleeps on its
//!   event.
//! - **A writer queueing first claims the lock itself**: it pushes its block with `WAKING` taken
//!   and polls the word for the platform's spin count. The owners' last release then finds
//!   `WAKING` taken and is a bare subtraction; the writer sees `LOCKED` clear and takes the lock
//!   with one CAS, straight to `0x1` if nobody queued behind it, else taking its own block out of
//!   the list (the ones behind wait for its release). Out of polls, it drops `WAKING` and waits
//!   on its block like any waiter. This is `parking_lot`'s "set the writer bit, then wait for the
//!   readers to leave" in the kernel's encoding: the hand-over moves the word's cache line twice
//!   and touches no wait block, where a wake through the block took four line transfers.
//! - **Waking** (holding `WAKING`): if someone owns the lock again, just drop `WAKING`: the owner
//!   wakes on release. Else wake from the oldest end as in the table above.
//!
//! # Where we differ from the kernel: readers never take the lock without a count
//!
//! In the kernel a reader that finds the lock free but waiters still queued sets `LOCKED` without
//! a count (the word has no room for one) and so behaves like a writer: later readers queue behind
//! it, and a group of readers that must all be inside at once hangs. Here a reader never joins
//! while `WAITING` is set: it queues. And the kernel's woken readers compete again, so one slow to
//! run can be split from its group by a writer that queues meanwhile; here the waker hands the
//! readers their shares in its own CAS, so readers released together are inside together
//! (contract 4). The first rule also gives writer preference (contract 3): once a writer waits,
//! readers queue behind it.
//!
//! # Invariants
//!
//! 1. `WAKING` ⇒ `WAITING`; `MULTIPLE_SHARED` ⇒ `LOCKED` ∧ `WAITING`; neither `LOCKED` nor
//!    `WAITING` ⇒ the word is 0; `WAITING` ⇒ the pointer is non-null.
//! 2. Only the `WAKING` holder edits the list (`prev`, cached `last`) or releases waiters, except
//!    that a waker who cleared `WAITING` with a CAS owns the detached list outright.
//! 3. A block stays alive until released; a releaser reads everything it needs first.
//! 4. While `LOCKED` is set no waiter in the list is released, so a shared owner may walk the list
//!    without `WAKING` (only to find the oldest block's count), and the oldest block cannot change.
//!    (A waker that hands readers their shares sets `LOCKED` for them and takes them out of the
//!    list before it releases them.)
//! 5. No lost wake-up: whenever the word has `WAITING` without `LOCKED`, someone is bound to act:
//!    a `WAKING` holder (it re-reads the word before giving `WAKING` up and wakes if the lock is
//!    free; a claiming writer takes the lock instead), a releaser between its subtraction and its
//!    CAS for `WAKING` (a failed CAS makes it re-read), or a writer just woken alone, which takes
//!    the lock or finds an owner, and either way a release follows. These are the only ways to
//!    reach that state, so a reader that arrives in it just queues: it does not take `WAKING`,
//!    which would wake the whole queue past the writer woken alone (the kernel's later waiters
//!    do).
//! 6. A shared acquirer never sets `LOCKED` without adding a count, and never joins while
//!    `WAITING` is set.
//!
//! # Progress
//!
//! Release is lock-free, not bounded: every step that fails does so because another thread
//! changed the word, so some thread always completes. One release can retry without end while
//! others keep changing the word (a `WAKING` holder at work, a writer cycling lock and unlock).
//! The kernel's push lock has the same property: its release retries its interlocked
//! compare-exchange on the same word. No acquirer spins without bound either: after a bounded
//! look at the word it queues, and a queued waiter is woken (invariant 5).
//!
//! # Memory orderings
//!
//! Every write to the word is a read-modify-write, so every write continues the release sequence
//! of every earlier release on it: an acquire read of *any* later value synchronises with all
//! earlier release writes.
//!
//! - Taking the lock: `Acquire` (the previous owner released). Giving it up: `Release`. A
//!   hand-off takes the lock for the writer or the readers with the waker's `AcqRel` CAS, then
//!   releases each block (`AcqRel`): the chain carries the previous owner's writes to them.
//! - Pushing a block: `AcqRel`. Release publishes the block's fields (`next`, `last`, count,
//!   flags); acquire because the pusher may take `WAKING` and walk other blocks.
//! - Taking `WAKING`: `Acquire` (see the blocks and the links the previous holder wrote).
//!   Dropping it: `Release` (publish our links to the next holder). Every CAS whose failure
//!   value is then walked uses `Acquire` on failure.
//! - Shared owners with `MULTIPLE_SHARED`: `AcqRel` on the oldest block's count, so the last
//!   owner's `Release` on the word carries every other reader's critical section to the writer.
//! - The `SPINNING` hand-shake: `AcqRel` on both sides; the waker's release makes its work
//!   visible to the woken thread, the waiter's release publishes its prepared event.
//!
//! # Not re-entrant
//!
//! As in the kernel, an exclusive owner that acquires again deadlocks, and so does a shared owner
//! that acquires again while a writer waits (it queues behind the writer, which waits for it).
//!
//! # The verifier's hooks (feature `verify`)
//!
//! With the feature, each public operation passes its caller's site ([`How`], `#[track_caller]`)
//! to the verifier (`crate::verify`): before an acquisition (IRQL, critical region, lock order),
//! after it (record), before a release (owner and mode, before the word changes), and in
//! `lock_slow` just before a thread would queue (recursion: it must not wait on a lock it
//! holds). A hook may stop the call in report-only mode. The word, the queue and every ordering
//! above are untouched; without the feature the hooks are not compiled and `How` is empty.

use core::marker::PhantomData;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::how::How;
use crate::platform::{Misuse, Platform};
use crate::state::{AtomicState, FLAGS, LOCKED, MULTIPLE_SHARED, State, WAITING, WAKING};
#[cfg(feature = "verify")]
use crate::verify;
use crate::wait_block::WaitBlock;
use crate::{EX_PUSH_LOCK, LockClass, LockWord};

/// A reader-writer push lock over one pointer-sized word.
///
/// `P` is the [`Platform`] that waiters sleep on. The lock has no thread affinity (any thread may
/// release it), does not allocate, and is not re-entrant.
#[repr(transparent)]
pub struct RawPushLock<P: Platform> {
    state: AtomicState,
    platform: PhantomData<fn() -> P>,
}

// `P` is only a compile-time choice of functions; the lock is as thread-safe as its atomic word.
// SAFETY: all shared state is in the atomic word and in wait blocks reached through it.
unsafe impl<P: Platform> Sync for RawPushLock<P> {}
// SAFETY: as above; nothing in the lock is tied to a thread.
unsafe impl<P: Platform> Send for RawPushLock<P> {}

impl<P: Platform> Default for RawPushLock<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform> core::fmt::Debug for RawPushLock<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("RawPushLock").field(&self.word()).finish()
    }
}

impl<P: Platform> RawPushLock<P> {
    /// A free lock (word 0).
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: AtomicState::new(),
            platform: PhantomData,
        }
    }

    /// A free lock (word 0).
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: AtomicState::new(),
            platform: PhantomData,
        }
    }

    /// Views a Windows-shaped push lock as a `RawPushLock`.
    ///
    /// # Safety
    /// `lock` is valid and initialised for `'a`, and is only used as a push lock meanwhile.
    #[must_use]
    pub const unsafe fn from_ptr<'a>(lock: *const EX_PUSH_LOCK) -> &'a Self {
        // SAFETY: both types are `repr(transparent)` over `AtomicState`, and the caller vouches
        // for validity and lifetime.
        unsafe { &*lock.cast::<Self>() }
    }

    /// This lock as the Windows-shaped API sees it, for the [`nt`](crate::nt) functions or C
    /// code: the inverse of [`from_ptr`](Self::from_ptr).
    #[must_use]
    pub const fn as_ex_push_lock(&self) -> *mut EX_PUSH_LOCK {
        core::ptr::from_ref(self).cast_mut().cast()
    }

    /// Stack bytes each waiting thread uses for its wait block (the lock itself is one word, and
    /// nothing else is ever allocated).
    #[must_use]
    pub const fn wait_block_size() -> usize {
        size_of::<WaitBlock<P>>()
    }

    /// A reading of the lock word, decoded (for diagnostics: it may be stale at once).
    #[must_use]
    pub fn word(&self) -> LockWord {
        LockWord(self.state.load(Relaxed).bits())
    }

    /// Whether the lock is owned in either mode (a snapshot).
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.word().is_locked()
    }

    /// Acquires the lock exclusively, sleeping if needed.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn lock_exclusive(&self) {
        let _sleeps = self.lock_exclusive_as(How::here());
    }

    /// Acquires the lock exclusively if no one owns it; never waits. Succeeds even if waiters
    /// are queued (as the kernel's does).
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    #[must_use = "if true, the lock is held and must be released"]
    pub fn try_lock_exclusive(&self) -> bool {
        self.try_lock_exclusive_as(How::here())
    }

    /// Acquires the lock shared, sleeping if it is held exclusively or anyone waits.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub fn lock_shared(&self) {
        let _sleeps = self.lock_shared_as(How::here());
    }

    /// Acquires the lock shared if it is free or shared with no one waiting; never waits.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    #[must_use = "if true, the lock is held and must be released"]
    pub fn try_lock_shared(&self) -> bool {
        self.try_lock_shared_as(How::here())
    }

    /// Releases an exclusive acquisition.
    ///
    /// A release that does not match an exclusive hold (of a free lock, or by a shared owner
    /// while nobody waits) is reported before the word changes, in every build: the fast path
    /// is one CAS from the only word an uncontended exclusive owner can see, as cheap as the
    /// subtraction it replaces, and anything else goes through a check.
    ///
    /// # Safety
    /// The lock is held exclusively; the caller gives up that ownership.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub unsafe fn unlock_exclusive(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.unlock_exclusive_as(How::here()) };
    }

    /// Releases a shared acquisition.
    ///
    /// # Safety
    /// The lock is held shared; the caller gives up one share.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub unsafe fn unlock_shared(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.unlock_shared_as(How::here()) };
    }

    /// Releases the lock in whichever mode it is held (what `ExReleasePushLock` and
    /// `FltReleasePushLock` do): an exclusive owner is the one whose word has no share count.
    ///
    /// # Safety
    /// The lock is held, in either mode, by the caller's acquisition.
    #[inline]
    #[cfg_attr(feature = "verify", track_caller)]
    pub unsafe fn unlock(&self) {
        // SAFETY: forwarded from the caller.
        let _ = unsafe { self.unlock_as(How::here()) };
    }

    /// Names the lock: its class in verifier reports and in the lock-order graph (see
    /// [`LockClass`]). Does nothing without the `verify` feature.
    #[cfg_attr(feature = "verify", track_caller)]
    #[cfg_attr(
        not(feature = "verify"),
        allow(unused_variables, clippy::unused_self, clippy::missing_const_for_fn)
    )]
    pub fn set_class(&self, class: &'static LockClass) {
        #[cfg(feature = "verify")]
        verify::classify::<P>(self.address(), Some(class), verify::Site::caller());
    }

    /// [`lock_exclusive`](Self::lock_exclusive), called as `how` says: how many times the thread slept
    /// on the way, or `None` if the verifier, in report-only mode, stopped the call.
    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    pub(crate) fn lock_exclusive_as(&self, how: How) -> Option<u32> {
        #[cfg(feature = "verify")]
        if !verify::before_acquire::<P>(self.address(), true, how) {
            return None;
        }
        let sleeps = if self.take_exclusive() {
            0
        } else {
            self.lock_slow(true, how)?
        };
        #[cfg(feature = "verify")]
        verify::acquired::<P>(self.address(), true, how);
        Some(sleeps)
    }

    /// [`lock_shared`](Self::lock_shared), called as `how` says: how many times the thread slept
    /// on the way, or `None` if the verifier, in report-only mode, stopped the call.
    #[inline]
    pub(crate) fn lock_shared_as(&self, how: How) -> Option<u32> {
        self.lock_shared_via(how, Self::take_shared)
    }

    /// [`lock_shared_as`](Self::lock_shared_as) for a lock its caller expects to find free: a
    /// cache-aware lock's slot, which only the readers of one processor share. One CAS from
    /// free, where the shared path reads first (see `take_shared`).
    #[inline]
    pub(crate) fn lock_shared_alone_as(&self, how: How) -> Option<u32> {
        self.lock_shared_via(how, Self::take_shared_alone)
    }

    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    fn lock_shared_via(&self, how: How, take: fn(&Self) -> bool) -> Option<u32> {
        #[cfg(feature = "verify")]
        if !verify::before_acquire::<P>(self.address(), true, how) {
            return None;
        }
        let sleeps = if take(self) {
            0
        } else {
            self.lock_slow(false, how)?
        };
        #[cfg(feature = "verify")]
        verify::acquired::<P>(self.address(), false, how);
        Some(sleeps)
    }

    /// [`try_lock_exclusive`](Self::try_lock_exclusive), called as `how` says.
    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    pub(crate) fn try_lock_exclusive_as(&self, how: How) -> bool {
        #[cfg(feature = "verify")]
        if !verify::before_acquire::<P>(self.address(), false, how) {
            return false;
        }
        let taken = self.take_exclusive();
        #[cfg(feature = "verify")]
        if taken {
            verify::acquired::<P>(self.address(), true, how);
        }
        taken
    }

    /// [`try_lock_shared`](Self::try_lock_shared), called as `how` says.
    #[inline]
    pub(crate) fn try_lock_shared_as(&self, how: How) -> bool {
        self.try_lock_shared_via(how, Self::take_shared)
    }

    /// [`try_lock_shared_as`](Self::try_lock_shared_as) for a lock its caller expects to find
    /// free (see [`lock_shared_alone_as`](Self::lock_shared_alone_as)).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn try_lock_shared_alone_as(&self, how: How) -> bool {
        self.try_lock_shared_via(how, Self::take_shared_alone)
    }

    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    fn try_lock_shared_via(&self, how: How, take: fn(&Self) -> bool) -> bool {
        #[cfg(feature = "verify")]
        if !verify::before_acquire::<P>(self.address(), false, how) {
            return false;
        }
        let taken = take(self);
        #[cfg(feature = "verify")]
        if taken {
            verify::acquired::<P>(self.address(), false, how);
        }
        taken
    }

    /// The exclusive fast path: one `fetch_or`.
    #[inline]
    fn take_exclusive(&self) -> bool {
        !self.state.fetch_or(LOCKED, Acquire).has(LOCKED)
    }

    /// The shared fast path of a lock expected free: a CAS that guesses so, then the usual path.
    #[inline]
    fn take_shared_alone(&self) -> bool {
        self.state
            .compare_exchange(State::FREE, State::ONE_SHARED, Acquire, Relaxed)
            .is_ok()
            || self.take_shared()
    }

    /// The shared fast path.
    #[inline]
    fn take_shared(&self) -> bool {
        // Read first, then CAS: a guessed CAS (say "free") is one instruction less when nobody
        // else is there, but among other readers it nearly always misses, and a failed locked
        // instruction costs as much as a successful one (measured: 40 % fewer acquisitions at
        // two threads).
        let mut current = self.state.load(Relaxed);
        while let Some(new) = current.add_shared() {
            match self.state.compare_exchange(current, new, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// [`unlock_exclusive`](Self::unlock_exclusive), called as `how` says.
    ///
    /// # Safety
    /// As for `unlock_exclusive`.
    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    pub(crate) unsafe fn unlock_exclusive_as(&self, how: How) {
        #[cfg(feature = "verify")]
        if !verify::before_release::<P>(self.address(), Some(true), how) {
            return;
        }
        if self
            .state
            .compare_exchange(State::EXCLUSIVE, State::FREE, Release, Relaxed)
            .is_err()
        {
            self.unlock_exclusive_slow();
        }
    }

    /// `unlock_exclusive` with waiters queued, or a mismatched release.
    #[cold]
    fn unlock_exclusive_slow(&self) {
        // While we hold the lock nobody else clears `LOCKED` or `WAITING`: what is seen here
        // stays true until our own release below. With waiters, an exclusive owner and a sole
        // shared owner look alike (the kernel's encoding); only `MULTIPLE_SHARED` tells.
        let current = self.state.load(Relaxed);
        let exclusive = if current.has(WAITING) {
            current.has(LOCKED) && !current.has(MULTIPLE_SHARED)
        } else {
            current == State::EXCLUSIVE
        };
        if !exclusive {
            crate::platform::misuse::<P>(
                self.as_ptr(),
                Misuse::ReleaseNotHeld(LockWord(current.bits())),
            );
        }
        self.release(LOCKED);
    }

    /// [`unlock_shared`](Self::unlock_shared), called as `how` says.
    ///
    /// # Safety
    /// As for `unlock_shared`.
    #[inline]
    pub(crate) unsafe fn unlock_shared_as(&self, how: How) {
        self.unlock_shared_via(how, Self::release_share);
    }

    /// [`unlock_shared_as`](Self::unlock_shared_as) for the one share of a lock its caller
    /// expects to hold alone (see [`lock_shared_alone_as`](Self::lock_shared_alone_as)): one
    /// CAS that guesses so, then the usual path.
    ///
    /// # Safety
    /// As for `unlock_shared`.
    #[inline]
    pub(crate) unsafe fn unlock_shared_alone_as(&self, how: How) {
        self.unlock_shared_via(how, Self::release_share_alone);
    }

    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    fn unlock_shared_via(&self, how: How, release: fn(&Self)) {
        #[cfg(feature = "verify")]
        if !verify::before_release::<P>(self.address(), Some(false), how) {
            return;
        }
        release(self);
    }

    /// Gives back the one share of a lock expected held alone: a CAS that guesses so, then the
    /// usual path.
    #[inline]
    fn release_share_alone(&self) {
        if self
            .state
            .compare_exchange(State::ONE_SHARED, State::FREE, Release, Relaxed)
            .is_err()
        {
            self.release_share();
        }
    }

    /// Gives back one share: read, then CAS, as in `take_shared`. With waiters, the count is
    /// elsewhere.
    #[inline]
    fn release_share(&self) {
        let current = self.state.load(Relaxed);
        if let Some(new) = current.remove_shared()
            && self
                .state
                .compare_exchange(current, new, Release, Relaxed)
                .is_ok()
        {
            return;
        }
        self.unlock_shared_slow();
    }

    /// [`unlock`](Self::unlock), called as `how` says. False only if the verifier, in
    /// report-only mode, stopped the call.
    ///
    /// # Safety
    /// As for `unlock`.
    #[inline]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    pub(crate) unsafe fn unlock_as(&self, how: How) -> bool {
        #[cfg(feature = "verify")]
        if !verify::before_release::<P>(self.address(), None, how) {
            return false;
        }
        // Without waiters the word tells: `0x1` exclusive, `0x1 + n*0x10` shared. With waiters,
        // exclusive and sole-shared release identically, and only shared owners see
        // `MULTIPLE_SHARED`; `unlock_shared_slow` handles both.
        if self.state.load(Relaxed) == State::EXCLUSIVE {
            self.release(LOCKED);
        } else {
            self.unlock_shared_slow();
        }
        true
    }

    #[cold]
    fn unlock_shared_slow(&self) {
        let mut current = self.state.load(Acquire);
        loop {
            if current.has(WAITING) {
                return self.unlock_shared_contended(current);
            }
            let Some(new) = current.remove_shared() else {
                crate::platform::misuse::<P>(
                    self.as_ptr(),
                    Misuse::ReleaseNotHeld(LockWord(current.bits())),
                )
            };
            match self.state.compare_exchange(current, new, Release, Acquire) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Shared release while waiters are queued.
    fn unlock_shared_contended(&self, current: State) {
        if !current.has(MULTIPLE_SHARED) {
            // The first waiter found at most one shared owner, and no reader has joined since:
            // we are the sole owner and release like a writer.
            return self.release(LOCKED);
        }
        // SAFETY: we hold a share, so `LOCKED` stays set and no waiter is released (invariant
        // 4): every block reachable from the head we read (with Acquire) stays alive.
        let oldest = unsafe { WaitBlock::<P>::oldest(current.head()) };
        // SAFETY: as above, the oldest block is alive while we hold our share.
        if unsafe { WaitBlock::release_share(oldest) } {
            self.release(LOCKED | MULTIPLE_SHARED);
        }
    }

    /// Clears `held` (bits the caller knows are set) and wakes waiters if that falls to us.
    #[inline]
    fn release(&self, held: usize) {
        let previous = self.state.fetch_clear_set_bits(held, Release);
        if cfg!(debug_assertions) && previous.bits() & held != held {
            crate::platform::misuse::<P>(
                self.as_ptr(),
                Misuse::ReleaseNotHeld(LockWord(previous.bits())),
            );
        }
        if previous.bits() & (WAITING | WAKING) == WAITING {
            self.wake_after_release(previous.without(held));
        }
    }

    /// After a release that saw waiters and no waker: take `WAKING` unless someone else now
    /// owns the lock or the waking.
    #[cold]
    fn wake_after_release(&self, mut current: State) {
        while current.bits() & (LOCKED | WAITING | WAKING) == WAITING {
            let waking = current.with(WAKING);
            match self
                .state
                .compare_exchange(current, waking, Acquire, Acquire)
            {
                Ok(_) => return self.wake(waking),
                Err(actual) => current = actual,
            }
        }
    }

    /// Acquires after the fast path failed; returns how many times the thread slept. `None`
    /// only if the verifier, in report-only mode, stopped a thread from waiting on a lock it
    /// holds.
    #[cold]
    #[cfg_attr(not(feature = "verify"), allow(unused_variables))]
    fn lock_slow(&self, exclusive: bool, how: How) -> Option<u32> {
        let mut sleeps = 0_u32;
        let mut current = self.state.load(Relaxed);
        let mut round = 0_u32;
        loop {
            let acquired = if exclusive {
                (!current.has(LOCKED)).then(|| current.with(LOCKED))
            } else {
                current.add_shared()
            };
            if let Some(new) = acquired {
                match self.state.compare_exchange(current, new, Acquire, Relaxed) {
                    Ok(_) => return Some(sleeps),
                    Err(actual) => {
                        current = actual;
                        continue;
                    }
                }
            }
            if !exclusive && !current.has(WAITING) && current.shares() != 0 {
                // Free of waiters, held shared, and still no room for one more reader.
                crate::platform::misuse::<P>(self.as_ptr(), Misuse::ShareCountOverflow);
            }
            // Watching the word for a moment costs less than a trip through the queue (a push, a
            // wake, a sleep) when it is about to change: held by a writer with no queue yet (the
            // owner is most likely running and about to leave), or with `WAKING` taken (its
            // holder is handing the lock over or waking, or is a writer about to claim it).
            // Readers that hold the lock may keep coming, though: a writer that finds them
            // queues at once, so that they queue behind it.
            let about_to_change = current == State::EXCLUSIVE || current.has(WAKING);
            if about_to_change && P::spin_on_word(round) {
                round = round.saturating_add(1);
                current = self.state.load(Relaxed);
                continue;
            }
            #[cfg(feature = "verify")]
            if !verify::before_wait::<P>(self.address(), exclusive, how) {
                return None;
            }
            match self.wait_in_queue(exclusive, current, &mut sleeps) {
                Some(retry) => current = retry,
                None => return Some(sleeps),
            }
        }
    }

    /// Pushes a wait block for this thread on top of `current` and waits until released; or,
    /// if the word changed under us, returns at once. Returns the word to retry with, or `None`
    /// if the waker handed the lock over to us. Counts a sleep in `sleeps` if it slept.
    fn wait_in_queue(&self, exclusive: bool, current: State, sleeps: &mut u32) -> Option<State> {
        // Reaching here means the lock is owned, or a reader met waiters: either way `LOCKED`
        // or `WAITING` is set, so a new head keeps some owner or waker responsible for us.
        let first = !current.has(WAITING);
        let block = if first {
            WaitBlock::<P>::new(exclusive, core::ptr::null(), current.shares())
        } else {
            WaitBlock::<P>::new(exclusive, current.head(), 0)
        };
        // A writer that is the first waiter keeps `WAKING` while it watches the word, and takes
        // the lock itself when the owners leave (see `claim_when_released`).
        let spins = P::spin_count();
        let claims = first && exclusive && spins > 0;
        let new = if first {
            block.set_oldest();
            let multiple = if current.shares() > 1 {
                MULTIPLE_SHARED
            } else {
                0
            };
            let waking = if claims { WAKING } else { 0 };
            State::from_block(&raw const block, LOCKED | WAITING | multiple | waking)
        } else {
            // While the lock is owned, take `WAKING` if it is free and optimise the list (or
            // wake, should the owner release meanwhile). While it is free, someone is already
            // bound to wake us (invariant 5): taking `WAKING` would make us wake the whole queue,
            // past a writer that was just woken alone.
            let waking = if current.has(LOCKED) { WAKING } else { 0 };
            State::from_block(&raw const block, (current.bits() & FLAGS) | waking)
        };
        if let Err(actual) = self.state.compare_exchange(current, new, AcqRel, Relaxed) {
            return Some(actual);
        }
        if !first && current.bits() & (LOCKED | WAKING) == LOCKED {
            self.optimize(new);
        }
        if claims && self.claim_when_released(&raw const block, new, spins) {
            return None;
        }
        let woken = block.wait();
        if woken.slept {
            *sleeps = sleeps.saturating_add(1);
        }
        if woken.owner {
            return None;
        }
        Some(self.state.load(Relaxed))
    }

    /// The first waiter, a writer, holding `WAKING` (in `current`) for its own block `own`:
    /// polls the word (up to `polls` times) while the owners run, and takes the lock as soon as
    /// they leave. True if it did; false once it gave `WAKING` up to sleep like any other waiter.
    ///
    /// A release that finds `WAKING` taken leaves the waking to its holder, so the owners'
    /// last release is a single subtraction and the hand-over costs the writer one load and one
    /// CAS: no wait-block traffic, nobody else walking the list.
    fn claim_when_released(
        &self,
        own: *const WaitBlock<P>,
        mut current: State,
        mut polls: u32,
    ) -> bool {
        loop {
            if !current.has(LOCKED) {
                // We hold `WAKING` (invariant 5): nobody else will act on this released lock.
                let alone = current.head() == own;
                let new = if alone {
                    State::EXCLUSIVE
                } else {
                    current.with(LOCKED)
                };
                match self.state.compare_exchange(current, new, Acquire, Relaxed) {
                    Ok(_) if alone => return true,
                    Ok(_) => {
                        self.leave_queue_as_owner(own, new);
                        return true;
                    }
                    Err(actual) => current = actual,
                }
                continue;
            }
            if polls == 0 {
                // Sleep on our block; the owner's release will find `WAKING` free and wake us.
                match self.state.compare_exchange(
                    current,
                    current.without(WAKING),
                    Release,
                    Relaxed,
                ) {
                    Ok(_) => return false,
                    Err(actual) => current = actual,
                }
                continue;
            }
            polls = polls.saturating_sub(1);
            P::spin_hint();
            current = self.state.load(Relaxed);
        }
    }

    /// Holding the lock and `WAKING` (in `current`), with waiters queued behind our block `own`,
    /// still the oldest: takes it out of the list and gives up `WAKING`. The waiters behind stay
    /// queued; our release wakes them.
    fn leave_queue_as_owner(&self, own: *const WaitBlock<P>, current: State) {
        let head = current.head::<WaitBlock<P>>();
        // SAFETY: we hold `WAKING`, and no one released or detached a block since we pushed
        // `own` as the first waiter (only a `WAKING` holder could have): it is still the oldest.
        unsafe { WaitBlock::find_oldest(head) };
        // SAFETY: `find_oldest` filled the links down to `own`, which is not the head.
        unsafe { WaitBlock::detach_oldest(head, own) };
        self.drop_waking(current);
    }

    /// Holding `WAKING` (in `current`): fill in back links and cache the oldest block while the
    /// lock stays owned; if it was released meanwhile, wake instead.
    #[cold]
    fn optimize(&self, mut current: State) {
        loop {
            if !current.has(LOCKED) {
                return self.wake(current);
            }
            // SAFETY: we hold `WAKING`.
            unsafe { WaitBlock::<P>::find_oldest(current.head()) };
            match self
                .state
                .compare_exchange(current, current.without(WAKING), Release, Acquire)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Holding `WAKING` (in `current`): wake the waiters that should compete for the lock now.
    #[cold]
    fn wake(&self, mut current: State) {
        loop {
            if current.has(LOCKED) {
                // Someone took the lock meanwhile; its release will wake.
                match self.state.compare_exchange(
                    current,
                    current.without(WAKING),
                    Release,
                    Acquire,
                ) {
                    Ok(_) => return,
                    Err(actual) => {
                        current = actual;
                        continue;
                    }
                }
            }
            let head = current.head::<WaitBlock<P>>();
            // SAFETY: we hold `WAKING`.
            let oldest = unsafe { WaitBlock::find_oldest(head) };
            // SAFETY: `oldest` came from `find_oldest` on this list.
            if unsafe { WaitBlock::is_exclusive(oldest) } {
                if oldest != head {
                    // SAFETY: as above.
                    unsafe { WaitBlock::detach_oldest(head, oldest) };
                    self.drop_waking(current);
                    // SAFETY: detached, so no one else can reach it; released only here. Done
                    // after dropping `WAKING`, so the writer's own release sees `WAKING` free
                    // and wakes.
                    unsafe { WaitBlock::release(oldest) };
                    return;
                }
                // A lone writer is handed the lock, or readers would stream in until it runs.
                match self
                    .state
                    .compare_exchange(current, State::EXCLUSIVE, AcqRel, Acquire)
                {
                    // SAFETY: the word no longer points into the list: it is ours alone.
                    Ok(_) => return unsafe { WaitBlock::hand_over(oldest) },
                    Err(actual) => current = actual,
                }
                continue;
            }
            if let Some(actual) = self.hand_to_front_readers(current, head, oldest) {
                current = actual;
                continue;
            }
            return;
        }
    }

    /// Holding `WAKING` (in `current`) on a free lock whose oldest waiter is a reader: takes the
    /// lock for every reader in front of the first queued writer, one share each, in one CAS,
    /// and wakes them as owners. The writer, if any, stays queued as the oldest block, holding
    /// their count. Returns the word if the CAS failed, to start the wake again.
    ///
    /// Woken readers must not compete for the lock again: one that is slow to run would find a
    /// writer queued meanwhile and queue behind it, split from the group it was released with.
    fn hand_to_front_readers(
        &self,
        current: State,
        head: *const WaitBlock<P>,
        oldest: *const WaitBlock<P>,
    ) -> Option<State> {
        // SAFETY: we hold `WAKING`, and `find_oldest` returned `oldest` for this list.
        let (readers, writer) = unsafe { WaitBlock::front_readers(head, oldest) };
        if writer.is_null() {
            // The whole queue is readers: the word goes to `readers` shares and no waiters.
            let Some(new) = State::shared_by(readers) else {
                crate::platform::misuse::<P>(self.as_ptr(), Misuse::ShareCountOverflow)
            };
            if let Err(actual) = self.state.compare_exchange(current, new, AcqRel, Acquire) {
                return Some(actual);
            }
            // SAFETY: detached from the word, and ours; `readers` blocks, all of them.
            unsafe { WaitBlock::hand_over_each(oldest, readers) };
            return None;
        }
        // Owned by the readers from here on, so nothing else reads the list's oldest count or
        // wakes anyone while we move the writer to the front.
        let multiple = if readers > 1 { MULTIPLE_SHARED } else { 0 };
        let taken = current.with(LOCKED | multiple);
        if let Err(actual) = self.state.compare_exchange(current, taken, AcqRel, Acquire) {
            return Some(actual);
        }
        // SAFETY: we still hold `WAKING`; `writer` came from `front_readers`.
        unsafe { WaitBlock::make_oldest(head, writer, readers) };
        // Before the readers run: the last of them to leave must find `WAKING` free and wake.
        self.drop_waking(taken);
        // SAFETY: out of the list since `make_oldest`, ours, and their `prev` links are filled.
        unsafe { WaitBlock::hand_over_each(oldest, readers) };
        None
    }

    /// Clears `WAKING`, keeping whatever else changed meanwhile.
    fn drop_waking(&self, mut current: State) {
        while let Err(actual) =
            self.state
                .compare_exchange(current, current.without(WAKING), Release, Relaxed)
        {
            current = actual;
        }
    }

    const fn as_ptr(&self) -> *const () {
        self.as_ex_push_lock().cast_const().cast()
    }

    /// The lock's address, exposed for the verifier's tables (which map it back for reports).
    #[cfg(feature = "verify")]
    fn address(&self) -> usize {
        self.as_ptr().expose_provenance()
    }
}

/// A dropped lock is forgotten by the verifier, so that a new lock at its address starts afresh.
#[cfg(feature = "verify")]
impl<P: Platform> Drop for RawPushLock<P> {
    fn drop(&mut self) {
        verify::dropped(self.address());
    }
}

#[cfg(all(test, feature = "std", not(loom)))]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::panic,
    reason = "expected values in tests"
)]
mod tests {
    use super::*;
    use crate::StdPlatform;
    use crate::state::{FLAGS, SHARE_ONE};

    #[test]
    fn a_shared_count_overflow_is_reported_not_wrapped() {
        let lock = RawPushLock::<StdPlatform>::new();
        let full = State::from_bits(usize::MAX & !FLAGS | LOCKED);
        assert!(
            lock.state
                .compare_exchange(State::FREE, full, Relaxed, Relaxed)
                .is_ok()
        );
        assert!(!lock.try_lock_shared(), "a try must fail, not wrap");
        let Err(panic) = std::panic::catch_unwind(|| lock.lock_shared()) else {
            panic!("an overflowing acquisition must be reported") // allowed: test
        };
        let message = panic
            .downcast_ref::<std::string::String>()
            .map_or("", |m| m.as_str());
        assert!(message.contains("shared owner count overflow"), "{message}");
        assert_eq!(lock.word().0, full.bits(), "the word is unchanged");
        let just_below = State::from_bits(full.bits() - SHARE_ONE);
        assert_eq!(just_below.add_shared(), Some(full));
    }
}
