//! `Server::message`: every error status, and that an error changes nothing; busy; reply sizing;
//! limits; workloads on every lock; a wedged lock is reported, not waited on forever.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    clippy::disallowed_types,
    reason = "user-mode tests: allocation failure aborts the test, as it should"
)]

#[macro_use]
mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{request, run, run_request, send};
use pushlock::LockStatistics;
use pushlock_protocol::{
    Command, HEADER_SIZE, HelloReply, ListReply, ListRequest, LockInfo, LockKind, LocksReply,
    Outcome, PlatformKind, Role, RunReply, RunRequest, ScenarioInfo, StatsReply, U16, U32, U64,
    VERSION, limits, parse_reply, status, text,
};
use pushlock_selftest::{
    CATALOGUE, Host, LockUnavailable, LockVisitor, NamedLock, Server, Shared, StdHost, TestLock,
};
use zerocopy::FromBytes;

fn stats(server: &Server<StdHost>) -> StatsReply {
    stats_on(server)
}

fn stats_on<H: Host>(server: &Server<H>) -> StatsReply {
    let (code, reply) = send(server, &request(Command::Stats, &[0_u8; 0]), 256);
    assert_eq!(code, status::SUCCESS);
    StatsReply::read_from_bytes(parse_reply(&reply, Command::Stats, 42).unwrap()).unwrap()
}

fn workload(
    scenario: u16,
    lock: LockKind,
    threads: u32,
    iterations: u64,
    write_permille: u16,
) -> RunRequest {
    RunRequest {
        scenario: U16::new(scenario),
        lock: U16::new(lock as u16),
        threads: U32::new(threads),
        iterations: U64::new(iterations),
        write_permille: U16::new(write_permille),
        hold_ns: U32::new(100),
        seed: U64::new(7),
        time_limit_ms: U32::new(20_000),
        ..RunRequest::default()
    }
}

/// Everything but the counter of well-formed messages.
const fn state(stats: &StatsReply) -> [u64; 5] {
    [
        stats.runs.get(),
        stats.passed.get(),
        stats.failed.get(),
        stats.timed_out.get(),
        stats.stuck_threads.get(),
    ]
}

#[test]
fn hello_describes_the_sim() {
    let server = Server::new(StdHost);
    let (code, reply) = send(&server, &request(Command::Hello, &[0_u8; 0]), 256);
    assert_eq!(code, status::SUCCESS);
    let hello =
        HelloReply::read_from_bytes(parse_reply(&reply, Command::Hello, 42).unwrap()).unwrap();
    assert_eq!(hello.protocol_version.get(), VERSION);
    assert_eq!(hello.platform.get(), PlatformKind::Sim as u16);
    assert_eq!(hello.scenario_count.get() as usize, CATALOGUE.len());
    assert_eq!(hello.limits.max_threads.get(), limits::MAX_THREADS);
    for kind in [
        LockKind::PushLock,
        LockKind::ParkingLot,
        LockKind::StdRwLock,
        LockKind::Spin,
        LockKind::Usync,
        LockKind::CountedPushLock,
        LockKind::CacheAwarePushLock,
        LockKind::CrossbeamSharded,
        LockKind::CountedCacheAwarePushLock,
    ] {
        assert_ne!(hello.lock_kinds.get() & kind.bit(), 0, "{kind:?}");
    }
    assert_eq!(hello.lock_kinds.get() & LockKind::EResource.bit(), 0);
    assert_eq!(hello.capabilities.get() & HelloReply::CAP_FILTER, 0);
}

#[test]
fn list_pages_by_output_size() {
    let server = Server::new(StdHost);
    let room_for_two = HEADER_SIZE + size_of::<ListReply>() + 2 * size_of::<ScenarioInfo>();
    let mut names = Vec::new();
    let mut first = 0;
    loop {
        let page = ListRequest {
            first: U32::new(first),
            ..ListRequest::default()
        };
        let (code, reply) = send(
            &server,
            &request(Command::ListScenarios, &page),
            room_for_two,
        );
        assert_eq!(code, status::SUCCESS);
        let payload = parse_reply(&reply, Command::ListScenarios, 42).unwrap();
        let (head, rest) = ListReply::read_from_prefix(payload).unwrap();
        assert_eq!(head.total.get() as usize, CATALOGUE.len());
        let entries = <[ScenarioInfo]>::ref_from_bytes(rest).unwrap();
        assert_eq!(entries.len(), head.count.get() as usize);
        if entries.is_empty() {
            break;
        }
        assert!(entries.len() <= 2);
        names.extend(entries.iter().map(|e| text(&e.name).to_owned()));
        first += head.count.get();
    }
    let expected: Vec<_> = CATALOGUE.iter().map(|e| e.name.to_owned()).collect();
    assert_eq!(names, expected);
    let cramped = HEADER_SIZE + size_of::<ListReply>() + size_of::<ScenarioInfo>() - 1;
    let page = ListRequest::default();
    assert_eq!(
        send(&server, &request(Command::ListScenarios, &page), cramped).0,
        status::BUFFER_TOO_SMALL
    );
}

