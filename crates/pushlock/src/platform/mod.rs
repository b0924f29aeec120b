//! What the lock needs from the operating system, and the platforms that provide it.
//!
//! The lock itself is pure atomics. A [`Platform`] supplies the rest: the wait object each
//! waiter embeds in its stack wait block, how long to spin before sleeping, the critical region
//! the `Flt*` functions enter, and how a caller bug is reported. The idea is Rust-for-Linux's
//! `Backend` trait: one generic lock, one small trait per OS.

use core::fmt;

use crate::LockWord;

#[cfg(all(feature = "std", not(loom)))]
mod current_cpu;
#[cfg(all(feature = "km", not(loom)))]
mod kernel;
#[cfg(all(feature = "km", not(loom)))]
mod kernel_types;
#[cfg(all(feature = "km", feature = "verify", not(loom)))]
mod kernel_verify;
#[cfg(loom)]
mod loom_model;
#[cfg(any(loom, feature = "std"))]
mod park;
#[cfg(all(feature = "verify", any(loom, feature = "std")))]
pub mod std_verify;
#[cfg(all(feature = "std", not(loom)))]
mod user;

#[cfg(all(feature = "km", not(loom)))]
pub use kernel::KernelPlatform;
#[cfg(all(feature = "km", not(loom)))]
pub use kernel_types::KEVENT;
#[cfg(loom)]
pub use loom_model::LoomPlatform;
#[cfg(all(feature = "std", not(loom)))]
pub use user::StdPlatform;

