//! `pushlock-selftest`: the scenario engine and the request handler that the driver runs in the
//! kernel and the harness runs in-process (`sim`), so both answer every message the same way.
//!
//! - [`Server<H>`]: answers one protocol message, as the driver's `MessageNotifyCallback` must.
//! - [`Host`]: what a place to run needs to provide — threads, a clock, the lock platform, and
//!   any peer locks it can offer workloads ([`StdHost`] with feature `std`; the driver's kernel
//!   host with system threads).
//! - The catalogue: the conformance scenarios of PUSHLOCK.md §5 and contract 4, and three
//!   workloads (stress, bench, writer-wait) that run on any lock.
//!
//! Scenario threads never outlive what they use: everything a run shares lives in [`Shared`]s
//! (a fallible `Arc`), so a thread stuck in a broken lock is abandoned (and reported) rather than
//! joined forever. Nothing here panics when memory runs out: every allocation is fallible
//! (`fallible`), and the message is refused with `STATUS_INSUFFICIENT_RESOURCES`.
#![no_std]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod engine;
mod fallible;
mod histogram;
mod host;
mod policy;
mod scenarios;
mod server;
#[cfg(feature = "std")]
mod std_host;
mod text;
mod workload;

pub use fallible::{OutOfMemory, Shared, try_box};
pub use host::{FilterStats, Host, LockUnavailable, LockVisitor, NamedLock, SpawnError, TestLock};
pub use policy::Policy;
pub use scenarios::{CATALOGUE, Entry};
pub use server::Server;
#[cfg(feature = "std")]
pub use std_host::StdHost;

/// This crate's version, reported by the sim as the server version.
pub const VERSION: [u16; 3] = [0, 1, 0];
