//! The file-system filter: registration, and the one operation it watches. Every
//! `IRP_MJ_CREATE` looks its requestor up in the policy set under our push lock, shared — a
//! read-mostly lock on a hot I/O path, which is what push locks are for. The callback takes the
//! lock for a scan of at most 64 ids and calls nothing that could re-enter the file system.

use core::ptr;

use crate::driver::DRIVER;
use crate::ffi::{
    FLT_OPERATION_REGISTRATION, FLT_PREOP_SUCCESS_NO_CALLBACK, FLT_REGISTRATION,
    FLT_REGISTRATION_VERSION, FltGetRequestorProcessId, IRP_MJ_CREATE, IRP_MJ_OPERATION_END,
    NTSTATUS, PCFLT_RELATED_OBJECTS, PFLT_CALLBACK_DATA, STATUS_SUCCESS,
};
use crate::verifier;

/// Statics Filter Manager reads: immutable after `DriverEntry`, hence `Sync`.
#[repr(transparent)]
pub struct Registration<T>(pub T);

// SAFETY: read-only tables of function pointers and pointers to other such tables.
unsafe impl<T> Sync for Registration<T> {}

static OPERATIONS: Registration<[FLT_OPERATION_REGISTRATION; 2]> = Registration([
    FLT_OPERATION_REGISTRATION {
        MajorFunction: IRP_MJ_CREATE,
        Flags: 0,
        PreOperation: Some(pre_create),
        PostOperation: None,
        Reserved1: ptr::null_mut(),
    },
    FLT_OPERATION_REGISTRATION {
        MajorFunction: IRP_MJ_OPERATION_END,
        Flags: 0,
        PreOperation: None,
        PostOperation: None,
        Reserved1: ptr::null_mut(),
    },
]);

/// `size_of::<FLT_REGISTRATION>()` as its `Size` wants it.
#[allow(clippy::cast_possible_truncation, reason = "112 bytes")]
const REGISTRATION_SIZE: u16 = size_of::<FLT_REGISTRATION>() as u16;

pub static REGISTRATION: Registration<FLT_REGISTRATION> = Registration(FLT_REGISTRATION {
    Size: REGISTRATION_SIZE,
    Version: FLT_REGISTRATION_VERSION,
    Flags: 0,
    ContextRegistration: ptr::null(),
    OperationRegistration: (&raw const OPERATIONS.0).cast(),
    FilterUnloadCallback: Some(crate::entry::unload),
    InstanceSetupCallback: ptr::null(),
    InstanceQueryTeardownCallback: Some(query_teardown),
    InstanceTeardownStartCallback: ptr::null(),
    InstanceTeardownCompleteCallback: ptr::null(),
    GenerateFileNameCallback: ptr::null(),
    NormalizeNameComponentCallback: ptr::null(),
    NormalizeContextCleanupCallback: ptr::null(),
    TransactionNotificationCallback: ptr::null(),
    NormalizeNameComponentExCallback: ptr::null(),
    SectionNotificationCallback: ptr::null(),
});

/// Counts the create, and whether its requestor is in the policy set.
unsafe extern "system" fn pre_create(
    data: PFLT_CALLBACK_DATA,
    _objects: PCFLT_RELATED_OBJECTS,
    _completion_context: *mut *mut core::ffi::c_void,
) -> i32 {
    // SAFETY: Filter Manager passes the operation's valid callback data.
    let pid = unsafe { FltGetRequestorProcessId(data) };
    DRIVER.policy.count_create(pid);
    verifier::pre_operation_returns();
    FLT_PREOP_SUCCESS_NO_CALLBACK
}

/// Lets `fltmc detach` remove an instance.
#[allow(
    clippy::missing_const_for_fn,
    reason = "called through a function pointer"
)]
unsafe extern "system" fn query_teardown(_objects: PCFLT_RELATED_OBJECTS, _flags: u32) -> NTSTATUS {
    STATUS_SUCCESS
}
