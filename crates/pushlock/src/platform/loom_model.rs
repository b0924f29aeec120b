//! `LoomPlatform`: the user-mode platform with loom's threads, for model checking.

use super::{Misuse, Platform};

/// The platform the loom models run on.
///
/// Waiting is `ParkEvent` over loom's park/unpark, so a lost wake-up shows up as a loom deadlock.
/// A waiter polls its block once before sleeping, so both the "woken while spinning" and the
/// "woken while asleep" hand-shakes are explored.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoomPlatform;

// SAFETY: as for `StdPlatform`; `ParkEvent` is the same code over loom's primitives.
unsafe impl Platform for LoomPlatform {
    super::park::park_event_platform!();

    fn spin_count() -> u32 {
        1
    }

    fn spin_hint() {
        loom::thread::yield_now();
    }

    /// One more look at the word before queueing (no yield: loom's schedules already cover a
    /// release between the two looks), so "got it on the second look" runs are explored too
    /// without multiplying the schedules.
    fn spin_on_word(round: u32) -> bool {
        round == 0
    }

    // Critical regions are bookkeeping on the other platforms; the models check the lock.
    fn enter_critical_region() {}

    fn leave_critical_region() {}

    fn misuse(lock: *const (), misuse: Misuse) -> ! {
        panic!("push lock {lock:p}: {misuse}") // allowed: the models panic as user mode does
    }
}
