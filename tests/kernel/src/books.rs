//! What the checks found: rule violations (Driver Verifier's and Filter Verifier's, in words), the
//! debugger log, and bug checks.

use std::ffi::{CStr, c_char};
use std::sync::Mutex;

use crate::context::as_kernel;

static VIOLATIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static DEBUG_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records that `routine`'s rule was broken. `what` is formatted as the kernel's own work (pass
/// `format_args!`): nothing is allocated in driver context, so a failing allocation cannot hit it.
pub fn violation(routine: &str, what: impl std::fmt::Display) {
    as_kernel(|| {
        eprintln!("pushlock-kernel: VIOLATION {routine}: {what}");
        lock(&VIOLATIONS).push(format!("{routine}: {what}"));
    });
}

/// Every violation so far, emptying the list.
pub fn take_violations() -> Vec<String> {
    as_kernel(|| std::mem::take(&mut *lock(&VIOLATIONS)))
}

/// The debugger log so far, emptying it.
pub fn take_debug_log() -> Vec<String> {
    as_kernel(|| std::mem::take(&mut *lock(&DEBUG_LOG)))
}

/// Called by `DbgPrintEx` (`debug_print.c`) with the formatted text.
///
/// # Safety
/// `text` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pushlock_kernel_debug_print(
    _component: u32,
    _level: u32,
    text: *const c_char,
) {
    as_kernel(|| {
        // SAFETY: the C side passes its NUL-terminated buffer.
        let line = unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .trim_end()
            .to_owned();
        lock(&DEBUG_LOG).push(line);
    });
}

/// `DbgPrintEx` under Miri, which runs no C: the formats the driver uses (`%s`, `%u`, `%X` with
/// a width), formatted here.
///
/// # Safety
/// `format` is a NUL-terminated string whose conversions match the arguments.
#[cfg(miri)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn DbgPrintEx(
    _component: u32,
    _level: u32,
    format: *const c_char,
    mut arguments: ...
) -> u32 {
    as_kernel(|| {
        // SAFETY: NUL-terminated (caller).
        let format = unsafe { CStr::from_ptr(format) }
            .to_string_lossy()
            .into_owned();
        let mut line = String::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                line.push(c);
                continue;
            }
            let spec: String = chars
                .by_ref()
                .take_while(|c| !c.is_ascii_alphabetic())
                .collect();
            let conversion = format[format.len() - chars.as_str().len() - 1..]
                .chars()
                .next();
            match conversion {
                Some('s') => {
                    // SAFETY: a `%s` argument is a C string (caller).
                    let text: *const c_char = unsafe { arguments.next_arg() };
                    // SAFETY: as above.
                    line.push_str(&unsafe { CStr::from_ptr(text) }.to_string_lossy());
                }
                Some('X') => {
                    // SAFETY: a 32-bit argument (caller).
                    let value: u32 = unsafe { arguments.next_arg() };
                    let width = spec.trim_start_matches('0').parse().unwrap_or(0);
                    line.push_str(&format!("{value:0width$X}"));
                }
                _ => {
                    // SAFETY: a 32-bit argument (caller).
                    let value: u32 = unsafe { arguments.next_arg() };
                    line.push_str(&value.to_string());
                }
            }
        }
        lock(&DEBUG_LOG).push(line.trim_end().to_owned());
    });
    0
}

/// `KeBugCheckEx`: the system stops. Here: the debugger log so far (what a kernel debugger
/// would have shown) and the report go to standard error and the process exits with status 134,
/// so the test run fails with the code and parameters in its output.
#[unsafe(no_mangle)]
pub extern "system" fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> ! {
    for line in take_debug_log() {
        eprintln!("pushlock-kernel: debugger: {line}");
    }
    eprintln!(
        "pushlock-kernel: BUG CHECK {code:#010x} ({p1:#x}, {p2:#x}, {p3:#x}, {p4:#x}) on {:?}",
        std::thread::current().name()
    );
    std::process::exit(134)
}
