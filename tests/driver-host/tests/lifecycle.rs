//! The driver's glue, executed: load, connect, messages, creates, disconnect and unload, as
//! Filter Manager and the harness do them, with the user-mode kernel's books checked after
//! every step and its leak report empty after every unload.
#![allow(
    clippy::significant_drop_tightening,
    reason = "a session holds the kernel for the whole test"
)]

mod common;

use common::{
    Driver, REPLY_CAPACITY, STATUS_SUCCESS, each_allocation_failing, hello, locks, policy, refused,
    request, stats,
};
use pushlock_kernel::{Fault, STATUS_ACCESS_VIOLATION, Session, UNLOAD_MANDATORY};
use pushlock_protocol::{Command, ListRequest, LockInfo, status, text};

#[test]
fn load_hello_unload_leaves_nothing_behind() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    let reply = driver.send(client, &request(Command::Hello, &()));
    assert_eq!(hello(&reply).platform.get(), 2, "the kernel platform");
    session.disconnect(client);
    assert_eq!(session.debug_log(), ["pushlock_filter: loaded"]);
    driver.unload(0);
    assert_eq!(session.debug_log(), ["pushlock_filter: unloaded"]);
}

/// Filter Manager disconnects the client from inside `FltUnregisterFilter`; the disconnect
/// callback needs the filter handle then (it once passed NULL).
#[test]
fn unload_with_a_client_connected_closes_its_port() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let _client = driver.connect();
    driver.unload(UNLOAD_MANDATORY);
}

/// The connection cookie is the client port: each disconnect closes its own.
#[test]
fn each_connection_closes_its_own_port() {
    let session = Session::new();
    let driver = Driver::load(&session);
    for _ in 0..3 {
        let client = driver.connect();
        let reply = driver.send(client, &request(Command::Hello, &()));
        assert_eq!(reply.status, STATUS_SUCCESS);
        session.disconnect(client);
        driver.clean("disconnect");
    }
    assert_eq!(
        session.connect().and_then(|_| session.connect()).err(),
        Some(status::CONNECTION_COUNT_LIMIT),
        "one client at a time"
    );
    driver.unload(0);
}

#[test]
fn policy_and_pre_create_counting_show_in_stats() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    let before = stats(&driver, client);
    let reply = driver.send(client, &policy(&[1234, 99]));
    assert_eq!(reply.status, STATUS_SUCCESS);
    for pid in [1234, 5, 99, 1234] {
        assert_eq!(
            session.create(pid),
            Some(1),
            "FLT_PREOP_SUCCESS_NO_CALLBACK"
        );
    }
    let after = stats(&driver, client);
    assert_eq!(after.filter_present.get(), 1);
    assert_eq!(after.creates_seen.get() - before.creates_seen.get(), 4);
    assert_eq!(
        after.creates_matched.get() - before.creates_matched.get(),
        3
    );
    assert_eq!(after.policy_updates.get() - before.policy_updates.get(), 1);
    assert_eq!(after.policy_size.get(), 2);
    let reply = driver.send(client, &policy(&[]));
    assert_eq!(reply.status, STATUS_SUCCESS);
    driver.unload(0);
}

/// `Locks` shows the policy set's lock by name, counting what the port and the creates did
/// to it.
#[test]
fn the_policy_lock_s_counters_show_in_locks() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    let before = policy_lock(&driver, client);
    assert_eq!(driver.send(client, &policy(&[1234])).status, STATUS_SUCCESS);
    for pid in [1234, 5, 6] {
        assert_eq!(session.create(pid), Some(1));
    }
    let after = policy_lock(&driver, client);
    assert_eq!(
        after.exclusive_acquisitions.get() - before.exclusive_acquisitions.get(),
        1,
        "the policy update"
    );
    assert_eq!(
        after.shared_acquisitions.get() - before.shared_acquisitions.get(),
        3,
        "the creates (Locks itself reads no lock)"
    );
    assert_eq!(after.contended.get(), 0, "one thread: never contended");
    assert_eq!((after.word.get(), after.reserved.get()), (0, 0), "free");
    driver.unload(0);
}

fn policy_lock(driver: &Driver<'_>, client: pushlock_kernel::Handle) -> LockInfo {
    let entries = locks(driver, client);
    let names: Vec<&str> = entries.iter().map(|entry| text(&entry.name)).collect();
    assert_eq!(names, ["filter policy"]);
    entries[0]
}

