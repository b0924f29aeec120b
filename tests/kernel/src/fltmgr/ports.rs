//! The communication port: security descriptors, the server port, client ports.

use std::ffi::c_void;
use std::ptr;

use super::{
    ConnectCallback, DisconnectCallback, Handle, MessageCallback, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS, Server, injected, is_registered, new_handle, read_field, state,
};
use crate::books::violation;
use crate::context::as_kernel;

/// `FltBuildDefaultSecurityDescriptor`.
///
/// # Safety
/// `descriptor` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FltBuildDefaultSecurityDescriptor(
    descriptor: *mut *mut c_void,
    _desired_access: u32,
) -> i32 {
    if let Some(status) = injected("FltBuildDefaultSecurityDescriptor") {
        return status;
    }
    as_kernel(|| {
        let mut state = state();
        let handle = new_handle(&mut state);
        state.descriptors.insert(handle.0);
        // SAFETY: writable (caller).
        unsafe { descriptor.write(handle.as_ptr()) };
    });
    STATUS_SUCCESS
}

/// `FltFreeSecurityDescriptor`.
#[unsafe(no_mangle)]
pub extern "system" fn FltFreeSecurityDescriptor(descriptor: *mut c_void) {
    if !as_kernel(|| state().descriptors.remove(&descriptor.addr())) {
        violation(
            "FltFreeSecurityDescriptor",
            format_args!("{descriptor:p} was not built, or is freed"),
        );
    }
}

/// `FltCreateCommunicationPort`.
///
/// # Safety
/// `attributes` is a valid `OBJECT_ATTRIBUTES` naming the port; `server_port` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FltCreateCommunicationPort(
    filter: *mut c_void,
    server_port: *mut *mut c_void,
    attributes: *const c_void,
    server_cookie: *mut c_void,
    connect: ConnectCallback,
    disconnect: DisconnectCallback,
    message: Option<MessageCallback>,
    max_connections: i32,
) -> i32 {
    if let Some(status) = injected("FltCreateCommunicationPort") {
        return status;
    }
    // SAFETY: `ObjectName` of the caller's OBJECT_ATTRIBUTES (x64 offset 16).
    let string: *const c_void = unsafe { read_field(attributes, 16) };
    // SAFETY: `Length` of that UNICODE_STRING, in bytes.
    let bytes: u16 = unsafe { read_field(string, 0) };
    // SAFETY: its `Buffer`, at offset 8.
    let buffer: *const u16 = unsafe { read_field(string, 8) };
    // SAFETY: `Length` bytes of UTF-16 at `Buffer` (the caller's string).
    let text = unsafe { std::slice::from_raw_parts(buffer, usize::from(bytes) / 2) };
    let name = as_kernel(|| String::from_utf16_lossy(text));
    as_kernel(|| {
        let mut state = state();
        if !is_registered(&state, "FltCreateCommunicationPort", filter) {
            return STATUS_INVALID_PARAMETER;
        }
        if !name.starts_with('\\') || max_connections < 1 {
            violation(
                "FltCreateCommunicationPort",
                format_args!("name {name:?}, {max_connections} connections"),
            );
            return STATUS_INVALID_PARAMETER;
        }
        let handle = new_handle(&mut state);
        state.server = Some(Server {
            handle,
            cookie: server_cookie.addr(),
            connect,
            disconnect,
            message,
            max_connections: usize::try_from(max_connections).unwrap_or(1),
            closed: false,
        });
        // SAFETY: writable (caller).
        unsafe { server_port.write(handle.as_ptr()) };
        STATUS_SUCCESS
    })
}

/// `FltCloseCommunicationPort`: no new connections; connected clients stay.
#[unsafe(no_mangle)]
pub extern "system" fn FltCloseCommunicationPort(server_port: *mut c_void) {
    as_kernel(|| {
        let mut state = state();
        match state.server.as_mut() {
            Some(server) if server.handle.0 == server_port.addr() && !server.closed => {
                server.closed = true;
            }
            Some(server) if server.closed => violation("FltCloseCommunicationPort", "closed twice"),
            _ => violation(
                "FltCloseCommunicationPort",
                format_args!("{server_port:p} is not the server port"),
            ),
        }
    });
}

/// `FltCloseClientPort`: closes `*client_port` and sets it to NULL.
///
/// # Safety
/// `client_port` is the address of a variable holding a client port.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FltCloseClientPort(
    filter: *mut c_void,
    client_port: *mut *mut c_void,
) {
    as_kernel(|| {
        let mut state = state();
        if !is_registered(&state, "FltCloseClientPort", filter) {
            return;
        }
        if client_port.is_null() {
            violation("FltCloseClientPort", "no variable");
            return;
        }
        // SAFETY: readable and writable (caller).
        let port = unsafe { client_port.read() };
        if state.clients.remove(&Handle(port.addr())).is_none() {
            violation(
                "FltCloseClientPort",
                format_args!("{port:p} is not a connected client port"),
            );
            return;
        }
        // SAFETY: as above.
        unsafe { client_port.write(ptr::null_mut()) };
    });
}
