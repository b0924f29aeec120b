//! Debug output (`DbgPrintEx`, component `DPFLTR_IHVDRIVER_ID`): visible in `WinDbg` or `DebugView`.

use core::ffi::CStr;

use crate::ffi::{
    DPFLTR_ERROR_LEVEL, DPFLTR_IHVDRIVER_ID, DPFLTR_INFO_LEVEL, DbgPrintEx, NTSTATUS,
};

/// `pushlock_filter: <what> (0x<status>)` at error level.
pub fn error(what: &CStr, status: NTSTATUS) {
    // SAFETY: a NUL-terminated format with one %s (a C string) and one %08X (a 32-bit value).
    unsafe {
        DbgPrintEx(
            DPFLTR_IHVDRIVER_ID,
            DPFLTR_ERROR_LEVEL,
            c"pushlock_filter: %s (0x%08X)\n".as_ptr().cast(),
            what.as_ptr(),
            // %X reads an unsigned int: passing the signed status is undefined for a negative
            // (error) value, which is every status logged here.
            status.cast_unsigned(),
        )
    };
}

/// `pushlock_filter: <what>: <count>` at error level.
pub fn count(what: &CStr, count: u32) {
    // SAFETY: a NUL-terminated format with one %s (a C string) and one %u (a 32-bit value).
    unsafe {
        DbgPrintEx(
            DPFLTR_IHVDRIVER_ID,
            DPFLTR_ERROR_LEVEL,
            c"pushlock_filter: %s: %u\n".as_ptr().cast(),
            what.as_ptr(),
            count,
        )
    };
}

/// `pushlock_filter: <what>` at info level.
pub fn info(what: &CStr) {
    // SAFETY: a NUL-terminated format with one %s (a C string).
    unsafe {
        DbgPrintEx(
            DPFLTR_IHVDRIVER_ID,
            DPFLTR_INFO_LEVEL,
            c"pushlock_filter: %s\n".as_ptr().cast(),
            what.as_ptr(),
        )
    };
}
