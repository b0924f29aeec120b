//! The NTSTATUS values the server answers with, and their names for humans.
//!
//! Values are Microsoft's (checked against `windows-sys` by this crate's tests).
#![allow(
    clippy::cast_possible_wrap,
    reason = "NTSTATUS values are written as their bit patterns"
)]

/// The request was answered.
pub const SUCCESS: i32 = 0x0000_0000;
/// A scenario is already running (a warning-class status, as the kernel's).
pub const DEVICE_BUSY: i32 = 0x8000_0011_u32 as i32;
/// A length field disagrees with the bytes received, or a payload has the wrong size.
pub const INFO_LENGTH_MISMATCH: i32 = 0xC000_0004_u32 as i32;
/// Bad magic, a reserved field set, an unknown id or a value beyond a limit.
pub const INVALID_PARAMETER: i32 = 0xC000_000D_u32 as i32;
/// An unknown command.
pub const INVALID_DEVICE_REQUEST: i32 = 0xC000_0010_u32 as i32;
/// Access denied (port security: administrators and SYSTEM only).
pub const ACCESS_DENIED: i32 = 0xC000_0022_u32 as i32;
/// The output buffer cannot hold the reply; nothing was done.
pub const BUFFER_TOO_SMALL: i32 = 0xC000_0023_u32 as i32;
/// No such port: the driver is not loaded.
pub const OBJECT_NAME_NOT_FOUND: i32 = 0xC000_0034_u32 as i32;
/// The port was closed.
pub const PORT_DISCONNECTED: i32 = 0xC000_0037_u32 as i32;
/// The request's protocol version is not the server's.
pub const REVISION_MISMATCH: i32 = 0xC000_0059_u32 as i32;
/// The server could not start the run's threads.
pub const INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32 as i32;
/// The filter's policy has no lock yet (before the driver's load made it).
pub const DEVICE_NOT_READY: i32 = 0xC000_00A3_u32 as i32;
/// The lock kind is not available on this platform.
pub const NOT_SUPPORTED: i32 = 0xC000_00BB_u32 as i32;
/// Another client is already connected to the port.
pub const CONNECTION_COUNT_LIMIT: i32 = 0xC000_0246_u32 as i32;

/// Every status above with its name, for display.
pub const NAMES: [(i32, &str); 14] = [
    (SUCCESS, "STATUS_SUCCESS"),
    (DEVICE_BUSY, "STATUS_DEVICE_BUSY"),
    (INFO_LENGTH_MISMATCH, "STATUS_INFO_LENGTH_MISMATCH"),
    (INVALID_PARAMETER, "STATUS_INVALID_PARAMETER"),
    (INVALID_DEVICE_REQUEST, "STATUS_INVALID_DEVICE_REQUEST"),
    (ACCESS_DENIED, "STATUS_ACCESS_DENIED"),
    (BUFFER_TOO_SMALL, "STATUS_BUFFER_TOO_SMALL"),
    (OBJECT_NAME_NOT_FOUND, "STATUS_OBJECT_NAME_NOT_FOUND"),
    (PORT_DISCONNECTED, "STATUS_PORT_DISCONNECTED"),
    (REVISION_MISMATCH, "STATUS_REVISION_MISMATCH"),
    (INSUFFICIENT_RESOURCES, "STATUS_INSUFFICIENT_RESOURCES"),
    (DEVICE_NOT_READY, "STATUS_DEVICE_NOT_READY"),
    (NOT_SUPPORTED, "STATUS_NOT_SUPPORTED"),
    (CONNECTION_COUNT_LIMIT, "STATUS_CONNECTION_COUNT_LIMIT"),
];

/// The name of a status this protocol uses, if it is one.
#[must_use]
pub fn name(status: i32) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(value, _)| *value == status)
        .map(|(_, name)| *name)
}

/// The `HRESULT` that Win32 APIs such as `FilterSendMessage` report for an NTSTATUS
/// (`HRESULT_FROM_NT`: the status with `FACILITY_NT_BIT`, `0x1000_0000`, set).
#[must_use]
pub const fn hresult_from_nt(status: i32) -> i32 {
    status | 0x1000_0000
}

/// The NTSTATUS inside an `HRESULT_FROM_NT` value, if it is one.
#[must_use]
pub const fn nt_from_hresult(hresult: i32) -> Option<i32> {
    if hresult & 0x1000_0000 != 0 {
        Some(hresult & !0x1000_0000)
    } else {
        None
    }
}
