//! Loading and unloading: make the policy set's lock, register with Filter Manager, open the
//! port, start filtering, and undo exactly what was done if a step fails. Unload closes the
//! server port first (no new connections), unregisters (which closes the client port and stops
//! callbacks), then waits for messages in flight and for scenario threads that are still running
//! this image's code — unless the unload is not mandatory and some of those threads are stuck:
//! then it refuses — and frees the policy set's lock last.

use core::ptr;
use core::sync::atomic::Ordering::SeqCst;

use crate::driver::DRIVER;
use crate::ffi::{
    FLTFL_FILTER_UNLOAD_MANDATORY, FltRegisterFilter, FltStartFiltering, FltUnregisterFilter,
    NTSTATUS, PDRIVER_OBJECT, PFLT_OBJECT, STATUS_FLT_DO_NOT_DETACH, STATUS_SUCCESS,
    UNICODE_STRING,
};
use crate::{filter, host, log, port, verifier};

/// The driver's entry point (`/ENTRY:DriverEntry`).
///
/// # Safety
/// Called once by the I/O manager with its driver object.
#[unsafe(export_name = "DriverEntry")]
pub unsafe extern "system" fn driver_entry(
    driver: PDRIVER_OBJECT,
    _registry_path: *const UNICODE_STRING,
) -> NTSTATUS {
    let status = verifier::start();
    if status < 0 {
        log::error(c"the lock verifier found no memory for its tables", status);
        return status;
    }
    // SAFETY: `DriverEntry`, before registration.
    if let Err(status) = unsafe { DRIVER.start_policy() } {
        log::error(c"no pool for the policy set's lock", status);
        verifier::stop();
        return status;
    }
    // SAFETY: forwarded from the I/O manager.
    let status = unsafe { load(driver) };
    if status < 0 {
        // SAFETY: the load failed and undid its registration: nothing can use the policy.
        unsafe { DRIVER.stop_policy() };
        verifier::stop();
    }
    status
}

/// Registers, opens the port and starts filtering, undoing the earlier steps if one fails.
///
/// # Safety
/// `driver` is the I/O manager's driver object, and this runs once, in `DriverEntry`.
unsafe fn load(driver: PDRIVER_OBJECT) -> NTSTATUS {
    DRIVER.init_rundown();
    let mut filter: PFLT_OBJECT = ptr::null_mut();
    // SAFETY: the I/O manager's driver object and a static registration with static tables.
    let status =
        unsafe { FltRegisterFilter(driver, &raw const filter::REGISTRATION.0, &raw mut filter) };
    if status < 0 {
        log::error(c"FltRegisterFilter failed", status);
        return status;
    }
    DRIVER.filter.store(filter, SeqCst);
    let status = port::open(filter);
    if status < 0 {
        // SAFETY: registered above, not started.
        unsafe { FltUnregisterFilter(filter) };
        return status;
    }
    // SAFETY: registered above.
    let status = unsafe { FltStartFiltering(filter) };
    if status < 0 {
        log::error(c"FltStartFiltering failed", status);
        port::close();
        // SAFETY: registered above.
        unsafe { FltUnregisterFilter(filter) };
        return status;
    }
    log::info(c"loaded");
    STATUS_SUCCESS
}

/// `FilterUnloadCallback`.
///
/// Scenario threads stuck in a broken lock run this image's code, so unload must wait for them
/// before the image goes: a non-mandatory unload (`fltmc unload`) is refused while any is
/// stuck (`STATUS_FLT_DO_NOT_DETACH`, and the debugger log says why), so that it never hangs; a
/// mandatory one (`sc stop`) cannot be refused, and waits.
///
/// The filter handle stays published until `FltUnregisterFilter` has returned: Filter Manager
/// calls the disconnect callback of a connected client from inside it, and that callback needs
/// the handle for `FltCloseClientPort`.
///
/// # Safety
/// Called by Filter Manager at `PASSIVE_LEVEL`, once per unload request.
pub unsafe extern "system" fn unload(flags: u32) -> NTSTATUS {
    if flags & FLTFL_FILTER_UNLOAD_MANDATORY == 0 {
        let stuck = host::stuck_threads();
        if stuck > 0 {
            log::count(
                c"unload refused: scenario threads stuck in a lock (sc stop waits for them)",
                stuck,
            );
            return STATUS_FLT_DO_NOT_DETACH;
        }
    }
    port::close();
    let filter = DRIVER.filter.load(SeqCst);
    // SAFETY: the filter DriverEntry registered, unregistered once.
    unsafe { FltUnregisterFilter(filter) };
    DRIVER.filter.store(ptr::null_mut(), SeqCst);
    DRIVER.wait_for_callbacks();
    host::wait_for_abandoned_threads();
    verifier::check_unload();
    // SAFETY: unregistered, and every message and scenario thread has left.
    unsafe { DRIVER.stop_policy() };
    verifier::stop();
    log::info(c"unloaded");
    STATUS_SUCCESS
}

/// Export-driver initialisation: when another driver imports the C API and the loader maps
/// this image as a library, `DllInitialize` runs instead of `DriverEntry`. The API needs no
/// state, so there is nothing to do.
#[unsafe(no_mangle)]
#[allow(clippy::missing_const_for_fn, reason = "called by the loader")]
pub extern "system" fn DllInitialize(_registry_path: *const UNICODE_STRING) -> NTSTATUS {
    STATUS_SUCCESS
}

/// Export-driver teardown, the counterpart of [`DllInitialize`].
#[unsafe(no_mangle)]
#[allow(clippy::missing_const_for_fn, reason = "called by the loader")]
pub extern "system" fn DllUnload() -> NTSTATUS {
    STATUS_SUCCESS
}
