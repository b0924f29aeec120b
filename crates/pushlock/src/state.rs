//! The lock word: its bits, a value type that decodes them, and the atomic that holds them.
//!
//! The word is an `AtomicPtr<()>`, not an `AtomicUsize`: while waiters exist its upper bits *are*
//! a pointer to the newest wait block, and a pointer that travelled through an integer would lose
//! its provenance (Miri's `-Zmiri-strict-provenance` rejects that). Flag and count arithmetic is
//! done with `map_addr`, which keeps the provenance of the block pointer. Under loom the word is a
//! loom `AtomicUsize` (loom has no pointer `fetch_or`), converted with exposed provenance; loom does
//! not track provenance, and Miri checks the real representation.

use core::ptr;
use core::sync::atomic::Ordering;

/// Bit 0: the lock is owned, in either mode.
pub const LOCKED: usize = 0x1;
/// Bit 1: the upper bits point to the newest wait block instead of counting shared owners.
pub const WAITING: usize = 0x2;
/// Bit 2: one thread holds the right to edit the waiter list and to wake waiters.
pub const WAKING: usize = 0x4;
/// Bit 3: the lock is shared by more than one owner while waiters exist; the count lives in the
/// oldest wait block.
pub const MULTIPLE_SHARED: usize = 0x8;
/// All four flag bits.
pub const FLAGS: usize = 0xF;
/// One shared owner in the count field (bits 4 and up).
pub const SHARE_ONE: usize = 0x10;
/// How far the share count is shifted.
pub const SHARE_SHIFT: u32 = 4;

/// One value of the lock word, with the provenance of the wait block it may point to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct State(*mut ());

// SAFETY: a `State` is a value; the pointer inside is only dereferenced by code that has proved
// the block alive (see `raw.rs`), never through `State` itself.
unsafe impl Send for State {}

impl State {
    /// The free lock.
    pub const FREE: Self = Self(ptr::null_mut());
    /// One exclusive owner, no waiters.
    pub const EXCLUSIVE: Self = Self::from_bits(LOCKED);
    /// One shared owner, no waiters.
    pub const ONE_SHARED: Self = Self::from_bits(LOCKED | SHARE_ONE);

    /// A value without a wait-block pointer (free, or owned with a share count).
    #[inline]
    pub const fn from_bits(bits: usize) -> Self {
        Self(ptr::without_provenance_mut(bits))
    }

    /// The word that points at `block` with the given flags.
    #[inline]
    pub fn from_block<T>(block: *const T, flags: usize) -> Self {
        Self(block.cast_mut().cast::<()>().map_addr(|addr| addr | flags))
    }

    #[inline]
    pub fn bits(self) -> usize {
        self.0.addr()
    }

    #[inline]
    pub fn has(self, flag: usize) -> bool {
        self.bits() & flag != 0
    }

    #[inline]
    pub fn with(self, flags: usize) -> Self {
        Self(self.0.map_addr(|addr| addr | flags))
    }

    #[inline]
    pub fn without(self, flags: usize) -> Self {
        Self(self.0.map_addr(|addr| addr & !flags))
    }

    /// Shared owners counted in the word (meaningful only without `WAITING`).
    #[inline]
    pub fn shares(self) -> usize {
        self.bits() >> SHARE_SHIFT
    }

    /// The newest wait block (meaningful only with `WAITING`).
    #[inline]
    pub fn head<T>(self) -> *const T {
        self.0.map_addr(|addr| addr & !FLAGS).cast_const().cast()
    }

    /// `n` shared owners and no waiters, or `None` if the count field cannot hold `n`.
    #[inline]
    pub fn shared_by(n: usize) -> Option<Self> {
        n.checked_mul(SHARE_ONE)
            .filter(|_| n != 0)
            .map(|count| Self::from_bits(count | LOCKED))
    }

    /// The word after one more shared owner joins, or `None` if a reader may not join now:
    /// held exclusively, or waiters queued (a queued writer must not be overtaken, and the count
    /// of a contended lock lives in a wait block), or the count would overflow.
    #[inline]
    pub fn add_shared(self) -> Option<Self> {
        if self == Self::FREE {
            return Some(Self::ONE_SHARED);
        }
        if self.has(WAITING) || self.shares() == 0 {
            return None;
        }
        self.bits().checked_add(SHARE_ONE).map(Self::from_bits)
    }
}

impl State {
    /// The word after one shared owner leaves a lock without waiters, or `None` if there are
    /// waiters (the count is not in the word) or it holds no share (free, or held exclusively).
    #[inline]
    pub fn remove_shared(self) -> Option<Self> {
        if self.has(WAITING) {
            return None;
        }
        match self.shares() {
            0 => None,
            1 => Some(Self::FREE),
            _ => self.bits().checked_sub(SHARE_ONE).map(Self::from_bits),
        }
    }
}

