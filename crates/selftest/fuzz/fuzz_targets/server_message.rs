//! Any bytes into `Server::message`: it must never panic, must write nothing on an error, and
//! on success must write exactly one well-formed reply, within the output it was given.
//!
//! The first two input bytes choose the output capacity (so that too-small buffers are
//! explored); the rest is the message. The host cannot start threads, so valid runs are refused
//! quickly (`STATUS_INSUFFICIENT_RESOURCES`) and the fuzzer spends its time on parsing and
//! validation. It has two named locks, so `Locks` replies are sized with entries.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pushlock::LockStatistics;
use pushlock_protocol::{HEADER_SIZE, Header, LockKind, PlatformKind, status};
use pushlock_selftest::{
    Host, LockUnavailable, LockVisitor, NamedLock, Server, SpawnError, StdHost,
};

/// `StdHost` that refuses to start threads.
#[derive(Clone, Copy)]
struct NoThreads;

impl Host for NoThreads {
    type Platform = <StdHost as Host>::Platform;
    type Thread = <StdHost as Host>::Thread;
    const PLATFORM: PlatformKind = PlatformKind::Sim;
    const VERSION: [u16; 3] = [0, 0, 0];

    fn spawn(&self, _: Box<dyn FnOnce() + Send>) -> Result<Self::Thread, SpawnError> {
        Err(SpawnError)
    }
    fn join(&self, thread: Self::Thread, timeout_ns: u64) -> Result<(), Self::Thread> {
        StdHost.join(thread, timeout_ns)
    }
    fn abandon(&self, thread: Self::Thread) {
        StdHost.abandon(thread);
    }
    fn now_ns(&self) -> u64 {
        StdHost.now_ns()
    }
    fn processor_count(&self) -> u32 {
        1
    }
    fn yield_now(&self) {}
    fn sleep_ns(&self, _: u64) {}
    fn apcs_disabled(&self) -> bool {
        StdHost.apcs_disabled()
    }
    fn with_lock<V: LockVisitor>(
        &self,
        kind: LockKind,
        visitor: V,
    ) -> Result<V::Output, LockUnavailable> {
        StdHost.with_lock(kind, visitor)
    }
    fn lock_kinds(&self) -> &'static [LockKind] {
        StdHost.lock_kinds()
    }
    /// Two named locks, as the driver has one, so that `Locks` replies have entries to size.
    fn named_lock(&self, index: usize) -> Option<NamedLock> {
        (index < 2).then(|| NamedLock {
            name: "fuzzed",
            statistics: LockStatistics::default(),
            word: index,
        })
    }
}

fn server() -> &'static Arc<Server<NoThreads>> {
    static SERVER: OnceLock<Arc<Server<NoThreads>>> = OnceLock::new();
    SERVER.get_or_init(|| Arc::new(Server::new(NoThreads)))
}

fuzz_target!(|data: &[u8]| {
    let (capacity, input) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])) % 8192, rest),
        _ => (0, data),
    };
    let mut output = vec![0xA5_u8; capacity];
    let (code, len) = server().message(input, &mut output);
    assert!(len <= output.len(), "claimed more than the output holds");
    if code != status::SUCCESS {
        assert_eq!(len, 0, "an error wrote a reply");
        assert!(status::name(code).is_some(), "an unnamed status {code:#x}");
        assert!(
            output.iter().all(|&byte| byte == 0xA5),
            "an error touched the output"
        );
        return;
    }
    assert!(len >= HEADER_SIZE, "a reply without a header");
    let reply = &output[..len];
    let header = zerocopy::FromBytes::ref_from_prefix(reply)
        .map(|(h, _): (&Header, _)| h)
        .unwrap();
    assert_eq!(
        header.length.get() as usize,
        len,
        "the reply's length field lies"
    );
    assert_eq!(header.magic.get(), pushlock_protocol::MAGIC);
});
