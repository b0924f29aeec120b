//! The request handler: one message in, one reply out, exactly as the driver's
//! `MessageNotifyCallback` must answer. Malformed input gets a specific NTSTATUS and changes
//! nothing; a reply that would not fit is refused before any work is done.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use pushlock_protocol::{
    HelloReply, ListReply, ListRequest, LockInfo, LockKind, LocksReply, MessageWriter,
    PolicyRequest, REPLY, Request, RunReply, RunRequest, ScenarioInfo, ScenarioKind, StatsReply,
    ThreadReport, U16, U32, U64, VERSION, limits, parse_request, put_text, status,
};

use crate::engine::{Refused, Report};
use crate::host::{Host, LockUnavailable, NamedLock};
use crate::scenarios::{self, CATALOGUE, Entry};
use crate::workload::{Params, Workload};

/// Answers protocol messages on a [`Host`]; one run at a time.
pub struct Server<H: Host> {
    host: H,
    running: AtomicBool,
    counters: Counters,
}

struct Counters {
    messages: AtomicU64,
    runs: AtomicU64,
    passed: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    stuck_threads: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Self {
            messages: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            passed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            stuck_threads: AtomicU64::new(0),
        }
    }
}

/// A run request that passed validation.
struct Plan {
    entry: &'static Entry,
    lock: LockKind,
    /// Thread reports the reply carries.
    threads: u16,
    request: RunRequest,
}

type Answer = (i32, usize);

impl<H: Host> Server<H> {
    /// A server running scenarios on `host`.
    pub const fn new(host: H) -> Self {
        Self {
            host,
            running: AtomicBool::new(false),
            counters: Counters::new(),
        }
    }

    /// Answers one message: `(NTSTATUS, bytes written to output)`. The input and output are
    /// the caller's own copies (the driver captures user buffers before calling this).
    pub fn message(&self, input: &[u8], output: &mut [u8]) -> (i32, usize) {
        let (header, request) = match parse_request(input) {
            Ok(parsed) => parsed,
            Err(error) => return (error.status(), 0),
        };
        let reply = ReplyTo {
            command: header.command.get() | REPLY,
            id: header.request_id.get(),
        };
        let answer = match request {
            Request::Hello => self.hello(output, reply),
            Request::List(list) => Self::list(*list, output, reply),
            Request::Run(run) => match self.validate(run) {
                Ok(plan) => self.run(&plan, output, reply),
                Err(status) => (status, 0),
            },
            Request::Stats => self.stats(output, reply),
            Request::SetPolicy(policy) => self.set_policy(policy, output, reply),
            Request::Locks => self.locks(output, reply),
        };
        if answer.0 == status::SUCCESS {
            self.counters.messages.fetch_add(1, SeqCst);
        }
        answer
    }

    fn hello(&self, output: &mut [u8], reply: ReplyTo) -> Answer {
        let lock_kinds = self
            .host
            .lock_kinds()
            .iter()
            .fold(0, |bits, kind| bits | kind.bit());
        let payload = HelloReply {
            protocol_version: U16::new(VERSION),
            platform: U16::new(H::PLATFORM as u16),
            server_version: H::VERSION.map(U16::new),
            processor_count: U32::new(self.host.processor_count()),
            scenario_count: U32::new(u32::try_from(CATALOGUE.len()).unwrap_or(u32::MAX)),
            lock_kinds: U32::new(lock_kinds),
            capabilities: U64::new(if self.host.filter_stats().is_some() {
                HelloReply::CAP_FILTER
            } else {
                0
            }),
            limits: pushlock_protocol::Limits {
                max_threads: U32::new(limits::MAX_THREADS),
                max_time_limit_ms: U32::new(limits::MAX_TIME_LIMIT_MS),
                max_hold_ns: U32::new(limits::MAX_HOLD_NS),
                reserved: U32::new(0),
                max_iterations: U64::new(limits::MAX_ITERATIONS),
            },
            ..HelloReply::default()
        };
        write_reply(output, reply, size_of::<HelloReply>(), |writer| {
            writer.put(&payload);
        })
    }

