//! Building requests and reading replies, as the harness does.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    clippy::disallowed_types,
    reason = "user-mode tests: allocation failure aborts the test, as it should"
)]
#![allow(dead_code, reason = "each test binary uses a different part")]

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
