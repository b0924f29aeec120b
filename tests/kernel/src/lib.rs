//! `pushlock-kernel`: a user-mode Windows kernel for the driver's host lane.
//!
//! `tests/driver-host` builds the driver's own source (`src/`, and `KernelPlatform`) for the
//! host; its kernel imports resolve to the `#[no_mangle]` routines here, and a test drives the
//! driver through [`Session`] exactly as Filter Manager and the harness do, under real threads.
//! Written for this project; it models only what the driver uses, and checks what Driver
//! Verifier and Filter Verifier check of it.
//!
//! | module | routines | checks |
//! |---|---|---|
//! | `pool` | `ExAllocatePool2`, `ExFreePoolWithTag` | tag non-zero and matching at free, double free, leaks by tag at unload; any allocation can fail |
//! | `dispatcher` | `KeInitializeEvent`, `KeSetEvent`, `KeWaitForSingleObject`, `KeDelayExecutionThread` | waits only on initialised objects, `KernelMode`, not alertable; who waits on what, for hang reports; signals can be lost (a stuck waiter) |
//! | `threads` | `PsCreateSystemThread`, `PsTerminateSystemThread`, `ObReferenceObjectByHandle`, `ObfDereferenceObject`, `ZwClose` | handle and reference balance; critical regions left at thread exit; thread start and reference can fail |
//! | `processor` | `KeEnterCriticalRegion`, `KeLeaveCriticalRegion`, `KeAreApcsDisabled`, `KeGetCurrentThread`, `KeGetCurrentIrql` (verify builds; a test sets it), `KeQueryPerformanceCounter`, `KeQueryActiveProcessorCountEx`, `KeGetCurrentProcessorNumberEx` | no leave without an enter |
//! | `rundown` | `ExInitializeRundownProtection`, `ExAcquire/ReleaseRundownProtection`, `ExWaitForRundownProtectionRelease` | initialised before use, no release without an acquire |
//! | `stand_ins` | `FltInitialize/Delete/Acquire*/ReleasePushLock`, `ExInitialize/Delete/Acquire*/ReleaseResourceLite` | stand-ins for the kernel's locks: critical region entered by `Flt*`, resources acquired inside one, deleted free |
//! | `fltmgr` | the 9 Filter Manager routines of registration and ports | registration version and size, filter never NULL, client port closed by its disconnect callback, server port closed before unregistering, descriptors freed, critical-region depth at every callback's return |
//! | `user_buffers` | `pushlock_copy_from_user`, `pushlock_copy_to_user` (the SEH shim) | only the message's user buffers; a buffer can fault part-way |
//! | `books` | `DbgPrintEx` (in C; under Miri, in Rust), `KeBugCheckEx` | a bug check stops the process with its code and parameters |
//!
//! Not modelled: IRQL (everything runs at `PASSIVE_LEVEL`), APC delivery, paging,
//! `PsTerminateSystemThread` not returning (here it returns into the start routine, which
//! must end right after), memory routines (the host C library's), `__C_specific_handler` and
//! `ProbeFor*` (the shim they serve is replaced by `user_buffers`).

#![cfg_attr(miri, feature(c_variadic))]
#![allow(
    clippy::missing_const_for_fn,
    reason = "the routines are reached by symbol from the driver; const means nothing there"
)]
#![allow(
    clippy::significant_drop_tightening,
    reason = "each table's lock is held across the whole of a short update, on purpose"
)]

mod books;
mod context;
mod dispatcher;
mod fltmgr;
mod pool;
mod processor;
mod rundown;
mod session;
mod stand_ins;
mod threads;
mod user_buffers;

pub use context::{as_driver, at_irql};
pub use fltmgr::{Handle, UNLOAD_MANDATORY};
pub use session::{Fault, HANG_LIMIT, Message, Session};
pub use user_buffers::STATUS_ACCESS_VIOLATION;

/// System threads started since the process began.
#[must_use]
pub fn threads_started() -> usize {
    threads::threads_started()
}

/// System threads still running driver code.
#[must_use]
pub fn threads_running() -> usize {
    threads::threads_running()
}
