//! `StdPlatform`: the push lock in ordinary user-mode Rust.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::{Misuse, Platform};

/// User-mode platform: threads park on their wait block, and the critical-region depth the
/// `Flt*` functions maintain is tracked per thread so tests can check that it balances.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdPlatform;

std::thread_local! {
    static CRITICAL_REGION_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Polls of its wait block before a waiter sleeps, on multiprocessors. A quarter of the kernel's
/// 1024: a poll costs about 25 ns (a `pause` on our EPYC), so 256 of them (~6 µs) cost about what
/// the sleep they may avoid does (a park and an unpark). Threads here are preempted far more
/// often than kernel threads holding a push lock, and a waiter that polls for an owner that is
/// not running takes the processor from it: with 8 threads on 2 processors and 1–10 % writes,
/// 256 gave 12–37 % more throughput than 1024, and the other cells did not move beyond noise.
const MP_SPIN_COUNT: u32 = 256;
/// Rounds of yielding the processor on the lock word, after the rounds of pausing.
const YIELD_ROUNDS: u32 = 4;

impl StdPlatform {
    /// How many critical regions the calling thread is inside (what `KeEnterCriticalRegion`
    /// would have counted).
    #[must_use]
    pub fn critical_region_depth() -> u32 {
        CRITICAL_REGION_DEPTH.with(Cell::get)
    }
}

// SAFETY: `ParkEvent` keeps the promises of `Platform`: `wait` loops until the flag `signal`
// sets, and `signal` clones the thread handle before setting the flag and unparks the clone.
unsafe impl Platform for StdPlatform {
    super::park::park_event_platform!();

    fn spin_count() -> u32 {
        // Spinning only helps when the owner runs on another processor. Cached: asking the OS
        // costs a syscall, and this is read on every slow-path wait.
        const UNKNOWN: u32 = u32::MAX;
        static SPIN_COUNT: AtomicU32 = AtomicU32::new(UNKNOWN);
        match SPIN_COUNT.load(Relaxed) {
            UNKNOWN => {
                let processors = std::thread::available_parallelism().map_or(1, usize::from);
                let spins = if processors > 1 { MP_SPIN_COUNT } else { 0 };
                SPIN_COUNT.store(spins, Relaxed);
                spins
            }
            spins => spins,
        }
    }

    fn spin_hint() {
        core::hint::spin_loop();
    }

    fn spin_on_word(round: u32) -> bool {
        // Pauses while the owner is likely running elsewhere, then a few yields, which also let
        // a preempted owner run where threads outnumber processors. On one processor the owner
        // cannot run while we pause: yield at once.
        let pausing = if Self::spin_count() > 0 {
            super::WORD_PAUSE_ROUNDS
        } else {
            0
        };
        if round < pausing {
            super::pause_round(round);
            true
        } else if round.saturating_sub(pausing) < YIELD_ROUNDS {
            std::thread::yield_now();
            true
        } else {
            false
        }
    }

    fn enter_critical_region() {
        CRITICAL_REGION_DEPTH.with(|depth| depth.set(depth.get().saturating_add(1)));
    }

    fn leave_critical_region() {
        CRITICAL_REGION_DEPTH.with(|depth| match depth.get().checked_sub(1) {
            Some(left) => depth.set(left),
            None => panic!("leaving a critical region never entered"), // allowed: user-mode contract
        });
    }

    fn misuse(lock: *const (), misuse: Misuse) -> ! {
        panic!("push lock {lock:p}: {misuse}") // allowed: user mode panics where the kernel bug-checks
    }

    fn now_ns() -> u64 {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let since = EPOCH.get_or_init(std::time::Instant::now).elapsed();
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    fn processor_count() -> u32 {
        std::thread::available_parallelism()
            .map_or(1, |count| u32::try_from(count.get()).unwrap_or(u32::MAX))
    }

    #[inline]
    fn current_processor() -> u32 {
        super::current_cpu::current_processor()
    }

    fn allocate(layout: core::alloc::Layout, _tag: super::PoolTag) -> *mut u8 {
        super::allocate_global(layout)
    }

    unsafe fn free(block: *mut u8, layout: core::alloc::Layout, _tag: super::PoolTag) {
        // SAFETY: allocated by `allocate` with this layout (caller).
        unsafe { super::free_global(block, layout) };
    }

    /// The address of the thread's critical-region counter: non-zero, and unique among the
    /// threads alive.
    #[cfg(feature = "verify")]
    fn current_thread() -> usize {
        CRITICAL_REGION_DEPTH.with(|depth| core::ptr::from_ref(depth).addr())
    }

    #[cfg(feature = "verify")]
    fn irql_above_apc_level() -> Option<u8> {
        None
    }

    #[cfg(feature = "verify")]
    fn apcs_disabled() -> bool {
        Self::critical_region_depth() > 0
    }

    #[cfg(feature = "verify")]
    super::std_verify::std_verify_hooks!();
}
