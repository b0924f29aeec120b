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
use std::ptr::without_provenance_mut;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::books::violation;
use crate::context::{as_driver, as_kernel, critical_region_depth, set_critical_region_depth};

mod callbacks;
mod ports;
mod registration;

pub use callbacks::{connect, create, disconnect, send, unload};

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
