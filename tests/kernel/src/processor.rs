//! Per-thread and per-processor routines: critical regions (normal kernel APCs), the performance
//! counter, the processor count and the current processor.

use std::sync::OnceLock;
use std::time::Instant;

use crate::books::violation;
use crate::context::{as_kernel, critical_region_depth, set_critical_region_depth};

/// The performance counter's frequency: 10 MHz, as on most Windows systems.
const COUNTER_FREQUENCY: i64 = 10_000_000;

/// `KeEnterCriticalRegion`: normal kernel APCs off for this thread (nests).
#[unsafe(no_mangle)]
pub extern "system" fn KeEnterCriticalRegion() {
    set_critical_region_depth(critical_region_depth() + 1);
}

/// `KeLeaveCriticalRegion`: must match an enter on the same thread.
#[unsafe(no_mangle)]
pub extern "system" fn KeLeaveCriticalRegion() {
    match critical_region_depth().checked_sub(1) {
        Some(depth) => set_critical_region_depth(depth),
        None => violation("KeLeaveCriticalRegion", "no critical region to leave"),
    }
}

/// `KeAreApcsDisabled`: inside a critical region.
#[unsafe(no_mangle)]
pub extern "system" fn KeAreApcsDisabled() -> u8 {
    u8::from(critical_region_depth() > 0)
}

/// `KeGetCurrentThread`: the calling thread's object (see `context::current_thread`).
#[unsafe(no_mangle)]
pub extern "system" fn KeGetCurrentThread() -> *mut std::ffi::c_void {
    std::ptr::without_provenance_mut(crate::context::current_thread())
}

/// The IRQL: on x64 Windows an inline read of CR8, no export; the driver's host lane calls this
/// instead (`pushlock`'s kernel platform, verify builds).
#[unsafe(no_mangle)]
pub extern "system" fn KeGetCurrentIrql() -> u8 {
    crate::context::irql()
}

/// `KeQueryPerformanceCounter` (hal.dll): ticks since the first call, at 10 MHz.
///
/// # Safety
/// `frequency` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeQueryPerformanceCounter(frequency: *mut i64) -> i64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    if !frequency.is_null() {
        // SAFETY: writable (caller).
        unsafe { frequency.write(COUNTER_FREQUENCY) };
    }
    let ns = EPOCH.get_or_init(Instant::now).elapsed().as_nanos();
    i64::try_from(ns / 100).unwrap_or(i64::MAX)
}

/// `KeQueryActiveProcessorCountEx`: this machine's processors, for every group.
#[unsafe(no_mangle)]
pub extern "system" fn KeQueryActiveProcessorCountEx(_group: u16) -> u32 {
    static COUNT: OnceLock<u32> = OnceLock::new();
    // std reads the cgroup limits the first time, allocating: the kernel's own work.
    *COUNT.get_or_init(|| {
        as_kernel(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        })
    })
}

/// `KeGetCurrentProcessorNumberEx`: the processor the calling thread runs on (group 0 holds
/// them all here); fills `number` (`PROCESSOR_NUMBER`: group, number, reserved) if given.
///
/// # Safety
/// `number` is null or points to a writable `PROCESSOR_NUMBER` (4 bytes).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeGetCurrentProcessorNumberEx(number: *mut [u8; 4]) -> u32 {
    // SAFETY: no arguments; -1 if the kernel cannot say (then processor 0).
    #[cfg(not(miri))]
    let processor = u32::try_from(unsafe { libc::sched_getcpu() }).unwrap_or(0);
    // Miri cannot ask the OS: every thread on processor 0.
    #[cfg(miri)]
    let processor = 0;
    if !number.is_null() {
        let [low, high] = 0_u16.to_le_bytes();
        let index = u8::try_from(processor).unwrap_or(u8::MAX);
        // SAFETY: writable (caller).
        unsafe { number.write([low, high, index, 0]) };
    }
    processor
}
