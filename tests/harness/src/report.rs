//! Everything the harness prints: human tables by default, JSON with `--json`.

use std::fmt::Write as _;

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table, presets::ASCII_MARKDOWN};
use indicatif::{ProgressBar, ProgressStyle};
use pushlock_protocol::{
    HelloReply, LockKind, Outcome, Phase, PlatformKind, Role, RunReply, ScenarioInfo, ScenarioKind,
    StatsReply, ThreadReport, text,
};
use serde::Serialize;

/// One run, as reported.
#[derive(Serialize)]
pub struct RunResult {
    pub scenario: String,
    pub lock: String,
    pub outcome: &'static str,
    pub elapsed_ns: u64,
    pub shared: u64,
    pub exclusive: u64,
    pub ops_per_sec: f64,
    pub max_readers_inside: u32,
    pub violations: u32,
    pub max_writer_wait_ns: u64,
    /// The 50th, 99th and 99.9th percentile of the exclusive waits (zeros if not measured).
    pub writer_wait_percentiles_ns: [u64; 3],
    pub stuck_threads: u32,
    pub lock_word: String,
    pub detail: String,
    pub threads: Vec<ThreadResult>,
}

/// The 50th, 99th and 99.9th percentile of a run's exclusive waits.
pub const fn writer_wait_percentiles(reply: &RunReply) -> [u64; 3] {
    [
        reply.writer_wait_p50_ns.get(),
        reply.writer_wait_p99_ns.get(),
        reply.writer_wait_p999_ns.get(),
    ]
}

/// One thread of a run.
#[derive(Serialize)]
pub struct ThreadResult {
    pub role: &'static str,
    pub phase: String,
    pub shared: u64,
    pub exclusive: u64,
    pub max_wait_ns: u64,
}

impl RunResult {
    pub fn new(scenario: &str, reply: &RunReply, threads: &[ThreadReport]) -> Self {
        let (shared, exclusive) = (
            reply.shared_acquisitions.get(),
            reply.exclusive_acquisitions.get(),
        );
        Self {
            scenario: scenario.to_owned(),
            lock: LockKind::from_code(reply.lock.get())
                .map_or("?", LockKind::name)
                .to_owned(),
            outcome: match Outcome::from_code(reply.outcome.get()) {
                Some(Outcome::Passed) => "passed",
                Some(Outcome::Failed) => "FAILED",
                Some(Outcome::TimedOut) => "TIMED OUT",
                None => "?",
            },
            elapsed_ns: reply.elapsed_ns.get(),
            shared,
            exclusive,
            ops_per_sec: per_second(shared.saturating_add(exclusive), reply.elapsed_ns.get()),
            max_readers_inside: reply.max_readers_inside.get(),
            violations: reply.violations.get(),
            max_writer_wait_ns: reply.max_writer_wait_ns.get(),
            writer_wait_percentiles_ns: writer_wait_percentiles(reply),
            stuck_threads: reply.stuck_threads.get(),
            lock_word: format!(
                "{}",
                pushlock::LockWord(usize::try_from(reply.lock_word.get()).unwrap_or(0))
            ),
            detail: text(&reply.detail).to_owned(),
            threads: threads.iter().map(ThreadResult::new).collect(),
        }
    }
}

impl ThreadResult {
    fn new(report: &ThreadReport) -> Self {
        Self {
            role: match report.role {
                r if r == Role::Reader as u8 => "reader",
                r if r == Role::Writer as u8 => "writer",
                _ => "mixed",
            },
            phase: Phase::from_code(report.phase)
                .map_or_else(|| String::from("?"), |p| format!("{p:?}")),
            shared: report.shared.get(),
            exclusive: report.exclusive.get(),
            max_wait_ns: report.max_wait_ns.get(),
        }
    }
}

/// `count` events in `ns` nanoseconds, per second.
#[allow(clippy::cast_precision_loss, reason = "a rate for display")]
pub fn per_second(count: u64, ns: u64) -> f64 {
    if ns == 0 {
        0.0
    } else {
        count as f64 * 1e9 / ns as f64
    }
}

/// Nanoseconds for humans.
#[allow(clippy::cast_precision_loss, reason = "for display")]
pub fn duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// A rate for humans.
pub fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else {
        format!("{:.1} k/s", per_sec / 1e3)
    }
}

pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(ASCII_MARKDOWN)
        .set_header(header.iter().copied());
    table
}

/// Where results go.
pub struct Output {
    json: bool,
}

impl Output {
    pub const fn new(json: bool) -> Self {
        Self { json }
    }

