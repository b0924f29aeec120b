//! `KernelHost`: the self-test engine in the kernel. Scenario threads are system threads,
//! waited on through their thread objects; the clock is the performance counter; the locks on
//! offer are ours, the kernel's own push lock and an `ERESOURCE`.

use alloc::boxed::Box;
use core::ffi::c_void;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering::SeqCst};

use pushlock::{
    CacheAwarePushLock, CountedCacheAwarePushLock, CountedPushLock, KernelPlatform, RawPushLock,
};
use pushlock_protocol::{LockKind, PlatformKind};
use pushlock_selftest::{
    FilterStats, Host, LockUnavailable, LockVisitor, NamedLock, Shared, SpawnError, try_box,
};

use crate::driver::DRIVER;
use crate::ffi::{
    ALL_PROCESSOR_GROUPS, EXECUTIVE, HANDLE, KERNEL_MODE, KeAreApcsDisabled,
    KeDelayExecutionThread, KeQueryActiveProcessorCountEx, KeQueryPerformanceCounter,
    KeWaitForSingleObject, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES, OBJECT_ATTRIBUTES_LENGTH,
    ObReferenceObjectByHandle, ObfDereferenceObject, PsCreateSystemThread, PsTerminateSystemThread,
    STATUS_SUCCESS, STATUS_TIMEOUT, SYNCHRONIZE, THREAD_ALL_ACCESS, ZwClose, thread_object_type,
};
use crate::peer_locks::{OsPushLock, Resource};

/// Locks the kernel host offers workloads.
const LOCKS: [LockKind; 6] = [
    LockKind::PushLock,
    LockKind::CountedPushLock,
    LockKind::CacheAwarePushLock,
    LockKind::CountedCacheAwarePushLock,
    LockKind::KernelPushLock,
    LockKind::EResource,
];

/// The driver's version, from Cargo.
const VERSION: [u16; 3] = [
    version_part(env!("CARGO_PKG_VERSION_MAJOR")),
    version_part(env!("CARGO_PKG_VERSION_MINOR")),
    version_part(env!("CARGO_PKG_VERSION_PATCH")),
];

const fn version_part(text: &str) -> u16 {
    match u16::from_str_radix(text, 10) {
        Ok(part) => part,
        Err(_) => 0,
    }
}

/// A referenced system-thread object.
pub struct KernelThread(NonNull<c_void>);

// SAFETY: a referenced kernel object pointer may be waited on and dereferenced from any thread.
unsafe impl Send for KernelThread {}

/// Threads that never ended (stuck in a broken lock). Unload waits for them before the image
/// goes away; beyond this many, references are leaked and unload cannot wait for them.
const ABANDONED_SLOTS: usize = 128;
static ABANDONED: [AtomicPtr<c_void>; ABANDONED_SLOTS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; ABANDONED_SLOTS];

/// Waits for every abandoned scenario thread to end. For unload: the threads run this image's
/// code, so it must not be unmapped under them (a thread stuck in a broken lock keeps unload
/// waiting; the lock is broken, and that is the honest outcome).
pub fn wait_for_abandoned_threads() {
    for slot in &ABANDONED {
        let object = slot.swap(ptr::null_mut(), SeqCst);
        if !object.is_null() {
            // SAFETY: a referenced thread object; no timeout (null) waits until it ends.
            unsafe { KeWaitForSingleObject(object, EXECUTIVE, KERNEL_MODE, 0, ptr::null()) };
            // SAFETY: drops the reference `spawn` took.
            unsafe { ObfDereferenceObject(object) };
        }
    }
}

