//! `KernelPlatform`: the push lock inside a Windows driver.
//!
//! Waiters sleep on a `KEVENT` in their stack wait block, `KernelMode` so that the stack stays
//! resident, with wait reason `WrPushLock` so that debuggers and traces show the wait for what it
//! is. Routines are imported from `ntoskrnl.exe` by this crate itself (raw-dylib), never through
//! `windows-sys`, which maps some kernel routines to `ntdll.dll`. Built for another host, the
//! same code links against whatever defines those routines: the driver's host lane supplies
//! them from `tests/kernel`, a user-mode kernel with Driver Verifier's checks.
//!
//! Call at `IRQL <= APC_LEVEL`, as the kernel's push locks require.
#![allow(non_camel_case_types, non_snake_case)]

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::mem::MaybeUninit;

use super::kernel_types::KEVENT;
use super::{Misuse, Platform};

/// `EVENT_TYPE::NotificationEvent`: stays signalled once set (one waiter, one signal).
const NOTIFICATION_EVENT: i32 = 0;
/// `KWAIT_REASON::WrPushLock`.
const WR_PUSH_LOCK: i32 = 28;
/// `KPROCESSOR_MODE::KernelMode`: the waiter's stack must not be paged out.
const KERNEL_MODE: i8 = 0;
/// `STATUS_SUCCESS`: the only status after which a waiter may go on.
const STATUS_SUCCESS: i32 = 0;
/// `PUSHLOCK_MISUSE` kind: `KeWaitForSingleObject` failed on a wait block's event.
const WAIT_FAILED: usize = 5;
/// `IO_NO_INCREMENT`.
const NO_INCREMENT: i32 = 0;
/// `ALL_PROCESSOR_GROUPS`.
const ALL_PROCESSOR_GROUPS: u16 = 0xFFFF;
/// `POOL_FLAG_NON_PAGED`.
const POOL_FLAG_NON_PAGED: u64 = 0x40;
/// Pool blocks are aligned to 16 bytes.
const POOL_ALIGNMENT: usize = 16;
/// Bug check `INVALID_PUSH_LOCK_FLAGS`: 1 = the flags, 2 = the lock's address.
pub const INVALID_PUSH_LOCK_FLAGS: u32 = 0x152;
/// Our own bug check for the other caller bugs ("PLCK"): 1 = kind (2 delete in use, 3 release
/// not held, 4 share-count overflow), 2 = the lock's address, 3 = the lock word; kind 5, a wait
/// on a wait block's event failed: 2 = the event, 3 = the status. The verifier's kinds (6–17)
/// are listed with `verify::Violation`; their parameter 4 is the thread.
pub const PUSHLOCK_MISUSE: u32 = 0x504C_434B;

#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    fn KeInitializeEvent(event: *mut KEVENT, event_type: i32, state: u8);
    fn KeSetEvent(event: *mut KEVENT, increment: i32, wait: u8) -> i32;
    fn KeWaitForSingleObject(
        object: *mut c_void,
        wait_reason: i32,
        wait_mode: i8,
        alertable: u8,
        timeout: *mut i64,
    ) -> i32;
    fn KeEnterCriticalRegion();
    fn KeLeaveCriticalRegion();
    fn KeQueryActiveProcessorCountEx(group: u16) -> u32;
    fn KeGetCurrentProcessorNumberEx(number: *mut c_void) -> u32;
    fn ExAllocatePool2(flags: u64, bytes: usize, tag: u32) -> *mut c_void;
    fn ExFreePoolWithTag(block: *mut c_void, tag: u32);
    fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> !;
}

#[cfg_attr(
    windows,
    link(name = "hal.dll", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    fn KeQueryPerformanceCounter(frequency: *mut i64) -> i64;
}

/// The wait object of a kernel wait block: a `KEVENT`, initialised only if the waiter sleeps.
#[repr(transparent)]
pub struct KernelEvent(
    #[allow(
        dead_code,
        reason = "reached through `KernelEvent::get`'s pointer cast"
    )]
    UnsafeCell<MaybeUninit<KEVENT>>,
);

// SAFETY: the waiter initialises the event before it publishes that it sleeps; afterwards the
// kernel serialises every access to the event under its dispatcher lock.
unsafe impl Sync for KernelEvent {}

impl KernelEvent {
    const fn get(event: *const Self) -> *mut KEVENT {
        // `repr(transparent)` over `UnsafeCell<MaybeUninit<KEVENT>>`: the layout of `KEVENT`.
        event.cast_mut().cast()
    }
}

/// The kernel platform: `KEVENT` waits, critical regions, bug checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelPlatform;

/// The kernel's spin count on multiprocessors.
const MP_SPIN_COUNT: u32 = 1024;

// SAFETY: `wait` returns only once the notification event is set, which only `signal` does;
// `signal` passes the raw pointer to `KeSetEvent` (Wait = FALSE), which does not touch the event
// after the waiter can run, the pattern every driver uses for stack events.
unsafe impl Platform for KernelPlatform {
    type Event = KernelEvent;

    fn new_event() -> KernelEvent {
        KernelEvent(UnsafeCell::new(MaybeUninit::uninit()))
    }

    unsafe fn prepare_wait(event: *const KernelEvent) {
        // SAFETY: the event is live, resident (our kernel stack) and not yet shared (caller).
        unsafe { KeInitializeEvent(KernelEvent::get(event), NOTIFICATION_EVENT, 0) };
    }

