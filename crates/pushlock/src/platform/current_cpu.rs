//! The processor a user-mode thread runs on: the OS's own call where it has one (Linux
//! `sched_getcpu`, which glibc answers from the thread's restartable-sequence area without a
//! system call; Windows `GetCurrentProcessorNumber`), else a hash of the thread, fixed for its
//! life, so that threads still spread over a cache-aware lock's slots. Miri, which cannot call
//! the OS, uses the hash.

/// The calling thread's processor now (a hint: it may move at once).
pub fn current_processor() -> u32 {
    os_processor().unwrap_or_else(thread_hash)
}

#[cfg(all(target_os = "linux", not(miri)))]
fn os_processor() -> Option<u32> {
    // SAFETY: no arguments, no memory touched; -1 if the kernel cannot say.
    u32::try_from(unsafe { libc::sched_getcpu() }).ok()
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
