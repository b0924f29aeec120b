//! The panic handler of the Linux lane. The WDK lane uses wdk-panic's, and this one behaves the
//! same way: bug check `0x52504E43` ("RPNC") with the location. No code path of this driver
//! should panic (the no-panic lints deny the usual causes); this is the backstop.

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> !;
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let (file, line, column) = info
        .location()
        .map_or(("", 0, 0), |l| (l.file(), l.line(), l.column()));
    // SAFETY: stops the system; the arguments are plain values.
    unsafe {
        KeBugCheckEx(
            u32::from_be_bytes(*b"RPNC"),
            file.as_ptr().addr(),
            file.len(),
            usize::try_from(line).unwrap_or(0),
            usize::try_from(column).unwrap_or(0),
        )
    }
}
