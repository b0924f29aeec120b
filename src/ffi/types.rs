//! The kernel and Filter Manager types the driver declares itself (no WDK headers, no wdk-sys).
//!
//! Self-contained on purpose: `tests/abi` compiles this very file and compares every layout,
//! field by field, with Microsoft's metadata-generated declarations in `windows-sys`.
#![allow(
    non_camel_case_types,
    non_snake_case,
    clippy::upper_case_acronyms,
    reason = "the WDK's own names"
)]

use core::ffi::c_void;

/// `NTSTATUS`.
pub type NTSTATUS = i32;
/// `HANDLE`.
pub type HANDLE = *mut c_void;
/// `PFLT_FILTER`, `PFLT_PORT`, `PFLT_INSTANCE`: opaque Filter Manager objects.
pub type PFLT_OBJECT = *mut c_void;
/// `PSECURITY_DESCRIPTOR`.
pub type PSECURITY_DESCRIPTOR = *mut c_void;
/// `PDRIVER_OBJECT` (opaque here).
pub type PDRIVER_OBJECT = *mut c_void;
/// `PFLT_CALLBACK_DATA` (opaque here).
pub type PFLT_CALLBACK_DATA = *mut c_void;
/// `PCFLT_RELATED_OBJECTS` (opaque here).
pub type PCFLT_RELATED_OBJECTS = *const c_void;

/// `UNICODE_STRING`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct UNICODE_STRING {
    /// Bytes in use, without a terminator.
    pub Length: u16,
    /// Bytes available.
    pub MaximumLength: u16,
    /// UTF-16 text.
    pub Buffer: *mut u16,
}

/// `OBJECT_ATTRIBUTES`.
#[repr(C)]
pub struct OBJECT_ATTRIBUTES {
    /// `size_of::<OBJECT_ATTRIBUTES>()`.
    pub Length: u32,
    /// Directory the name is relative to.
    pub RootDirectory: HANDLE,
    /// The object's name.
    pub ObjectName: *const UNICODE_STRING,
    /// `OBJ_*` flags.
    pub Attributes: u32,
    /// Security descriptor for a new object.
    pub SecurityDescriptor: PSECURITY_DESCRIPTOR,
    /// Quality of service (unused here).
    pub SecurityQualityOfService: *mut c_void,
}

/// `size_of::<OBJECT_ATTRIBUTES>()` as its `Length` wants it (48 bytes).
#[allow(clippy::cast_possible_truncation, reason = "48 bytes")]
pub const OBJECT_ATTRIBUTES_LENGTH: u32 = size_of::<OBJECT_ATTRIBUTES>() as u32;

/// `EX_RUNDOWN_REF`: a count of users that `ExWaitForRundownProtectionRelease` waits out.
#[repr(C)]
pub struct EX_RUNDOWN_REF {
    /// The union `Count` / `Ptr`.
    pub Count: usize,
}

/// `ERESOURCE`: opaque, 0x68 bytes and 8-aligned on x64, nonpaged. (windows-sys 0.61 declares
/// it 8 bytes short: it misses the x64-only `Reserved2`; `tests/abi` pins our size instead.)
#[repr(C, align(8))]
pub struct ERESOURCE {
    /// Storage only the kernel interprets.
    pub Opaque: [u8; 0x68],
}

/// `CLIENT_ID`.
#[repr(C)]
pub struct CLIENT_ID {
    /// Process id.
    pub UniqueProcess: HANDLE,
    /// Thread id.
    pub UniqueThread: HANDLE,
}

/// `PFLT_PRE_OPERATION_CALLBACK`.
pub type PreOperationCallback = unsafe extern "system" fn(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion_context: *mut *mut c_void,
) -> i32;
/// `PFLT_POST_OPERATION_CALLBACK` (unused: declared for the layout).
pub type PostOperationCallback = unsafe extern "system" fn(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion_context: *mut c_void,
    flags: u32,
) -> i32;
/// `PFLT_FILTER_UNLOAD_CALLBACK`.
pub type FilterUnloadCallback = unsafe extern "system" fn(flags: u32) -> NTSTATUS;
/// `PFLT_INSTANCE_QUERY_TEARDOWN_CALLBACK`.
pub type InstanceQueryTeardownCallback =
    unsafe extern "system" fn(objects: PCFLT_RELATED_OBJECTS, flags: u32) -> NTSTATUS;
/// `PFLT_CONNECT_NOTIFY`.
pub type ConnectNotify = unsafe extern "system" fn(
    client_port: PFLT_OBJECT,
    server_port_cookie: *mut c_void,
    connection_context: *mut c_void,
    size_of_context: u32,
    connection_port_cookie: *mut *mut c_void,
) -> NTSTATUS;
/// `PFLT_DISCONNECT_NOTIFY`.
pub type DisconnectNotify = unsafe extern "system" fn(connection_cookie: *mut c_void);
/// `PFLT_MESSAGE_NOTIFY`: the buffers are raw, unlocked user-mode pointers.
pub type MessageNotify = unsafe extern "system" fn(
    port_cookie: *mut c_void,
    input: *mut c_void,
    input_length: u32,
    output: *mut c_void,
    output_length: u32,
    return_output_length: *mut u32,
) -> NTSTATUS;
/// `PKSTART_ROUTINE` (windows-sys 0.61 declares it without the parameter).
pub type StartRoutine = unsafe extern "system" fn(start_context: *mut c_void);

