//! The wire format between `pushlock-harness` and the `pushlock-filter` driver (or the harness's
//! in-process `sim` server).
//!
//! Every message, request or reply, is one [`Header`] followed by one payload. All integers are
//! little-endian and every type has alignment 1 (zerocopy's `Unaligned`): the kernel receives an
//! arbitrary user buffer and never assumes alignment. Parsing never trusts a length: the header's
//! `length` must equal the bytes actually received, and each command's payload has one exact size.
//!
//! | command | request payload | reply payload |
//! |---|---|---|
//! | `Hello` (1) | none | [`HelloReply`] |
//! | `ListScenarios` (2) | [`ListRequest`] | [`ListReply`] + `count` × [`ScenarioInfo`] |
//! | `RunScenario` (3) | [`RunRequest`] | [`RunReply`] + `threads` × [`ThreadReport`] |
//! | `Stats` (4) | none | [`StatsReply`] |
//! | `SetPolicy` (5) | [`PolicyRequest`] | none |
//! | `Locks` (6) | none | [`LocksReply`] + `count` × [`LockInfo`] |
//!
//! A reply's header carries the request's command with [`REPLY`] set, and the request's id.
//!
//! Versioning: the header layout is frozen. `Hello` is answered at any version (with the server's
//! version, so an old harness can say what it needs); every other command must carry [`VERSION`]
//! exactly, else `STATUS_REVISION_MISMATCH`. A command added within a version (`Locks`) is one an older server
//! refuses as unknown, which a client reports as "not supported by this server". Reserved fields must be zero, so that later versions
//! can give them meaning. Unknown commands get `STATUS_INVALID_DEVICE_REQUEST`.
#![no_std]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

mod messages;
mod parse;
pub mod status;
mod writer;

pub use messages::{
    HelloReply, Limits, ListReply, ListRequest, LockInfo, LocksReply, PolicyRequest, RunReply,
    RunRequest, ScenarioInfo, StatsReply, ThreadReport,
};
pub use parse::{ProtocolError, Request, parse_reply, parse_request};
pub use writer::MessageWriter;
pub use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `"PLCK"` read as a little-endian `u32`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"PLCK");
/// The protocol version this crate speaks.
pub const VERSION: u16 = 2;
/// Set in a reply's `command`.
pub const REPLY: u16 = 0x8000;
/// The driver's Filter Manager communication port.
pub const PORT_NAME: &str = "\\PushLockPort";

/// The bounds every server enforces (`STATUS_INVALID_PARAMETER` beyond them).
pub mod limits {
    /// Threads in one workload run.
    pub const MAX_THREADS: u32 = 64;
    /// A run's time limit, in milliseconds.
    pub const MAX_TIME_LIMIT_MS: u32 = 60_000;
    /// Critical-section length of a workload, in nanoseconds.
    pub const MAX_HOLD_NS: u32 = 1_000_000;
    /// Operations per thread of a workload (0 means "until the time limit").
    pub const MAX_ITERATIONS: u64 = 1 << 40;
    /// Write share of a workload, in thousandths.
    pub const MAX_WRITE_PERMILLE: u16 = 1000;
    /// Process ids in the filter's policy set.
    pub const MAX_POLICY_PIDS: u32 = 64;
    /// Named locks a `Locks` reply can list.
    pub const MAX_NAMED_LOCKS: u32 = 16;
}

/// The header in front of every message (24 bytes).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: U32,
    /// [`VERSION`] of the sender.
    pub version: U16,
    /// A [`Command`], with [`REPLY`] set in replies.
    pub command: U16,
    /// Bytes in the whole message, this header included.
    pub length: U32,
    /// Reserved, zero.
    pub flags: U32,
    /// Chosen by the requester, echoed in the reply.
    pub request_id: U64,
}

/// Size of [`Header`] in bytes.
pub const HEADER_SIZE: usize = size_of::<Header>();

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Command {
    /// Versions, platform, capabilities and limits.
    Hello = 1,
    /// A page of the scenario catalogue.
    ListScenarios = 2,
    /// Run one scenario and report.
    RunScenario = 3,
    /// The server's counters.
    Stats = 4,
    /// Replace the filter's policy: the process ids whose creates it counts.
    SetPolicy = 5,
    /// The contention statistics of the server's named locks.
    Locks = 6,
}

impl Command {
    /// The command with this code, if it is one.
    #[must_use]
    pub const fn from_code(code: u16) -> Option<Self> {
        match code {
            1 => Some(Self::Hello),
            2 => Some(Self::ListScenarios),
            3 => Some(Self::RunScenario),
            4 => Some(Self::Stats),
            5 => Some(Self::SetPolicy),
            6 => Some(Self::Locks),
            _ => None,
        }
    }
}

