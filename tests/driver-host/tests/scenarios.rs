//! The self-test server in the driver, executed: the whole conformance suite, a stress run and a
//! short bench on each kernel lock kind, through the message callback on system threads — and
//! unload while a run is in flight or while its threads are stuck.
//!
//! The kernel lock kinds here are our push lock on `KernelPlatform` (the real one: the code the
//! `.sys` runs) and the user-mode kernel's stand-ins for the kernel's own push lock and
//! `ERESOURCE` (`tests/kernel/src/stand_ins.rs`): they exercise the driver's peer-lock glue,
//! and say nothing about the speed of the real ones.
#![allow(
    clippy::significant_drop_tightening,
    reason = "a session holds the kernel for the whole test"
)]

mod common;

use common::{Driver, each_allocation_failing, passes, request, run_reply, run_request, stats};
use pushlock_kernel::{Fault, Session, UNLOAD_MANDATORY};
use pushlock_protocol::{Command, LockKind, Outcome, ScenarioKind, status, text};
use pushlock_selftest::CATALOGUE;

const FLT_DO_NOT_DETACH: i32 = 0xC01C_0010_u32.cast_signed();

#[test]
fn the_whole_suite_passes_in_the_kernel() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    let started = pushlock_kernel::threads_started();
    // Under Miri (about 1000 times slower) the scenarios that queue waiters on the kernel
    // platform and take the Flt paths; the whole catalogue takes it over ten minutes.
    let under_miri = [
        "encodings",
        "try-matrix",
        "oldest-writer-alone",
        "writer-beats-reader",
        "flt-critical-region",
        "ex-flags",
    ];
    let conformance = CATALOGUE
        .iter()
        .filter(|e| e.kind == ScenarioKind::Conformance)
        .filter(|e| !cfg!(miri) || under_miri.contains(&e.name));
    for entry in conformance {
        let reply = passes(
            &driver,
            client,
            entry.name,
            &run_request(entry.name, LockKind::PushLock, 0, 30_000),
        );
        assert_eq!(reply.lock_word.get(), 0, "{}", entry.name);
    }
    assert!(
        pushlock_kernel::threads_started() > started,
        "scenarios ran on system threads"
    );
    driver.unload(0);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "timing: its time limits assume native speed, not Miri's"
)]
fn stress_and_bench_run_on_every_kernel_lock_kind() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    for lock in [
        LockKind::PushLock,
        LockKind::CountedPushLock,
        LockKind::CacheAwarePushLock,
        LockKind::CountedCacheAwarePushLock,
        LockKind::KernelPushLock,
        LockKind::EResource,
    ] {
        let what = format!("stress on {}", lock.name());
        let reply = passes(&driver, client, &what, &run_request("stress", lock, 4, 300));
        assert_eq!(reply.violations.get(), 0, "{what}");
        assert!(reply.exclusive_acquisitions.get() > 0 && reply.shared_acquisitions.get() > 0);
        let what = format!("bench on {}", lock.name());
        let reply = passes(&driver, client, &what, &run_request("bench", lock, 2, 200));
        assert!(reply.shared_acquisitions.get() > 0, "{what}");
    }
    driver.unload(0);
}

/// A mandatory unload while a run is in flight waits for it (rundown), and the run still
/// answers; nothing is left behind.
#[test]
#[cfg_attr(
    miri,
    ignore = "timing: its time limits assume native speed, not Miri's"
)]
fn unload_while_a_scenario_runs_waits_for_it() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            session.send(
                client,
                &run_request("stress", LockKind::PushLock, 4, 500),
                common::REPLY_CAPACITY,
            )
        });
        while stats(&driver, client).running.get() == 0 {
            std::thread::yield_now();
        }
        assert_eq!(session.unload(UNLOAD_MANDATORY), 0);
        let reply = run.join().unwrap();
        assert_eq!(
            Outcome::from_code(run_reply(&reply).outcome.get()),
            Some(Outcome::Passed)
        );
    });
    driver.clean("unload during a run");
    assert_eq!(session.leaks(), Vec::<String>::new());
}

/// Threads stuck in a lock (here: a wake-up the kernel lost) keep running the image's code:
/// `fltmc unload` is refused and says why; once they can go on, a mandatory unload waits for
/// them and leaves nothing behind.
#[test]
#[cfg_attr(
    miri,
    ignore = "timing: its time limits assume native speed, not Miri's"
)]
fn unload_is_refused_while_threads_are_stuck() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    session.inject(Fault::LoseSignals(1));
    let message = run_request("oldest-writer-alone", LockKind::PushLock, 0, 300);
    let reply = run_reply(&driver.send(client, &message));
    assert_eq!(
        Outcome::from_code(reply.outcome.get()),
        Some(Outcome::TimedOut),
        "{}",
        text(&reply.detail)
    );
    assert!(
        reply.stuck_threads.get() > 0,
        "the lost wake-up left threads stuck"
    );
    let _earlier = session.debug_log();
    assert_eq!(session.unload(0), FLT_DO_NOT_DETACH);
    let log = session.debug_log();
    assert!(
        log.iter().any(|line| line.contains("unload refused")),
        "{log:?}"
    );
    assert!(session.loaded(), "a refused unload changes nothing");
    assert_eq!(
        driver.send(client, &request(Command::Hello, &())).status,
        0,
        "still answering"
    );
    session.deliver_lost_signals();
    driver.unload(UNLOAD_MANDATORY);
}

