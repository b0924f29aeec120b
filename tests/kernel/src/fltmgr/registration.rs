//! Registration: `FltRegisterFilter`, `FltStartFiltering`, `FltUnregisterFilter`, and the one
//! routine of callback data the driver uses, `FltGetRequestorProcessId`.

use std::ffi::c_void;

use super::{
    Cookie, Filter, IRP_MJ_CREATE, IRP_MJ_OPERATION_END, OPERATION_SIZE, PreOperation,
    REGISTRATION_SIZE, REGISTRATION_VERSION, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
    UnloadCallback, call_driver, injected, is_registered, new_handle, read_field, state,
};
use crate::books::violation;
use crate::context::as_kernel;

/// `FltRegisterFilter`.
///
/// # Safety
/// `registration` points to a `FLT_REGISTRATION` whose tables outlive the filter.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FltRegisterFilter(
    _driver: *mut c_void,
    registration: *const c_void,
    filter: *mut *mut c_void,
) -> i32 {
    if let Some(status) = injected("FltRegisterFilter") {
        return status;
    }
    // SAFETY: `Size` of the caller's registration (x64 offsets throughout).
    let size: u16 = unsafe { read_field(registration, 0) };
    // SAFETY: `Version`.
    let version: u16 = unsafe { read_field(registration, 2) };
    if size != REGISTRATION_SIZE || version != REGISTRATION_VERSION {
        violation(
            "FltRegisterFilter",
            format_args!("size {size}, version {version:#x}"),
        );
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `OperationRegistration`.
    let mut operation: *const c_void = unsafe { read_field(registration, 16) };
    // SAFETY: `FilterUnloadCallback`.
    let unload: Option<UnloadCallback> = unsafe { read_field(registration, 24) };
    let mut pre_create = None;
    while !operation.is_null() {
        // SAFETY: `MajorFunction` of an entry of the caller's array, which ends with
        // IRP_MJ_OPERATION_END.
        let major: u8 = unsafe { read_field(operation, 0) };
        if major == IRP_MJ_OPERATION_END {
            break;
        }
        if major == IRP_MJ_CREATE {
            // SAFETY: `PreOperation` of the entry.
            pre_create = unsafe { read_field::<Option<PreOperation>>(operation, 8) };
        }
        // SAFETY: the next entry of the same array.
        operation = unsafe { operation.byte_add(OPERATION_SIZE) };
    }
    as_kernel(|| {
        let mut state = state();
        if state.filter.as_ref().is_some_and(|f| !f.unregistered) {
            violation("FltRegisterFilter", "registered twice");
        }
        let handle = new_handle(&mut state);
        state.filter = Some(Filter {
            handle,
            unload,
            pre_create,
            started: false,
            unregistered: false,
        });
        // SAFETY: writable (caller).
        unsafe { filter.write(handle.as_ptr()) };
    });
    STATUS_SUCCESS
}

/// `FltStartFiltering`.
#[unsafe(no_mangle)]
pub extern "system" fn FltStartFiltering(filter: *mut c_void) -> i32 {
    if let Some(status) = injected("FltStartFiltering") {
        return status;
    }
    as_kernel(|| {
        let mut state = state();
        if is_registered(&state, "FltStartFiltering", filter)
            && let Some(registered) = state.filter.as_mut()
        {
            registered.started = true;
        }
    });
    STATUS_SUCCESS
}

/// `FltUnregisterFilter`: disconnects every client (their disconnect callbacks run here), then
/// stops the filter.
#[unsafe(no_mangle)]
pub extern "system" fn FltUnregisterFilter(filter: *mut c_void) {
    let (cookies, disconnect) = as_kernel(|| {
        let mut state = state();
        if !is_registered(&state, "FltUnregisterFilter", filter) {
            return (Vec::new(), None);
        }
        if state.filter.as_ref().is_some_and(|f| f.unregistered) {
            violation("FltUnregisterFilter", "unregistered twice");
        }
        if state.server.as_ref().is_some_and(|s| !s.closed) {
            violation("FltUnregisterFilter", "the server port is still open");
        }
        if let Some(registered) = state.filter.as_mut() {
            registered.unregistered = true;
        }
        let cookies: Vec<Cookie> = state.clients.values().copied().collect();
        (cookies, state.server.as_ref().map(|s| s.disconnect))
    });
    if let Some(disconnect) = disconnect {
        for cookie in cookies {
            // SAFETY: the driver's disconnect callback with the cookie it gave at connect.
            call_driver("disconnect callback", || unsafe { disconnect(cookie.0) });
        }
    }
    let left = as_kernel(|| state().clients.len());
    if left > 0 {
        violation(
            "FltUnregisterFilter",
            format_args!("{left} client ports left open by the disconnect callback"),
        );
    }
}

/// `FltGetRequestorProcessId`: the process id in the stand-in callback data.
///
/// # Safety
/// `data` is callback data from [`create`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FltGetRequestorProcessId(data: *mut c_void) -> u32 {
    // SAFETY: `create` passes a pointer to the id.
    unsafe { data.cast::<u32>().read() }
}
