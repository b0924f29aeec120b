//! Every struct the driver declares, compared field by field (offset and size) and as a whole
//! (size and alignment) with Microsoft's metadata-generated declarations in windows-sys, and
//! every constant compared by value. The driver's own files are compiled here as they are: the
//! test cannot drift from what ships. `x86_64` layouts are the same on Linux and Windows for
//! these types (fixed-width integers and pointers only).

#![allow(non_snake_case, reason = "the WDK's field names")]

#[path = "../../../src/ffi/types.rs"]
#[allow(
    dead_code,
    reason = "the driver's items; this test reads their layouts, not all values"
)]
mod ours;
#[path = "../../../crates/pushlock/src/platform/kernel_types.rs"]
#[allow(dead_code, reason = "as above")]
mod ours_dispatcher;

use core::mem::{align_of, offset_of, size_of};

use windows_sys::Wdk::Foundation as wdk;
use windows_sys::Wdk::Storage::FileSystem::Minifilters as flt;
use windows_sys::Wdk::System::SystemServices as sys;
use windows_sys::Win32::Foundation as win32;

/// Same size and alignment, and each named field at the same offset with the same size.
macro_rules! same_layout {
    ($ours:ty, $theirs:ty, [$($field:ident),* $(,)?]) => {{
        assert_eq!(size_of::<$ours>(), size_of::<$theirs>(), "size of {}", stringify!($ours));
        assert_eq!(align_of::<$ours>(), align_of::<$theirs>(), "alignment of {}", stringify!($ours));
        $(
            assert_eq!(
                offset_of!($ours, $field),
                offset_of!($theirs, $field),
                "offset of {}::{}", stringify!($ours), stringify!($field)
            );
            assert_eq!(
                field_size(|v: &$ours| &v.$field),
                field_size(|v: &$theirs| &v.$field),
                "size of {}::{}", stringify!($ours), stringify!($field)
            );
        )*
    }};
}

/// The size of the field a projection picks (never called: only its type matters).
const fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

#[test]
fn unicode_string() {
    same_layout!(
        ours::UNICODE_STRING,
        win32::UNICODE_STRING,
        [Length, MaximumLength, Buffer]
    );
}

#[test]
fn object_attributes() {
    same_layout!(
        ours::OBJECT_ATTRIBUTES,
        wdk::OBJECT_ATTRIBUTES,
        [
            Length,
            RootDirectory,
            ObjectName,
            Attributes,
            SecurityDescriptor,
            SecurityQualityOfService
        ]
    );
}

#[test]
fn flt_registration() {
    same_layout!(
        ours::FLT_REGISTRATION,
        flt::FLT_REGISTRATION,
        [
            Size,
            Version,
            Flags,
            ContextRegistration,
            OperationRegistration,
            FilterUnloadCallback,
            InstanceSetupCallback,
            InstanceQueryTeardownCallback,
            InstanceTeardownStartCallback,
            InstanceTeardownCompleteCallback,
            GenerateFileNameCallback,
            NormalizeNameComponentCallback,
            NormalizeContextCleanupCallback,
            TransactionNotificationCallback,
            NormalizeNameComponentExCallback,
            SectionNotificationCallback,
        ]
    );
}

#[test]
fn flt_operation_registration() {
    same_layout!(
        ours::FLT_OPERATION_REGISTRATION,
        flt::FLT_OPERATION_REGISTRATION,
        [MajorFunction, Flags, PreOperation, PostOperation, Reserved1]
    );
}

#[test]
fn client_id() {
    same_layout!(
        ours::CLIENT_ID,
        windows_sys::Win32::System::WindowsProgramming::CLIENT_ID,
        [UniqueProcess, UniqueThread]
    );
}

#[test]
fn rundown_ref() {
    // windows-sys names the union `Anonymous`; ours names its one member `Count`.
    assert_eq!(
        size_of::<ours::EX_RUNDOWN_REF>(),
        size_of::<sys::EX_RUNDOWN_REF>()
    );
    assert_eq!(
        align_of::<ours::EX_RUNDOWN_REF>(),
        align_of::<sys::EX_RUNDOWN_REF>()
    );
}

