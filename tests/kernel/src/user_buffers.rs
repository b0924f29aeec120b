//! The two routines of the driver's SEH shim (`src/user_buffer.c` on Windows), which copy
//! between kernel memory and the raw user buffers of a message callback.
//!
//! Here the "user buffers" are the ones Filter Manager's stand-in passed to the callback: a copy
//! from anywhere else is a violation. A fault plan can make a buffer fault part-way: the copy
//! stops there and the routine returns `STATUS_ACCESS_VIOLATION`, as the `__except` block does.

use std::ffi::c_void;
use std::sync::{Mutex, PoisonError};

use crate::books::violation;
use crate::context::as_kernel;

/// What the shim returns when a user buffer faults.
pub const STATUS_ACCESS_VIOLATION: i32 = 0xC000_0005_u32.cast_signed();

/// A user buffer of the message in flight.
#[derive(Clone, Copy)]
pub struct UserBuffer {
    pub start: usize,
    pub len: usize,
    /// Bytes readable before the fault, if it faults.
    pub fault_after: Option<usize>,
}

static BUFFERS: Mutex<Vec<UserBuffer>> = Mutex::new(Vec::new());

/// Runs `f` with `buffers` mapped as the message's user buffers.
pub fn with_user_buffers<R>(buffers: &[UserBuffer], f: impl FnOnce() -> R) -> R {
    as_kernel(|| {
        BUFFERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buffers);
    });
    let result = f();
    as_kernel(|| {
        BUFFERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|b| !buffers.iter().any(|m| m.start == b.start));
    });
    result
}

/// How many of `len` bytes at `start` can be touched, or `None` if the range is not user memory.
fn readable(routine: &str, start: usize, len: usize) -> Option<usize> {
    let found = as_kernel(|| {
        BUFFERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|b| b.start <= start && start + len <= b.start + b.len)
            .copied()
    });
    let Some(buffer) = found else {
        violation(
            routine,
            format_args!("{start:#x}+{len} is not a user buffer of the message"),
        );
        return None;
    };
    let offset = start - buffer.start;
    Some(
        buffer
            .fault_after
            .map_or(len, |after| after.saturating_sub(offset).min(len)),
    )
}

/// Copies `length` bytes from a user buffer.
///
/// # Safety
/// `destination` holds `length` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pushlock_copy_from_user(
    destination: *mut u8,
    user_source: *const c_void,
    length: usize,
) -> i32 {
    let Some(ok) = readable("pushlock_copy_from_user", user_source.addr(), length) else {
        return STATUS_ACCESS_VIOLATION;
    };
    // SAFETY: `ok` bytes of a mapped user buffer into the caller's kernel buffer.
    unsafe { std::ptr::copy_nonoverlapping(user_source.cast::<u8>(), destination, ok) };
    if ok < length {
        STATUS_ACCESS_VIOLATION
    } else {
        0
    }
}

/// Copies `length` bytes to a user buffer.
///
/// # Safety
/// `source` holds `length` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pushlock_copy_to_user(
    user_destination: *mut c_void,
    source: *const u8,
    length: usize,
) -> i32 {
    let Some(ok) = readable("pushlock_copy_to_user", user_destination.addr(), length) else {
        return STATUS_ACCESS_VIOLATION;
    };
    // SAFETY: `ok` bytes from the caller's kernel buffer into a mapped user buffer.
    unsafe { std::ptr::copy_nonoverlapping(source, user_destination.cast::<u8>(), ok) };
    if ok < length {
        STATUS_ACCESS_VIOLATION
    } else {
        0
    }
}
