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

/// The hooks every platform on `std` shares: tables from the global allocator, a panic with the
/// report. Used inside `unsafe impl Platform`.
macro_rules! std_verify_hooks {
    () => {
        fn allocate_verifier(layout: core::alloc::Layout) -> *mut u8 {
            super::std_verify::allocate(layout)
        }

        unsafe fn free_verifier(block: *mut u8, layout: core::alloc::Layout) {
            // SAFETY: forwarded from the caller.
            unsafe { super::std_verify::free(block, layout) };
        }

        fn violation(report: &crate::verify::Report<'_>) -> ! {
            super::std_verify::violation(report)
        }
    };
}
pub(super) use std_verify_hooks;
