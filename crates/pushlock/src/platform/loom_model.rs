//! `LoomPlatform`: the user-mode platform with loom's threads, for model checking.

use super::{Misuse, Platform};

/// The platform the loom models run on.
///
/// Waiting is `ParkEvent` over loom's park/unpark, so a lost wake-up shows up as a loom deadlock.
/// Every spin is two looks with a yield after each, so that what happens *between* looks is
/// explored without spending loom's preemption bound: a waiter is released (or handed the lock)
/// while it polls its block, or only once asleep; a claiming writer polls the word twice, so a
/// barger or a push can come between its polls; a thread watching the word sees it change on the
/// second look, or queues.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoomPlatform;

/// Looks per spin: the smallest number with a yield between two looks.
const SPINS: u32 = 2;

/// Processors a model's cache-aware locks give slots to.
const PROCESSORS: u32 = 2;

loom::thread_local! {
    /// The processor the model says this thread runs on (see [`LoomPlatform::run_on`]).
    static PROCESSOR: core::cell::Cell<u32> = core::cell::Cell::new(0);
}

impl LoomPlatform {
    /// Moves the calling model thread to `processor`: what
    /// [`current_processor`](Platform::current_processor) answers from now on, so that a model
    /// can put readers on different slots, or move one between its acquire and its release.
    pub fn run_on(processor: u32) {
        PROCESSOR.with(|current| current.set(processor));
    }
}

// SAFETY: as for `StdPlatform`; `ParkEvent` is the same code over loom's primitives.
unsafe impl Platform for LoomPlatform {
    super::park::park_event_platform!();

    fn spin_count() -> u32 {
        SPINS
    }

    fn spin_hint() {
        loom::thread::yield_now();
    }

    fn spin_on_word(round: u32) -> bool {
        loom::thread::yield_now();
        round < SPINS
    }

    fn processor_count() -> u32 {
        PROCESSORS
    }

    fn current_processor() -> u32 {
        PROCESSOR.with(core::cell::Cell::get)
    }

    fn allocate(layout: core::alloc::Layout, _tag: super::PoolTag) -> *mut u8 {
        super::allocate_global(layout)
    }

    unsafe fn free(block: *mut u8, layout: core::alloc::Layout, _tag: super::PoolTag) {
        // SAFETY: allocated by `allocate` with this layout (caller).
        unsafe { super::free_global(block, layout) };
    }

    // Critical regions are bookkeeping on the other platforms; the models check the lock.
    fn enter_critical_region() {}

    fn leave_critical_region() {}

    fn misuse(lock: *const (), misuse: Misuse) -> ! {
        panic!("push lock {lock:p}: {misuse}") // allowed: the models panic as user mode does
    }

    // The verifier's own state is plain atomics, outside the model: its checks run in every
    // interleaving loom explores without adding interleavings of their own.
    #[cfg(feature = "verify")]
    fn current_thread() -> usize {
        loom::thread_local! {
            static THREAD_KEY: u8 = 0;
        }
        THREAD_KEY.with(|key| core::ptr::from_ref(key).addr())
    }

    #[cfg(feature = "verify")]
    fn irql_above_apc_level() -> Option<u8> {
        None
    }

    #[cfg(feature = "verify")]
    fn apcs_disabled() -> bool {
        true
    }

    #[cfg(feature = "verify")]
    super::std_verify::std_verify_hooks!();
}
