//! Per-thread state of the user-mode kernel: whether the thread is running driver code (what it
//! allocates is the driver's, and counts), its critical-region depth, and its thread object.

use std::cell::Cell;

thread_local! {
    /// The thread is inside the driver (a callback, or a system thread's start routine).
    static DRIVER_CODE: Cell<bool> = const { Cell::new(false) };
    /// `KeEnterCriticalRegion` depth.
    static CRITICAL_REGION: Cell<u32> = const { Cell::new(0) };
    /// The system thread's object address, 0 on threads the kernel did not create.
    static THREAD_OBJECT: Cell<usize> = const { Cell::new(0) };
    /// The IRQL the thread runs at (`PASSIVE_LEVEL` unless a test raised it).
    static IRQL: Cell<u8> = const { Cell::new(0) };
}

/// A non-zero address unique to the calling thread among those alive: its system thread object,
/// or, on other threads, the address of its own copy of a thread-local.
pub fn current_thread() -> usize {
    match thread_object() {
        0 => IRQL.with(|irql| std::ptr::from_ref(irql).addr()),
        object => object,
    }
}

pub fn irql() -> u8 {
    IRQL.with(Cell::get)
}

/// Runs `f` at IRQL `level` on this thread (as `KeRaiseIrql`/`KeLowerIrql` would), then restores.
pub fn at_irql<R>(level: u8, f: impl FnOnce() -> R) -> R {
    let before = IRQL.with(|irql| irql.replace(level));
    let result = f();
    IRQL.with(|irql| irql.set(before));
    result
}

/// Whether the calling thread is running driver code.
pub fn in_driver_code() -> bool {
    DRIVER_CODE.with(Cell::get)
}

/// Runs `f` as driver code (allocations count as the driver's) and restores the previous state.
pub fn as_driver<R>(f: impl FnOnce() -> R) -> R {
    let before = DRIVER_CODE.with(|flag| flag.replace(true));
    let result = f();
    DRIVER_CODE.with(|flag| flag.set(before));
    result
}

/// Runs `f` as the kernel's own work (allocations are not the driver's), then restores.
pub fn as_kernel<R>(f: impl FnOnce() -> R) -> R {
    let before = DRIVER_CODE.with(|flag| flag.replace(false));
    let result = f();
    DRIVER_CODE.with(|flag| flag.set(before));
    result
}

pub fn critical_region_depth() -> u32 {
    CRITICAL_REGION.with(Cell::get)
}

pub fn set_critical_region_depth(depth: u32) {
    CRITICAL_REGION.with(|cell| cell.set(depth));
}

pub fn thread_object() -> usize {
    THREAD_OBJECT.with(Cell::get)
}

pub fn set_thread_object(object: usize) {
    THREAD_OBJECT.with(|cell| cell.set(object));
}
