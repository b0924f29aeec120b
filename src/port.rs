//! The communication port harnesses connect to: administrators and SYSTEM only, one client at a
//! time. Messages are captured into kernel memory through the SEH shim, answered by the
//! self-test server, and the reply copied back the same way.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::Ordering::SeqCst;

use pushlock_protocol::PORT_NAME;

use crate::driver::DRIVER;
use crate::ffi::{
    FLT_PORT_ALL_ACCESS, FltBuildDefaultSecurityDescriptor, FltCloseClientPort,
    FltCloseCommunicationPort, FltCreateCommunicationPort, FltFreeSecurityDescriptor, NTSTATUS,
    OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES, OBJECT_ATTRIBUTES_LENGTH,
    PFLT_OBJECT, PSECURITY_DESCRIPTOR, STATUS_SUCCESS, UNICODE_STRING,
};
use crate::{log, user_buffer, verifier};

/// Largest request the protocol has (a policy: 288 bytes), with room to grow.
const MAX_REQUEST: usize = 4096;
/// Largest reply worth producing (a run of 64 threads: 2.4 KiB), with room to grow.
const MAX_REPLY: usize = 16 * 1024;
/// `STATUS_INFO_LENGTH_MISMATCH`: what the server would answer for any longer message.
const STATUS_INFO_LENGTH_MISMATCH: NTSTATUS = 0xC000_0004_u32.cast_signed();
/// `STATUS_INVALID_PARAMETER`.
const STATUS_INVALID_PARAMETER: NTSTATUS = 0xC000_000D_u32.cast_signed();
/// `STATUS_PORT_DISCONNECTED`: the driver is unloading.
const STATUS_PORT_DISCONNECTED: NTSTATUS = 0xC000_0037_u32.cast_signed();

/// The port name in UTF-16, from the protocol crate's ASCII name (evaluated at compile time:
/// an out-of-range index or overflow would stop the build, not run).
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "const evaluation"
)]
static PORT_NAME_UTF16: [u16; PORT_NAME.len()] = {
    let mut wide = [0_u16; PORT_NAME.len()];
    let mut i = 0;
    while i < wide.len() {
        assert!(PORT_NAME.as_bytes()[i].is_ascii());
        wide[i] = PORT_NAME.as_bytes()[i] as u16;
        i += 1;
    }
    wide
};

/// Bytes of the name, as a `UNICODE_STRING` counts them.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "const evaluation, asserted to fit"
)]
const PORT_NAME_BYTES: u16 = {
    assert!(PORT_NAME.len() * 2 <= u16::MAX as usize);
    (PORT_NAME.len() * 2) as u16
};

/// Creates the server port: default security descriptor (administrators and SYSTEM), freed
/// right after, whatever the outcome. A failure is logged with the routine that failed.
pub fn open(filter: PFLT_OBJECT) -> NTSTATUS {
    let name = UNICODE_STRING {
        Length: PORT_NAME_BYTES,
        MaximumLength: PORT_NAME_BYTES,
        Buffer: (&raw const PORT_NAME_UTF16).cast::<u16>().cast_mut(),
    };
    let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: valid out-pointer; the descriptor is freed below.
    let status =
        unsafe { FltBuildDefaultSecurityDescriptor(&raw mut descriptor, FLT_PORT_ALL_ACCESS) };
    if status < 0 {
        log::error(c"FltBuildDefaultSecurityDescriptor failed", status);
        return status;
    }
    let attributes = OBJECT_ATTRIBUTES {
        Length: OBJECT_ATTRIBUTES_LENGTH,
        RootDirectory: ptr::null_mut(),
        ObjectName: &raw const name,
        Attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: descriptor,
        SecurityQualityOfService: ptr::null_mut(),
    };
    let mut port: PFLT_OBJECT = ptr::null_mut();
    // SAFETY: a registered filter, valid attributes naming a static string, our callbacks,
    // one connection at most.
    let status = unsafe {
        FltCreateCommunicationPort(
            filter,
            &raw mut port,
            &raw const attributes,
            ptr::null_mut(),
            on_connect,
            on_disconnect,
            Some(on_message),
            1,
        )
    };
    // SAFETY: built above; the port keeps its own copy.
    unsafe { FltFreeSecurityDescriptor(descriptor) };
    if status < 0 {
        log::error(c"FltCreateCommunicationPort failed", status);
    } else {
        DRIVER.server_port.store(port, SeqCst);
    }
    status
}

