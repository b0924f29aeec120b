//! The verifier's hooks in user mode, shared by the platforms that run on `std` threads.

/// Zeroed memory from the global allocator.
pub fn allocate(layout: core::alloc::Layout) -> *mut u8 {
    if layout.size() == 0 {
        return core::ptr::null_mut();
    }
    // SAFETY: the size is not zero.
    unsafe { std::alloc::alloc_zeroed(layout) }
}

/// # Safety
/// `block` came from [`allocate`] with `layout`, and nothing uses it any more.
pub unsafe fn free(block: *mut u8, layout: core::alloc::Layout) {
    // SAFETY: forwarded from the caller.
    unsafe { std::alloc::dealloc(block, layout) };
}

/// User mode panics with the report where the kernel bug-checks.
pub fn violation(report: &crate::verify::Report<'_>) -> ! {
    panic!("{report}") // allowed: user mode panics where the kernel bug-checks
}
