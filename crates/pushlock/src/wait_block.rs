//! Wait blocks: one per waiting thread, on that thread's stack, linked through the lock word.
//!
//! Field ownership (who may write what, and when):
//!
//! | field | written by | read by |
//! |---|---|---|
//! | `next` | the waiter, before the push CAS publishes the block | `WAKING` holder, shared releasers |
//! | `last` | the waiter (oldest: itself), then the `WAKING` holder | `WAKING` holder, shared releasers |
//! | `prev` | the `WAKING` holder | the `WAKING` holder, the waker after it detached the list |
//! | `share_count` | the waiter (oldest), or the waker that made it the oldest when it handed the readers in front their shares; then shared releasers | shared releasers |
//! | `flags` | waiter and waker, the `SPINNING` hand-shake | both |
//! | `event` | the waiter (`prepare_wait`), then the waker (`signal`) | both |
//!
//! A block is freed when its waiter returns from [`WaitBlock::wait`], which it does only after a
//! waker cleared `SPINNING`. Every waker therefore reads what it needs (above all `prev`) before
//! it signals, and never touches the block afterwards. The one other way out: a writer that
//! queued first and claims the lock takes its own block out of the list while it holds `WAKING`,
//! so no waker can be reading it, and frees it without waiting.
//!
//! Under loom, a block's `Drop` marks it dead (see `poison`), so that the models see a read after
//! return, which loom's dead-but-readable frames would otherwise hide.

use core::ptr;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::platform::Platform;
use crate::sync::{AtomicPtr, AtomicU32, AtomicUsize, UnsafeCell};

/// The waiter wants the lock exclusively.
const EXCLUSIVE: u32 = 0x1;
/// The waiter has not yet been released. Cleared exactly once by whichever of waiter and waker
/// gets there first: the waker, if the waiter is still spinning (no signal needed), or the
/// waiter, when it commits to sleep (then the waker must signal the event).
const SPINNING: u32 = 0x2;
/// The waker handed the lock over: the waiter owns it when it wakes. Set before the release.
const OWNER: u32 = 0x4;

/// Under loom, the mark of a dead wait block. A loom model's dead frames stay readable, so a
/// read after the waiter returned would go unseen; instead the block's `Drop` writes these marks,
/// the cells' writes make any later access that is not ordered after the return a loom data race,
/// and every read of a block's atomics checks the value it got. (Miri sees the same bug as a use
/// after free, but only on the seeds that schedule it.)
#[cfg(loom)]
mod poison {
    /// In `flags`.
    pub const FLAG: u32 = 0x8000_0000;
    /// In `share_count`: far above any count of real owners.
    pub const COUNT: usize = usize::MAX / 2;
    /// In `next`, `prev` and `last`: an address no block can have (blocks are 16-aligned).
    pub const ADDRESS: usize = 0xdead_0008;

    pub const fn address<T>() -> *mut T {
        core::ptr::without_provenance_mut(ADDRESS)
    }

    const DEAD: &str = "a wait block was read after its waiter returned";

    pub fn check_flags(flags: u32) {
        assert!(flags & FLAG == 0, "{DEAD}");
    }

    pub fn check_count(count: usize) {
        assert!(count < COUNT, "{DEAD}");
    }

    pub fn check_address<T>(block: *const T) {
        assert!(block.addr() != ADDRESS, "{DEAD}");
    }
}

/// How a waiter was released from its block.
#[derive(Clone, Copy, Debug)]
pub struct Woken {
    /// The waker handed the lock over: the waiter owns it.
    pub owner: bool,
    /// The waiter slept on its event (else the release came while it spun).
    pub slept: bool,
}

