//! `pushlock-filter`: a Windows file-system minifilter that exposes the push-lock API over our
//! own atomic core (`crates/pushlock`), and answers `pushlock-harness` on a Filter Manager port
//! by running the self-test scenarios (`crates/selftest`) in kernel threads.
//!
//! The same source builds in two lanes: the WDK lane (`cargo make` on Windows, feature `wdk`:
//! wdk-build links and packages, wdk-panic handles panics) and the Linux lane (`cargo sys`,
//! `--no-default-features`: rust-lld links a real `.sys` with the same flags; `panic.rs` and
//! `mem.rs` stand in for what the WDK provides). Kernel routines are declared here (`ffi`) and
//! imported by name; nothing calls wdk-sys. On other targets the crate is empty.
#![cfg_attr(windows, no_std)]
#![cfg_attr(
    windows,
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(windows)]
extern crate alloc;

#[cfg(windows)]
mod driver;
#[cfg(windows)]
mod entry;
#[cfg(windows)]
pub mod exports;
#[cfg(windows)]
mod ffi;
#[cfg(windows)]
mod filter;
#[cfg(windows)]
mod host;
#[cfg(windows)]
mod log;
#[cfg(all(windows, not(feature = "wdk")))]
mod mem;
#[cfg(all(windows, not(feature = "wdk")))]
mod panic;
#[cfg(windows)]
mod peer_locks;
#[cfg(windows)]
mod pool;
#[cfg(windows)]
mod port;
#[cfg(windows)]
mod user_buffer;

#[cfg(all(windows, feature = "wdk"))]
use wdk_panic as _;