#[test]
fn kevent_and_dispatcher_header() {
    same_layout!(ours_dispatcher::KEVENT, wdk::KEVENT, [Header]);
    same_layout!(
        ours_dispatcher::DISPATCHER_HEADER,
        wdk::DISPATCHER_HEADER,
        [SignalState, WaitListHead]
    );
    assert_eq!(
        offset_of!(ours_dispatcher::DISPATCHER_HEADER, Lock),
        offset_of!(wdk::DISPATCHER_HEADER, Anonymous)
    );
    same_layout!(
        ours_dispatcher::LIST_ENTRY,
        windows_sys::Win32::System::Kernel::LIST_ENTRY,
        [Flink, Blink]
    );
}

#[test]
fn eresource_is_the_real_x64_size() {
    // windows-sys 0.61 declares ERESOURCE 8 bytes short (it misses the x64-only `Reserved2`
    // before `Address`), so its size cannot be the reference. The x64 layout is 0x68 bytes,
    // 8-aligned: pinned here, and larger than windows-sys's by exactly that pointer.
    assert_eq!(size_of::<ours::ERESOURCE>(), 0x68);
    assert_eq!(align_of::<ours::ERESOURCE>(), 8);
    assert_eq!(
        size_of::<ours::ERESOURCE>(),
        size_of::<wdk::ERESOURCE>() + size_of::<usize>()
    );
    assert_eq!(align_of::<ours::ERESOURCE>(), align_of::<wdk::ERESOURCE>());
}

#[test]
fn constants_match() {
    use windows_sys::Win32::Storage::FileSystem::{STANDARD_RIGHTS_ALL, SYNCHRONIZE};
    use windows_sys::Win32::System::Threading::{ALL_PROCESSOR_GROUPS, THREAD_ALL_ACCESS};

    assert_eq!(
        u32::from(ours::FLT_REGISTRATION_VERSION),
        flt::FLT_REGISTRATION_VERSION
    );
    assert_eq!(u32::from(ours::IRP_MJ_CREATE), sys::IRP_MJ_CREATE);
    assert_eq!(
        u16::from(ours::IRP_MJ_OPERATION_END),
        flt::IRP_MJ_OPERATION_END
    );
    assert_eq!(
        ours::FLT_PREOP_SUCCESS_NO_CALLBACK,
        flt::FLT_PREOP_SUCCESS_NO_CALLBACK
    );
    assert_eq!(
        ours::FLT_PORT_ALL_ACCESS,
        flt::FLT_PORT_CONNECT | STANDARD_RIGHTS_ALL
    );
    assert_eq!(ours::OBJ_CASE_INSENSITIVE, win32::OBJ_CASE_INSENSITIVE);
    assert_eq!(ours::OBJ_KERNEL_HANDLE, win32::OBJ_KERNEL_HANDLE);
    assert_eq!(ours::THREAD_ALL_ACCESS, THREAD_ALL_ACCESS);
    assert_eq!(ours::SYNCHRONIZE, SYNCHRONIZE);
    assert_eq!(ours::ALL_PROCESSOR_GROUPS, ALL_PROCESSOR_GROUPS);
    assert_eq!(i32::from(ours::KERNEL_MODE), sys::KernelMode);
    assert_eq!(ours::EXECUTIVE, sys::Executive);
    assert_eq!(ours::STATUS_SUCCESS, win32::STATUS_SUCCESS);
}

#[test]
fn callback_slots_are_pointer_sized_options() {
    // `Option<extern fn>` must be exactly a nullable pointer, as the C tables expect.
    assert_eq!(
        size_of::<Option<ours::PreOperationCallback>>(),
        size_of::<usize>()
    );
    assert_eq!(
        size_of::<Option<ours::FilterUnloadCallback>>(),
        size_of::<usize>()
    );
    assert_eq!(size_of::<Option<ours::MessageNotify>>(), size_of::<usize>());
}
