//! The dispatcher types the kernel platform embeds in its wait blocks. Self-contained on purpose:
//! the driver's `tests/abi` compiles this very file and compares the layouts with windows-sys.
#![allow(
    non_camel_case_types,
    non_snake_case,
    clippy::upper_case_acronyms,
    reason = "the WDK's own names"
)]

/// `LIST_ENTRY`.
#[repr(C)]
pub struct LIST_ENTRY {
    /// Next entry.
    pub Flink: *mut Self,
    /// Previous entry.
    pub Blink: *mut Self,
}

/// `DISPATCHER_HEADER`, reduced to what fixes its layout (24 bytes, 8-aligned on x64): the
/// first 32 bits are a union of type/lock fields that only the kernel interprets.
#[repr(C)]
pub struct DISPATCHER_HEADER {
    /// The union `Lock` / `Type`, `Signalling`, `Size`, `Reserved1`.
    pub Lock: i32,
    /// Signal state.
    pub SignalState: i32,
    /// Threads waiting on the object.
    pub WaitListHead: LIST_ENTRY,
}

/// `KEVENT`.
#[repr(C)]
pub struct KEVENT {
    /// The dispatcher header; an event has nothing else.
    pub Header: DISPATCHER_HEADER,
}
