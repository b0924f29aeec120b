//! The processor a user-mode thread runs on: the OS's own answer where it has one, else a hash
//! of the thread, fixed for its life, so that threads still spread over a cache-aware lock's
//! slots. Miri, which cannot call the OS, uses the hash.
//!
//! | OS | how | cost here |
//! |---|---|---|
//! | Linux, glibc, x86-64 | the `cpu_id` the kernel keeps current in the thread's restartable-sequence area (`rseq`, registered by glibc 2.35+), read with one `fs`-relative load at `__rseq_offset` (reading the thread pointer first and adding, with an overflow check, cost the cache-aware lock about a tenth of its reader throughput in the harness) | 0.4 ns |
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
        let cpu_id: i32;
        // SAFETY: reads the calling thread's `rseq.cpu_id`, at `offset` from the thread
        // pointer (the fs base, the x86-64 TLS ABI): glibc keeps every thread's registered
        // area there for the thread's life, and the kernel stores the running processor in it
        // on every return to the thread. One load; touches nothing else. A thread without an
        // area reads -1 or -2.
        unsafe {
            core::arch::asm!(
                "mov {cpu:e}, dword ptr fs:[{offset}]",
                cpu = out(reg) cpu_id,
                offset = in(reg) offset,
                options(nostack, readonly, preserves_flags),
            );
        }
        u32::try_from(cpu_id).ok()
    }

    /// The field read is the kernel's processor number: a thread pinned to each processor in
    /// turn reads that processor.
    #[cfg(test)]
    #[test]
    fn cpu_id_is_the_processor_the_thread_is_pinned_to() {
        let pinned = std::thread::spawn(|| {
            // SAFETY: no arguments.
            let processors = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
            let mut seen = std::vec::Vec::new();
            for cpu in 0..usize::try_from(processors).unwrap_or(1) {
                // SAFETY: all-zero bits are a valid `cpu_set_t`: the empty set.
                let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
                // SAFETY: `cpu` is below the number of processors, within the set's bits.
                unsafe { libc::CPU_SET(cpu, &mut set) };
                // SAFETY: 0 is this thread; the set is read, for its size.
                let pinned = unsafe {
                    libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set)
                } == 0;
                if pinned {
                    std::thread::yield_now();
                    seen.push((cpu, cpu_id()));
                }
            }
            seen
        });
        let seen = pinned.join().unwrap_or_default();
        assert!(!seen.is_empty(), "no processor could be pinned to");
        for (cpu, read) in seen {
            assert!(
                read.is_none_or(|read| read as usize == cpu),
                "pinned to {cpu}, read {read:?}"
            );
        }
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