/// Sends every case, checks its status, that it wrote nothing, and that the server's state is
/// unchanged afterwards (only the final Stats request counts as a message).
fn assert_rejected(cases: &[(&str, Vec<u8>, i32)]) {
    let server = Server::new(StdHost);
    let before = stats(&server);
    for (what, input, expected) in cases {
        let (code, reply) = send(&server, input, 64 * 1024);
        assert_eq!(code, *expected, "{what}: got {:?}", status::name(code));
        assert!(reply.is_empty(), "{what}: an error wrote a reply");
    }
    let after = stats(&server);
    assert_eq!(
        state(&after),
        state(&before),
        "errors changed the server's state"
    );
    assert_eq!(
        after.messages.get(),
        before.messages.get() + 1,
        "only the Stats request counts"
    );
}

#[test]
fn malformed_messages_are_rejected_and_change_nothing() {
    let whole = request(Command::RunScenario, &run_request(1, 5_000));
    let edited = |at: usize, value: u8| {
        let mut bytes = whole.clone();
        bytes[at] = value;
        bytes
    };
    let mut unknown = request(Command::Stats, &[0_u8; 0]);
    unknown[6] = 77;
    assert_rejected(&[
        ("bad magic", edited(0, b'X'), status::INVALID_PARAMETER),
        (
            "short",
            whole[..whole.len() - 1].to_vec(),
            status::INFO_LENGTH_MISMATCH,
        ),
        (
            "header only",
            whole[..10].to_vec(),
            status::INFO_LENGTH_MISMATCH,
        ),
        (
            "length field",
            edited(8, 0xFF),
            status::INFO_LENGTH_MISMATCH,
        ),
        (
            "reserved header flags",
            edited(12, 1),
            status::INVALID_PARAMETER,
        ),
        ("version", edited(4, 9), status::REVISION_MISMATCH),
        ("command", unknown, status::INVALID_DEVICE_REQUEST),
        (
            "payload size",
            request(Command::Stats, &[0_u8; 4]),
            status::INFO_LENGTH_MISMATCH,
        ),
    ]);
}

#[test]
fn run_parameters_beyond_limits_are_rejected_and_change_nothing() {
    let conformance = |what, edit: fn(&mut RunRequest), expected| {
        let mut run = run_request(1, 5_000);
        edit(&mut run);
        (what, request(Command::RunScenario, &run), expected)
    };
    let workload = |what, edit: fn(&mut RunRequest), expected| {
        let mut run = workload(21, LockKind::PushLock, 2, 10, 100);
        edit(&mut run);
        (what, request(Command::RunScenario, &run), expected)
    };
    assert_rejected(&[
        conformance(
            "unknown scenario",
            |r| r.scenario = U16::new(999),
            status::INVALID_PARAMETER,
        ),
        conformance(
            "unknown lock",
            |r| r.lock = U16::new(999),
            status::INVALID_PARAMETER,
        ),
        conformance(
            "no time limit",
            |r| r.time_limit_ms = U32::new(0),
            status::INVALID_PARAMETER,
        ),
        conformance(
            "time limit too long",
            |r| r.time_limit_ms = U32::new(limits::MAX_TIME_LIMIT_MS + 1),
            status::INVALID_PARAMETER,
        ),
        conformance(
            "conformance with threads",
            |r| r.threads = U32::new(2),
            status::INVALID_PARAMETER,
        ),
        conformance(
            "conformance on another lock",
            |r| r.lock = U16::new(LockKind::ParkingLot as u16),
            status::NOT_SUPPORTED,
        ),
        conformance(
            "reserved flags",
            |r| r.flags = U32::new(1),
            status::INVALID_PARAMETER,
        ),
        workload(
            "no threads",
            |r| r.threads = U32::new(0),
            status::INVALID_PARAMETER,
        ),
        workload(
            "too many threads",
            |r| r.threads = U32::new(limits::MAX_THREADS + 1),
            status::INVALID_PARAMETER,
        ),
        workload(
            "write share > 100%",
            |r| r.write_permille = U16::new(1001),
            status::INVALID_PARAMETER,
        ),
        workload(
            "hold too long",
            |r| r.hold_ns = U32::new(limits::MAX_HOLD_NS + 1),
            status::INVALID_PARAMETER,
        ),
        workload(
            "too many iterations",
            |r| r.iterations = U64::new(limits::MAX_ITERATIONS + 1),
            status::INVALID_PARAMETER,
        ),
        workload(
            "kernel-only lock",
            |r| r.lock = U16::new(LockKind::EResource as u16),
            status::NOT_SUPPORTED,
        ),
    ]);
}

