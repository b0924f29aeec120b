//! System threads, handles and object references: `PsCreateSystemThread`,
//! `PsTerminateSystemThread`, `ObReferenceObjectByHandle`, `ObfDereferenceObject`, `ZwClose`.
//!
//! A system thread is a std thread running the driver's start routine as driver code. Its
//! object is a dispatcher object (signalled when the thread ends) with a reference count: one
//! reference for the running thread, one for the handle, one for each
//! `ObReferenceObjectByHandle`. At the thread's end its critical-region depth must be 0. The
//! balance check at unload lists handles still open and references the driver still holds.

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::books::violation;
use crate::context::{
    as_driver, as_kernel, critical_region_depth, set_thread_object, thread_object,
};
use crate::dispatcher::{self, STATUS_SUCCESS, THREAD_OBJECT_TYPE};

const STATUS_INVALID_HANDLE: i32 = 0xC000_0008_u32.cast_signed();
const STATUS_OBJECT_TYPE_MISMATCH: i32 = 0xC000_0024_u32.cast_signed();
/// `OBJ_KERNEL_HANDLE`.
const OBJ_KERNEL_HANDLE: u32 = 0x200;

/// An object type: only its address matters (the name is for a debugger).
pub struct ObjectType {
    _name: &'static str,
}

/// The thread type object `PsThreadType` points at.
static THREAD_TYPE: ObjectType = ObjectType { _name: "Thread" };

/// `PsThreadType`: a pointer to the thread object type.
#[repr(transparent)]
pub struct ObjectTypePointer(*const ObjectType);

// SAFETY: a constant pointer to an immutable static.
unsafe impl Sync for ObjectTypePointer {}

/// `POBJECT_TYPE *PsThreadType` (a data export).
#[unsafe(no_mangle)]
pub static PsThreadType: ObjectTypePointer = ObjectTypePointer(&raw const THREAD_TYPE);

/// `*PsThreadType` for the driver under Miri, which cannot read an imported static.
#[cfg(miri)]
#[unsafe(no_mangle)]
pub extern "system" fn pushlock_kernel_thread_type() -> *mut c_void {
    PsThreadType.0.cast_mut().cast()
}
const STATUS_INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32.cast_signed();

/// A thread object: a dispatcher header first (in a cell: the dispatcher changes its state
/// atomically while other threads hold references to the object), then the reference count.
#[repr(C, align(16))]
struct ThreadObject {
    header: UnsafeCell<[u8; 24]>,
    references: AtomicUsize,
    running: AtomicBool,
    number: usize,
}

/// A pointer the tables keep; objects are only touched through atomics or under the tables'
/// lock.
#[derive(Clone, Copy)]
struct Object(*mut ThreadObject);

// SAFETY: see `Object`: every access synchronises.
unsafe impl Send for Object {}

#[derive(Default)]
struct Tables {
    handles: BTreeMap<usize, Object>,
    objects: BTreeMap<usize, Object>,
    next_handle: usize,
    threads_started: usize,
}

static TABLES: Mutex<Tables> = Mutex::new(Tables {
    handles: BTreeMap::new(),
    objects: BTreeMap::new(),
    next_handle: 0x1000,
    threads_started: 0,
});
static FAIL_THREAD_START: AtomicI32 = AtomicI32::new(0);
static FAIL_REFERENCE: AtomicI32 = AtomicI32::new(0);

fn tables() -> MutexGuard<'static, Tables> {
    TABLES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes the next `PsCreateSystemThread` calls fail with `status` (0: succeed).
pub fn fail_thread_start(status: i32) {
    FAIL_THREAD_START.store(status, SeqCst);
}

/// Makes the next `ObReferenceObjectByHandle` calls fail with `status` (0: succeed).
pub fn fail_reference(status: i32) {
    FAIL_REFERENCE.store(status, SeqCst);
}