impl core::fmt::Debug for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&crate::LockWord(self.bits()), f)
    }
}

/// The atomic lock word.
#[repr(transparent)]
pub struct AtomicState {
    #[cfg(not(loom))]
    word: crate::sync::AtomicPtr<()>,
    #[cfg(loom)]
    word: crate::sync::AtomicUsize,
}

#[cfg(not(loom))]
impl AtomicState {
    #[inline]
    pub const fn new() -> Self {
        Self {
            word: crate::sync::AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[inline]
    pub fn load(&self, order: Ordering) -> State {
        State(self.word.load(order))
    }

    #[inline]
    pub fn compare_exchange(
        &self,
        current: State,
        new: State,
        success: Ordering,
        failure: Ordering,
    ) -> Result<State, State> {
        self.word
            .compare_exchange(current.0, new.0, success, failure)
            .map(State)
            .map_err(State)
    }

    /// Sets `bits`; returns the previous value.
    #[inline]
    pub fn fetch_or(&self, bits: usize, order: Ordering) -> State {
        State(self.word.fetch_or(bits, order))
    }

    /// Clears `bits`, which the caller knows to be set, with one subtraction (a single `xadd` on
    /// x86, where a `fetch_and` whose result is used becomes a CAS loop); returns the previous value.
    #[inline]
    pub fn fetch_clear_set_bits(&self, bits: usize, order: Ordering) -> State {
        State(self.word.fetch_byte_sub(bits, order))
    }
}

#[cfg(loom)]
impl AtomicState {
    #[inline]
    pub fn new() -> Self {
        Self {
            word: crate::sync::AtomicUsize::new(0),
        }
    }

    #[inline]
    const fn state(word: usize) -> State {
        State(ptr::with_exposed_provenance_mut(word))
    }

    #[inline]
    pub fn load(&self, order: Ordering) -> State {
        Self::state(self.word.load(order))
    }

    #[inline]
    pub fn compare_exchange(
        &self,
        current: State,
        new: State,
        success: Ordering,
        failure: Ordering,
    ) -> Result<State, State> {
        self.word
            .compare_exchange(
                current.0.expose_provenance(),
                new.0.expose_provenance(),
                success,
                failure,
            )
            .map(Self::state)
            .map_err(Self::state)
    }

    #[inline]
    pub fn fetch_or(&self, bits: usize, order: Ordering) -> State {
        Self::state(self.word.fetch_or(bits, order))
    }

    #[inline]
    pub fn fetch_clear_set_bits(&self, bits: usize, order: Ordering) -> State {
        Self::state(self.word.fetch_sub(bits, order))
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, reason = "expected values in tests")]
mod tests {
    use super::*;

    #[test]
    fn shared_counting_keeps_the_kernel_encodings() {
        let mut word = State::FREE;
        for n in 1..=3 {
            let next = word.add_shared();
            assert_eq!(next.map(State::bits), Some(LOCKED | (n * SHARE_ONE)));
            word = next.unwrap_or(word);
        }
        for n in (0..3).rev() {
            let next = word.remove_shared();
            let expected = if n == 0 { 0 } else { LOCKED | (n * SHARE_ONE) };
            assert_eq!(next.map(State::bits), Some(expected));
            word = next.unwrap_or(word);
        }
    }

    #[test]
    fn readers_cannot_join_a_writer_waiters_or_a_full_count() {
        assert_eq!(State::EXCLUSIVE.add_shared(), None);
        assert_eq!(
            State::from_bits(0x1000 | LOCKED | WAITING).add_shared(),
            None
        );
        assert_eq!(
            State::from_bits(0x1000 | WAITING).add_shared(),
            None,
            "free but queued"
        );
        let full = State::from_bits(usize::MAX & !FLAGS | LOCKED);
        assert_eq!(
            full.add_shared(),
            None,
            "the count must not wrap into the flags"
        );
    }

    #[test]
    fn only_a_share_can_be_removed() {
        assert_eq!(State::FREE.remove_shared(), None);
        assert_eq!(State::EXCLUSIVE.remove_shared(), None);
        assert_eq!(
            State::from_bits(0x1000 | LOCKED | WAITING).remove_shared(),
            None,
            "with waiters the word holds a pointer, not a count"
        );
    }

    #[test]
    fn a_block_pointer_keeps_its_flags_apart() {
        #[repr(align(16))]
        struct Block(#[allow(dead_code)] u8);
        let block = Block(0);
        let word = State::from_block(&raw const block, LOCKED | WAITING | MULTIPLE_SHARED);
        assert_eq!(word.head::<Block>(), &raw const block);
        assert!(word.has(MULTIPLE_SHARED) && !word.has(WAKING));
        assert_eq!(
            word.with(WAKING).without(WAKING | LOCKED).bits() & FLAGS,
            WAITING | MULTIPLE_SHARED
        );
    }
}
