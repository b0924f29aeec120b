//! Every conformance scenario of the catalogue, run on std threads through `Server::message`
//! exactly as the harness's sim runs them: the outcome must be `Passed`, the word back to 0.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    clippy::disallowed_types,
    reason = "user-mode tests: allocation failure aborts the test, as it should"
)]

mod common;

use pushlock_protocol::{Outcome, ScenarioKind, text};
use pushlock_selftest::{CATALOGUE, Server, StdHost};

fn passes(name: &str) {
    let entry = CATALOGUE.iter().find(|entry| entry.name == name).unwrap();
    assert_eq!(entry.kind, ScenarioKind::Conformance);
    let server = Server::new(StdHost);
    let (reply, threads) = common::run(&server, &common::run_request(entry.id, 30_000));
    let outcome = Outcome::from_code(reply.outcome.get());
    assert_eq!(
        outcome,
        Some(Outcome::Passed),
        "{name}: {}",
        text(&reply.detail)
    );
    assert_eq!(reply.lock_word.get(), 0, "{name}: lock word not back to 0");
    assert_eq!(reply.stuck_threads.get(), 0);
    assert_eq!(threads.len(), usize::from(entry.threads));
    assert!(reply.shared_acquisitions.get() + reply.exclusive_acquisitions.get() > 0);
}

macro_rules! conformance {
    ($($(#[$only:meta])* $test:ident => $name:literal,)*) => {
        $($(#[$only])* #[test] fn $test() { passes($name); })*

        #[test]
        fn every_conformance_scenario_has_a_test() {
            let tested = [$($(#[$only])* $name),*];
            for entry in CATALOGUE.iter().filter(|e| e.kind == ScenarioKind::Conformance) {
                assert!(tested.contains(&entry.name), "no test for {}", entry.name);
            }
        }
    };
}

conformance! {
    encodings => "encodings",
    try_matrix => "try-matrix",
    oldest_writer_alone => "oldest-writer-alone",
    shared_owner_drain => "shared-owner-drain",
    writer_beats_reader => "writer-beats-reader",
    arrival_during_release => "arrival-during-release",
    mixed_record => "mixed-record",
    flt_critical_region => "flt-critical-region",
    ex_flags => "ex-flags",
    writer_not_starved => "writer-not-starved",
    readers_together => "readers-together",
    queued_readers_together => "queued-readers-together",
    not_reentrant => "not-reentrant",
    cache_aware_slots => "cache-aware-slots",
    cache_aware_writer_sweep => "cache-aware-writer-sweep",
    cache_aware_mixed_record => "cache-aware-mixed-record",
    #[cfg(feature = "verify")]
    verify_recursive_exclusive => "verify-recursive-x",
    #[cfg(feature = "verify")]
    verify_shared_after_exclusive => "verify-shared-after-x",
    #[cfg(feature = "verify")]
    verify_reader_re_entry => "verify-reader-re-entry",
    #[cfg(feature = "verify")]
    verify_release_not_owner => "verify-release-not-owner",
    #[cfg(feature = "verify")]
    verify_wrong_mode => "verify-wrong-mode",
    #[cfg(feature = "verify")]
    verify_lock_order => "verify-lock-order",
    #[cfg(feature = "verify")]
    verify_held_at_return => "verify-held-at-return",
    #[cfg(feature = "verify")]
    verify_critical_region => "verify-critical-region",
    #[cfg(feature = "verify")]
    verify_own_checks => "verify-own-checks",
}