    pub const fn json(&self) -> bool {
        self.json
    }

    pub fn emit(&self, value: &impl Serialize, human: impl FnOnce() -> String) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            println!("{}", human());
        }
        Ok(())
    }

    /// A progress bar on stderr (hidden for JSON and when stderr is not a terminal).
    pub fn progress(&self, len: usize, what: &str) -> ProgressBar {
        if self.json {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(u64::try_from(len).unwrap_or(0));
        #[allow(
            clippy::literal_string_with_formatting_args,
            reason = "an indicatif template"
        )]
        let template = "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})";
        let style =
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar.set_prefix(what.to_owned());
        bar
    }

    pub fn info(&self, backend: &str, hello: &HelloReply) -> Result<()> {
        #[derive(Serialize)]
        struct Info {
            backend: String,
            platform: &'static str,
            protocol_version: u16,
            server_version: String,
            processors: u32,
            scenarios: u32,
            locks: Vec<&'static str>,
            filter: bool,
            max_threads: u32,
            max_time_limit_ms: u32,
            max_hold_ns: u32,
            max_iterations: u64,
        }
        let version = hello.server_version.map(pushlock_protocol::U16::get);
        let info = Info {
            backend: backend.to_owned(),
            platform: if hello.platform.get() == PlatformKind::Kernel as u16 {
                "kernel"
            } else {
                "sim"
            },
            protocol_version: hello.protocol_version.get(),
            server_version: format!("{}.{}.{}", version[0], version[1], version[2]),
            processors: hello.processor_count.get(),
            scenarios: hello.scenario_count.get(),
            locks: LockKind::ALL
                .into_iter()
                .filter(|k| hello.lock_kinds.get() & k.bit() != 0)
                .map(LockKind::name)
                .collect(),
            filter: hello.capabilities.get() & HelloReply::CAP_FILTER != 0,
            max_threads: hello.limits.max_threads.get(),
            max_time_limit_ms: hello.limits.max_time_limit_ms.get(),
            max_hold_ns: hello.limits.max_hold_ns.get(),
            max_iterations: hello.limits.max_iterations.get(),
        };
        self.emit(&info, || {
            let mut table = table(&["server", ""]);
            table.add_row(["backend", &info.backend]);
            table.add_row(["platform", info.platform]);
            table.add_row([
                "protocol / server",
                &format!("v{} / {}", info.protocol_version, info.server_version),
            ]);
            table.add_row(["processors", &info.processors.to_string()]);
            table.add_row(["scenarios", &info.scenarios.to_string()]);
            table.add_row(["locks", &info.locks.join(", ")]);
            table.add_row(["file-system filter", if info.filter { "yes" } else { "no" }]);
            let limits = format!(
                "{} threads, {} ms, hold {} ns, {} iterations",
                info.max_threads, info.max_time_limit_ms, info.max_hold_ns, info.max_iterations
            );
            table.add_row(["limits", &limits]);
            table.to_string()
        })
    }

    pub fn list(&self, catalogue: &[ScenarioInfo]) -> Result<()> {
        #[derive(Serialize)]
        struct Entry {
            id: u16,
            name: String,
            kind: &'static str,
            threads: u16,
            summary: String,
        }
        let entries: Vec<Entry> = catalogue
            .iter()
            .map(|info| Entry {
                id: info.id.get(),
                name: text(&info.name).to_owned(),
                kind: if info.kind == ScenarioKind::Conformance as u8 {
                    "conformance"
                } else {
                    "workload"
                },
                threads: info.threads.get(),
                summary: text(&info.summary).to_owned(),
            })
            .collect();
        self.emit(&entries, || {
            let mut table = table(&["id", "name", "kind", "threads", "checks"]);
            for entry in &entries {
                let threads = entry.threads.to_string();
                table.add_row([
                    &entry.id.to_string(),
                    &entry.name,
                    entry.kind,
                    &threads,
                    &entry.summary,
                ]);
            }
            table.to_string()
        })
    }

    pub fn run(&self, result: &RunResult) -> Result<()> {
        self.emit(result, || {
            let mut out = format!(
                "{} on {}: {} in {}\n\n",
                result.scenario,
                result.lock,
                result.outcome,
                duration(result.elapsed_ns)
            );
            let mut summary = table(&["measure", "value"]);
            summary.add_row([
                "acquisitions",
                &format!(
                    "{} shared, {} exclusive ({})",
                    result.shared,
                    result.exclusive,
                    rate(result.ops_per_sec)
                ),
            ]);
            summary.add_row([
                "most readers inside at once",
                &result.max_readers_inside.to_string(),
            ]);
            let [p50, p99, p999] = result.writer_wait_percentiles_ns.map(duration);
            summary.add_row([
                "exclusive wait: median / p99 / p99.9 / longest",
                &format!(
                    "{p50} / {p99} / {p999} / {}",
                    duration(result.max_writer_wait_ns)
                ),
            ]);
            summary.add_row(["invariant violations", &result.violations.to_string()]);
            summary.add_row(["threads stuck", &result.stuck_threads.to_string()]);
            summary.add_row(["lock word at the end", &result.lock_word]);
            if !result.detail.is_empty() {
                summary.add_row(["detail", &result.detail]);
            }
            let _ = writeln!(out, "{summary}\n");
            let mut threads = table(&[
                "thread",
                "role",
                "last phase",
                "shared",
                "exclusive",
                "longest wait",
            ]);
            for (index, thread) in result.threads.iter().enumerate() {
                threads.add_row([
                    Cell::new(index),
                    Cell::new(thread.role),
                    Cell::new(&thread.phase),
                    Cell::new(thread.shared).set_alignment(CellAlignment::Right),
                    Cell::new(thread.exclusive).set_alignment(CellAlignment::Right),
                    Cell::new(duration(thread.max_wait_ns)).set_alignment(CellAlignment::Right),
                ]);
            }
            let _ = write!(out, "{threads}");
            out
        })
    }

    pub fn suite(&self, backend: &str, results: &[RunResult]) -> Result<()> {
        self.emit(&results, || {
            let mut table = table(&["scenario", "result", "time", "acquisitions", "detail"]);
            for result in results {
                table.add_row([
                    Cell::new(&result.scenario),
                    Cell::new(result.outcome),
                    Cell::new(duration(result.elapsed_ns)).set_alignment(CellAlignment::Right),
                    Cell::new(result.shared.saturating_add(result.exclusive))
                        .set_alignment(CellAlignment::Right),
                    Cell::new(&result.detail),
                ]);
            }
            let passed = results
                .iter()
                .filter(|result| result.outcome == "passed")
                .count();
            format!(
                "{table}\n\n{passed}/{} conformance scenarios passed on {backend}",
                results.len()
            )
        })
    }

    pub fn stats(&self, stats: &StatsReply) -> Result<()> {
        let rows: Vec<(&str, u64)> = vec![
            ("messages answered", stats.messages.get()),
            ("runs", stats.runs.get()),
            ("passed", stats.passed.get()),
            ("failed", stats.failed.get()),
            ("timed out", stats.timed_out.get()),
            ("threads stuck in a lock", stats.stuck_threads.get()),
            ("run in progress", u64::from(stats.running.get())),
            ("filter present", u64::from(stats.filter_present.get())),
            ("creates seen", stats.creates_seen.get()),
            ("creates by watched processes", stats.creates_matched.get()),
            ("policy updates", stats.policy_updates.get()),
            ("processes watched", u64::from(stats.policy_size.get())),
        ];
        let map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(name, value)| (name.replace(' ', "_"), (*value).into()))
            .collect();
        self.emit(&map, || {
            let mut table = table(&["counter", "value"]);
            for (name, value) in &rows {
                table.add_row([
                    Cell::new(name),
                    Cell::new(value).set_alignment(CellAlignment::Right),
                ]);
            }
            table.to_string()
        })
    }

    pub fn policy(&self, pids: &[u32]) -> Result<()> {
        self.emit(&pids, || {
            if pids.is_empty() {
                String::from("policy cleared: no creates are counted as matched")
            } else {
                let list: Vec<String> = pids.iter().map(ToString::to_string).collect();
                format!(
                    "policy set: creates by processes {} are counted",
                    list.join(", ")
                )
            }
        })
    }

    pub fn raw(&self, sent: &[u8], result: Result<(), String>, reply: &[u8]) -> Result<()> {
        #[derive(Serialize)]
        struct Raw {
            sent: String,
            status: String,
            reply: String,
        }
        let hex = |bytes: &[u8]| {
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let raw = Raw {
            sent: hex(sent),
            status: result.map_or_else(
                |error| error,
                |()| String::from("STATUS_SUCCESS (0x00000000)"),
            ),
            reply: hex(reply),
        };
        self.emit(&raw, || {
            format!(
                "sent   {}\nstatus {}\nreply  {}",
                raw.sent, raw.status, raw.reply
            )
        })
    }
}
