//! Safe wrappers over the SEH shim: copy a raw user-mode buffer into kernel memory and back.

use alloc::vec::Vec;
use core::ffi::c_void;

use crate::ffi::{self, NTSTATUS, STATUS_SUCCESS};

/// `STATUS_INSUFFICIENT_RESOURCES`.
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = 0xC000_009A_u32.cast_signed();

// Imported for the C shim, which calls them; Rust code does not. (The host lane has no shim:
// its kernel defines the two copy routines.)
#[cfg(windows)]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    #[allow(dead_code, reason = "called by user_buffer.c")]
    fn ProbeForRead(address: *const c_void, length: usize, alignment: u32);
    #[allow(dead_code, reason = "called by user_buffer.c")]
    fn ProbeForWrite(address: *mut c_void, length: usize, alignment: u32);
}
#[cfg(windows)]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    #[allow(
        dead_code,
        reason = "the language-specific handler of user_buffer.c's __try blocks"
    )]
    fn __C_specific_handler();
}

/// A zeroed kernel buffer of `length` bytes, or `STATUS_INSUFFICIENT_RESOURCES`.
pub fn kernel_buffer(length: usize) -> Result<Vec<u8>, NTSTATUS> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(length)
        .map_err(|_| STATUS_INSUFFICIENT_RESOURCES)?;
    buffer.resize(length, 0);
    Ok(buffer)
}

/// Copies `length` bytes of the user buffer at `user` into a new kernel buffer.
///
/// # Safety
/// `user` is the user-mode buffer Filter Manager passed with this `length`; the copy survives
/// the buffer being unmapped meanwhile (the shim returns the exception code).
pub unsafe fn capture(user: *const c_void, length: usize) -> Result<Vec<u8>, NTSTATUS> {
    let mut buffer = kernel_buffer(length)?;
    if length == 0 {
        return Ok(buffer);
    }
    // SAFETY: `buffer` holds `length` writable bytes; the shim probes and guards `user`.
    match unsafe { ffi::pushlock_copy_from_user(buffer.as_mut_ptr(), user, length) } {
        STATUS_SUCCESS => Ok(buffer),
        status => Err(status),
    }
}

/// Copies `data` to the user buffer at `user`.
///
/// # Safety
/// `user` is the user-mode output buffer Filter Manager passed, at least `data.len()` long.
pub unsafe fn publish(user: *mut c_void, data: &[u8]) -> Result<(), NTSTATUS> {
    if data.is_empty() {
        return Ok(());
    }
    // SAFETY: `data` is readable for its length; the shim probes and guards `user`.
    match unsafe { ffi::pushlock_copy_to_user(user, data.as_ptr(), data.len()) } {
        STATUS_SUCCESS => Ok(()),
        status => Err(status),
    }
}