/// One waiting thread. 16-aligned so that its address leaves the word's four flag bits free.
#[repr(C, align(16))]
pub struct WaitBlock<P: Platform> {
    /// The next-older block; null in the oldest. Immutable once published (a cell only so that
    /// loom checks every read happens after the publication).
    next: UnsafeCell<*const Self>,
    /// The oldest block: `self` in the oldest, cached in the newest by the `WAKING` holder, null
    /// elsewhere. Walking from the head, the first non-null `last` is always the true oldest.
    last: AtomicPtr<Self>,
    /// The next-newer block, filled in lazily by the `WAKING` holder.
    prev: UnsafeCell<*const Self>,
    /// Shared owners moved here from the word when this, the oldest block, was pushed onto a lock
    /// held shared by more than one owner (`MULTIPLE_SHARED`).
    share_count: AtomicUsize,
    flags: AtomicU32,
    event: P::Event,
}

/// Under loom, a returned waiter's block is marked dead (see [`poison`]), with loom's checked
/// non-atomic writes: any access not ordered after the waiter's return is a reported race.
#[cfg(loom)]
impl<P: Platform> Drop for WaitBlock<P> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // the model already failed; loom's checks would only abort the process
        }
        // SAFETY: `&mut self`: the waiter owns its block again; loom checks that no other
        // thread's access races with these writes.
        self.next
            .with_mut(|next| unsafe { *next = poison::address() });
        // SAFETY: as above.
        self.prev
            .with_mut(|prev| unsafe { *prev = poison::address() });
        self.last.with_mut(|last| *last = poison::address());
        self.share_count.with_mut(|count| *count = poison::COUNT);
        self.flags.with_mut(|flags| *flags = poison::FLAG);
    }
}

impl<P: Platform> WaitBlock<P> {
    /// A block for a waiter that will be pushed on top of `next` (null: it is the first waiter),
    /// carrying `share_count` shared owners out of the word.
    pub fn new(exclusive: bool, next: *const Self, share_count: usize) -> Self {
        Self {
            next: UnsafeCell::new(next),
            last: AtomicPtr::new(ptr::null_mut()),
            prev: UnsafeCell::new(ptr::null()),
            share_count: AtomicUsize::new(share_count),
            flags: AtomicU32::new(SPINNING | if exclusive { EXCLUSIVE } else { 0 }),
            event: P::new_event(),
        }
    }

    /// Marks this block as the oldest. Called by the first waiter before it publishes the block.
    pub fn set_oldest(&self) {
        self.last.store(ptr::from_ref(self).cast_mut(), Relaxed);
    }

    /// Whether the waiter of `block` wants the lock exclusively.
    ///
    /// # Safety
    /// `block` is a published block not yet released.
    pub unsafe fn is_exclusive(block: *const Self) -> bool {
        // SAFETY: not released, so alive (caller).
        let flags = unsafe { &*block }.flags.load(Relaxed);
        #[cfg(loom)]
        poison::check_flags(flags);
        flags & EXCLUSIVE != 0
    }

    fn next(&self) -> *const Self {
        // SAFETY: written only before the block was published; whoever reached the block
        // through the word acquired that publication.
        let next = self.next.with(|next| unsafe { *next });
        #[cfg(loom)]
        poison::check_address(next);
        next
    }

    /// # Safety
    /// The caller holds `WAKING` for this block's list, or has detached the list from the word.
    unsafe fn prev(&self) -> *const Self {
        // SAFETY: `prev` is only written by the owner of the list, which the caller is.
        let prev = self.prev.with(|prev| unsafe { *prev });
        #[cfg(loom)]
        poison::check_address(prev);
        prev
    }

    /// # Safety
    /// As for `prev`.
    unsafe fn set_prev(&self, newer: *const Self) {
        // SAFETY: as for `prev`; nobody else reads or writes it meanwhile.
        self.prev.with_mut(|prev| unsafe { *prev = newer });
    }

    /// Gives up one of the shared owners counted in `oldest`; true for the last.
    ///
    /// A function of a pointer, not a method: as soon as the count drops, the last owner may
    /// release the writer, which frees the block, while this call is still returning. Only the
    /// counter itself (an atomic) is borrowed, never the whole block, whose non-atomic bytes a
    /// live `&Self` would assert are still there (Miri's stacked borrows caught exactly that).
    ///
    /// # Safety
    /// `oldest` is the oldest block of the list, alive when the call starts.
    pub unsafe fn release_share(oldest: *const Self) -> bool {
        // SAFETY: alive (caller); the borrow covers the atomic counter only.
        let count = unsafe { &(*oldest).share_count };
        // AcqRel: the last owner acquires every other owner's release before it releases the
        // word to the waiting writer.
        let previous = count.fetch_sub(1, AcqRel);
        #[cfg(loom)]
        poison::check_count(previous);
        previous == 1
    }

