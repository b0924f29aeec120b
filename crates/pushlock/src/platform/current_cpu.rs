//! The processor a user-mode thread runs on: the OS's own answer where it has one, else a hash
//! of the thread, fixed for its life, so that threads still spread over a cache-aware lock's
//! slots. Miri, which cannot call the OS, uses the hash.
//!
//! | OS | how | cost here |
//! |---|---|---|
//! | Linux, glibc, x86-64 | the `cpu_id` the kernel keeps current in the thread's restartable-sequence area (`rseq`, registered by glibc 2.35+), read at the thread pointer + `__rseq_offset` | 0.4 ns |
//! | other Linux, or no `rseq` | `sched_getcpu` | 3.4 ns (this glibc asks the vDSO, not `rseq`) |
//! | Windows | `GetCurrentProcessorNumber` | |

/// The calling thread's processor now (a hint: it may move at once).
#[inline]
pub fn current_processor() -> u32 {
    os_processor().unwrap_or_else(thread_hash)
}

#[cfg(all(target_os = "linux", not(miri)))]
#[inline]
fn os_processor() -> Option<u32> {
    #[cfg(all(target_env = "gnu", target_arch = "x86_64"))]
    if let Some(cpu) = rseq::cpu_id() {
        return Some(cpu);
    }
    // SAFETY: no arguments, no memory touched; -1 if the kernel cannot say.
    u32::try_from(unsafe { libc::sched_getcpu() }).ok()
}

/// The kernel's `rseq.cpu_id` for the calling thread, as glibc registered it.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    target_arch = "x86_64",
    not(miri)
))]
mod rseq {
    use core::sync::atomic::{AtomicIsize, Ordering::Relaxed};

    /// Not looked up yet.
    const UNKNOWN: isize = isize::MIN;
    /// This glibc registers no `rseq` area.
    const ABSENT: isize = isize::MIN + 1;
    /// `offsetof(struct rseq, cpu_id)`: after `cpu_id_start`, a `u32`.
    const CPU_ID: isize = 4;

    /// Where `cpu_id` lies from the thread pointer: the same for every thread of the process.
    static OFFSET: AtomicIsize = AtomicIsize::new(UNKNOWN);

    #[inline]
    pub fn cpu_id() -> Option<u32> {
        let mut offset = OFFSET.load(Relaxed);
        if offset == UNKNOWN {
            offset = look_up();
            OFFSET.store(offset, Relaxed);
        }
        if offset == ABSENT {
            return None;
        }
        let thread_pointer: usize;
        // SAFETY: reads the thread control block's self-pointer (the x86-64 TLS ABI); touches
        // nothing else.
        unsafe {
            core::arch::asm!(
                "mov {}, qword ptr fs:[0]",
                out(reg) thread_pointer,
                options(nostack, readonly, preserves_flags),
            );
        }
        let field = thread_pointer.checked_add_signed(offset)?;
        let cpu_id = core::ptr::with_exposed_provenance::<i32>(field);
        // SAFETY: glibc keeps every thread's registered `rseq` area at this offset for the
        // thread's life, and the kernel stores the running processor there on every return to
        // the thread (volatile: it changes under us). A thread without one reads -1 or -2.
        u32::try_from(unsafe { cpu_id.read_volatile() }).ok()
    }

    /// `__rseq_offset` + `CPU_ID` if glibc exports it and registered an area with the field.
    #[cold]
    fn look_up() -> isize {
        // SAFETY: `dlsym` with a NUL-terminated name; null if the symbol does not exist.
        let size = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr()) };
        // SAFETY: as above.
        let offset = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr()) };
        if size.is_null() || offset.is_null() {
            return ABSENT;
        }
        // SAFETY: glibc's `const unsigned int __rseq_size`, set before any thread runs.
        let size = unsafe { size.cast::<u32>().read() };
        // SAFETY: glibc's `const ptrdiff_t __rseq_offset`, likewise.
        let offset = unsafe { offset.cast::<isize>().read() };
        if size < 8 {
            return ABSENT;
        }
        offset.checked_add(CPU_ID).unwrap_or(ABSENT)
    }
}

#[cfg(all(windows, not(miri)))]
#[allow(clippy::unnecessary_wraps, reason = "one signature on every OS")]
fn os_processor() -> Option<u32> {
    // SAFETY: no arguments; reads the current processor number.
    Some(unsafe { windows_sys::Win32::System::Threading::GetCurrentProcessorNumber() })
}

#[cfg(any(miri, not(any(target_os = "linux", windows))))]
#[allow(clippy::unnecessary_wraps, reason = "one signature on every OS")]
fn os_processor() -> Option<u32> {
    None
}

/// A number for the calling thread: the address of a thread-local, mixed (Fibonacci hashing),
/// so that threads created one after another land on different slots.
fn thread_hash() -> u32 {
    std::thread_local! {
        static KEY: u8 = const { 0 };
    }
    let address = KEY.with(|key| core::ptr::from_ref(key).addr());
    let mixed = (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    u32::try_from(mixed >> 32).unwrap_or(0)
}