/// Abandoned scenario threads that are still running (stuck in a lock).
pub fn stuck_threads() -> u32 {
    let zero = 0_i64;
    let running = ABANDONED.iter().filter(|slot| {
        let object = slot.load(SeqCst);
        // SAFETY: a referenced thread object (unload, the only caller, is the only taker); a
        // zero timeout only asks whether it has ended.
        !object.is_null()
            && unsafe { KeWaitForSingleObject(object, EXECUTIVE, KERNEL_MODE, 0, &raw const zero) }
                == STATUS_TIMEOUT
    });
    u32::try_from(running.count()).unwrap_or(u32::MAX)
}

/// Where scenarios run in the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelHost;

/// The body a system thread runs, as a thin pointer.
type Body = Box<dyn FnOnce() + Send>;

unsafe extern "system" fn thread_start(context: *mut c_void) {
    // SAFETY: `spawn` leaked a `Box<Body>` into `context`; it is taken back exactly once, here.
    let body = unsafe { Box::from_raw(context.cast::<Body>()) };
    body();
    crate::verifier::system_thread_exits();
    // SAFETY: a system thread ends itself; nothing of this thread is used afterwards.
    unsafe { PsTerminateSystemThread(STATUS_SUCCESS) };
}

/// `ns` as a relative kernel wait interval: negative, in 100 ns units, at least one unit.
fn relative_interval(ns: u64) -> i64 {
    i64::try_from(ns / 100)
        .unwrap_or(i64::MAX)
        .max(1)
        .saturating_neg()
}

impl Host for KernelHost {
    type Platform = KernelPlatform;
    type Thread = KernelThread;

    const PLATFORM: PlatformKind = PlatformKind::Kernel;
    const VERSION: [u16; 3] = VERSION;

    fn spawn(&self, body: Body) -> Result<KernelThread, SpawnError> {
        // The body is a fat pointer; the start routine takes a thin one: box it once more.
        let context = Box::into_raw(try_box(body).map_err(|_| SpawnError)?).cast::<c_void>();
        let mut handle: HANDLE = ptr::null_mut();
        // The message callback runs in the harness's process: without OBJ_KERNEL_HANDLE the
        // handle would land in that process's table, where its threads could close or replace it
        // before it is referenced below.
        let attributes = OBJECT_ATTRIBUTES {
            Length: OBJECT_ATTRIBUTES_LENGTH,
            RootDirectory: ptr::null_mut(),
            ObjectName: ptr::null(),
            Attributes: OBJ_KERNEL_HANDLE,
            SecurityDescriptor: ptr::null_mut(),
            SecurityQualityOfService: ptr::null_mut(),
        };
        // SAFETY: out-pointer and attributes valid; no process or client id; `thread_start`
        // takes ownership of `context` if the thread starts.
        let status = unsafe {
            PsCreateSystemThread(
                &raw mut handle,
                THREAD_ALL_ACCESS,
                &raw const attributes,
                ptr::null_mut(),
                ptr::null_mut(),
                thread_start,
                context,
            )
        };
        if status < 0 {
            // SAFETY: no thread took `context`: take it back and drop it.
            drop(unsafe { Box::from_raw(context.cast::<Body>()) });
            return Err(SpawnError);
        }
        let mut object: *mut c_void = ptr::null_mut();
        let thread_type = thread_object_type();
        // SAFETY: a kernel handle just returned, of the type checked; the out-pointer is valid.
        let status = unsafe {
            ObReferenceObjectByHandle(
                handle,
                SYNCHRONIZE,
                thread_type,
                KERNEL_MODE,
                &raw mut object,
                ptr::null_mut(),
            )
        };
        // SAFETY: the handle is ours; the object (if referenced) outlives it.
        unsafe { ZwClose(handle) };
        // The thread runs either way; without a reference the engine cannot wait for it, and
        // stops the run instead, which makes the thread end soon.
        NonNull::new(object)
            .filter(|_| status >= 0)
            .map(KernelThread)
            .ok_or(SpawnError)
    }

