//! Filter Manager: registration, the communication port, and the callbacks it makes into the
//! driver — connect, message, disconnect, pre-create, unload — each called as driver code with
//! the critical-region depth checked at its return (`APC_INDEX_MISMATCH` otherwise).
//!
//! Argument rules checked (Filter Verifier's, in words): `FLT_REGISTRATION` version 0x0203 and
//! its size; one registration; every call names the registered filter (never NULL);
//! `FltCloseClientPort` gets the address of a variable holding a connected client port;
//! the server port is closed before `FltUnregisterFilter`; security descriptors are freed;
//! a disconnect callback closes its client port; a successful unload has unregistered.
//! `FltUnregisterFilter` calls the disconnect callback of every connected client from inside,
//! as Filter Manager does.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::ptr::{self, without_provenance_mut};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::books::violation;
use crate::context::{as_driver, as_kernel, critical_region_depth, set_critical_region_depth};
use crate::user_buffers::{UserBuffer, with_user_buffers};

const STATUS_SUCCESS: i32 = 0;
const STATUS_INVALID_PARAMETER: i32 = 0xC000_000D_u32.cast_signed();
const STATUS_PORT_DISCONNECTED: i32 = 0xC000_0037_u32.cast_signed();
const STATUS_CONNECTION_COUNT_LIMIT: i32 = 0xC000_0246_u32.cast_signed();
/// `FLTFL_FILTER_UNLOAD_MANDATORY`.
pub const UNLOAD_MANDATORY: u32 = 0x1;
const REGISTRATION_VERSION: u16 = 0x0203;
const REGISTRATION_SIZE: u16 = 112;
const OPERATION_SIZE: usize = 32;
const IRP_MJ_CREATE: u8 = 0;
const IRP_MJ_OPERATION_END: u8 = 0x80;

type UnloadCallback = unsafe extern "system" fn(flags: u32) -> i32;
type PreOperation = unsafe extern "system" fn(
    data: *mut c_void,
    objects: *const c_void,
    context: *mut *mut c_void,
) -> i32;
type ConnectCallback = unsafe extern "system" fn(
    client_port: *mut c_void,
    server_cookie: *mut c_void,
    context: *mut c_void,
    context_size: u32,
    connection_cookie: *mut *mut c_void,
) -> i32;
type DisconnectCallback = unsafe extern "system" fn(connection_cookie: *mut c_void);
type MessageCallback = unsafe extern "system" fn(
    port_cookie: *mut c_void,
    input: *mut c_void,
    input_length: u32,
    output: *mut c_void,
    output_length: u32,
    returned: *mut u32,
) -> i32;

/// A pointer-sized value the driver only passes back (a handle); never dereferenced here.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Handle(usize);

impl Handle {
    fn as_ptr(self) -> *mut c_void {
        without_provenance_mut(self.0)
    }
}

struct Filter {
    handle: Handle,
    unload: Option<UnloadCallback>,
    pre_create: Option<PreOperation>,
    started: bool,
    unregistered: bool,
}

struct Server {
    handle: Handle,
    cookie: usize,
    connect: ConnectCallback,
    disconnect: DisconnectCallback,
    message: Option<MessageCallback>,
    max_connections: usize,
    closed: bool,
}

/// The connection cookie the driver returned, kept as the driver's pointer.
#[derive(Clone, Copy)]
struct Cookie(*mut c_void);

// SAFETY: an opaque value of the driver's, handed back to its callbacks on any thread.
unsafe impl Send for Cookie {}

#[derive(Default)]
struct State {
    filter: Option<Filter>,
    server: Option<Server>,
    clients: BTreeMap<Handle, Cookie>,
    descriptors: BTreeSet<usize>,
    next: usize,
    failing: Option<(String, i32)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    filter: None,
    server: None,
    clients: BTreeMap::new(),
    descriptors: BTreeSet::new(),
    next: 0xF170_0000,
    failing: None,
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn new_handle(state: &mut State) -> Handle {
    state.next += 0x100;
    Handle(state.next)
}

/// Makes `routine` fail with `status` (a `DriverEntry` step), or no routine.
pub fn fail_routine(routine: Option<(&str, i32)>) {
    as_kernel(|| state().failing = routine.map(|(name, status)| (name.to_owned(), status)));
}

fn injected(routine: &str) -> Option<i32> {
    as_kernel(|| {
        state()
            .failing
            .as_ref()
            .filter(|(name, _)| name == routine)
            .map(|&(_, status)| status)
    })
}

/// The `T` at `offset` bytes into the structure at `base`.
///
/// # Safety
/// `base + offset` holds a readable, aligned `T`.
unsafe fn read_field<T>(base: *const c_void, offset: usize) -> T {
    // SAFETY: within the structure (caller).
    let field = unsafe { base.byte_add(offset) };
    // SAFETY: a readable, aligned `T` (caller).
    unsafe { field.cast::<T>().read() }
}

/// Whether `filter` is the registered filter; a violation of `routine`'s rule otherwise.
fn is_registered(state: &State, routine: &str, filter: *mut c_void) -> bool {
    if filter.is_null() {
        violation(routine, "the Filter parameter is NULL");
        return false;
    }
    let known = state
        .filter
        .as_ref()
        .is_some_and(|f| f.handle.0 == filter.addr());
    if !known {
        violation(
            routine,
            format_args!("{filter:p} is not the registered filter"),
        );
    }
    known
}

/// Calls into the driver as driver code; the callback must leave the critical-region depth as
/// it found it.
fn call_driver<R>(callback: &str, f: impl FnOnce() -> R) -> R {
    let before = critical_region_depth();
    let result = as_driver(f);
    let after = critical_region_depth();
    if after != before {
        violation(
            callback,
            format_args!(
                "returned at critical-region depth {after}, called at {before} (APC_INDEX_MISMATCH)"
            ),
        );
        set_critical_region_depth(before);
    }
    result
}

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

/// `FltGetRequestorProcessId`: the process id in the stand-in callback data.
///
/// # Safety
/// `data` is callback data from [`create`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FltGetRequestorProcessId(data: *mut c_void) -> u32 {
    // SAFETY: `create` passes a pointer to the id.
    unsafe { data.cast::<u32>().read() }
}

// -- Filter Manager calling the driver --------------------------------------------------------

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

/// What Filter Verifier would report left behind once the filter is gone.
pub fn leftovers() -> Vec<String> {
    as_kernel(|| {
        let state = state();
        let mut found: Vec<String> = state
            .descriptors
            .iter()
            .map(|d| format!("security descriptor {d:#x} not freed"))
            .collect();
        if state.server.as_ref().is_some_and(|s| !s.closed) {
            found.push(String::from("server port still open"));
        }
        found.extend(
            state
                .clients
                .keys()
                .map(|c| format!("client port {:#x} still open", c.0)),
        );
        if state.filter.as_ref().is_some_and(|f| !f.unregistered) {
            found.push(String::from("filter still registered"));
        }
        found
    })
}

/// Whether a filter is registered and not unregistered.
pub fn filter_registered() -> bool {
    as_kernel(|| state().filter.as_ref().is_some_and(|f| !f.unregistered))
}

/// Forgets the previous driver's registration (a new session).
pub fn reset() {
    as_kernel(|| {
        let mut state = state();
        state.filter = None;
        state.server = None;
        state.clients.clear();
        state.descriptors.clear();
        state.failing = None;
    });
}
