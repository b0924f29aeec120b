//! The payloads, one fixed layout each.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The bounds a server enforces, as it reports them.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Limits {
    /// Threads per workload run.
    pub max_threads: U32,
    /// Time limit per run, in milliseconds.
    pub max_time_limit_ms: U32,
    /// Critical-section length, in nanoseconds.
    pub max_hold_ns: U32,
    /// Reserved, zero.
    pub reserved: U32,
    /// Operations per thread.
    pub max_iterations: U64,
}

/// Reply to `Hello`.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct HelloReply {
    /// The server's protocol version.
    pub protocol_version: U16,
    /// A [`PlatformKind`](crate::PlatformKind).
    pub platform: U16,
    /// The server's (driver's) version.
    pub server_version: [U16; 3],
    /// Reserved, zero.
    pub reserved: U16,
    /// Processors the server's scenarios can use.
    pub processor_count: U32,
    /// Scenarios in the catalogue.
    pub scenario_count: U32,
    /// [`LockKind::bit`](crate::LockKind::bit) of every lock workloads can run against.
    pub lock_kinds: U32,
    /// Reserved, zero.
    pub reserved2: U32,
    /// Capability bits; see [`HelloReply::CAP_FILTER`].
    pub capabilities: U64,
    /// The bounds this server enforces.
    pub limits: Limits,
}

impl HelloReply {
    /// The server is a file-system filter with create counters (the driver).
    pub const CAP_FILTER: u64 = 0x1;
}

/// Request for one page of the catalogue.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ListRequest {
    /// Index of the first entry wanted.
    pub first: U32,
    /// Reserved, zero.
    pub reserved: U32,
}

/// Reply to `ListScenarios`; `count` [`ScenarioInfo`]s follow (as many as fit the output).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ListReply {
    /// Entries in the whole catalogue.
    pub total: U32,
    /// Entries in this reply.
    pub count: U32,
}

/// One catalogue entry (128 bytes).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ScenarioInfo {
    /// The id to run it by.
    pub id: U16,
    /// A [`ScenarioKind`](crate::ScenarioKind).
    pub kind: u8,
    /// Reserved, zero.
    pub reserved: u8,
    /// Threads it uses (conformance) or suggests (workload).
    pub threads: U16,
    /// Reserved, zero.
    pub reserved2: U16,
    /// Short name, NUL-padded.
    pub name: [u8; 24],
    /// One line on what it checks, NUL-padded.
    pub summary: [u8; 96],
}

/// Request to run one scenario.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RunRequest {
    /// Scenario id.
    pub scenario: U16,
    /// A [`LockKind`](crate::LockKind) (conformance scenarios: `PushLock`).
    pub lock: U16,
    /// Threads (workloads: 1..=64; conformance: 0).
    pub threads: U32,
    /// Operations per thread (workloads; 0 = until the time limit; conformance: 0).
    pub iterations: U64,
    /// Exclusive share of operations, in thousandths (workloads; conformance: 0).
    pub write_permille: U16,
    /// Reserved, zero.
    pub reserved: U16,
    /// Critical-section length in nanoseconds (workloads; conformance: 0).
    pub hold_ns: U32,
    /// Seeds the workload's operation mix and the scenarios' timing jitter.
    pub seed: U64,
    /// After this the run is stopped and reported as timed out (1..=60000).
    pub time_limit_ms: U32,
    /// Reserved, zero.
    pub flags: U32,
}

