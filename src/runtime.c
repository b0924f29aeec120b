/*
 * Symbols the prebuilt Rust core and alloc objects expect from a C runtime, which a kernel image
 * does not have. Neither is used at run time. Defined in C, not Rust, so that they stay out of
 * the driver's export table (rustc exports every #[no_mangle] item of a cdylib).
 *
 * __CxxFrameHandler3: the personality routine their unwind tables name (Rust's standard
 * libraries for *-windows-msvc are built to unwind; this driver aborts on panic). Should the
 * kernel ever dispatch an SEH exception through a Rust frame, the honest answer is
 * ExceptionContinueSearch (1): Rust frames handle no exceptions, so the search goes on to the
 * real handlers, or ends in a bug check. (windows-drivers-rs stubs it in wdk-sys, which this
 * driver does not use.)
 *
 * _fltused: the marker MSVC images define when code touches floating point. Only core's float
 * formatting refers to it; no code of this driver computes with or formats floats (the kernel
 * does not save FP state for it).
 */

int __CxxFrameHandler3(void)
{
    return 1; /* ExceptionContinueSearch */
}

int _fltused = 0;
