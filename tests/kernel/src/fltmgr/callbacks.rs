//! Filter Manager calling the driver: what a test does to it through [`Session`](crate::Session).

use std::ffi::c_void;
use std::ptr::{self, without_provenance_mut};

use super::{
    Cookie, Handle, STATUS_CONNECTION_COUNT_LIMIT, STATUS_INVALID_PARAMETER,
    STATUS_PORT_DISCONNECTED, UNLOAD_MANDATORY, call_driver, new_handle, state,
};
use crate::books::violation;
use crate::context::as_kernel;
use crate::user_buffers::{UserBuffer, with_user_buffers};

/// A client connects (`FilterConnectCommunicationPort`): its port, or the refusal.
pub fn connect() -> Result<Handle, i32> {
    let (handle, connect, cookie) = as_kernel(|| {
        let mut state = state();
        let server = state
            .server
            .as_ref()
            .filter(|s| !s.closed)
            .ok_or(STATUS_PORT_DISCONNECTED)?;
        if state.clients.len() >= server.max_connections {
            return Err(STATUS_CONNECTION_COUNT_LIMIT);
        }
        let (connect, cookie) = (server.connect, server.cookie);
        Ok((new_handle(&mut state), connect, cookie))
    })?;
    let mut connection: *mut c_void = ptr::null_mut();
    // SAFETY: the driver's connect callback, with a fresh port and a writable cookie.
    let status = call_driver("connect callback", || unsafe {
        connect(
            handle.as_ptr(),
            without_provenance_mut(cookie),
            ptr::null_mut(),
            0,
            &raw mut connection,
        )
    });
    if status < 0 {
        return Err(status);
    }
    as_kernel(|| state().clients.insert(handle, Cookie(connection)));
    Ok(handle)
}

/// A message from `client` (`FilterSendMessage`): the status and the bytes the driver said it
/// wrote. `fault_after` makes the input buffer fault after that many bytes.
pub fn send(
    client: Handle,
    input: &[u8],
    output: &mut [u8],
    fault_after: Option<usize>,
) -> (i32, u32) {
    let found = as_kernel(|| {
        let state = state();
        let cookie = *state.clients.get(&client)?;
        Some((cookie, state.server.as_ref()?.message?))
    });
    let Some((cookie, message)) = found else {
        return (STATUS_PORT_DISCONNECTED, 0);
    };
    let mut input = input.to_vec();
    let buffers = [
        UserBuffer {
            start: input.as_ptr().addr(),
            len: input.len(),
            fault_after,
        },
        UserBuffer {
            start: output.as_ptr().addr(),
            len: output.len(),
            fault_after: None,
        },
    ];
    let mut returned = 0_u32;
    let (input_length, output_length) = (
        u32::try_from(input.len()).unwrap_or(u32::MAX),
        u32::try_from(output.len()).unwrap_or(u32::MAX),
    );
    let status = with_user_buffers(&buffers, || {
        // SAFETY: the driver's message callback with this connection's cookie and the buffers
        // mapped for the call.
        call_driver("message callback", || unsafe {
            message(
                cookie.0,
                input.as_mut_ptr().cast(),
                input_length,
                output.as_mut_ptr().cast(),
                output_length,
                &raw mut returned,
            )
        })
    });
    (status, returned)
}

/// The client closes its handle: Filter Manager calls the disconnect callback, which must close
/// the client port.
pub fn disconnect(client: Handle) {
    let found = as_kernel(|| {
        let state = state();
        Some((
            *state.clients.get(&client)?,
            state.server.as_ref()?.disconnect,
        ))
    });
    let Some((cookie, disconnect)) = found else {
        return;
    };
    // SAFETY: the driver's disconnect callback with the cookie it gave at connect.
    call_driver("disconnect callback", || unsafe { disconnect(cookie.0) });
    if as_kernel(|| state().clients.contains_key(&client)) {
        violation(
            "disconnect callback",
            "returned without closing its client port",
        );
    }
}

/// An `IRP_MJ_CREATE` by process `pid` reaches the pre-operation callback: its status.
pub fn create(pid: u32) -> Option<i32> {
    let pre_create = as_kernel(|| {
        let state = state();
        let filter = state
            .filter
            .as_ref()
            .filter(|f| f.started && !f.unregistered)?;
        filter.pre_create
    })?;
    let mut data = pid;
    let mut context: *mut c_void = ptr::null_mut();
    // SAFETY: the driver's pre-operation callback with stand-in callback data.
    Some(call_driver("pre-create callback", || unsafe {
        pre_create((&raw mut data).cast(), ptr::null(), &raw mut context)
    }))
}

/// `fltmc unload`: the unload callback with `flags`. A success must leave the filter
/// unregistered; a mandatory unload may not be refused.
pub fn unload(flags: u32) -> i32 {
    let Some(unload) = as_kernel(|| state().filter.as_ref().and_then(|f| f.unload)) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: the driver's unload callback.
    let status = call_driver("unload callback", || unsafe { unload(flags) });
    let unregistered = as_kernel(|| state().filter.as_ref().is_some_and(|f| f.unregistered));
    if status >= 0 && !unregistered {
        violation("unload callback", "succeeded without FltUnregisterFilter");
    }
    if status < 0 && flags & UNLOAD_MANDATORY != 0 {
        violation(
            "unload callback",
            format_args!("refused a mandatory unload ({status:#x})"),
        );
    }
    status
}