/// Everything OS-specific about a push lock.
///
/// # Safety
///
/// The lock's memory safety rests on these promises of the implementation:
/// - [`wait`](Self::wait) returns only after [`signal`](Self::signal) was called for the same
///   event; spurious wake-ups are absorbed inside `wait`.
/// - `signal` reaches the event only through the raw pointer it is given, and does not touch the
///   event after the point where the waiter can observe the signal: once `wait` returns, the
///   waiter's stack frame, and the event in it, may be gone.
/// - `prepare_wait` initialises the event in place. It is called once per event, by the waiting
///   thread, at the event's final address, before any `signal` can reach it.
pub unsafe trait Platform: 'static {
    /// The wait object embedded in every wait block (a `KEVENT` in the kernel).
    type Event: Sync;

    /// A fresh event, not yet prepared. Called on every slow-path wait, so it should be cheap;
    /// expensive set-up belongs in `prepare_wait`, which runs only if the waiter goes to sleep.
    fn new_event() -> Self::Event;

    /// Makes the event ready to be waited on and signalled.
    ///
    /// # Safety
    /// `event` points to a live event that no other thread can reach yet; it stays at this
    /// address until `wait` returns.
    unsafe fn prepare_wait(event: *const Self::Event);

    /// Blocks the calling thread until the event is signalled.
    ///
    /// # Safety
    /// `event` was prepared by this thread with `prepare_wait`.
    unsafe fn wait(event: *const Self::Event);

    /// Wakes the thread blocked (or about to block) in `wait` on this event.
    ///
    /// # Safety
    /// `event` was prepared and its waiter has not yet been released; the caller does not touch
    /// the event again after this call.
    unsafe fn signal(event: *const Self::Event);

    /// How many times a waiter polls its own wait block before it sleeps (the kernel spins 1024
    /// times on multiprocessors, not at all on a uniprocessor).
    fn spin_count() -> u32;

    /// One iteration of a spin-wait: a `pause` instruction, or a yield where spinning cannot help.
    fn spin_hint();

    /// Round `round` (0, 1, …) of waiting on the lock word before queueing: back off for a while
    /// and return true, or return false once queueing is the better bet. The lock calls it while
    /// the word is about to change: an exclusive owner with nobody queued, or `WAKING` taken.
    fn spin_on_word(round: u32) -> bool;

    /// Disables normal kernel APCs (`KeEnterCriticalRegion`); the `Flt*` functions call it before
    /// acquiring.
    fn enter_critical_region();

    /// Re-enables normal kernel APCs (`KeLeaveCriticalRegion`); the `Flt*` release calls it after
    /// releasing.
    fn leave_critical_region();

    /// Reports a caller bug loudly and never returns (the kernel bug-checks, user mode panics).
    fn misuse(lock: *const (), misuse: Misuse) -> !;

    /// A monotonic clock in nanoseconds, for the wait and hold times of
    /// [`CountedPushLock`](crate::CountedPushLock). A platform without one keeps the default,
    /// and those times read 0.
    #[must_use]
    fn now_ns() -> u64 {
        0
    }

    /// Processors in the system (at least 1): a [`CacheAwarePushLock`](crate::CacheAwarePushLock)
    /// gives each a slot. A platform that cannot tell keeps the default, 1.
    #[must_use]
    fn processor_count() -> u32 {
        1
    }

    /// The processor the calling thread runs on now, from 0. A hint: the thread may move at
    /// once, and any value is safe (the lock takes it modulo its slots). The default, 0, puts
    /// every reader on one slot.
    #[must_use]
    fn current_processor() -> u32 {
        0
    }

    /// Zeroed memory for `layout` (alignment at most 16; non-paged pool in the kernel, tagged
    /// `tag`), or null if there is none. The default has none, so what needs it cannot be
    /// created on such a platform.
    #[must_use]
    fn allocate(layout: core::alloc::Layout, tag: PoolTag) -> *mut u8 {
        let _ = (layout, tag);
        core::ptr::null_mut()
    }

    /// Frees what [`allocate`](Self::allocate) returned.
    ///
    /// # Safety
    /// `block` came from `allocate` with this `layout` and `tag`, and nothing uses it any more.
    unsafe fn free(block: *mut u8, layout: core::alloc::Layout, tag: PoolTag) {
        let _ = (block, layout, tag);
    }

    /// The calling thread as a non-zero key (the kernel: its `KTHREAD`), or 0 where threads
    /// cannot be told apart (the verifier then leaves the call alone).
    #[cfg(feature = "verify")]
    fn current_thread() -> usize;

    /// The IRQL, if it is above `APC_LEVEL` (where a push lock may not be acquired).
    #[cfg(feature = "verify")]
    fn irql_above_apc_level() -> Option<u8>;

    /// Whether normal kernel APCs are disabled (`KeAreApcsDisabled`): inside a critical region.
    #[cfg(feature = "verify")]
    fn apcs_disabled() -> bool;

    /// Zeroed memory for the verifier's tables (non-paged pool in the kernel, tagged `PlkR`);
    /// null if there is none.
    #[cfg(feature = "verify")]
    fn allocate_verifier(layout: core::alloc::Layout) -> *mut u8;

    /// Frees what [`allocate_verifier`](Self::allocate_verifier) returned.
    ///
    /// # Safety
    /// `block` came from `allocate_verifier` with this `layout`, and nothing uses it any more.
    #[cfg(feature = "verify")]
    unsafe fn free_verifier(block: *mut u8, layout: core::alloc::Layout);

    /// Reports a violation the verifier found, in full, and never returns (the kernel prints
    /// it with `DbgPrintEx` and bug-checks with `PLCK` and the report's parameters; user mode
    /// panics with it).
    #[cfg(feature = "verify")]
    fn violation(report: &crate::verify::Report<'_>) -> !;
}

/// The verifier's hooks of a platform built on another platform (`$base`).
///
/// Use it inside the `unsafe impl Platform`. It expands to nothing without the `verify`
/// feature, so a wrapping platform compiles either way.
#[cfg(feature = "verify")]
#[macro_export]
macro_rules! verify_hooks_from {
    ($base:ty) => {
        fn current_thread() -> usize {
            <$base as $crate::Platform>::current_thread()
        }

        fn irql_above_apc_level() -> Option<u8> {
            <$base as $crate::Platform>::irql_above_apc_level()
        }

        fn apcs_disabled() -> bool {
            <$base as $crate::Platform>::apcs_disabled()
        }

        fn allocate_verifier(layout: core::alloc::Layout) -> *mut u8 {
            <$base as $crate::Platform>::allocate_verifier(layout)
        }

        unsafe fn free_verifier(block: *mut u8, layout: core::alloc::Layout) {
            // SAFETY: forwarded from the caller.
            unsafe { <$base as $crate::Platform>::free_verifier(block, layout) }
        }

        fn violation(report: &$crate::verify::Report<'_>) -> ! {
            <$base as $crate::Platform>::violation(report)
        }
    };
}