/// `FLT_OPERATION_REGISTRATION`.
#[repr(C)]
pub struct FLT_OPERATION_REGISTRATION {
    /// `IRP_MJ_*`, or `IRP_MJ_OPERATION_END` to end the array.
    pub MajorFunction: u8,
    /// `FLTFL_OPERATION_REGISTRATION_*`.
    pub Flags: u32,
    /// Called before the operation.
    pub PreOperation: Option<PreOperationCallback>,
    /// Called after the operation.
    pub PostOperation: Option<PostOperationCallback>,
    /// Reserved, null.
    pub Reserved1: *mut c_void,
}

/// `FLT_REGISTRATION` (version 0x0203). Callbacks this driver does not use are null.
#[repr(C)]
pub struct FLT_REGISTRATION {
    /// `size_of::<FLT_REGISTRATION>()`.
    pub Size: u16,
    /// [`FLT_REGISTRATION_VERSION`].
    pub Version: u16,
    /// `FLTFL_REGISTRATION_*`.
    pub Flags: u32,
    /// Context types (none).
    pub ContextRegistration: *const c_void,
    /// The operations filtered, ending with `IRP_MJ_OPERATION_END`.
    pub OperationRegistration: *const FLT_OPERATION_REGISTRATION,
    /// Called before the filter is unloaded.
    pub FilterUnloadCallback: Option<FilterUnloadCallback>,
    /// Attach decisions (null: attach to every volume).
    pub InstanceSetupCallback: *const c_void,
    /// Manual detach (`fltmc detach`) asks here.
    pub InstanceQueryTeardownCallback: Option<InstanceQueryTeardownCallback>,
    /// Unused.
    pub InstanceTeardownStartCallback: *const c_void,
    /// Unused.
    pub InstanceTeardownCompleteCallback: *const c_void,
    /// Unused.
    pub GenerateFileNameCallback: *const c_void,
    /// Unused.
    pub NormalizeNameComponentCallback: *const c_void,
    /// Unused.
    pub NormalizeContextCleanupCallback: *const c_void,
    /// Unused.
    pub TransactionNotificationCallback: *const c_void,
    /// Unused.
    pub NormalizeNameComponentExCallback: *const c_void,
    /// Unused.
    pub SectionNotificationCallback: *const c_void,
}

/// The registration layout with `SectionNotificationCallback`.
pub const FLT_REGISTRATION_VERSION: u16 = 0x0203;
/// `IRP_MJ_CREATE`.
pub const IRP_MJ_CREATE: u8 = 0x00;
/// Ends an operation registration array.
pub const IRP_MJ_OPERATION_END: u8 = 0x80;
/// `FLT_PREOP_SUCCESS_NO_CALLBACK`: continue, no post-operation callback.
pub const FLT_PREOP_SUCCESS_NO_CALLBACK: i32 = 1;
/// `FLT_PORT_CONNECT | STANDARD_RIGHTS_ALL`.
pub const FLT_PORT_ALL_ACCESS: u32 = 0x001F_0001;
/// `OBJ_CASE_INSENSITIVE`.
pub const OBJ_CASE_INSENSITIVE: u32 = 0x40;
/// `OBJ_KERNEL_HANDLE`.
pub const OBJ_KERNEL_HANDLE: u32 = 0x200;
/// `THREAD_ALL_ACCESS`.
pub const THREAD_ALL_ACCESS: u32 = 0x001F_FFFF;
/// `SYNCHRONIZE`.
pub const SYNCHRONIZE: u32 = 0x0010_0000;
/// `POOL_FLAG_NON_PAGED`.
pub const POOL_FLAG_NON_PAGED: u64 = 0x40;
/// `KPROCESSOR_MODE::KernelMode`.
pub const KERNEL_MODE: i8 = 0;
/// `KWAIT_REASON::Executive`.
pub const EXECUTIVE: i32 = 0;
/// `ALL_PROCESSOR_GROUPS`.
pub const ALL_PROCESSOR_GROUPS: u16 = 0xFFFF;
/// `DPFLTR_IHVDRIVER_ID`: the debug-print component for third-party drivers.
pub const DPFLTR_IHVDRIVER_ID: u32 = 77;
/// `DPFLTR_ERROR_LEVEL`: always shown.
pub const DPFLTR_ERROR_LEVEL: u32 = 0;
/// `DPFLTR_INFO_LEVEL`.
pub const DPFLTR_INFO_LEVEL: u32 = 3;

/// `STATUS_SUCCESS`.
pub const STATUS_SUCCESS: NTSTATUS = 0;
/// `STATUS_TIMEOUT`: a wait's time ran out (a success code).
pub const STATUS_TIMEOUT: NTSTATUS = 0x102;
/// `STATUS_FLT_DO_NOT_DETACH`: a non-mandatory unload refused.
pub const STATUS_FLT_DO_NOT_DETACH: NTSTATUS = 0xC01C_0010_u32.cast_signed();
/// `FLTFL_FILTER_UNLOAD_MANDATORY`: the unload cannot be refused (`sc stop`); `fltmc unload`
/// leaves it clear.
pub const FLTFL_FILTER_UNLOAD_MANDATORY: u32 = 0x1;
