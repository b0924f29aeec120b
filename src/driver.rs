//! The driver's global state: Filter Manager handles, rundown protection for callbacks in
//! flight, the self-test server and the filter policy.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::AtomicPtr;

use pushlock::{KernelPlatform, LockClass};
use pushlock_selftest::{NamedLock, Policy, Server};

use crate::ffi::{
    EX_RUNDOWN_REF, ExAcquireRundownProtection, ExInitializeRundownProtection,
    ExReleaseRundownProtection, ExWaitForRundownProtectionRelease,
};
use crate::host::KernelHost;

/// Everything the driver keeps between callbacks.
pub struct Driver {
    /// `PFLT_FILTER` from `FltRegisterFilter`.
    pub filter: AtomicPtr<c_void>,
    /// The server port harnesses connect to.
    pub server_port: AtomicPtr<c_void>,
    /// Message callbacks in flight; unload waits for them.
    rundown: UnsafeCell<EX_RUNDOWN_REF>,
    /// Answers the harness.
    pub server: Server<KernelHost>,
    /// The process ids whose creates the filter counts.
    pub policy: Policy<KernelPlatform>,
}

// SAFETY: the handles are atomics; the rundown reference is only touched through the
// executive's rundown routines, which synchronise; `Server` and `Policy` are `Sync`.
unsafe impl Sync for Driver {}

pub static DRIVER: Driver = Driver {
    filter: AtomicPtr::new(ptr::null_mut()),
    server_port: AtomicPtr::new(ptr::null_mut()),
    rundown: UnsafeCell::new(EX_RUNDOWN_REF { Count: 0 }),
    server: Server::new(KernelHost),
    policy: Policy::new(),
};

/// Proof that unload waits for the holder; released on drop.
pub struct InFlight(());

/// The policy set's lock, as verifier reports name it.
static POLICY_LOCK: LockClass = LockClass::new("filter policy");

impl Driver {
    /// Makes the policy set's lock.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` if there is no pool for it.
    ///
    /// # Safety
    /// `DriverEntry`, before registration: no callback or message can run yet.
    pub unsafe fn start_policy(&self) -> Result<(), i32> {
        // SAFETY: nothing else uses the policy (caller).
        unsafe { self.policy.start(&POLICY_LOCK) }
    }

    /// Frees the policy set's lock.
    ///
    /// # Safety
    /// Nothing uses the policy any more: unload, after every callback, message and scenario
    /// thread has left; or a load that failed after `start_policy` and registered nothing.
    pub unsafe fn stop_policy(&self) {
        // SAFETY: nothing else uses the policy (caller).
        unsafe { self.policy.stop() };
    }

    /// The `index`th of the driver's locks that keep statistics (`Locks`): the policy set's.
    pub fn named_lock(&self, index: usize) -> Option<NamedLock> {
        (index == 0)
            .then(|| self.policy.named_lock(POLICY_LOCK.name()))
            .flatten()
    }

    /// Readies rundown protection (`DriverEntry`, before any callback can run).
    pub fn init_rundown(&self) {
        // SAFETY: a static, nonpaged reference, not yet in use.
        unsafe { ExInitializeRundownProtection(self.rundown.get()) };
    }

    /// Registers a callback in flight, unless unload has begun.
    ///
    /// The guard is built only after the acquire succeeded: its `Drop` releases, and a release
    /// without an acquire would corrupt the count that unload waits on.
    pub fn enter(&self) -> Option<InFlight> {
        // SAFETY: initialised in DriverEntry; callable at IRQL <= DISPATCH_LEVEL.
        let acquired = unsafe { ExAcquireRundownProtection(self.rundown.get()) } != 0;
        acquired.then(|| InFlight(()))
    }

    /// Waits until every callback in flight has left (unload).
    pub fn wait_for_callbacks(&self) {
        // SAFETY: initialised in DriverEntry; called once, at PASSIVE_LEVEL.
        unsafe { ExWaitForRundownProtectionRelease(self.rundown.get()) };
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // SAFETY: pairs with the successful acquire that made this value.
        unsafe { ExReleaseRundownProtection(DRIVER.rundown.get()) };
    }
}