/// Reply to `RunScenario`; `threads` [`ThreadReport`]s follow.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RunReply {
    /// Scenario id run.
    pub scenario: U16,
    /// Lock run against.
    pub lock: U16,
    /// An [`Outcome`](crate::Outcome).
    pub outcome: U16,
    /// Thread reports that follow.
    pub threads: U16,
    /// Wall time of the run.
    pub elapsed_ns: U64,
    /// Shared acquisitions by all threads.
    pub shared_acquisitions: U64,
    /// Exclusive acquisitions by all threads.
    pub exclusive_acquisitions: U64,
    /// Most readers seen inside at once.
    pub max_readers_inside: U32,
    /// Invariant violations seen (must be 0).
    pub violations: U32,
    /// Longest exclusive acquisition wait measured, in nanoseconds (0 if not measured).
    pub max_writer_wait_ns: U64,
    /// Median exclusive acquisition wait, in nanoseconds (0 if not measured). Percentiles are
    /// bucket upper bounds, within 12.5 % of the true value.
    pub writer_wait_p50_ns: U64,
    /// 99th percentile of the exclusive acquisition waits.
    pub writer_wait_p99_ns: U64,
    /// 99.9th percentile of the exclusive acquisition waits.
    pub writer_wait_p999_ns: U64,
    /// The lock word when the run ended or failed (0 where the lock has no readable word).
    pub lock_word: U64,
    /// Threads that did not end after the run was stopped (stuck in the lock: a lock bug).
    pub stuck_threads: U32,
    /// Bytes of `detail` in use.
    pub detail_len: U32,
    /// What failed, with a dump of the lock word and thread states; UTF-8, NUL-padded.
    pub detail: [u8; 256],
}

/// What one thread of a run did (32 bytes).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ThreadReport {
    /// Shared acquisitions.
    pub shared: U64,
    /// Exclusive acquisitions.
    pub exclusive: U64,
    /// Longest measured wait for the lock, in nanoseconds (0 if not measured).
    pub max_wait_ns: U64,
    /// A [`Role`](crate::Role).
    pub role: u8,
    /// The [`Phase`](crate::Phase) it was last in.
    pub phase: u8,
    /// Reserved, zero.
    pub reserved: [u8; 6],
}

/// Request to replace the filter's policy set (264 bytes).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct PolicyRequest {
    /// Entries of `pids` in use (0 clears the set; at most 64).
    pub count: U32,
    /// Reserved, zero.
    pub reserved: U32,
    /// Process ids; entries past `count` must be zero.
    pub pids: [U32; 64],
}

impl Default for PolicyRequest {
    fn default() -> Self {
        Self {
            count: U32::new(0),
            reserved: U32::new(0),
            pids: [U32::new(0); 64],
        }
    }
}

/// Reply to `Stats`: the server's counters since it started.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct StatsReply {
    /// Well-formed messages answered (malformed ones change nothing, not even this).
    pub messages: U64,
    /// Runs started.
    pub runs: U64,
    /// Runs that passed.
    pub passed: U64,
    /// Runs that failed a check.
    pub failed: U64,
    /// Runs stopped at their time limit.
    pub timed_out: U64,
    /// Scenario threads abandoned because they never ended (stuck in a lock).
    pub stuck_threads: U64,
    /// 1 while a run is in progress.
    pub running: U32,
    /// 1 if the counters below come from a file-system filter.
    pub filter_present: U32,
    /// `IRP_MJ_CREATE` operations seen by the filter.
    pub creates_seen: U64,
    /// Creates from a process in the policy set.
    pub creates_matched: U64,
    /// Updates of the policy set.
    pub policy_updates: U64,
    /// Processes in the policy set.
    pub policy_size: U32,
    /// Reserved, zero.
    pub reserved: U32,
}

/// Reply to `Locks`; `count` [`LockInfo`]s follow, one per named lock of the server.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LocksReply {
    /// Entries that follow (at most [`MAX_NAMED_LOCKS`](crate::limits::MAX_NAMED_LOCKS)).
    pub count: U32,
    /// Reserved, zero.
    pub reserved: U32,
}

/// One named lock's contention statistics (96 bytes), read while it is in use: each counter is
/// exact, but they are not read at one instant.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LockInfo {
    /// The lock's name, NUL-padded.
    pub name: [u8; 24],
    /// Shared acquisitions (successful tries included).
    pub shared_acquisitions: U64,
    /// Exclusive acquisitions (successful tries included).
    pub exclusive_acquisitions: U64,
    /// Acquisitions that found the lock taken and took the slow path.
    pub contended: U64,
    /// Contended acquisitions that got the lock without sleeping.
    pub spun: U64,
    /// Sleeps on a wait block (an acquisition may sleep more than once).
    pub sleeps: U64,
    /// The longest wait of a contended acquisition, in nanoseconds.
    pub longest_wait_ns: U64,
    /// The longest exclusive hold among those sampled, in nanoseconds.
    pub longest_hold_ns: U64,
    /// The lock word when it was read.
    pub word: U64,
    /// Reserved, zero.
    pub reserved: U64,
}
