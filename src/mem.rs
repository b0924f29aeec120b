//! `memcpy` and friends for the Linux lane: compiled code (ours, and the prebuilt `core` and
//! `alloc`) calls them, and a kernel image imports them from `ntoskrnl.exe` (the WDK lane links
//! them from `ntoskrnl.lib`).

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    #[allow(dead_code, reason = "called by compiler-generated code")]
    fn memcpy(destination: *mut u8, source: *const u8, count: usize) -> *mut u8;
    #[allow(dead_code, reason = "called by compiler-generated code")]
    fn memmove(destination: *mut u8, source: *const u8, count: usize) -> *mut u8;
    #[allow(dead_code, reason = "called by compiler-generated code")]
    fn memset(destination: *mut u8, value: i32, count: usize) -> *mut u8;
    #[allow(dead_code, reason = "called by compiler-generated code")]
    fn memcmp(left: *const u8, right: *const u8, count: usize) -> i32;
    #[allow(
        dead_code,
        reason = "called by alloc's CString, linked in with its code unit"
    )]
    fn strlen(text: *const u8) -> usize;
}