/// A lock a workload can run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum LockKind {
    /// Our push lock (`pushlock::RawPushLock`), on every platform.
    PushLock = 1,
    /// `parking_lot::RwLock` (sim only).
    ParkingLot = 2,
    /// `std::sync::RwLock` (sim only).
    StdRwLock = 3,
    /// `spin::RwLock` (sim only).
    Spin = 4,
    /// `usync::RwLock` (sim only).
    Usync = 5,
    /// Our push lock with contention statistics (`pushlock::CountedPushLock`), on every platform.
    CountedPushLock = 6,
    /// Our cache-aware push lock (`pushlock::CacheAwarePushLock`: a push lock per processor),
    /// on every platform.
    CacheAwarePushLock = 7,
    /// crossbeam's `ShardedLock` (a lock per shard, readers keyed by thread; sim only).
    CrossbeamSharded = 8,
    /// Our cache-aware push lock with counted slots (`pushlock::CountedCacheAwarePushLock`:
    /// statistics per processor; the driver's policy lock), on every platform.
    CountedCacheAwarePushLock = 9,
    /// The kernel's own push lock through `FltAcquirePushLock*` (driver only).
    KernelPushLock = 16,
    /// An `ERESOURCE` (driver only).
    EResource = 17,
}

impl LockKind {
    /// Every kind, in code order.
    pub const ALL: [Self; 11] = [
        Self::PushLock,
        Self::ParkingLot,
        Self::StdRwLock,
        Self::Spin,
        Self::Usync,
        Self::CountedPushLock,
        Self::CacheAwarePushLock,
        Self::CrossbeamSharded,
        Self::CountedCacheAwarePushLock,
        Self::KernelPushLock,
        Self::EResource,
    ];

    /// The kind with this code, if it is one.
    #[must_use]
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as u16 == code)
    }

    /// A short name for tables and the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::PushLock => "pushlock",
            Self::ParkingLot => "parking_lot",
            Self::StdRwLock => "std",
            Self::Spin => "spin",
            Self::Usync => "usync",
            Self::CountedPushLock => "pushlock-counted",
            Self::CacheAwarePushLock => "pushlock-cache-aware",
            Self::CrossbeamSharded => "crossbeam-sharded",
            Self::CountedCacheAwarePushLock => "pushlock-cache-aware-counted",
            Self::KernelPushLock => "kernel-pushlock",
            Self::EResource => "eresource",
        }
    }

    /// This kind's bit in [`HelloReply::lock_kinds`].
    #[must_use]
    pub const fn bit(self) -> u32 {
        match 1_u32.checked_shl(self as u32) {
            Some(bit) => bit,
            None => 0,
        }
    }
}

/// Where the server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum PlatformKind {
    /// In the harness's own process, on `StdPlatform`.
    Sim = 1,
    /// In the driver, on `KernelPlatform`.
    Kernel = 2,
}

/// What a scenario is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ScenarioKind {
    /// A fixed check of the push lock's behaviour (PUSHLOCK.md §5); takes no workload parameters.
    Conformance = 1,
    /// A parameterised workload (threads, write share, hold time) on any lock.
    Workload = 2,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Outcome {
    /// Every check held.
    Passed = 1,
    /// A check failed; `detail` says which.
    Failed = 2,
    /// The time limit passed first (a hang, for a conformance scenario).
    TimedOut = 3,
}

impl Outcome {
    /// The outcome with this code, if it is one.
    #[must_use]
    pub const fn from_code(code: u16) -> Option<Self> {
        match code {
            1 => Some(Self::Passed),
            2 => Some(Self::Failed),
            3 => Some(Self::TimedOut),
            _ => None,
        }
    }
}

/// What a thread in a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Only shared acquisitions.
    Reader = 1,
    /// Only exclusive acquisitions.
    Writer = 2,
    /// Both, by the write share.
    Mixed = 3,
}

/// A thread's last reported state, for hang reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Not yet at the lock.
    Starting = 0,
    /// Waiting for a shared acquisition.
    WantsShared = 1,
    /// Waiting for an exclusive acquisition.
    WantsExclusive = 2,
    /// Holding the lock shared.
    HoldsShared = 3,
    /// Holding the lock exclusively.
    HoldsExclusive = 4,
    /// Released; between acquisitions.
    Released = 5,
    /// Done.
    Finished = 6,
}

impl Phase {
    /// The phase with this code, if it is one.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Starting),
            1 => Some(Self::WantsShared),
            2 => Some(Self::WantsExclusive),
            3 => Some(Self::HoldsShared),
            4 => Some(Self::HoldsExclusive),
            5 => Some(Self::Released),
            6 => Some(Self::Finished),
            _ => None,
        }
    }
}

/// Copies `text` into a fixed, NUL-padded field, cutting it at a character boundary if needed.
pub fn put_text(field: &mut [u8], text: &str) -> usize {
    let mut end = text.len().min(field.len());
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let (used, rest) = field.split_at_mut(end);
    used.copy_from_slice(text.as_bytes().get(..end).unwrap_or_default());
    rest.fill(0);
    end
}

/// The text in a NUL-padded field (up to the first NUL; invalid UTF-8 is cut off).
#[must_use]
pub fn text(field: &[u8]) -> &str {
    let end = field
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(field.len());
    let bytes = field.get(..end).unwrap_or_default();
    match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => core::str::from_utf8(bytes.get(..error.valid_up_to()).unwrap_or_default())
            .unwrap_or_default(),
    }
}