/// `DriverEntry` takes one pool block, the policy set's lock's slots (tagged `PlkC`), and the
/// verify build one more, the verifier's tables; unload frees both and allocates nothing.
#[test]
fn load_takes_the_policy_lock_and_unload_gives_it_back() {
    let session = Session::new();
    let before = session.allocations();
    let driver = Driver::load(&session);
    let tables = u64::from(cfg!(feature = "verify"));
    assert_eq!(
        session.allocations(),
        before + 1 + tables,
        "DriverEntry allocated"
    );
    let tags = session.leaks();
    assert!(
        tags.iter().any(|block| block.ends_with("tag PlkC")),
        "the policy lock's slots: {tags:?}"
    );
    driver.unload(0);
    assert_eq!(
        session.allocations(),
        before + 1 + tables,
        "unload allocated"
    );
    assert_eq!(session.leaks(), Vec::<String>::new(), "unload freed");
}

/// No pool for the policy set's lock: `DriverEntry` fails with `STATUS_INSUFFICIENT_RESOURCES`
/// before anything is registered, says why, and leaves nothing behind.
#[test]
fn no_pool_for_the_policy_lock_fails_the_load_cleanly() {
    let session = Session::new();
    let tables = u64::from(cfg!(feature = "verify"));
    session.inject(Fault::Allocation(tables + 1));
    assert_eq!(session.driver_entry(), 0xC000_009A_u32.cast_signed());
    assert!(!session.loaded());
    assert_eq!(session.violations(), Vec::<String>::new());
    assert_eq!(session.leaks(), Vec::<String>::new());
    let log = session.debug_log();
    assert!(log.iter().any(|line| line.contains("policy")), "{log:?}");
}

/// The verify build refuses to load unverified: no pool for the verifier's tables fails
/// `DriverEntry` with `STATUS_INSUFFICIENT_RESOURCES`, before anything is registered.
#[cfg(feature = "verify")]
#[test]
fn the_verify_build_does_not_load_without_its_tables() {
    let session = Session::new();
    session.inject(Fault::Allocation(1));
    assert_eq!(session.driver_entry(), 0xC000_009A_u32.cast_signed());
    assert!(!session.loaded());
    assert_eq!(session.violations(), Vec::<String>::new());
    assert_eq!(session.leaks(), Vec::<String>::new());
    let log = session.debug_log();
    assert!(
        log.iter().any(|line| line.contains("lock verifier")),
        "{log:?}"
    );
}

#[test]
fn a_failing_driver_entry_step_returns_its_status_and_undoes_the_rest() {
    for routine in [
        "FltRegisterFilter",
        "FltBuildDefaultSecurityDescriptor",
        "FltCreateCommunicationPort",
        "FltStartFiltering",
    ] {
        let session = Session::new();
        let failure = 0xC000_0001_u32.cast_signed();
        session.inject(Fault::Routine(routine, failure));
        assert_eq!(session.driver_entry(), failure, "{routine}");
        assert!(!session.loaded(), "{routine}: still registered");
        assert_eq!(session.violations(), Vec::<String>::new(), "{routine}");
        assert_eq!(session.leaks(), Vec::<String>::new(), "{routine}");
        let log = session.debug_log();
        assert!(
            log.iter().any(|line| line.contains(routine)),
            "{routine}: {log:?}"
        );
    }
}

/// Every allocation a message makes, failing in turn: `STATUS_INSUFFICIENT_RESOURCES`, nothing
/// written, nothing leaked, and the driver goes on answering.
#[test]
fn each_allocation_of_a_message_failing_is_refused_cleanly() {
    let list = ListRequest::default();
    let messages = [
        ("Hello", request(Command::Hello, &())),
        ("Stats", request(Command::Stats, &())),
        ("ListScenarios", request(Command::ListScenarios, &list)),
        ("SetPolicy", policy(&[7])),
        ("Locks", request(Command::Locks, &())),
    ];
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    for (name, message) in &messages {
        let before = session.allocations();
        assert_eq!(
            driver.send(client, message).status,
            STATUS_SUCCESS,
            "{name}"
        );
        let sites = session.allocations() - before;
        each_allocation_failing(&driver, client, message, sites, |site, reply| {
            let what = format!("{name}, allocation {site} of {sites}");
            refused(reply, status::INSUFFICIENT_RESOURCES, &what);
        });
        assert_eq!(
            driver.send(client, message).status,
            STATUS_SUCCESS,
            "{name} after"
        );
    }
    driver.unload(0);
}

/// A user buffer unmapped under the copy: the shim's `__except` status, nothing answered.
#[test]
fn a_request_buffer_faulting_mid_copy_is_refused() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    let before = stats(&driver, client).messages.get();
    let message = policy(&[1, 2, 3]);
    for fault_after in [0, 1, 23, 24, message.len() - 1] {
        let reply = session.send_faulting(client, &message, REPLY_CAPACITY, Some(fault_after));
        refused(&reply, STATUS_ACCESS_VIOLATION, "a faulting request");
        driver.clean("a faulting request");
    }
    let after = stats(&driver, client).messages.get();
    assert_eq!(after - before, 1, "only the first Stats was answered");
    driver.unload(0);
}