#[test]
fn the_sim_has_no_filter_policy() {
    let server = Server::new(StdHost);
    let policy = pushlock_protocol::PolicyRequest {
        count: U32::new(1),
        ..Default::default()
    };
    let (code, reply) = send(&server, &request(Command::SetPolicy, &policy), 256);
    assert_eq!((code, reply.len()), (status::NOT_SUPPORTED, 0));
}

#[test]
fn a_reply_that_does_not_fit_is_refused_before_running() {
    let server = Server::new(StdHost);
    let entry = CATALOGUE.iter().find(|e| e.name == "mixed-record").unwrap();
    let needed = HEADER_SIZE + size_of::<RunReply>() + usize::from(entry.threads) * 32;
    let input = request(Command::RunScenario, &run_request(entry.id, 30_000));
    assert_eq!(
        send(&server, &input, needed - 1).0,
        status::BUFFER_TOO_SMALL
    );
    assert_eq!(stats(&server).runs.get(), 0, "nothing ran");
    assert_eq!(
        send(&server, &request(Command::Hello, &[0_u8; 0]), HEADER_SIZE).0,
        status::BUFFER_TOO_SMALL
    );
    let (code, reply) = send(&server, &input, needed);
    assert_eq!((code, reply.len()), (status::SUCCESS, needed));
}

#[test]
fn a_second_run_while_one_is_running_is_busy() {
    let server = Arc::new(Server::new(StdHost));
    let long = RunRequest {
        time_limit_ms: U32::new(1_500),
        ..workload(21, LockKind::PushLock, 2, 0, 100)
    };
    let runner = {
        let server = server.clone();
        thread::spawn(move || run(&server, &long))
    };
    while stats(&server).running.get() == 0 {
        thread::sleep(Duration::from_millis(1));
    }
    let (code, _) = send(
        &server,
        &request(Command::RunScenario, &run_request(1, 1_000)),
        64 * 1024,
    );
    assert_eq!(code, status::DEVICE_BUSY);
    let (code, _) = send(&server, &request(Command::Hello, &[0_u8; 0]), 256);
    assert_eq!(code, status::SUCCESS, "other commands still answer");
    let (reply, _) = runner.join().unwrap();
    assert_eq!(
        Outcome::from_code(reply.outcome.get()),
        Some(Outcome::Passed),
        "a timed run ends at its limit"
    );
    assert_eq!(stats(&server).runs.get(), 1);
}