/// Closes the server port (unload, or a later `DriverEntry` step failing); no new connections.
pub fn close() {
    let port = DRIVER.server_port.swap(ptr::null_mut(), SeqCst);
    if !port.is_null() {
        // SAFETY: the port `open` created, closed once.
        unsafe { FltCloseCommunicationPort(port) };
    }
}

/// A client connects: its port becomes the connection cookie, which Filter Manager hands back
/// to the disconnect callback, so each connection closes its own port.
#[allow(
    clippy::missing_const_for_fn,
    reason = "called through a function pointer"
)]
unsafe extern "system" fn on_connect(
    client_port: PFLT_OBJECT,
    _server_port_cookie: *mut c_void,
    _context: *mut c_void,
    _context_size: u32,
    connection_cookie: *mut *mut c_void,
) -> NTSTATUS {
    // SAFETY: Filter Manager passes a valid out-pointer.
    unsafe { connection_cookie.write(client_port) };
    STATUS_SUCCESS
}

/// The client went away (or unload is unregistering the filter): close its port.
///
/// Not a tail call: Filter Verifier reports `FltCloseClientPort` reached by a jump from a
/// callback as a port leak (it looks for the driver's frame), so the callback checks that the
/// variable was cleared after the call returns.
unsafe extern "system" fn on_disconnect(connection_cookie: *mut c_void) {
    let mut client_port: PFLT_OBJECT = connection_cookie;
    // SAFETY: our filter, still registered while its callbacks run (unload clears the handle
    // only after `FltUnregisterFilter` returns), and a variable holding this connection's
    // client port, which Filter Manager closes and sets to null.
    unsafe { FltCloseClientPort(DRIVER.filter.load(SeqCst), &raw mut client_port) };
    if !client_port.is_null() {
        log::error(c"FltCloseClientPort left the client port set", 0);
    }
}

unsafe extern "system" fn on_message(
    _port_cookie: *mut c_void,
    input: *mut c_void,
    input_length: u32,
    output: *mut c_void,
    output_length: u32,
    returned: *mut u32,
) -> NTSTATUS {
    if returned.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: Filter Manager's own out-variable.
    unsafe { returned.write(0) };
    let Some(_in_flight) = DRIVER.enter() else {
        return STATUS_PORT_DISCONNECTED;
    };
    // SAFETY: the buffers and lengths are Filter Manager's, passed through unchanged.
    let status = match unsafe { answer(input, input_length, output, output_length) } {
        Ok((status, written)) => {
            // SAFETY: as above.
            unsafe { returned.write(written) };
            status
        }
        Err(status) => status,
    };
    verifier::message_callback_returns();
    status
}

/// Captures the request, answers it, publishes the reply. The server sees kernel copies only.
///
/// Sizes are bounded before anything is allocated. Alignment needs no check: user buffers are
/// copied byte by byte, and every protocol type has alignment 1.
///
/// # Safety
/// The pointers and lengths are the message callback's.
unsafe fn answer(
    input: *mut c_void,
    input_length: u32,
    output: *mut c_void,
    output_length: u32,
) -> Result<(NTSTATUS, u32), NTSTATUS> {
    let input_length = usize::try_from(input_length).map_err(|_| STATUS_INFO_LENGTH_MISMATCH)?;
    if input_length > MAX_REQUEST {
        return Err(STATUS_INFO_LENGTH_MISMATCH);
    }
    let input_length = if input.is_null() { 0 } else { input_length };
    // SAFETY: a user buffer of `input_length` bytes; the shim survives it being unmapped.
    let request = unsafe { user_buffer::capture(input, input_length) }?;
    let capacity = if output.is_null() {
        0
    } else {
        usize::try_from(output_length).unwrap_or(0).min(MAX_REPLY)
    };
    let mut reply = user_buffer::kernel_buffer(capacity)?;
    let (status, written) = DRIVER.server.message(&request, &mut reply);
    let written_bytes = reply.get(..written).ok_or(STATUS_INVALID_PARAMETER)?;
    // SAFETY: the user output buffer holds at least `capacity >= written` bytes.
    unsafe { user_buffer::publish(output, written_bytes) }?;
    Ok((status, u32::try_from(written).unwrap_or(0)))
}
