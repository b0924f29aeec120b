//! NTSTATUS and HRESULT values, named for humans.
//!
//! The port returns an HRESULT. How `FilterSendMessage` turns the driver's NTSTATUS into one is
//! not documented: both `HRESULT_FROM_NT` and the usual route through `RtlNtStatusToDosError`
//! and `HRESULT_FROM_WIN32` are decoded here (the Win32 equivalents below are that function's
//! documented mapping for the statuses the protocol uses; unverified without Windows).

use pushlock_protocol::status;

/// Win32 errors `RtlNtStatusToDosError` gives for the statuses the protocol uses.
const WIN32_EQUIVALENTS: [(u32, i32); 11] = [
    (1, status::INVALID_DEVICE_REQUEST),    // ERROR_INVALID_FUNCTION
    (2, status::OBJECT_NAME_NOT_FOUND),     // ERROR_FILE_NOT_FOUND
    (5, status::ACCESS_DENIED),             // ERROR_ACCESS_DENIED
    (24, status::INFO_LENGTH_MISMATCH),     // ERROR_BAD_LENGTH
    (50, status::NOT_SUPPORTED),            // ERROR_NOT_SUPPORTED
    (87, status::INVALID_PARAMETER),        // ERROR_INVALID_PARAMETER
    (122, status::BUFFER_TOO_SMALL),        // ERROR_INSUFFICIENT_BUFFER
    (170, status::DEVICE_BUSY),             // ERROR_BUSY
    (1238, status::CONNECTION_COUNT_LIMIT), // ERROR_CONNECTION_COUNT_LIMIT
    (1306, status::REVISION_MISMATCH),      // ERROR_REVISION_MISMATCH
    (1450, status::INSUFFICIENT_RESOURCES), // ERROR_NO_SYSTEM_RESOURCES
];

/// `FACILITY_WIN32` HRESULTs: `0x8007xxxx`.
const WIN32_FACILITY: u32 = 0x8007_0000;

/// `STATUS_NAME (0xC000000D)`, or just the hex for statuses the protocol does not use.
pub fn describe_nt(code: i32) -> String {
    let hex = code.cast_unsigned();
    status::name(code).map_or_else(
        || format!("NTSTATUS {hex:#010X}"),
        |name| format!("{name} ({hex:#010X})"),
    )
}

/// The HRESULT, and the NTSTATUS it most likely carries.
pub fn describe_hresult(hresult: i32) -> String {
    let hex = hresult.cast_unsigned();
    nt_status_of(hresult).map_or_else(
        || format!("HRESULT {hex:#010X}"),
        |code| format!("HRESULT {hex:#010X} = {}", describe_nt(code)),
    )
}

/// The protocol's NTSTATUS behind an HRESULT, by either route.
pub fn nt_status_of(hresult: i32) -> Option<i32> {
    if let Some(code) = status::nt_from_hresult(hresult) {
        return Some(code);
    }
    let bits = hresult.cast_unsigned();
    if bits & 0xFFFF_0000 != WIN32_FACILITY {
        return None;
    }
    let win32 = bits & 0xFFFF;
    WIN32_EQUIVALENTS
        .iter()
        .find(|(error, _)| *error == win32)
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_routes_decode_to_the_same_status() {
        let nt_route = status::hresult_from_nt(status::BUFFER_TOO_SMALL);
        assert_eq!(nt_status_of(nt_route), Some(status::BUFFER_TOO_SMALL));
        let win32_route = (WIN32_FACILITY | 0x7A).cast_signed();
        assert_eq!(nt_status_of(win32_route), Some(status::BUFFER_TOO_SMALL));
        assert_eq!(
            nt_status_of(0x8000_4005_u32.cast_signed()),
            None,
            "E_FAIL carries no status"
        );
        assert!(describe_hresult(win32_route).contains("STATUS_BUFFER_TOO_SMALL"));
        assert_eq!(describe_nt(0x1234), "NTSTATUS 0x00001234");
    }
}