/// Every allocation a run makes — conformance scenarios, and workloads on each kernel lock kind
/// — failing in turn: the run is refused with `STATUS_INSUFFICIENT_RESOURCES` (or, where the
/// failure only cost a thread, reported as it is), nothing is written on a refusal, no thread
/// is left behind, no pool leaks.
#[test]
#[cfg_attr(
    miri,
    ignore = "96 runs: over ten minutes under Miri; the native lane runs it"
)]
fn each_allocation_of_a_run_failing_is_refused_cleanly() {
    let runs = [
        run_request("encodings", LockKind::PushLock, 0, 5_000),
        run_request("try-matrix", LockKind::PushLock, 0, 5_000),
        run_request("writer-beats-reader", LockKind::PushLock, 0, 5_000),
        run_request("stress", LockKind::PushLock, 2, 20),
        run_request("stress", LockKind::KernelPushLock, 2, 20),
        run_request("stress", LockKind::EResource, 2, 20),
    ];
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    let mut refused = 0;
    for message in &runs {
        let before = session.allocations();
        let _ = passes(&driver, client, "the run without faults", message);
        let sites = session.allocations() - before;
        each_allocation_failing(&driver, client, message, sites, |site, reply| {
            if reply.status == status::INSUFFICIENT_RESOURCES {
                common::refused(reply, status::INSUFFICIENT_RESOURCES, "a run");
                refused += 1;
            } else {
                let report = run_reply(reply);
                assert_eq!(
                    report.stuck_threads.get(),
                    0,
                    "site {site}: {}",
                    text(&report.detail)
                );
            }
        });
        assert_eq!(stats(&driver, client).running.get(), 0);
    }
    assert!(refused > 0, "no allocation failure reached a refusal");
    driver.unload(0);
}

/// The OS refuses a system thread: the run is refused, nothing is stranded.
#[test]
fn a_thread_the_kernel_will_not_start_refuses_the_run() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    session.inject(Fault::ThreadStart(status::INSUFFICIENT_RESOURCES));
    for message in [
        run_request("try-matrix", LockKind::PushLock, 0, 5_000),
        run_request("stress", LockKind::PushLock, 4, 50),
    ] {
        let reply = session.send(client, &message, common::REPLY_CAPACITY);
        common::refused(&reply, status::INSUFFICIENT_RESOURCES, "a refused thread");
        driver.clean("a refused thread");
    }
    session.clear_faults();
    driver.unload(0);
}

/// `ObReferenceObjectByHandle` fails after the thread started (it cannot, for a kernel handle of
/// the thread type just created; the host lane makes it): the run is refused, and the thread,
/// which nobody can wait for, ends on its own once the run is stopped.
#[test]
fn a_thread_that_cannot_be_referenced_refuses_the_run() {
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    session.inject(Fault::Reference(status::INSUFFICIENT_RESOURCES));
    let message = run_request("try-matrix", LockKind::PushLock, 0, 5_000);
    let reply = session.send(client, &message, common::REPLY_CAPACITY);
    session.clear_faults();
    common::refused(
        &reply,
        status::INSUFFICIENT_RESOURCES,
        "an unreferenced thread",
    );
    driver.clean("an unreferenced thread");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pushlock_kernel::threads_running() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the unreferenced thread never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    driver.unload(0);
}

/// A wait on a wait block's event that returns without the signal (an alert, an APC — not
/// possible with today's wait, possible after any change to it): `KernelPlatform` waits again
/// instead of leaving its block queued on a stack about to be reused. Every conformance
/// scenario and a stress run pass with the first 200 event waits returning `STATUS_ALERTED`.
#[test]
fn a_wait_that_returns_without_the_signal_waits_again() {
    const STATUS_ALERTED: i32 = 0x101;
    let session = Session::new();
    let driver = Driver::load(&session);
    let client = driver.connect();
    session.inject(Fault::SpuriousWaits(200, STATUS_ALERTED));
    for name in [
        "oldest-writer-alone",
        "shared-owner-drain",
        "queued-readers-together",
    ] {
        passes(
            &driver,
            client,
            name,
            &run_request(name, LockKind::PushLock, 0, 30_000),
        );
    }
    // The stress run's time limit assumes native speed (under Miri its threads miss the grace).
    if !cfg!(miri) {
        let stress = run_request("stress", LockKind::PushLock, 4, 300);
        passes(&driver, client, "stress", &stress);
    }
    session.clear_faults();
    driver.unload(0);
}
