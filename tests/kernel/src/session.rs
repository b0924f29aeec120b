//! What a test drives: the driver linked into the test binary, loaded, talked to and unloaded as
//! Filter Manager and the harness would, with faults to inject and the books to read.
//!
//! The kernel is one per process (its routines are the process's symbols), so sessions take
//! turns: [`Session::new`] waits for the previous one to end. Every call that may block runs
//! under a watchdog: past [`HANG_LIMIT`] the process stops with a dump of every wait in
//! progress, so a hang is a failure with a diagnosis, not a CI time-out.

use std::ffi::c_void;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::books::{take_debug_log, take_violations};
use crate::context::as_kernel;
use crate::fltmgr::{self, Handle};
use crate::{dispatcher, pool, threads};

/// Longer than any scenario's time limit (60 s) plus its grace period.
pub const HANG_LIMIT: Duration = Duration::from_secs(150);

static SERIAL: Mutex<()> = Mutex::new(());

unsafe extern "system" {
    /// The driver's entry point, linked into this binary (`src/entry.rs`).
    fn DriverEntry(driver: *mut c_void, registry_path: *const c_void) -> i32;
}

/// A fault to inject.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// The `n`-th allocation by driver code from now on returns NULL (1 = the next one).
    Allocation(u64),
    /// `PsCreateSystemThread` fails with this status.
    ThreadStart(i32),
    /// `ObReferenceObjectByHandle` fails with this status.
    Reference(i32),
    /// The named Filter Manager routine fails with this status.
    Routine(&'static str, i32),
    /// The next `n` `KeSetEvent` calls are lost: their waiters stay blocked until
    /// [`Session::deliver_lost_signals`].
    LoseSignals(u32),
    /// The next `n` waits on an event return this status at once, unsignalled.
    SpuriousWaits(u32, i32),
}

/// One driver lifetime in the user-mode kernel.
pub struct Session {
    _turn: MutexGuard<'static, ()>,
}

impl Session {
    /// Waits for the kernel to be free, then starts with clean books.
    #[must_use]
    pub fn new() -> Self {
        let turn = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        fltmgr::reset();
        pool::reset();
        take_violations();
        take_debug_log();
        Self { _turn: turn }
    }

    /// Injects `fault` (until [`clear_faults`](Self::clear_faults)).
    pub fn inject(&self, fault: Fault) {
        match fault {
            Fault::Allocation(n) => pool::fail_allocation(pool::allocations() + n),
            Fault::ThreadStart(status) => threads::fail_thread_start(status),
            Fault::Reference(status) => threads::fail_reference(status),
            Fault::Routine(name, status) => fltmgr::fail_routine(Some((name, status))),
            Fault::LoseSignals(count) => dispatcher::lose_signals(count),
            Fault::SpuriousWaits(count, status) => dispatcher::spurious_waits(count, status),
        }
    }

    /// Every routine behaves again.
    pub fn clear_faults(&self) {
        pool::fail_allocation(0);
        threads::fail_thread_start(0);
        threads::fail_reference(0);
        fltmgr::fail_routine(None);
        dispatcher::deliver_lost_signals();
        dispatcher::spurious_waits(0, 0);
    }

    /// Delivers the signals [`Fault::LoseSignals`] held back.
    pub fn deliver_lost_signals(&self) {
        dispatcher::deliver_lost_signals();
    }

    /// Loads the driver: `DriverEntry`'s status.
    #[must_use]
    pub fn driver_entry(&self) -> i32 {
        let name: Vec<u16> =
            "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\pushlock_filter"
                .encode_utf16()
                .collect();
        let length = u16::try_from(name.len() * 2).unwrap_or(u16::MAX);
        let registry_path = (length, length, 0_u32, name.as_ptr());
        let mut driver_object = [0_u64; 42];
        watched("DriverEntry", || {
            // SAFETY: the driver's entry point, with a driver object and its registry path.
            crate::context::as_driver(|| unsafe {
                DriverEntry(
                    driver_object.as_mut_ptr().cast(),
                    (&raw const registry_path).cast(),
                )
            })
        })
    }

    /// A client connects.
    ///
    /// # Errors
    /// The status the connection was refused with.
    pub fn connect(&self) -> Result<Handle, i32> {
        watched("connect", fltmgr::connect)
    }