    fn list(request: ListRequest, output: &mut [u8], reply: ReplyTo) -> Answer {
        let first = usize::try_from(request.first.get()).unwrap_or(usize::MAX);
        let fixed = pushlock_protocol::HEADER_SIZE.saturating_add(size_of::<ListReply>());
        let room = output.len().saturating_sub(fixed);
        let entries = CATALOGUE.get(first..).unwrap_or_default();
        let count = entries
            .len()
            .min(room.checked_div(size_of::<ScenarioInfo>()).unwrap_or(0));
        if count == 0 && !entries.is_empty() {
            return (status::BUFFER_TOO_SMALL, 0);
        }
        let payload = ListReply {
            total: U32::new(u32::try_from(CATALOGUE.len()).unwrap_or(u32::MAX)),
            count: U32::new(u32::try_from(count).unwrap_or(0)),
        };
        let size =
            size_of::<ListReply>().saturating_add(count.saturating_mul(size_of::<ScenarioInfo>()));
        write_reply(output, reply, size, |writer| {
            writer.put(&payload);
            for entry in entries.iter().take(count) {
                writer.put(&info(entry));
            }
        })
    }

    fn validate(&self, request: &RunRequest) -> Result<Plan, i32> {
        let entry = scenarios::find(request.scenario.get()).ok_or(status::INVALID_PARAMETER)?;
        let lock = LockKind::from_code(request.lock.get()).ok_or(status::INVALID_PARAMETER)?;
        let time_limit = request.time_limit_ms.get();
        if time_limit == 0 || time_limit > limits::MAX_TIME_LIMIT_MS {
            return Err(status::INVALID_PARAMETER);
        }
        let threads = match entry.kind {
            ScenarioKind::Conformance => {
                let workload_fields = u64::from(request.threads.get())
                    | request.iterations.get()
                    | u64::from(request.write_permille.get())
                    | u64::from(request.hold_ns.get());
                if workload_fields != 0 {
                    return Err(status::INVALID_PARAMETER);
                }
                if lock != LockKind::PushLock {
                    return Err(status::NOT_SUPPORTED);
                }
                entry.threads
            }
            ScenarioKind::Workload => {
                let threads = request.threads.get();
                if threads == 0
                    || threads > limits::MAX_THREADS
                    || request.iterations.get() > limits::MAX_ITERATIONS
                    || request.write_permille.get() > limits::MAX_WRITE_PERMILLE
                    || request.hold_ns.get() > limits::MAX_HOLD_NS
                {
                    return Err(status::INVALID_PARAMETER);
                }
                if !self.host.lock_kinds().contains(&lock) {
                    return Err(status::NOT_SUPPORTED);
                }
                u16::try_from(threads).map_err(|_| status::INVALID_PARAMETER)?
            }
        };
        Ok(Plan {
            entry,
            lock,
            threads,
            request: *request,
        })
    }

    fn run(&self, plan: &Plan, output: &mut [u8], reply: ReplyTo) -> Answer {
        let size = size_of::<RunReply>()
            .saturating_add(usize::from(plan.threads).saturating_mul(size_of::<ThreadReport>()));
        if output.len() < pushlock_protocol::HEADER_SIZE.saturating_add(size) {
            return (status::BUFFER_TOO_SMALL, 0);
        }
        if self
            .running
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_err()
        {
            return (status::DEVICE_BUSY, 0);
        }
        let report = self.execute(plan);
        self.running.store(false, SeqCst);
        let report = match report {
            Ok(report) => report,
            Err(status) => return (status, 0),
        };
        self.count(&report);
        write_reply(output, reply, size, |writer| {
            writer.put(&run_reply(plan, &report));
            let blank = ThreadReport::default();
            let reports = report.threads.iter().chain(core::iter::repeat(&blank));
            for thread in reports.take(usize::from(plan.threads)) {
                writer.put(thread);
            }
        })
    }

