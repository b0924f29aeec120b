//! `pushlock`: the Windows kernel's push lock, rebuilt in Rust over our own atomic core.
//!
//! One pointer-sized word, one atomic instruction to acquire or release when uncontended, waiters
//! queued in blocks on their own stacks, no allocation, no global table — with the kernel's bit
//! layout, so a debugger reads our word as it reads an `EX_PUSH_LOCK`. The design (state table,
//! queue, invariants, memory orderings) is documented in the `raw` module, which the
//! [`RawPushLock`] docs summarise.
//!
//! - [`RawPushLock<P>`]: the lock, generic over the [`Platform`] its waiters sleep on.
//! - [`nt`]: the Windows-shaped API (`ExAcquirePushLockExclusive`, `FltReleasePushLock`, ...).
//! - [`RwLock<T>`] (feature `std`): a guard-based lock for ordinary Rust through `lock_api`.
//! - [`CountedPushLock<P>`] and [`CountedRwLock<T>`]: the same lock with contention statistics
//!   beside the word ([`LockStatistics`]: acquisitions, contended, spun, sleeps, longest wait
//!   and hold), for locks whose critical sections do real work.
//! - [`CacheAwarePushLock<P>`] and [`CacheAwareRwLock<T>`]: NT's cache-aware push lock, a push
//!   lock per processor slot, for read-mostly data; [`CountedCacheAwarePushLock<P>`] counts per
//!   processor.
//! - [`LockClass`]: names for locks; with the `verify` feature, the `verify` module reports
//!   recursion, releases by non-owners, lock-order inversions and locks held at the wrong time.
//! - Platforms: [`StdPlatform`] (feature `std`), `KernelPlatform` (feature `km`: the Windows
//!   kernel, or on other hosts the user-mode kernel of the driver's host lane), `LoomPlatform`
//!   (`cfg(loom)`).
//!
//! Beyond the kernel: readers are never turned into writers, so shared really is shared (see the
//! `raw` module docs), and the behaviour is pinned by loom models, Miri and a conformance suite.
#![debugger_visualizer(natvis_file = "../pushlock.natvis")]
#![no_std]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::panic_in_result_fn
)]
#![cfg_attr(not(any(feature = "std", loom)), deny(clippy::panic))]

#[cfg(any(feature = "std", loom))]
extern crate std;

mod cache_aware;
mod class;
#[cfg(not(loom))]
mod counted;
mod how;
mod lock_word;
pub mod nt;
mod platform;
mod raw;
#[cfg(all(feature = "lock_api", not(loom)))]
mod rwlock;
mod state;
mod sync;
#[cfg(feature = "verify")]
pub mod verify;
mod wait_block;

#[cfg(not(loom))]
pub use cache_aware::CountedCacheAwarePushLock;
pub use cache_aware::{CacheAwarePushLock, MAX_SLOTS, NoMemory, SLOT_BYTES, SlotLock, SlotToken};
#[cfg(all(feature = "std", not(loom)))]
pub use cache_aware::{CacheAwareReadGuard, CacheAwareRwLock, CacheAwareWriteGuard};
pub use class::LockClass;
#[cfg(not(loom))]
pub use counted::{CountedPushLock, HOLD_SAMPLE, LockStatistics};
pub use lock_word::LockWord;
pub use nt::EX_PUSH_LOCK;
#[cfg(loom)]
pub use platform::LoomPlatform;
#[cfg(all(feature = "std", not(loom)))]
pub use platform::StdPlatform;
#[cfg(all(feature = "km", not(loom)))]
pub use platform::{KEVENT, KernelPlatform};
pub use platform::{Misuse, Platform, PoolTag};
pub use raw::RawPushLock;
#[cfg(all(feature = "lock_api", not(loom)))]
pub use rwlock::{CountedPushRwLock, PushRwLock, Statistics};
#[cfg(all(feature = "std", not(loom)))]
pub use rwlock::{CountedRwLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