#[test]
fn workloads_run_on_every_sim_lock() {
    let server = Server::new(StdHost);
    for lock in [
        LockKind::PushLock,
        LockKind::ParkingLot,
        LockKind::StdRwLock,
        LockKind::Spin,
        LockKind::Usync,
        LockKind::CountedPushLock,
        LockKind::CacheAwarePushLock,
        LockKind::CrossbeamSharded,
        LockKind::CountedCacheAwarePushLock,
    ] {
        for (scenario, write_permille) in [(20, 200), (21, 500), (22, 0)] {
            let (reply, threads) = run(&server, &workload(scenario, lock, 4, 500, write_permille));
            let label = format!("{lock:?} scenario {scenario}");
            assert_eq!(
                Outcome::from_code(reply.outcome.get()),
                Some(Outcome::Passed),
                "{label}: {}",
                text(&reply.detail)
            );
            assert_eq!(reply.violations.get(), 0, "{label}");
            let total: u64 = threads
                .iter()
                .map(|t| t.shared.get() + t.exclusive.get())
                .sum();
            assert_eq!(total, 4 * 500, "{label}: every operation counted");
            assert_eq!(
                reply.shared_acquisitions.get() + reply.exclusive_acquisitions.get(),
                total
            );
            if scenario == 22 {
                assert_eq!(threads[0].role, Role::Writer as u8);
                assert_eq!(
                    threads[0].shared.get(),
                    0,
                    "{label}: the writer only writes"
                );
                assert!(
                    threads[1..].iter().all(|t| t.exclusive.get() == 0),
                    "{label}: readers only read"
                );
                assert!(
                    reply.max_writer_wait_ns.get() > 0,
                    "{label}: writer waits are timed"
                );
                let ranked = [
                    reply.writer_wait_p50_ns.get(),
                    reply.writer_wait_p99_ns.get(),
                    reply.writer_wait_p999_ns.get(),
                    reply.max_writer_wait_ns.get(),
                ];
                assert!(
                    ranked[0] > 0 && ranked.is_sorted(),
                    "{label}: median, p99, p99.9, longest: {ranked:?}"
                );
            } else if scenario == 21 {
                assert_eq!(
                    reply.writer_wait_p99_ns.get(),
                    0,
                    "{label}: the bench times nothing"
                );
            }
        }
    }
}

#[test]
fn stress_counts_readers_inside_together() {
    let server = Server::new(StdHost);
    let (reply, _) = run(&server, &workload(20, LockKind::PushLock, 8, 4000, 0));
    assert_eq!(reply.exclusive_acquisitions.get(), 0);
    assert!(reply.max_readers_inside.get() >= 1);
    assert!(reply.max_readers_inside.get() <= 8);
}

#[test]
fn an_unfinished_workload_is_reported_as_timed_out() {
    let server = Server::new(StdHost);
    let request = RunRequest {
        time_limit_ms: U32::new(50),
        hold_ns: U32::new(limits::MAX_HOLD_NS),
        ..workload(20, LockKind::PushLock, 2, limits::MAX_ITERATIONS, 500)
    };
    let (reply, _) = run(&server, &request);
    assert_eq!(
        Outcome::from_code(reply.outcome.get()),
        Some(Outcome::TimedOut)
    );
    assert!(
        text(&reply.detail).contains("time limit"),
        "{}",
        text(&reply.detail)
    );
    assert_eq!(stats(&server).timed_out.get(), 1);
}

/// `StdHost`, except that its `spin` lock never lets anyone in: a stand-in for a lock bug.
#[derive(Clone, Copy)]
struct WedgedHost;

/// A lock nobody ever gets: every acquisition blocks forever.
struct Wedged;

impl TestLock for Wedged {
    fn exclusive<R>(&self, _: impl FnOnce() -> R) -> R {
        loop {
            thread::park();
        }
    }

    fn shared<R>(&self, f: impl FnOnce() -> R) -> R {
        self.exclusive(f)
    }
}

impl Host for WedgedHost {
    like_the_sim!();
    fn apcs_disabled(&self) -> bool {
        StdHost.apcs_disabled()
    }
    fn with_lock<V: LockVisitor>(
        &self,
        kind: LockKind,
        visitor: V,
    ) -> Result<V::Output, LockUnavailable> {
        if kind != LockKind::Spin {
            return Err(LockUnavailable::NotOffered);
        }
        Ok(visitor.visit(Shared::try_new(Wedged)?))
    }
    fn lock_kinds(&self) -> &'static [LockKind] {
        &[LockKind::Spin]
    }
}

