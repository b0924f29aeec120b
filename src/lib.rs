//! `pushlock-filter`: a Windows file-system minifilter that exposes the push-lock API over our
//! own atomic core (`crates/pushlock`), and answers `pushlock-harness` on a Filter Manager port
//! by running the self-test scenarios (`crates/selftest`) in kernel threads.
//!
//! The same source builds in two lanes: the WDK lane (`cargo make` on Windows, feature `wdk`:
//! wdk-build links and packages, wdk-panic handles panics) and the Linux lane (`cargo sys`,
//! `--no-default-features`: rust-lld links a real `.sys` with the same flags; `panic.rs` and
//! `mem.rs` stand in for what the WDK provides). Kernel routines are declared here (`ffi`) and
//! imported by name; nothing calls wdk-sys. On other targets the crate is empty, except in the
//! host lane (`tests/driver-host`): the same source, built for the host with
//! `cfg(pushlock_kernel)` against `tests/kernel`, a user-mode kernel, so that tests run it under
//! real threads. `pushlock_kernel` is set by build.rs for Windows targets and by the host lane.
#![cfg_attr(windows, no_std)]
#![cfg_attr(
    pushlock_kernel,
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

#[cfg(pushlock_kernel)]
extern crate alloc;

#[cfg(pushlock_kernel)]
mod driver;
#[cfg(pushlock_kernel)]
mod entry;
#[cfg(pushlock_kernel)]
pub mod exports;
#[cfg(pushlock_kernel)]
mod ffi;
#[cfg(pushlock_kernel)]
mod filter;
#[cfg(pushlock_kernel)]
mod host;
#[cfg(pushlock_kernel)]
mod log;
#[cfg(all(windows, not(feature = "wdk")))]
mod mem;
#[cfg(all(windows, not(feature = "wdk")))]
mod panic;
#[cfg(pushlock_kernel)]
mod peer_locks;
#[cfg(pushlock_kernel)]
mod pool;
#[cfg(pushlock_kernel)]
mod port;
#[cfg(pushlock_kernel)]
mod user_buffer;
#[cfg(pushlock_kernel)]
mod verifier;

#[cfg(all(windows, feature = "wdk"))]
use wdk_panic as _;
