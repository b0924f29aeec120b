//! The global allocator: nonpaged pool with this driver's own tag, so Driver Verifier's pool
//! tracking and `!poolused` attribute every byte to us (`PlkR`).
//!
//! `ExAllocatePool2` returns 16-byte aligned blocks below a page. Stricter alignments (the
//! workload engine's cache-line slots) get an over-allocation with the distance back to the
//! pool's block stored just below the aligned one. (A distance, not the pool's pointer: the
//! block is freed through the pointer `dealloc` is given, never through one kept in memory,
//! which Miri's Tree Borrows rejects while that pointer is still in use by its `Box`.)
//! Requires Windows 10 version 2004 (`ExAllocatePool2`).

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;

use crate::ffi::{ExAllocatePool2, ExFreePoolWithTag, POOL_FLAG_NON_PAGED};

/// `PlkR` as `WinDbg` shows it.
pub const TAG: u32 = u32::from_le_bytes(*b"PlkR");
/// What the pool guarantees without help.
const POOL_ALIGN: usize = 16;

struct Pool;

/// Where an over-aligned block keeps its distance from the pool's block: the word just below.
#[allow(
    clippy::cast_ptr_alignment,
    reason = "over-aligned blocks are at least 32-aligned"
)]
const fn header(aligned: *mut u8) -> *mut usize {
    aligned.wrapping_sub(size_of::<usize>()).cast()
}

#[global_allocator]
static POOL: Pool = Pool;

// SAFETY: blocks come from the nonpaged pool, are at least `layout.size()` bytes and aligned to
// `layout.align()`; `dealloc` frees exactly what `alloc` handed out.
unsafe impl GlobalAlloc for Pool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= POOL_ALIGN {
            // SAFETY: a nonzero tag; the pool zeroes the block.
            return unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, layout.size(), TAG) }.cast();
        }
        // Room for the alignment slack and the original pointer in front of the block.
        let Some(bytes) = layout.size().checked_add(layout.align()) else {
            return ptr::null_mut();
        };
        // SAFETY: as above.
        let base: *mut u8 = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, bytes, TAG) }.cast();
        if base.is_null() {
            return base;
        }
        // The first aligned address at least one pointer past `base`: inside the block, since
        // `align > 16 >= size_of::<*mut u8>()`.
        let misalignment = base.addr() & layout.align().wrapping_sub(1);
        let offset = layout.align().wrapping_sub(misalignment);
        let aligned = base.wrapping_add(offset);
        // SAFETY: `aligned - 8` lies within the block (offset >= 16) and is 8-aligned
        // (`aligned` is at least 32-aligned).
        unsafe { header(aligned).write(offset) };
        aligned
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let base = if layout.align() <= POOL_ALIGN {
            block
        } else {
            // SAFETY: `alloc` stored the distance just below the aligned block.
            let offset = unsafe { header(block).read() };
            block.wrapping_sub(offset)
        };
        // SAFETY: `base` came from `ExAllocatePool2` with this tag.
        unsafe { ExFreePoolWithTag(base.cast::<c_void>(), TAG) };
    }
}