    fn join(&self, thread: KernelThread, timeout_ns: u64) -> Result<(), KernelThread> {
        let timeout = relative_interval(timeout_ns);
        // SAFETY: a referenced thread object and a valid timeout.
        let status = unsafe {
            KeWaitForSingleObject(
                thread.0.as_ptr(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                &raw const timeout,
            )
        };
        if status != STATUS_SUCCESS {
            return Err(thread);
        }
        // SAFETY: drops the reference `spawn` took; the thread has ended.
        unsafe { ObfDereferenceObject(thread.0.as_ptr()) };
        Ok(())
    }

    fn abandon(&self, thread: KernelThread) {
        let object = thread.0.as_ptr();
        let parked = ABANDONED.iter().any(|slot| {
            slot.compare_exchange(ptr::null_mut(), object, SeqCst, SeqCst)
                .is_ok()
        });
        if !parked {
            crate::log::error(c"more stuck scenario threads than unload can wait for", 0);
        }
    }

    fn now_ns(&self) -> u64 {
        let mut frequency = 0_i64;
        // SAFETY: callable at any IRQL; the out-pointer is valid.
        let counter = unsafe { KeQueryPerformanceCounter(&raw mut frequency) };
        let counter = u128::try_from(counter).unwrap_or(0);
        let frequency = u128::try_from(frequency).unwrap_or(1).max(1);
        let ns = counter
            .saturating_mul(1_000_000_000)
            .checked_div(frequency)
            .unwrap_or(0);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    fn processor_count(&self) -> u32 {
        // SAFETY: callable at any IRQL.
        unsafe { KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS) }
    }

    fn yield_now(&self) {
        let zero = 0_i64;
        // SAFETY: a zero relative interval: give up the rest of the quantum to ready threads.
        unsafe { KeDelayExecutionThread(KERNEL_MODE, 0, &raw const zero) };
    }

    fn sleep_ns(&self, ns: u64) {
        // The wait ends on a timer tick.
        let interval = relative_interval(ns);
        // SAFETY: a valid relative interval; scenario threads run at PASSIVE_LEVEL.
        unsafe { KeDelayExecutionThread(KERNEL_MODE, 0, &raw const interval) };
    }

    fn apcs_disabled(&self) -> bool {
        // SAFETY: callable at IRQL <= DISPATCH_LEVEL.
        unsafe { KeAreApcsDisabled() != 0 }
    }

    fn with_lock<V: LockVisitor>(
        &self,
        kind: LockKind,
        visitor: V,
    ) -> Result<V::Output, LockUnavailable> {
        Ok(match kind {
            LockKind::PushLock => {
                visitor.visit(Shared::try_new(RawPushLock::<KernelPlatform>::new())?)
            }
            LockKind::CountedPushLock => {
                visitor.visit(Shared::try_new(CountedPushLock::<KernelPlatform>::new())?)
            }
            LockKind::CacheAwarePushLock => visitor.visit(Shared::try_new(CacheAwarePushLock::<
                KernelPlatform,
            >::new()?)?),
            LockKind::CountedCacheAwarePushLock => visitor.visit(Shared::try_new(
                CountedCacheAwarePushLock::<KernelPlatform>::new()?,
            )?),
            LockKind::KernelPushLock => visitor.visit(OsPushLock::create()?),
            LockKind::EResource => visitor.visit(Resource::create()?),
            LockKind::ParkingLot
            | LockKind::StdRwLock
            | LockKind::Spin
            | LockKind::Usync
            | LockKind::CrossbeamSharded => {
                return Err(LockUnavailable::NotOffered);
            }
        })
    }

    fn lock_kinds(&self) -> &'static [LockKind] {
        &LOCKS
    }

    fn filter_stats(&self) -> Option<FilterStats> {
        Some(DRIVER.policy.stats())
    }

    fn set_policy(&self, pids: &[u32]) -> Result<(), i32> {
        DRIVER.policy.replace(pids)
    }

    fn named_lock(&self, index: usize) -> Option<NamedLock> {
        DRIVER.named_lock(index)
    }
}