    /// Blocks until a waker releases this block: spins on the block for the platform's spin
    /// count, then sleeps on its event.
    #[must_use = "`owner` means the lock is held"]
    pub fn wait(&self) -> Woken {
        let mut slept = false;
        if !self.spin_until_released() {
            // SAFETY: the event is ours and stays at this address until `wait` returns; no
            // waker reads it before the RMW below publishes that we sleep.
            unsafe { P::prepare_wait(&raw const self.event) };
            // Release: publishes the prepared event. Acquire: if a waker beat us, we are done.
            if self.flags.fetch_and(!SPINNING, AcqRel) & SPINNING != 0 {
                // SAFETY: prepared above by this thread.
                unsafe { P::wait(&raw const self.event) };
                slept = true;
            }
        }
        Woken {
            // Relaxed: the release was acquired above (the spin's load, the RMW or the event),
            // and `OWNER` was set before it.
            owner: self.flags.load(Relaxed) & OWNER != 0,
            slept,
        }
    }

    fn spin_until_released(&self) -> bool {
        for _ in 0..P::spin_count() {
            if self.flags.load(Acquire) & SPINNING == 0 {
                return true;
            }
            P::spin_hint();
        }
        false
    }

    /// Releases the waiter of `block`.
    ///
    /// # Safety
    /// `block` is a published block whose waiter has not been released, and no other thread
    /// will release it. The caller must not touch the block after this call.
    pub unsafe fn release(block: *const Self) {
        // SAFETY: the waiter is not released, so it has not returned: the block is alive.
        let this = unsafe { &*block };
        // Release: the waiter resumes after everything we did. Acquire: if the waiter cleared
        // the bit first, we see its prepared event.
        let flags = this.flags.fetch_and(!SPINNING, AcqRel);
        #[cfg(loom)]
        poison::check_flags(flags);
        if flags & SPINNING != 0 {
            return; // still spinning: it will see the cleared bit on its own
        }
        // SAFETY: the waiter committed to sleep on its prepared event and stays blocked until
        // this signal; we touch nothing afterwards.
        unsafe { P::signal(&raw const this.event) };
    }

    /// Releases the waiter of `block` as the lock's owner: the caller took the lock on its behalf.
    ///
    /// # Safety
    /// As for [`release`](Self::release); the lock is held for this waiter: exclusively for a
    /// writer, one share for a reader.
    pub unsafe fn hand_over(block: *const Self) {
        // SAFETY: not released yet, so alive (caller).
        let flags = unsafe { &*block }.flags.fetch_or(OWNER, Relaxed);
        #[cfg(loom)]
        poison::check_flags(flags);
        #[cfg(not(loom))]
        let _ = flags;
        // SAFETY: forwarded from the caller.
        unsafe { Self::release(block) };
    }

    /// Finds the oldest block without editing anything. For shared releasers, which do not own
    /// the list but know it cannot shrink while they hold a share.
    ///
    /// # Safety
    /// `head` is the newest block of a list whose blocks stay alive for the call.
    pub unsafe fn oldest(head: *const Self) -> *const Self {
        let mut block = head;
        loop {
            // SAFETY: every block reachable from the head is alive (caller).
            let this = unsafe { &*block };
            let last = this.last.load(Acquire);
            #[cfg(loom)]
            poison::check_address(last);
            if !last.is_null() {
                return last;
            }
            block = this.next();
        }
    }