    /// Runs the plan: its report, or the status that refuses it (`STATUS_NOT_SUPPORTED` for a
    /// lock this host lacks, `STATUS_INSUFFICIENT_RESOURCES` when memory ran out).
    fn execute(&self, plan: &Plan) -> Result<Report, i32> {
        let request = &plan.request;
        let time_limit_ns = u64::from(request.time_limit_ms.get()).saturating_mul(1_000_000);
        let Some(mode) = plan.entry.mode() else {
            return plan
                .entry
                .run_conformance(&self.host, time_limit_ns, request.seed.get())
                .map_err(|Refused| status::INSUFFICIENT_RESOURCES);
        };
        let params = Params {
            mode,
            threads: u32::from(plan.threads),
            iterations: request.iterations.get(),
            write_permille: request.write_permille.get(),
            hold_ns: request.hold_ns.get(),
            seed: request.seed.get(),
            time_limit_ns,
        };
        let workload = Workload {
            host: self.host.clone(),
            params,
        };
        match self.host.with_lock(plan.lock, workload) {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(Refused)) | Err(LockUnavailable::OutOfMemory) => {
                Err(status::INSUFFICIENT_RESOURCES)
            }
            Err(LockUnavailable::NotOffered) => Err(status::NOT_SUPPORTED),
        }
    }

    fn count(&self, report: &Report) {
        let counters = &self.counters;
        counters.runs.fetch_add(1, SeqCst);
        let outcome = match report.outcome {
            pushlock_protocol::Outcome::Passed => &counters.passed,
            pushlock_protocol::Outcome::Failed => &counters.failed,
            pushlock_protocol::Outcome::TimedOut => &counters.timed_out,
        };
        outcome.fetch_add(1, SeqCst);
        counters
            .stuck_threads
            .fetch_add(u64::from(report.stuck_threads), SeqCst);
    }

    fn set_policy(&self, policy: &PolicyRequest, output: &mut [u8], reply: ReplyTo) -> Answer {
        // Sized before anything changes: an empty reply still needs room for its header.
        if output.len() < pushlock_protocol::HEADER_SIZE {
            return (status::BUFFER_TOO_SMALL, 0);
        }
        let used = usize::try_from(policy.count.get()).unwrap_or(usize::MAX);
        let mut pids = [0_u32; limits::MAX_POLICY_PIDS as usize];
        for (slot, pid) in pids.iter_mut().zip(policy.pids.iter().take(used)) {
            *slot = pid.get();
        }
        match self.host.set_policy(pids.get(..used).unwrap_or_default()) {
            Ok(()) => write_reply(output, reply, 0, |_| {}),
            Err(status) => (status, 0),
        }
    }

    fn locks(&self, output: &mut [u8], reply: ReplyTo) -> Answer {
        let max = usize::try_from(limits::MAX_NAMED_LOCKS).unwrap_or(0);
        let count = (0..max)
            .take_while(|&index| self.host.named_lock(index).is_some())
            .count();
        let size =
            size_of::<LocksReply>().saturating_add(count.saturating_mul(size_of::<LockInfo>()));
        write_reply(output, reply, size, |writer| {
            writer.put(&LocksReply {
                count: U32::new(u32::try_from(count).unwrap_or(0)),
                reserved: U32::new(0),
            });
            // Read again: a lock's counters are taken as late as possible. The host's set of
            // named locks is fixed, so the same `count` entries are there.
            for index in 0..count {
                let entry = self.host.named_lock(index).map(|lock| lock_info(&lock));
                writer.put(&entry.unwrap_or_default());
            }
        })
    }

    fn stats(&self, output: &mut [u8], reply: ReplyTo) -> Answer {
        let counters = &self.counters;
        let filter = self.host.filter_stats();
        let filter_stats = filter.unwrap_or_default();
        // A snapshot: `messages` counts this one only once it is answered.
        let payload = StatsReply {
            messages: U64::new(counters.messages.load(SeqCst)),
            runs: U64::new(counters.runs.load(SeqCst)),
            passed: U64::new(counters.passed.load(SeqCst)),
            failed: U64::new(counters.failed.load(SeqCst)),
            timed_out: U64::new(counters.timed_out.load(SeqCst)),
            stuck_threads: U64::new(counters.stuck_threads.load(SeqCst)),
            running: U32::new(u32::from(self.running.load(SeqCst))),
            filter_present: U32::new(u32::from(filter.is_some())),
            creates_seen: U64::new(filter_stats.creates_seen),
            creates_matched: U64::new(filter_stats.creates_matched),
            policy_updates: U64::new(filter_stats.policy_updates),
            policy_size: U32::new(filter_stats.policy_size),
            reserved: U32::new(0),
        };
        write_reply(output, reply, size_of::<StatsReply>(), |writer| {
            writer.put(&payload);
        })
    }
}

