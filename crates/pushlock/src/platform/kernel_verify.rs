//! The verifier's hooks in the kernel: the thread is its `KTHREAD`, tables live in non-paged
//! pool tagged `PlkR`, and a violation is printed with `DbgPrintEx` line by line, then stops the
//! system with bug check `PLCK` (0x504C434B) and the report's parameters.
#![allow(non_snake_case)]

use core::ffi::c_void;
use core::fmt::{self, Write as _};

use super::PoolTag;
use super::kernel::{INVALID_PUSH_LOCK_FLAGS, PUSHLOCK_MISUSE};
use crate::Misuse;
use crate::verify::{Report, Violation};

/// Pool tag of the verifier's tables.
pub const TAG: PoolTag = PoolTag(*b"PlkR");
/// `DPFLTR_IHVDRIVER_ID`, `DPFLTR_ERROR_LEVEL`.
const IHV_DRIVER: u32 = 77;
const ERROR_LEVEL: u32 = 0;
/// `APC_LEVEL`.
const APC_LEVEL: u8 = 1;

#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "system" {
    fn KeGetCurrentThread() -> *mut c_void;
    fn KeAreApcsDisabled() -> u8;
    fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> !;
}

#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "C" {
    fn DbgPrintEx(component: u32, level: u32, format: *const u8, ...) -> u32;
}

// Off Windows (the driver's host lane) the user-mode kernel supplies the IRQL; on x64 Windows
// it is the CR8 register, which `KeGetCurrentIrql` reads inline (it is no export).
#[cfg(not(windows))]
unsafe extern "system" {
    fn KeGetCurrentIrql() -> u8;
}

/// The current IRQL.
fn current_irql() -> u8 {
    #[cfg(windows)]
    {
        let irql: u64;
        // SAFETY: reading CR8 is allowed at ring 0, has no side effects, touches no memory.
        unsafe { core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack)) };
        // CR8 holds the IRQL in its low four bits.
        (irql & 0xF) as u8
    }
    #[cfg(not(windows))]
    // SAFETY: callable at any IRQL; no arguments.
    unsafe {
        KeGetCurrentIrql()
    }
}

pub fn current_thread() -> usize {
    // SAFETY: callable at any IRQL.
    unsafe { KeGetCurrentThread() }.addr()
}

pub fn irql_above_apc_level() -> Option<u8> {
    let irql = current_irql();
    (irql > APC_LEVEL).then_some(irql)
}

pub fn apcs_disabled() -> bool {
    // SAFETY: callable at any IRQL.
    unsafe { KeAreApcsDisabled() != 0 }
}

/// Prints the report, a line per `DbgPrintEx`, then stops the system.
pub fn violation(report: &Report<'_>) -> ! {
    let mut printer = LinePrinter::default();
    // A failed write only cuts the print short; the bug check below carries the essentials.
    let _ = write!(printer, "{report}");
    printer.flush();
    let [kind, lock, detail, thread] = report.parameters();
    let (code, parameters) = match report.violation() {
        // Bad flags keep the kernel's own bug check: 1 the flags, 2 the lock.
        Violation::Misuse(Misuse::InvalidFlags(_)) => {
            (INVALID_PUSH_LOCK_FLAGS, [detail, lock, 0, 0])
        }
        _ => (PUSHLOCK_MISUSE, [kind, lock, detail, thread]),
    };
    let [p1, p2, p3, p4] = parameters;
    // SAFETY: stops the system with a documented code: a lock contract was broken.
    unsafe { KeBugCheckEx(code, p1, p2, p3, p4) }
}

/// Buffers text and prints it a line at a time (`DbgPrintEx` truncates long strings).
struct LinePrinter {
    line: [u8; 160],
    len: usize,
}

impl Default for LinePrinter {
    fn default() -> Self {
        Self {
            line: [0; 160],
            len: 0,
        }
    }
}

impl LinePrinter {
    fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        if let Some(end) = self.line.get_mut(self.len) {
            *end = 0;
        }
        // SAFETY: a NUL-terminated "%s" format and a NUL-terminated line (the buffer keeps a
        // byte for the NUL: `write_str` flushes before `len` reaches the last byte).
        unsafe {
            DbgPrintEx(
                IHV_DRIVER,
                ERROR_LEVEL,
                c"%s".as_ptr().cast(),
                self.line.as_ptr(),
            );
        }
        self.len = 0;
    }
}

impl fmt::Write for LinePrinter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            // A NUL inside the text would cut the line short: print it as '?'.
            let byte = if byte == 0 { b'?' } else { byte };
            if let Some(slot) = self.line.get_mut(self.len) {
                *slot = byte;
                self.len = self.len.saturating_add(1);
            }
            if byte == b'\n' || self.len.saturating_add(1) >= self.line.len() {
                self.flush();
            }
        }
        Ok(())
    }
}