    /// Finds the oldest block, filling in the `prev` links on the way and caching the result in
    /// `head`, so that the next walk stops at `head`.
    ///
    /// # Safety
    /// The caller holds `WAKING` for the list starting at `head` (or has detached it from the word).
    pub unsafe fn find_oldest(head: *const Self) -> *const Self {
        let mut block = head;
        loop {
            // SAFETY: the list is ours and its blocks are alive until we release them.
            let this = unsafe { &*block };
            let last = this.last.load(Acquire);
            #[cfg(loom)]
            poison::check_address(last);
            if !last.is_null() {
                // SAFETY: as above; `head` is in the list.
                let head = unsafe { &*head };
                head.last.store(last, Release);
                return last;
            }
            // SAFETY: not the oldest (its `last` is null), so `next` is a live block of the list.
            let next = unsafe { &*this.next() };
            // SAFETY: we hold `WAKING` (caller).
            unsafe { next.set_prev(block) };
            block = next;
        }
    }

    /// Takes `oldest` out of the list: its newer neighbour becomes the oldest.
    ///
    /// # Safety
    /// As for `find_oldest`; `oldest` is exclusive and not `head`; the caller then releases it,
    /// or is its waiter, claiming the lock.
    pub unsafe fn detach_oldest(head: *const Self, oldest: *const Self) {
        // SAFETY: the blocks are alive until released (caller).
        let head = unsafe { &*head };
        // SAFETY: as above.
        let oldest = unsafe { &*oldest };
        // SAFETY: we hold `WAKING`; `find_oldest` filled in `prev` all the way down to `oldest`,
        // and `oldest != head`, so it names a live block.
        let newer = unsafe { oldest.prev() };
        head.last.store(newer.cast_mut(), Release);
    }

    /// Counts the readers at the front of the list: from `oldest` towards `head`, up to the
    /// first writer. Returns the count and that writer, or null if the whole list is readers.
    ///
    /// # Safety
    /// As for `find_oldest`, which returned `oldest` for this list.
    pub unsafe fn front_readers(head: *const Self, oldest: *const Self) -> (usize, *const Self) {
        let mut readers = 0_usize;
        let mut block = oldest;
        loop {
            // SAFETY: every block of the list is alive until released (caller).
            if unsafe { Self::is_exclusive(block) } {
                return (readers, block);
            }
            readers = readers.saturating_add(1);
            if block == head {
                return (readers, ptr::null());
            }
            // SAFETY: alive (caller).
            let this = unsafe { &*block };
            // SAFETY: we own the list; `find_oldest` filled `prev` from `head` down to `oldest`.
            block = unsafe { this.prev() };
        }
    }

    /// Makes `writer` the oldest block, holding the count of `readers` shared owners: the readers
    /// older than it are about to be handed the lock and leave the list.
    ///
    /// # Safety
    /// As for `find_oldest`; `writer` is the block `front_readers` returned for this list, and
    /// the lock is held for those readers, so no shared releaser reads the count yet.
    pub unsafe fn make_oldest(head: *const Self, writer: *const Self, readers: usize) {
        // SAFETY: alive until released (caller).
        unsafe { &*writer }.share_count.store(readers, Relaxed);
        // Release: a walker that finds `writer` through the head sees its count. Walks start at
        // the head or above it, so the stale links below `writer` are never followed.
        // SAFETY: as above.
        unsafe { &*head }.last.store(writer.cast_mut(), Release);
    }

    /// Hands the lock to `count` waiters, from `oldest` towards newer ones along `prev`: the
    /// caller already took it for them (a share each, or exclusively for one).
    ///
    /// # Safety
    /// The caller owns these blocks (it detached them from the word, or holds `WAKING` and has
    /// made a newer block the oldest), `find_oldest` filled their `prev` links, and it does not
    /// touch them again.
    pub unsafe fn hand_over_each(oldest: *const Self, count: usize) {
        let mut block = oldest;
        for handed in 1..=count {
            // SAFETY: not yet released, so alive; read before the release may free the block.
            // The last block's `prev` is not needed and may be unset.
            let newer = if handed < count {
                // SAFETY: as above.
                let this = unsafe { &*block };
                // SAFETY: the caller owns the list.
                unsafe { this.prev() }
            } else {
                ptr::null()
            };
            // SAFETY: each block is handed over exactly once, here.
            unsafe { Self::hand_over(block) };
            block = newer;
        }
    }
}
