//! Building requests and reading replies, as the harness does.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    clippy::disallowed_types,
    reason = "user-mode tests: allocation failure aborts the test, as it should"
)]
#![allow(
    dead_code,
    unused_macros,
    reason = "each test binary uses a different part"
)]

use pushlock_protocol::{
    Command, HEADER_SIZE, MessageWriter, RunReply, RunRequest, ThreadReport, U16, U32, parse_reply,
};
use pushlock_selftest::{Host, Server, StdHost};
use zerocopy::{FromBytes, Immutable, IntoBytes};

pub fn request<T: IntoBytes + Immutable + ?Sized>(command: Command, payload: &T) -> Vec<u8> {
    let bytes = payload.as_bytes();
    let mut out = vec![0; HEADER_SIZE + bytes.len()];
    let mut writer = MessageWriter::new(&mut out, command as u16, 42, bytes.len()).unwrap();
    writer.put(bytes);
    assert!(writer.finish().is_some());
    out
}

/// Sends `input`, returns the status and the reply bytes.
pub fn send<H: Host>(server: &Server<H>, input: &[u8], capacity: usize) -> (i32, Vec<u8>) {
    let mut output = vec![0xCC; capacity];
    let (status, len) = server.message(input, &mut output);
    output.truncate(len);
    (status, output)
}

pub fn run_request(scenario: u16, time_limit_ms: u32) -> RunRequest {
    RunRequest {
        scenario: U16::new(scenario),
        lock: U16::new(1),
        time_limit_ms: U32::new(time_limit_ms),
        ..RunRequest::default()
    }
}

/// Runs a scenario and returns its reply and thread reports.
pub fn run(server: &Server<StdHost>, request: &RunRequest) -> (RunReply, Vec<ThreadReport>) {
    run_on(server, request)
}

/// [`run`] on any host.
pub fn run_on<H: Host>(server: &Server<H>, request: &RunRequest) -> (RunReply, Vec<ThreadReport>) {
    let (status, reply) = send(
        server,
        &self::request(Command::RunScenario, request),
        64 * 1024,
    );
    assert_eq!(status, 0, "RunScenario answered {status:#x}");
    let payload = parse_reply(&reply, Command::RunScenario, 42).unwrap();
    let (head, rest) = RunReply::read_from_prefix(payload).unwrap();
    let threads = <[ThreadReport]>::ref_from_bytes(rest).unwrap().to_vec();
    assert_eq!(threads.len(), usize::from(head.threads.get()));
    (head, threads)
}

/// The body of a test `Host` that is the sim in all but what it overrides: threads, clock,
/// processors and platform from [`StdHost`].
macro_rules! like_the_sim {
    () => {
        type Platform = <pushlock_selftest::StdHost as pushlock_selftest::Host>::Platform;
        type Thread = <pushlock_selftest::StdHost as pushlock_selftest::Host>::Thread;
        const PLATFORM: pushlock_protocol::PlatformKind =
            <pushlock_selftest::StdHost as pushlock_selftest::Host>::PLATFORM;
        const VERSION: [u16; 3] = <pushlock_selftest::StdHost as pushlock_selftest::Host>::VERSION;

        fn spawn(
            &self,
            body: Box<dyn FnOnce() + Send>,
        ) -> Result<Self::Thread, pushlock_selftest::SpawnError> {
            pushlock_selftest::StdHost.spawn(body)
        }
        fn join(&self, thread: Self::Thread, timeout_ns: u64) -> Result<(), Self::Thread> {
            pushlock_selftest::StdHost.join(thread, timeout_ns)
        }
        fn abandon(&self, thread: Self::Thread) {
            pushlock_selftest::StdHost.abandon(thread);
        }
        fn now_ns(&self) -> u64 {
            pushlock_selftest::StdHost.now_ns()
        }
        fn processor_count(&self) -> u32 {
            pushlock_selftest::StdHost.processor_count()
        }
        fn yield_now(&self) {
            pushlock_selftest::StdHost.yield_now();
        }
        fn sleep_ns(&self, ns: u64) {
            pushlock_selftest::StdHost.sleep_ns(ns);
        }
    };
}
