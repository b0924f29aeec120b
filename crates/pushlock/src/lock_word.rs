//! A decoded snapshot of the lock word, for diagnostics and debuggers.

use crate::state::{LOCKED, MULTIPLE_SHARED, SHARE_SHIFT, WAITING, WAKING};

/// One reading of a push lock's word, decoded the way a kernel debugger reads `EX_PUSH_LOCK`.
///
/// | bits | meaning |
/// |---|---|
/// | 0 `Locked` | owned, in either mode |
/// | 1 `Waiting` | upper bits point to the newest wait block |
/// | 2 `Waking` | a thread is editing the waiter list or waking waiters |
/// | 3 `MultipleShared` | several shared owners and waiters; count in the oldest wait block |
/// | 4.. | shared owners (no waiters) or wait-block address (waiters) |
///
/// A snapshot is only a reading: by the time it is printed the lock may have moved on.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockWord(pub usize);

impl LockWord {
    /// Owned in either mode.
    #[must_use]
    pub const fn is_locked(self) -> bool {
        self.0 & LOCKED != 0
    }

    /// Waiters are queued.
    #[must_use]
    pub const fn is_waiting(self) -> bool {
        self.0 & WAITING != 0
    }

    /// A thread holds the right to optimise the waiter list or to wake waiters.
    #[must_use]
    pub const fn is_waking(self) -> bool {
        self.0 & WAKING != 0
    }

    /// Several shared owners while waiters exist.
    #[must_use]
    pub const fn is_multiple_shared(self) -> bool {
        self.0 & MULTIPLE_SHARED != 0
    }

    /// Shared owners counted in the word; `None` while waiters are queued (the upper bits are
    /// then a pointer, and any count lives in the oldest wait block).
    #[must_use]
    pub const fn shared_owners(self) -> Option<usize> {
        if self.is_waiting() {
            None
        } else {
            Some(self.0 >> SHARE_SHIFT)
        }
    }

    /// Exclusively owned with no waiters (`0x1`).
    #[must_use]
    pub const fn is_exclusive_uncontended(self) -> bool {
        self.0 == LOCKED
    }

    /// Queued and not being woken or optimised: what a test waits for after starting a waiter.
    #[must_use]
    pub const fn is_queued_and_settled(self) -> bool {
        self.is_waiting() && !self.is_waking()
    }

    /// The address of the newest wait block, if waiters are queued.
    #[must_use]
    pub const fn newest_waiter(self) -> Option<usize> {
        if self.is_waiting() {
            Some(self.0 & !crate::state::FLAGS)
        } else {
            None
        }
    }

    /// Every combination of bits the algorithm can produce satisfies these (PUSHLOCK.md §1).
    #[must_use]
    pub const fn is_plausible(self) -> bool {
        let waking_needs_waiting = !self.is_waking() || self.is_waiting();
        let multiple_needs_both =
            !self.is_multiple_shared() || (self.is_locked() && self.is_waiting());
        let free_is_zero = self.is_locked() || self.is_waiting() || self.0 == 0;
        let waiting_has_pointer = !self.is_waiting() || self.0 & !crate::state::FLAGS != 0;
        waking_needs_waiting && multiple_needs_both && free_is_zero && waiting_has_pointer
    }
}

impl core::fmt::Debug for LockWord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x} (", self.0)?;
        match (self.is_locked(), self.shared_owners()) {
            (false, Some(0)) => write!(f, "free")?,
            (false, Some(_)) => write!(f, "implausible: a share count without Locked")?,
            (true, Some(0)) => write!(f, "exclusive")?,
            (true, Some(n)) => write!(f, "shared x{n}")?,
            (locked, None) => {
                write!(f, "{}", if locked { "locked" } else { "unlocked" })?;
                write!(f, ", waiters from {:#x}", self.0 & !crate::state::FLAGS)?;
                if self.is_multiple_shared() {
                    write!(f, ", multiple shared")?;
                }
                if self.is_waking() {
                    write!(f, ", waking")?;
                }
            }
        }
        write!(f, ")")
    }
}

impl core::fmt::Display for LockWord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}