    /// Returns only once the event is signalled, whatever the wait says: with no timeout, not
    /// alertable and `KernelMode`, `STATUS_SUCCESS` is the only documented return, but a waiter
    /// that went on after any other would leave its block queued on a stack about to be reused.
    /// So an informational status (an alert, an APC, a time-out) waits again, and an error
    /// status — a wait on something that is no event — stops the system (`PLCK` kind 5).
    unsafe fn wait(event: *const KernelEvent) {
        loop {
            // SAFETY: prepared by this thread; KernelMode keeps the stack (and event) resident.
            let status = unsafe {
                KeWaitForSingleObject(
                    KernelEvent::get(event).cast(),
                    WR_PUSH_LOCK,
                    KERNEL_MODE,
                    0,
                    core::ptr::null_mut(),
                )
            };
            if status == STATUS_SUCCESS {
                return;
            }
            if status < 0 {
                #[allow(clippy::cast_sign_loss, reason = "the status's bits, for the report")]
                let bits = status as u32 as usize;
                // SAFETY: stops the system: the wait block's event is broken.
                unsafe { KeBugCheckEx(PUSHLOCK_MISUSE, WAIT_FAILED, event.addr(), bits, 0) }
            }
        }
    }

    unsafe fn signal(event: *const KernelEvent) {
        // SAFETY: prepared, and its waiter is blocked until this call sets it (caller).
        unsafe { KeSetEvent(KernelEvent::get(event), NO_INCREMENT, 0) };
    }

    fn spin_count() -> u32 {
        // SAFETY: callable at any IRQL; reads the active processor set.
        let processors = unsafe { KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS) };
        if processors > 1 { MP_SPIN_COUNT } else { 0 }
    }

    fn spin_hint() {
        core::hint::spin_loop();
    }

    fn spin_on_word(round: u32) -> bool {
        // Pauses on multiprocessors; no yields: the kernel's own push lock never yields, and
        // callers may be at APC_LEVEL.
        if round >= super::WORD_PAUSE_ROUNDS || Self::spin_count() == 0 {
            return false;
        }
        super::pause_round(round);
        true
    }

    fn enter_critical_region() {
        // SAFETY: callable at IRQL <= APC_LEVEL, which push-lock callers are at.
        unsafe { KeEnterCriticalRegion() };
    }

    fn leave_critical_region() {
        // SAFETY: balances the `KeEnterCriticalRegion` of the matching acquire.
        unsafe { KeLeaveCriticalRegion() };
    }

    fn processor_count() -> u32 {
        // SAFETY: callable at any IRQL; reads the active processor set.
        unsafe { KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS) }.max(1)
    }

    /// The system-wide processor index (all groups), as `KeGetCurrentProcessorNumberEx` gives it.
    fn current_processor() -> u32 {
        // SAFETY: callable at any IRQL; a null `PPROCESSOR_NUMBER` asks for the index only.
        unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) }
    }

    fn allocate(layout: core::alloc::Layout, tag: super::PoolTag) -> *mut u8 {
        if layout.size() == 0 || layout.align() > POOL_ALIGNMENT {
            return core::ptr::null_mut();
        }
        // SAFETY: non-paged pool at IRQL <= DISPATCH_LEVEL; zeroed by `ExAllocatePool2`.
        unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, layout.size(), tag.value()) }.cast()
    }

    unsafe fn free(block: *mut u8, _layout: core::alloc::Layout, tag: super::PoolTag) {
        // SAFETY: allocated with this tag and not used any more (caller).
        unsafe { ExFreePoolWithTag(block.cast(), tag.value()) };
    }

    #[cfg(feature = "verify")]
    fn current_thread() -> usize {
        super::kernel_verify::current_thread()
    }

    #[cfg(feature = "verify")]
    fn irql_above_apc_level() -> Option<u8> {
        super::kernel_verify::irql_above_apc_level()
    }

    #[cfg(feature = "verify")]
    fn apcs_disabled() -> bool {
        super::kernel_verify::apcs_disabled()
    }

    #[cfg(feature = "verify")]
    fn allocate_verifier(layout: core::alloc::Layout) -> *mut u8 {
        Self::allocate(layout, super::kernel_verify::TAG)
    }

    #[cfg(feature = "verify")]
    unsafe fn free_verifier(block: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::free(block, layout, super::kernel_verify::TAG) };
    }

    #[cfg(feature = "verify")]
    fn violation(report: &crate::verify::Report<'_>) -> ! {
        super::kernel_verify::violation(report)
    }

    /// The performance counter, in nanoseconds (its frequency is fixed at boot).
    fn now_ns() -> u64 {
        let mut frequency = 0_i64;
        // SAFETY: callable at any IRQL; writes the frequency to our local.
        let ticks = unsafe { KeQueryPerformanceCounter(&raw mut frequency) };
        let (Ok(ticks), Ok(frequency)) = (u128::try_from(ticks), u128::try_from(frequency)) else {
            return 0;
        };
        let nanos = ticks.saturating_mul(1_000_000_000).checked_div(frequency);
        nanos.map_or(0, |nanos| u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn misuse(lock: *const (), misuse: Misuse) -> ! {
        let (code, p1, p3) = match misuse {
            Misuse::InvalidFlags(flags) => (INVALID_PUSH_LOCK_FLAGS, flags as usize, 0),
            Misuse::DeleteInUse(word) => (PUSHLOCK_MISUSE, 2, word.0),
            Misuse::ReleaseNotHeld(word) => (PUSHLOCK_MISUSE, 3, word.0),
            Misuse::ShareCountOverflow => (PUSHLOCK_MISUSE, 4, 0),
        };
        // SAFETY: stops the system with a documented code: the caller broke its lock contract.
        unsafe { KeBugCheckEx(code, p1, lock.addr(), p3, 0) }
    }
}
