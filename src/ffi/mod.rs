//! Kernel and Filter Manager routines, declared by this driver and imported by name
//! (raw-dylib) from the module that exports each. Every name here is on the allow-list that
//! `tests/image` checks the built `.sys` against, with its documentation link. In the host lane
//! the same declarations link against `tests/kernel`, which defines every one of them.
#![allow(non_snake_case, reason = "the WDK's own names")]

mod types;

use core::ffi::c_void;

pub use types::*;

#[cfg_attr(
    windows,
    link(name = "fltmgr.sys", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    pub fn FltRegisterFilter(
        driver: PDRIVER_OBJECT,
        registration: *const FLT_REGISTRATION,
        filter: *mut PFLT_OBJECT,
    ) -> NTSTATUS;
    pub fn FltStartFiltering(filter: PFLT_OBJECT) -> NTSTATUS;
    pub fn FltUnregisterFilter(filter: PFLT_OBJECT);
    pub fn FltBuildDefaultSecurityDescriptor(
        descriptor: *mut PSECURITY_DESCRIPTOR,
        desired_access: u32,
    ) -> NTSTATUS;
    pub fn FltFreeSecurityDescriptor(descriptor: PSECURITY_DESCRIPTOR);
    pub fn FltCreateCommunicationPort(
        filter: PFLT_OBJECT,
        server_port: *mut PFLT_OBJECT,
        attributes: *const OBJECT_ATTRIBUTES,
        server_port_cookie: *mut c_void,
        connect: ConnectNotify,
        disconnect: DisconnectNotify,
        message: Option<MessageNotify>,
        max_connections: i32,
    ) -> NTSTATUS;
    pub fn FltCloseCommunicationPort(server_port: PFLT_OBJECT);
    /// Closes the client port and sets `*client_port` to null.
    pub fn FltCloseClientPort(filter: PFLT_OBJECT, client_port: *mut PFLT_OBJECT);
    pub fn FltGetRequestorProcessId(data: PFLT_CALLBACK_DATA) -> u32;
    pub fn FltInitializePushLock(lock: *mut usize);
    pub fn FltDeletePushLock(lock: *mut usize);
    pub fn FltAcquirePushLockExclusive(lock: *mut usize);
    pub fn FltAcquirePushLockShared(lock: *mut usize);
    pub fn FltReleasePushLock(lock: *mut usize);
}

#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    pub fn ExInitializeRundownProtection(rundown: *mut EX_RUNDOWN_REF);
    pub fn ExAcquireRundownProtection(rundown: *mut EX_RUNDOWN_REF) -> u8;
    pub fn ExReleaseRundownProtection(rundown: *mut EX_RUNDOWN_REF);
    pub fn ExWaitForRundownProtectionRelease(rundown: *mut EX_RUNDOWN_REF);
    pub fn ExAllocatePool2(flags: u64, bytes: usize, tag: u32) -> *mut c_void;
    pub fn ExFreePoolWithTag(pool: *mut c_void, tag: u32);
    pub fn PsCreateSystemThread(
        thread: *mut HANDLE,
        desired_access: u32,
        attributes: *const OBJECT_ATTRIBUTES,
        process: HANDLE,
        client_id: *mut CLIENT_ID,
        start: StartRoutine,
        context: *mut c_void,
    ) -> NTSTATUS;
    pub fn PsTerminateSystemThread(status: NTSTATUS) -> NTSTATUS;
    pub fn ObReferenceObjectByHandle(
        handle: HANDLE,
        desired_access: u32,
        object_type: *mut c_void,
        access_mode: i8,
        object: *mut *mut c_void,
        handle_information: *mut c_void,
    ) -> NTSTATUS;
    pub fn ObfDereferenceObject(object: *mut c_void) -> isize;
    /// `POBJECT_TYPE *PsThreadType`: the thread object type, for `ObReferenceObjectByHandle`.
    static PsThreadType: *mut c_void;
    pub fn ZwClose(handle: HANDLE) -> NTSTATUS;
    pub fn KeWaitForSingleObject(
        object: *mut c_void,
        wait_reason: i32,
        wait_mode: i8,
        alertable: u8,
        timeout: *const i64,
    ) -> NTSTATUS;
    pub fn KeQueryActiveProcessorCountEx(group: u16) -> u32;
    pub fn KeDelayExecutionThread(wait_mode: i8, alertable: u8, interval: *const i64) -> NTSTATUS;
    pub fn KeAreApcsDisabled() -> u8;
    pub fn KeEnterCriticalRegion();
    pub fn KeLeaveCriticalRegion();
    pub fn ExInitializeResourceLite(resource: *mut ERESOURCE) -> NTSTATUS;
    pub fn ExAcquireResourceExclusiveLite(resource: *mut ERESOURCE, wait: u8) -> u8;
    pub fn ExAcquireResourceSharedLite(resource: *mut ERESOURCE, wait: u8) -> u8;
    pub fn ExReleaseResourceLite(resource: *mut ERESOURCE);
    pub fn ExDeleteResourceLite(resource: *mut ERESOURCE) -> NTSTATUS;
}

#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "C" {
    /// `DbgPrintEx`: variadic, so cdecl.
    pub fn DbgPrintEx(component: u32, level: u32, format: *const u8, ...) -> u32;
}

#[cfg_attr(
    windows,
    link(name = "hal.dll", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    pub fn KeQueryPerformanceCounter(frequency: *mut i64) -> i64;
}

/// `*PsThreadType`, the thread object type.
pub fn thread_object_type() -> *mut c_void {
    #[cfg(not(miri))]
    {
        // SAFETY: an exported, initialised kernel variable, never written after boot.
        unsafe { PsThreadType }
    }
    // Miri cannot read an imported static: in the host lane under Miri, the user-mode kernel
    // hands the same value over through a function.
    #[cfg(miri)]
    {
        unsafe extern "system" {
            fn pushlock_kernel_thread_type() -> *mut c_void;
        }
        // SAFETY: defined by the user-mode kernel; no arguments.
        unsafe { pushlock_kernel_thread_type() }
    }
}

// The SEH shim (`src/user_buffer.c`): copies to and from user-mode buffers inside
// `__try`/`__except`, which Rust cannot express.
unsafe extern "C" {
    pub fn pushlock_copy_from_user(
        destination: *mut u8,
        user_source: *const c_void,
        length: usize,
    ) -> NTSTATUS;
    pub fn pushlock_copy_to_user(
        user_destination: *mut c_void,
        source: *const u8,
        length: usize,
    ) -> NTSTATUS;
}