/// The reply's command code and request id.
#[derive(Clone, Copy)]
struct ReplyTo {
    command: u16,
    id: u64,
}

/// Writes a reply of `size` payload bytes, or refuses with `STATUS_BUFFER_TOO_SMALL`.
fn write_reply(
    output: &mut [u8],
    reply: ReplyTo,
    size: usize,
    fill: impl FnOnce(&mut MessageWriter<'_>),
) -> Answer {
    let Some(mut writer) = MessageWriter::new(output, reply.command, reply.id, size) else {
        return (status::BUFFER_TOO_SMALL, 0);
    };
    fill(&mut writer);
    writer
        .finish()
        .map_or((status::BUFFER_TOO_SMALL, 0), |len| (status::SUCCESS, len))
}

fn info(entry: &Entry) -> ScenarioInfo {
    let mut info = ScenarioInfo {
        id: U16::new(entry.id),
        kind: entry.kind as u8,
        reserved: 0,
        threads: U16::new(entry.threads),
        reserved2: U16::new(0),
        name: [0; 24],
        summary: [0; 96],
    };
    put_text(&mut info.name, entry.name);
    put_text(&mut info.summary, entry.summary);
    info
}

fn lock_info(lock: &NamedLock) -> LockInfo {
    let statistics = &lock.statistics;
    let mut info = LockInfo {
        shared_acquisitions: U64::new(statistics.shared_acquisitions),
        exclusive_acquisitions: U64::new(statistics.exclusive_acquisitions),
        contended: U64::new(statistics.contended),
        spun: U64::new(statistics.spun),
        sleeps: U64::new(statistics.sleeps),
        longest_wait_ns: U64::new(statistics.longest_wait_ns),
        longest_hold_ns: U64::new(statistics.longest_hold_ns),
        word: U64::new(u64::try_from(lock.word).unwrap_or(u64::MAX)),
        ..LockInfo::default()
    };
    put_text(&mut info.name, lock.name);
    info
}

fn run_reply(plan: &Plan, report: &Report) -> RunReply {
    let [p50, p99, p999] = report.writer_wait_percentiles_ns;
    let mut reply = RunReply {
        scenario: U16::new(plan.entry.id),
        lock: U16::new(plan.lock as u16),
        outcome: U16::new(report.outcome as u16),
        threads: U16::new(plan.threads),
        elapsed_ns: U64::new(report.elapsed_ns),
        shared_acquisitions: U64::new(report.shared),
        exclusive_acquisitions: U64::new(report.exclusive),
        max_readers_inside: U32::new(report.max_readers_inside),
        violations: U32::new(report.violations),
        max_writer_wait_ns: U64::new(report.max_writer_wait_ns),
        writer_wait_p50_ns: U64::new(p50),
        writer_wait_p99_ns: U64::new(p99),
        writer_wait_p999_ns: U64::new(p999),
        lock_word: U64::new(report.lock_word),
        stuck_threads: U32::new(report.stuck_threads),
        detail_len: U32::new(0),
        detail: [0; 256],
    };
    let used = put_text(&mut reply.detail, report.detail.as_str());
    reply.detail_len = U32::new(u32::try_from(used).unwrap_or(0));
    reply
}