#[test]
fn a_wedged_lock_is_abandoned_and_reported_not_waited_on() {
    let server = Server::new(WedgedHost);
    let request = RunRequest {
        time_limit_ms: U32::new(100),
        ..workload(20, LockKind::Spin, 3, 10, 500)
    };
    let input = common::request(Command::RunScenario, &request);
    let mut output = vec![0; 64 * 1024];
    let (code, len) = server.message(&input, &mut output);
    assert_eq!(code, status::SUCCESS);
    let payload = parse_reply(&output[..len], Command::RunScenario, 42).unwrap();
    let reply = RunReply::read_from_prefix(payload).unwrap().0;
    assert_eq!(
        Outcome::from_code(reply.outcome.get()),
        Some(Outcome::TimedOut)
    );
    assert_eq!(reply.stuck_threads.get(), 3, "{}", text(&reply.detail));
    assert!(
        text(&reply.detail).contains("stuck"),
        "{}",
        text(&reply.detail)
    );
    let (code, _) = server.message(&common::request(Command::Hello, &[0_u8; 0]), &mut output);
    assert_eq!(code, status::SUCCESS, "the server still answers");
}

/// The sim with `count` named locks of its own, each with distinct counters.
#[derive(Clone, Copy)]
struct NamedLocksHost {
    count: usize,
}

impl Host for NamedLocksHost {
    like_the_sim!();

    fn apcs_disabled(&self) -> bool {
        StdHost.apcs_disabled()
    }

    fn named_lock(&self, index: usize) -> Option<NamedLock> {
        const NAMES: [&str; 2] = ["policy set", "a name longer than twenty-four bytes"];
        let at = u64::try_from(index).unwrap();
        (index < self.count).then(|| NamedLock {
            name: NAMES[index % 2],
            statistics: LockStatistics {
                shared_acquisitions: 1000 + at,
                exclusive_acquisitions: 2000 + at,
                contended: 30 + at,
                spun: 20 + at,
                sleeps: 10 + at,
                longest_wait_ns: 5000 + at,
                longest_hold_ns: 700 + at,
            },
            word: 0x11 + index,
        })
    }
}

fn locks<H: Host>(server: &Server<H>, capacity: usize) -> Result<(LocksReply, Vec<LockInfo>), i32> {
    let (code, reply) = send(server, &request(Command::Locks, &[0_u8; 0]), capacity);
    if code != status::SUCCESS {
        assert!(reply.is_empty(), "an error writes nothing");
        return Err(code);
    }
    let payload = parse_reply(&reply, Command::Locks, 42).unwrap();
    let (head, rest) = LocksReply::read_from_prefix(payload).unwrap();
    let entries = <[LockInfo]>::ref_from_bytes(rest).unwrap().to_vec();
    assert_eq!(entries.len(), head.count.get() as usize);
    Ok((head, entries))
}

#[test]
fn locks_lists_the_hosts_named_locks_with_their_counters() {
    let server = Server::new(NamedLocksHost { count: 2 });
    let (head, entries) = locks(&server, 1024).unwrap();
    assert_eq!(head.reserved.get(), 0);
    let names: Vec<&str> = entries.iter().map(|entry| text(&entry.name)).collect();
    assert_eq!(
        names,
        ["policy set", "a name longer than twent"],
        "cut at the field's 24 bytes"
    );
    let second = entries[1];
    assert_eq!(
        [
            second.shared_acquisitions.get(),
            second.exclusive_acquisitions.get(),
            second.contended.get(),
            second.spun.get(),
            second.sleeps.get(),
            second.longest_wait_ns.get(),
            second.longest_hold_ns.get(),
            second.word.get(),
            second.reserved.get(),
        ],
        [1001, 2001, 31, 21, 11, 5001, 701, 0x12, 0]
    );
}

#[test]
fn locks_on_the_sim_is_an_empty_table() {
    let server = Server::new(StdHost);
    let (head, entries) = locks(&server, 64).unwrap();
    assert_eq!((head.count.get(), entries.len()), (0, 0));
}

#[test]
fn locks_lists_at_most_the_limit_and_refuses_a_short_buffer() {
    let server = Server::new(NamedLocksHost { count: 40 });
    let max = limits::MAX_NAMED_LOCKS as usize;
    let whole = HEADER_SIZE + size_of::<LocksReply>() + max * size_of::<LockInfo>();
    let (_, entries) = locks(&server, whole).unwrap();
    assert_eq!(entries.len(), max);
    assert_eq!(
        locks(&server, whole - 1).unwrap_err(),
        status::BUFFER_TOO_SMALL
    );
    let before = stats_on(&server).messages.get();
    let _ = locks(&server, HEADER_SIZE);
    assert_eq!(
        stats_on(&server).messages.get(),
        before + 1,
        "a refused Locks is not counted (only the Stats read is)"
    );
}
