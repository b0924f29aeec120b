//! The push-lock verifier in the driver (feature `verify`; see `pushlock::verify`): started at
//! `DriverEntry`, checked where no push lock may be held, stopped at unload. Without the
//! feature every function here is empty and no hook exists in the lock.
//!
//! A build feature, not a service-key switch: the driver users load without it carries no
//! verifier code and pays nothing, not even a test of a flag on every acquisition; the
//! verifier's tables (pool tagged `PlkR`) exist only in the build made for Verifier sessions,
//! which need a reboot and a configured machine anyway; and `DriverEntry` reads no registry.
#![cfg_attr(
    not(feature = "verify"),
    allow(clippy::missing_const_for_fn, reason = "empty without the verifier")
)]

use crate::ffi::{NTSTATUS, STATUS_SUCCESS};
#[cfg(feature = "verify")]
use pushlock::KernelPlatform;
#[cfg(feature = "verify")]
use pushlock::verify::{self, HeldAt};

/// Allocates the verifier's tables (`DriverEntry`, first thing): a driver built to be verified
/// does not run unverified.
pub fn start() -> NTSTATUS {
    #[cfg(feature = "verify")]
    if verify::start::<KernelPlatform>().is_err() {
        return pushlock_protocol::status::INSUFFICIENT_RESOURCES;
    }
    STATUS_SUCCESS
}

/// A message callback returns: its thread holds no push lock.
pub fn message_callback_returns() {
    #[cfg(feature = "verify")]
    verify::check_none_held::<KernelPlatform>(HeldAt::MessageCallbackReturn);
}

/// A pre-operation callback returns: its thread holds no push lock.
pub fn pre_operation_returns() {
    #[cfg(feature = "verify")]
    verify::check_none_held::<KernelPlatform>(HeldAt::PreOperationReturn);
}

/// A scenario's system thread ends: it holds no push lock.
pub fn system_thread_exits() {
    #[cfg(feature = "verify")]
    verify::check_none_held::<KernelPlatform>(HeldAt::ThreadExit);
}

/// `FilterUnload`, after every callback and scenario thread ended: no thread holds a push lock
/// (checked before the driver frees its own locks; [`stop`] then frees the tables).
pub fn check_unload() {
    #[cfg(feature = "verify")]
    verify::check_nobody_holds::<KernelPlatform>();
}

/// Frees the tables: at unload, or when `DriverEntry` fails after [`start`].
pub fn stop() {
    #[cfg(feature = "verify")]
    // SAFETY: called once no thread of this driver runs a lock operation: unload waited for
    // every callback and scenario thread, and a failing `DriverEntry` started none.
    unsafe {
        verify::stop::<KernelPlatform>();
    }
}
