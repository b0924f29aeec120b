//! A scenario that ends early — a check fails, or the time limit passes part-way — releases
//! everything it holds on that path: no actor is left queued on a held lock (in the driver,
//! `FilterUnload` would wait for it forever), and the caller's thread leaves no critical region
//! entered (in the kernel, bug check `APC_INDEX_MISMATCH` when the message returns).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    clippy::disallowed_types,
    reason = "user-mode tests: allocation failure aborts the test, as it should"
)]

#[macro_use]
mod common;

use pushlock::StdPlatform;
use pushlock_protocol::{Outcome, ScenarioKind, text};
use pushlock_selftest::{CATALOGUE, Host, Server, StdHost};

fn conformance_ids() -> impl Iterator<Item = (u16, &'static str)> {
    CATALOGUE
        .iter()
        .filter(|entry| entry.kind == ScenarioKind::Conformance)
        .map(|entry| (entry.id, entry.name))
}

#[test]
fn a_time_limit_passing_part_way_strands_no_thread() {
    let server = Server::new(StdHost);
    for (id, name) in conformance_ids() {
        for time_limit_ms in [1, 3] {
            let (reply, _) = common::run(&server, &common::run_request(id, time_limit_ms));
            let outcome = Outcome::from_code(reply.outcome.get());
            assert!(
                matches!(outcome, Some(Outcome::Passed | Outcome::TimedOut)),
                "{name} in {time_limit_ms} ms: {outcome:?}: {}",
                text(&reply.detail)
            );
            assert_eq!(
                reply.stuck_threads.get(),
                0,
                "{name} in {time_limit_ms} ms: stuck"
            );
            assert_eq!(
                reply.lock_word.get(),
                0,
                "{name} in {time_limit_ms} ms: still held"
            );
        }
    }
}

/// The sim, except that it never sees APCs disabled: the Flt checks fail while the lock is held.
#[derive(Clone)]
struct BlindHost(StdHost);

impl Host for BlindHost {
    like_the_sim!();

    fn apcs_disabled(&self) -> bool {
        false
    }
}

#[test]
fn a_failed_check_leaves_no_critical_region_entered() {
    let server = Server::new(BlindHost(StdHost));
    let (id, _) = conformance_ids()
        .find(|&(_, name)| name == "flt-critical-region")
        .unwrap();
    let (reply, _) = common::run_on(&server, &common::run_request(id, 30_000));
    assert_eq!(
        Outcome::from_code(reply.outcome.get()),
        Some(Outcome::Failed)
    );
    assert!(
        text(&reply.detail).contains("did not disable APCs"),
        "{}",
        text(&reply.detail)
    );
    assert_eq!(
        StdPlatform::critical_region_depth(),
        0,
        "the message returned inside a region"
    );
    assert_eq!(reply.lock_word.get(), 0);
}