/// Drops one reference; the last one frees the object.
/// Drops one reference (the thread's own, if `thread_ended`: it stops counting as running in
/// the same step, so [`unbalanced`] never sees one without the other); the last one frees the
/// object.
fn dereference(object: Object, thread_ended: bool) {
    let mut tables = as_kernel(tables);
    // SAFETY: a live object: the caller owns one of its references.
    let thread = unsafe { &*object.0 };
    if thread_ended {
        thread.running.store(false, SeqCst);
    }
    if thread.references.fetch_sub(1, SeqCst) == 1 {
        tables.objects.remove(&object.0.addr());
        drop(tables);
        dispatcher::unregister(object.0.cast());
        // SAFETY: allocated by `Box` in `PsCreateSystemThread`; the last reference is gone.
        drop(unsafe { Box::from_raw(object.0) });
    }
}

type StartRoutine = unsafe extern "system" fn(context: *mut c_void);

/// The start routine's context, carried to the new thread.
struct Start(StartRoutine, *mut c_void, Object);

// SAFETY: the context belongs to the new thread from here on (`PsCreateSystemThread`'s contract).
unsafe impl Send for Start {}

/// `PsCreateSystemThread`: the thread runs `start(context)` as driver code.
///
/// # Safety
/// `handle` is writable; `start` and `context` are the driver's.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PsCreateSystemThread(
    handle: *mut *mut c_void,
    _desired_access: u32,
    attributes: *const c_void,
    process: *mut c_void,
    _client_id: *mut c_void,
    start: StartRoutine,
    context: *mut c_void,
) -> i32 {
    let failure = FAIL_THREAD_START.load(SeqCst);
    if failure != 0 {
        return failure;
    }
    if !process.is_null() {
        violation(
            "PsCreateSystemThread",
            "a process handle: drivers create system threads",
        );
    }
    let flags = (!attributes.is_null()).then(|| {
        // SAFETY: `Attributes` (offset 24) of the caller's OBJECT_ATTRIBUTES.
        let field = unsafe { attributes.byte_add(24) };
        // SAFETY: as above, aligned.
        unsafe { field.cast::<u32>().read() }
    });
    if flags.is_none_or(|flags| flags & OBJ_KERNEL_HANDLE == 0) {
        violation(
            "PsCreateSystemThread",
            "no OBJ_KERNEL_HANDLE: from a message callback the handle lands in the client's process",
        );
    }
    as_kernel(|| {
        let mut tables = tables();
        tables.threads_started += 1;
        let mut header = [0_u8; 24];
        header[0] = THREAD_OBJECT_TYPE;
        let object = Object(Box::into_raw(Box::new(ThreadObject {
            header: UnsafeCell::new(header),
            references: AtomicUsize::new(2),
            running: AtomicBool::new(true),
            number: tables.threads_started,
        })));
        dispatcher::register(object.0.cast());
        let value = tables.next_handle;
        tables.next_handle += 4;
        tables.handles.insert(value, object);
        tables.objects.insert(object.0.addr(), object);
        let number = tables.threads_started;
        drop(tables);
        let body = Start(start, context, object);
        let spawned = std::thread::Builder::new()
            .name(format!("system thread {number}"))
            .spawn(move || run_system_thread(body));
        if spawned.is_err() {
            TABLES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .handles
                .remove(&value);
            dereference(object, false);
            dereference(object, true);
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        // SAFETY: writable (caller).
        unsafe { handle.write(std::ptr::without_provenance_mut(value)) };
        STATUS_SUCCESS
    })
}

#[allow(clippy::needless_pass_by_value, reason = "the thread owns its start")]
fn run_system_thread(body: Start) {
    let Start(start, context, object) = body;
    set_thread_object(object.0.addr());
    // SAFETY: the driver's start routine with its own context.
    as_driver(|| unsafe { start(context) });
    let depth = critical_region_depth();
    if depth != 0 {
        violation(
            "system thread exit",
            format_args!("{depth} critical regions still entered"),
        );
    }
    // The thread's own reference keeps the object alive while waiters are woken.
    dispatcher::set_signalled(object.0.cast());
    dereference(object, true);
}

/// `PsTerminateSystemThread`. The kernel does not return from it; here it returns into the
/// start routine, which must end right after (the driver's does: it is its last call).
#[unsafe(no_mangle)]
pub extern "system" fn PsTerminateSystemThread(_status: i32) -> i32 {
    if thread_object() == 0 {
        violation(
            "PsTerminateSystemThread",
            "called on a thread the driver did not create",
        );
    }
    STATUS_SUCCESS
}

/// `ObReferenceObjectByHandle`: a thread handle only.
///
/// # Safety
/// `object` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ObReferenceObjectByHandle(
    handle: *mut c_void,
    _desired_access: u32,
    object_type: *mut c_void,
    access_mode: i8,
    object: *mut *mut c_void,
    _handle_information: *mut c_void,
) -> i32 {
    let failure = FAIL_REFERENCE.load(SeqCst);
    if failure != 0 {
        return failure;
    }
    if object_type.is_null() {
        violation(
            "ObReferenceObjectByHandle",
            "no object type: any object behind the handle would do",
        );
    } else if object_type.cast_const().cast::<ObjectType>() != PsThreadType.0 {
        return STATUS_OBJECT_TYPE_MISMATCH;
    }
    if access_mode != 0 {
        violation(
            "ObReferenceObjectByHandle",
            "UserMode access to a kernel handle",
        );
    }
    let Some(found) = as_kernel(|| tables().handles.get(&handle.addr()).copied()) else {
        violation(
            "ObReferenceObjectByHandle",
            format_args!("{handle:p} is not a handle"),
        );
        return STATUS_INVALID_HANDLE;
    };
    // SAFETY: the handle holds a reference, so the object is live.
    unsafe { &(*found.0).references }.fetch_add(1, SeqCst);
    // SAFETY: writable (caller).
    unsafe { object.write(found.0.cast()) };
    STATUS_SUCCESS
}