/// The verifier's hooks of a [`Platform`] implementation that builds on another platform: none
/// without the `verify` feature.
#[cfg(not(feature = "verify"))]
#[macro_export]
macro_rules! verify_hooks_from {
    ($base:ty) => {};
}

/// [`Platform::allocate`] from the global allocator (user mode and loom; the tag is the
/// kernel's business).
#[cfg(any(loom, feature = "std"))]
fn allocate_global(layout: core::alloc::Layout) -> *mut u8 {
    if layout.size() == 0 {
        return core::ptr::null_mut();
    }
    // SAFETY: a layout of non-zero size.
    unsafe { std::alloc::alloc_zeroed(layout) }
}

/// [`Platform::free`] to the global allocator.
///
/// # Safety
/// `block` came from [`allocate_global`] with this layout.
#[cfg(any(loom, feature = "std"))]
unsafe fn free_global(block: *mut u8, layout: core::alloc::Layout) {
    // SAFETY: forwarded from the caller.
    unsafe { std::alloc::dealloc(block, layout) };
}

/// A kernel pool tag: four characters, shown in memory order by `!poolused`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolTag(pub [u8; 4]);

impl PoolTag {
    /// The tag as `ExAllocatePool2` takes it.
    #[must_use]
    pub const fn value(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

/// Reports a caller bug the lock found: through the verifier's report where it is built in,
/// else through [`Platform::misuse`].
pub fn misuse<P: Platform>(lock: *const (), misuse: Misuse) -> ! {
    #[cfg(feature = "verify")]
    {
        crate::verify::misuse::<P>(lock.expose_provenance(), misuse)
    }
    #[cfg(not(feature = "verify"))]
    P::misuse(lock, misuse)
}

/// A caller bug the lock detects instead of corrupting memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
    /// A `Flt*PushLock*Ex` function got flags outside `FLT_PUSH_LOCK_VALID_FLAGS` (0x3). The
    /// kernel bug-checks with `INVALID_PUSH_LOCK_FLAGS` (0x152).
    InvalidFlags(u32),
    /// `FltDeletePushLock` on a lock that is owned or has waiters (checked in debug builds).
    DeleteInUse(LockWord),
    /// A release of a lock that is not owned (checked in debug builds).
    ReleaseNotHeld(LockWord),
    /// More shared owners than the word can count: shared acquisitions are leaking.
    ShareCountOverflow,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidFlags(flags) => {
                write!(f, "invalid push-lock flags {flags:#x} (valid: 0x0-0x3)")
            }
            Self::DeleteInUse(word) => write!(f, "FltDeletePushLock on a lock in use: {word}"),
            Self::ReleaseNotHeld(word) => {
                write!(f, "release of a push lock that is not held: {word}")
            }
            Self::ShareCountOverflow => write!(f, "shared owner count overflow"),
        }
    }
}

/// Rounds of pausing on the lock word before a waiter yields or queues: 1, 2 and 4 pauses, then
/// 8 in every later round, about 130 pauses (≈ 3 µs at 25 ns a pause) in all.
///
/// Short first rounds catch an owner that leaves at once: two threads handing the lock back and
/// forth (the micro-benchmark's ping-pong) took a median 457 ns per round trip (390 ns–1.1 µs),
/// against 829 ns (680 ns–1.5 µs) with the earlier 2, 4, … 64 pauses, over 13 runs of both in
/// the same process. The cap keeps a watcher from pulling the word's cache line away from a busy
/// owner every few nanoseconds: a look after every single pause cost up to a fifth of the
/// write-heavy throughput cells. The throughput matrix did not move beyond its noise.
#[cfg(any(all(feature = "std", not(loom)), all(feature = "km", not(loom))))]
const WORD_PAUSE_ROUNDS: u32 = 19;

/// Round `round` (below [`WORD_PAUSE_ROUNDS`]) of pausing on the lock word.
#[cfg(any(all(feature = "std", not(loom)), all(feature = "km", not(loom))))]
fn pause_round(round: u32) {
    for _ in 0..1_u32 << round.min(3) {
        core::hint::spin_loop();
    }
}
