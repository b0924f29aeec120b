//! Driving the driver through the user-mode kernel, with the books checked at every step.
#![allow(dead_code, reason = "each test binary uses a different part")]

use pushlock_kernel::{Fault, Handle, Message, Session};
use pushlock_protocol::{
    Command, HEADER_SIZE, HelloReply, LockInfo, LockKind, LocksReply, MessageWriter, Outcome,
    PolicyRequest, RunReply, RunRequest, StatsReply, U16, U32, parse_reply, text,
};
use pushlock_selftest::CATALOGUE;
use zerocopy::{FromBytes, Immutable, IntoBytes};

// The driver itself, linked in: its DriverEntry and callbacks are what the kernel calls.
use pushlock_filter as _;

pub const STATUS_SUCCESS: i32 = 0;
/// Room for the largest reply (as the harness allows).
pub const REPLY_CAPACITY: usize = 16 * 1024;

/// A loaded driver in a session; asserts the books clean after each step.
pub struct Driver<'a> {
    pub session: &'a Session,
}

impl<'a> Driver<'a> {
    /// `DriverEntry` succeeds.
    pub fn load(session: &'a Session) -> Self {
        assert_eq!(session.driver_entry(), STATUS_SUCCESS, "DriverEntry");
        let driver = Self { session };
        driver.clean("DriverEntry");
        driver
    }

    /// No rule broken so far.
    pub fn clean(&self, after: &str) {
        let violations = self.session.violations();
        assert!(violations.is_empty(), "after {after}: {violations:#?}");
    }

    pub fn connect(&self) -> Handle {
        let client = self.session.connect().expect("the port accepts a client");
        self.clean("connect");
        client
    }

    pub fn send(&self, client: Handle, message: &[u8]) -> Message {
        let reply = self.session.send(client, message, REPLY_CAPACITY);
        self.clean("a message");
        reply
    }

    /// Unloads with `flags`; the unload succeeds and leaves nothing behind.
    pub fn unload(self, flags: u32) {
        assert_eq!(self.session.unload(flags), STATUS_SUCCESS, "unload");
        self.clean("unload");
        let leaks = self.session.leaks();
        assert!(leaks.is_empty(), "left behind after unload: {leaks:#?}");
    }
}

/// A request as the harness builds it.
pub fn request<T: IntoBytes + Immutable + ?Sized>(command: Command, payload: &T) -> Vec<u8> {
    let bytes = payload.as_bytes();
    let mut out = vec![0; HEADER_SIZE + bytes.len()];
    let mut writer = MessageWriter::new(&mut out, command as u16, 42, bytes.len()).unwrap();
    writer.put(bytes);
    assert!(writer.finish().is_some());
    out
}

/// The payload of a successful reply to `command`.
pub fn payload(message: &Message, command: Command) -> &[u8] {
    assert_eq!(
        message.status, STATUS_SUCCESS,
        "{command:?} answered {:#x}",
        message.status
    );
    parse_reply(message.reply(), command, 42).expect("a well-formed reply")
}

pub fn hello(message: &Message) -> HelloReply {
    HelloReply::read_from_bytes(payload(message, Command::Hello)).unwrap()
}

pub fn stats(driver: &Driver<'_>, client: Handle) -> StatsReply {
    let reply = driver.send(client, &request(Command::Stats, &()));
    StatsReply::read_from_bytes(payload(&reply, Command::Stats)).unwrap()
}

/// The driver's named locks (`Locks`).
pub fn locks(driver: &Driver<'_>, client: Handle) -> Vec<LockInfo> {
    let reply = driver.send(client, &request(Command::Locks, &()));
    let (head, entries) = LocksReply::read_from_prefix(payload(&reply, Command::Locks)).unwrap();
    let entries = <[LockInfo]>::ref_from_bytes(entries).unwrap();
    assert_eq!(entries.len(), head.count.get() as usize);
    entries.to_vec()
}

pub fn policy(pids: &[u32]) -> Vec<u8> {
    let mut policy = PolicyRequest {
        count: U32::new(u32::try_from(pids.len()).unwrap()),
        ..PolicyRequest::default()
    };
    for (slot, pid) in policy.pids.iter_mut().zip(pids) {
        *slot = U32::new(*pid);
    }
    request(Command::SetPolicy, &policy)
}

/// The catalogue id of scenario `name`.
pub fn scenario(name: &str) -> u16 {
    CATALOGUE
        .iter()
        .find(|entry| entry.name == name)
        .unwrap()
        .id
}

/// A run of scenario `name` on `lock` as the harness asks for it (workloads: `threads` threads,
/// 10 % writes, 100 ns holds; conformance: the parameters are left 0).
pub fn run_request(name: &str, lock: LockKind, threads: u32, time_limit_ms: u32) -> Vec<u8> {
    let run = RunRequest {
        scenario: U16::new(scenario(name)),
        lock: U16::new(lock as u16),
        threads: U32::new(threads),
        write_permille: U16::new(if threads > 0 { 100 } else { 0 }),
        hold_ns: U32::new(if threads > 0 { 100 } else { 0 }),
        time_limit_ms: U32::new(time_limit_ms),
        ..RunRequest::default()
    };
    request(Command::RunScenario, &run)
}

/// The head of a run's reply.
pub fn run_reply(message: &Message) -> RunReply {
    RunReply::read_from_prefix(payload(message, Command::RunScenario))
        .unwrap()
        .0
}

/// Runs and requires `Passed`, no stuck thread, the word back to 0.
pub fn passes(driver: &Driver<'_>, client: Handle, what: &str, message: &[u8]) -> RunReply {
    let reply = run_reply(&driver.send(client, message));
    assert_eq!(
        Outcome::from_code(reply.outcome.get()),
        Some(Outcome::Passed),
        "{what}: {}",
        text(&reply.detail)
    );
    assert_eq!(reply.stuck_threads.get(), 0, "{what}");
    reply
}

/// The message was refused with `status`: nothing reported written, the output untouched.
pub fn refused(reply: &Message, status: i32, what: &str) {
    assert_eq!((reply.status, reply.returned), (status, 0), "{what}");
    assert!(
        reply.output.iter().all(|&b| b == 0xEE),
        "{what}: a refusal wrote"
    );
}

/// Sends `message` once per allocation it makes (`sites` of them, counted by a run without
/// faults), that allocation failing; `check` sees the site and the reply. The books stay clean.
pub fn each_allocation_failing(
    driver: &Driver<'_>,
    client: Handle,
    message: &[u8],
    sites: u64,
    mut check: impl FnMut(u64, &Message),
) {
    assert!(sites > 0, "the message allocates nothing");
    for site in 1..=sites {
        driver.session.inject(Fault::Allocation(site));
        let reply = driver.session.send(client, message, REPLY_CAPACITY);
        driver.session.clear_faults();
        driver.clean("a message with a failing allocation");
        check(site, &reply);
    }
}