    /// Sends `request` with an output buffer of `capacity` bytes: the status and the bytes the
    /// driver reported written (the buffer is filled with 0xEE first; `output` returns it all).
    #[must_use]
    pub fn send(&self, client: Handle, request: &[u8], capacity: usize) -> Message {
        self.send_faulting(client, request, capacity, None)
    }

    /// [`send`](Self::send) with an input buffer that faults after `fault_after` bytes.
    #[must_use]
    pub fn send_faulting(
        &self,
        client: Handle,
        request: &[u8],
        capacity: usize,
        fault_after: Option<usize>,
    ) -> Message {
        let mut output = vec![0xEE; capacity];
        let (status, returned) = watched("message", || {
            fltmgr::send(client, request, &mut output, fault_after)
        });
        Message {
            status,
            returned,
            output,
        }
    }

    /// The client goes away.
    pub fn disconnect(&self, client: Handle) {
        watched("disconnect", || fltmgr::disconnect(client));
    }

    /// A create by `pid`: the pre-operation callback's status, `None` if the filter is not
    /// filtering.
    #[must_use]
    pub fn create(&self, pid: u32) -> Option<i32> {
        watched("pre-create", || fltmgr::create(pid))
    }

    /// `fltmc unload` (flags: [`UNLOAD_MANDATORY`](fltmgr::UNLOAD_MANDATORY) or 0).
    #[must_use]
    pub fn unload(&self, flags: u32) -> i32 {
        watched("unload", || fltmgr::unload(flags))
    }

    /// Rule violations since the last call.
    #[must_use]
    pub fn violations(&self) -> Vec<String> {
        take_violations()
    }

    /// The debugger log since the last call.
    #[must_use]
    pub fn debug_log(&self) -> Vec<String> {
        take_debug_log()
    }

    /// Allocations by driver code so far.
    #[must_use]
    pub fn allocations(&self) -> u64 {
        pool::allocations()
    }

    /// What Driver Verifier and Filter Verifier would report once the driver is gone: pool
    /// blocks by tag, handles and references, ports and descriptors.
    #[must_use]
    pub fn leaks(&self) -> Vec<String> {
        let mut found: Vec<String> = pool::outstanding()
            .into_iter()
            .map(|(address, block)| {
                let tag = block.tag.to_le_bytes().map(char::from);
                format!(
                    "pool {address:#x}: {} bytes, tag {}",
                    block.bytes,
                    String::from_iter(tag)
                )
            })
            .collect();
        found.extend(threads::unbalanced());
        found.extend(fltmgr::leftovers());
        found
    }

    /// Whether the driver's filter is registered.
    #[must_use]
    pub fn loaded(&self) -> bool {
        fltmgr::filter_registered()
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.clear_faults();
    }
}

/// A reply.
#[derive(Debug)]
pub struct Message {
    /// What the message callback returned.
    pub status: i32,
    /// What it wrote to `ReturnOutputBufferLength`.
    pub returned: u32,
    /// The whole output buffer, as the driver left it.
    pub output: Vec<u8>,
}

impl Message {
    /// The bytes the driver reported written.
    #[must_use]
    pub fn reply(&self) -> &[u8] {
        let len = usize::try_from(self.returned)
            .unwrap_or(usize::MAX)
            .min(self.output.len());
        &self.output[..len]
    }
}

/// Runs `f`; if it has not returned within [`HANG_LIMIT`], prints who waits on what and stops
/// the process.
fn watched<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    let done = std::sync::Arc::new((Mutex::new(false), Condvar::new()));
    let watchdog = as_kernel(|| {
        let done = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let (flag, signal) = &*done;
            let mut finished = flag.lock().unwrap_or_else(PoisonError::into_inner);
            while !*finished {
                let left = HANG_LIMIT.saturating_sub(start.elapsed());
                if left.is_zero() {
                    eprintln!("pushlock-kernel: HANG: {what} did not return in {HANG_LIMIT:?}");
                    for wait in dispatcher::waits() {
                        eprintln!("pushlock-kernel:   {wait}");
                    }
                    std::process::abort();
                }
                finished = signal
                    .wait_timeout(finished, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        })
    });
    let result = f();
    let (flag, signal) = &*done;
    *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
    signal.notify_all();
    as_kernel(|| watchdog.join().ok());
    result
}