/// `ObfDereferenceObject`: returns the references left.
#[unsafe(no_mangle)]
pub extern "system" fn ObfDereferenceObject(object: *mut c_void) -> isize {
    let Some(found) = as_kernel(|| tables().objects.get(&object.addr()).copied()) else {
        violation(
            "ObfDereferenceObject",
            format_args!("{object:p} is not a live object"),
        );
        return 0;
    };
    // SAFETY: listed, so live.
    let left = unsafe { &(*found.0).references }.load(SeqCst);
    dereference(found, false);
    isize::try_from(left).unwrap_or(isize::MAX) - 1
}

/// `ZwClose` of a thread handle.
#[unsafe(no_mangle)]
pub extern "system" fn ZwClose(handle: *mut c_void) -> i32 {
    let Some(found) = as_kernel(|| tables().handles.remove(&handle.addr())) else {
        violation("ZwClose", format_args!("{handle:p} is not an open handle"));
        return STATUS_INVALID_HANDLE;
    };
    dereference(found, false);
    STATUS_SUCCESS
}

/// Handles still open and object references the driver still holds, in words.
pub fn unbalanced() -> Vec<String> {
    as_kernel(|| {
        let tables = tables();
        let mut found: Vec<String> = tables
            .handles
            .keys()
            .map(|handle| format!("handle {handle:#x} still open"))
            .collect();
        for object in tables.objects.values() {
            // SAFETY: listed, so live.
            let thread = unsafe { &*object.0 };
            let kernel = usize::from(thread.running.load(SeqCst));
            let open = tables.handles.values().filter(|h| h.0 == object.0).count();
            let driver = thread.references.load(SeqCst) - kernel - open;
            if driver > 0 {
                found.push(format!(
                    "system thread {}: {driver} references still held",
                    thread.number
                ));
            }
        }
        found
    })
}

/// System threads started since the process began.
pub fn threads_started() -> usize {
    tables().threads_started
}

/// System threads still running driver code.
pub fn threads_running() -> usize {
    as_kernel(|| {
        tables()
            .objects
            .values()
            // SAFETY: listed, so live.
            .filter(|object| unsafe { &*object.0 }.running.load(SeqCst))
            .count()
    })
}
