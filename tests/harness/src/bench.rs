//! The throughput matrix: threads x write share x hold time x lock, one `bench` run per cell, plus
//! the longest writer wait under a reader flood per lock. Prints a table, writes CSV and an SVG
//! plot.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use comfy_table::{Cell, CellAlignment};
use pushlock_protocol::{LockKind, Outcome, RunRequest, U16, U32, U64};
use serde::Serialize;

use crate::client::Client;
use crate::report::{Output, duration, per_second, table};

/// Scenario ids of the two workloads the matrix uses.
const BENCH: u16 = 21;
const WRITER_WAIT: u16 = 22;

#[derive(Args)]
pub struct BenchArgs {
    /// Locks to compare (default: every lock the server offers).
    #[arg(long, value_delimiter = ',', value_parser = crate::parse_lock)]
    locks: Vec<LockKind>,
    /// Thread counts.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4, 8])]
    threads: Vec<u32>,
    /// Write shares, in percent.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 10.0, 100.0])]
    write_pct: Vec<f64>,
    /// Critical-section lengths, in nanoseconds.
    #[arg(long, value_delimiter = ',', default_values_t = [0])]
    hold_ns: Vec<u32>,
    /// Measuring time per cell.
    #[arg(long, default_value_t = 0.2)]
    seconds: f64,
    /// Readers flooding the lock in the writer-wait runs (0 skips them).
    #[arg(long, default_value_t = 8)]
    flood_readers: u32,
    /// Write every cell here as CSV.
    #[arg(long, default_value = "target/pushlock-bench.csv")]
    csv: PathBuf,
    /// Draw throughput against threads here (SVG).
    #[arg(long, default_value = "target/pushlock-bench.svg")]
    plot: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One cell of the matrix.
#[derive(Serialize, Clone)]
pub struct BenchCell {
    pub lock: &'static str,
    pub threads: u32,
    pub write_pct: f64,
    pub hold_ns: u32,
    pub outcome: &'static str,
    pub ops: u64,
    pub elapsed_ns: u64,
    pub ops_per_sec: f64,
    /// Slowest and median thread, in operations per second (starvation hides in totals).
    pub thread_min_ops_per_sec: f64,
    pub thread_median_ops_per_sec: f64,
}

/// The longest wait of one writer among a flood of readers.
#[derive(Serialize)]
pub struct WriterWait {
    pub lock: &'static str,
    pub readers: u32,
    pub writes: u64,
    pub max_writer_wait_ns: u64,
}

#[derive(Serialize)]
struct Results<'a> {
    backend: String,
    cells: &'a [BenchCell],
    writer_wait: &'a [WriterWait],
}

pub fn run(client: &Client, out: &Output, args: &BenchArgs) -> Result<bool> {
    let hello = client.hello()?;
    let locks: Vec<LockKind> = if args.locks.is_empty() {
        LockKind::ALL
            .into_iter()
            .filter(|kind| hello.lock_kinds.get() & kind.bit() != 0)
            .collect()
    } else {
        args.locks.clone()
    };
    let time_limit = crate::millis(args.seconds)?;
    let mut plan = Vec::new();
    for &hold_ns in &args.hold_ns {
        for &write_pct in &args.write_pct {
            for &threads in &args.threads {
                for &lock in &locks {
                    plan.push((lock, threads, write_pct, hold_ns));
                }
            }
        }
    }
    let waits = if args.flood_readers == 0 {
        0
    } else {
        locks.len()
    };
    let progress = out.progress(plan.len() + waits, "bench");
    let mut cells = Vec::with_capacity(plan.len());
    for (lock, threads, write_pct, hold_ns) in plan {
        progress.set_message(format!("{} x{threads} {write_pct}% writes", lock.name()));
        cells.push(measure(
            client, lock, threads, write_pct, hold_ns, time_limit, args.seed,
        )?);
        progress.inc(1);
    }
    let mut writer_waits = Vec::new();
    if args.flood_readers > 0 {
        for &lock in &locks {
            progress.set_message(format!("{} writer wait", lock.name()));
            writer_waits.push(writer_wait(
                client,
                lock,
                args.flood_readers,
                time_limit,
                args.seed,
            )?);
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    write_csv(&args.csv, &cells)?;
    crate::plot::draw(&args.plot, &cells)
        .with_context(|| format!("drawing {}", args.plot.display()))?;
    let all_passed = cells.iter().all(|cell| cell.outcome == "passed");
    if out.json() {
        let results = Results {
            backend: client.describe(),
            cells: &cells,
            writer_wait: &writer_waits,
        };
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{}", matrix_table(&cells, &locks));
        if !writer_waits.is_empty() {
            println!("\n{}", writer_wait_table(&writer_waits));
        }
        println!(
            "\nbackend: {}; CSV: {}; plot: {}",
            client.describe(),
            args.csv.display(),
            args.plot.display()
        );
    }
    Ok(all_passed)
}

/// One cell: a `bench` run of `lock` for `time_limit` milliseconds.
fn measure(
    client: &Client,
    lock: LockKind,
    threads: u32,
    write_pct: f64,
    hold_ns: u32,
    time_limit: u32,
    seed: u64,
) -> Result<BenchCell> {
    let request = RunRequest {
        scenario: U16::new(BENCH),
        lock: U16::new(lock as u16),
        threads: U32::new(threads),
        write_permille: U16::new(crate::permille(write_pct)?),
        hold_ns: U32::new(hold_ns),
        seed: U64::new(seed),
        time_limit_ms: U32::new(time_limit),
        ..RunRequest::default()
    };
    let (reply, thread_reports) = client.run(&request)?;
    let elapsed = reply.elapsed_ns.get();
    let mut per_thread: Vec<f64> = thread_reports
        .iter()
        .map(|t| per_second(t.shared.get().saturating_add(t.exclusive.get()), elapsed))
        .collect();
    per_thread.sort_by(f64::total_cmp);
    let ops = reply
        .shared_acquisitions
        .get()
        .saturating_add(reply.exclusive_acquisitions.get());
    Ok(BenchCell {
        lock: lock.name(),
        threads,
        write_pct,
        hold_ns,
        outcome: if reply.outcome.get() == Outcome::Passed as u16 {
            "passed"
        } else {
            "FAILED"
        },
        ops,
        elapsed_ns: elapsed,
        ops_per_sec: per_second(ops, elapsed),
        thread_min_ops_per_sec: per_thread.first().copied().unwrap_or(0.0),
        thread_median_ops_per_sec: per_thread.get(per_thread.len() / 2).copied().unwrap_or(0.0),
    })
}

fn writer_wait(
    client: &Client,
    lock: LockKind,
    readers: u32,
    time_limit: u32,
    seed: u64,
) -> Result<WriterWait> {
    let request = RunRequest {
        scenario: U16::new(WRITER_WAIT),
        lock: U16::new(lock as u16),
        threads: U32::new(readers.saturating_add(1)),
        seed: U64::new(seed),
        time_limit_ms: U32::new(time_limit),
        ..RunRequest::default()
    };
    let (reply, threads) = client.run(&request)?;
    Ok(WriterWait {
        lock: lock.name(),
        readers,
        writes: threads.first().map_or(0, |writer| writer.exclusive.get()),
        max_writer_wait_ns: reply.max_writer_wait_ns.get(),
    })
}

/// One row per (hold, write share, threads), one column per lock: total throughput, then the
/// slowest and median thread.
fn matrix_table(cells: &[BenchCell], locks: &[LockKind]) -> String {
    let mut header = vec!["hold", "writes", "threads"];
    header.extend(locks.iter().map(|lock| lock.name()));
    let mut out = table(&header);
    let mut rows: Vec<(u32, u64, u32)> = Vec::new();
    for cell in cells {
        let key = (cell.hold_ns, cell.write_pct.to_bits(), cell.threads);
        if !rows.contains(&key) {
            rows.push(key);
        }
    }
    for (hold_ns, write_bits, threads) in rows {
        let write_pct = f64::from_bits(write_bits);
        let mut row = vec![
            Cell::new(format!("{hold_ns} ns")),
            Cell::new(format!("{write_pct}%")),
            Cell::new(threads),
        ];
        for lock in locks {
            let found = cells.iter().find(|c| {
                c.lock == lock.name()
                    && c.threads == threads
                    && c.hold_ns == hold_ns
                    && c.write_pct.to_bits() == write_bits
            });
            let text = found.map_or_else(String::new, |c| {
                let mut text = format!("{:.2} M/s", c.ops_per_sec / 1e6);
                if threads > 1 {
                    let _ = write!(
                        text,
                        " ({:.2}/{:.2})",
                        c.thread_min_ops_per_sec / 1e6,
                        c.thread_median_ops_per_sec / 1e6
                    );
                }
                if c.outcome != "passed" {
                    text.push_str(" FAILED");
                }
                text
            });
            row.push(Cell::new(text).set_alignment(CellAlignment::Right));
        }
        out.add_row(row);
    }
    format!(
        "{out}\n\nthroughput in million operations per second; (slowest/median thread) for threads > 1"
    )
}

fn writer_wait_table(waits: &[WriterWait]) -> String {
    let mut out = table(&["lock", "readers", "writes", "longest writer wait"]);
    for wait in waits {
        out.add_row([
            Cell::new(wait.lock),
            Cell::new(wait.readers),
            Cell::new(wait.writes).set_alignment(CellAlignment::Right),
            Cell::new(duration(wait.max_writer_wait_ns)).set_alignment(CellAlignment::Right),
        ]);
    }
    out.to_string()
}

fn write_csv(path: &PathBuf, cells: &[BenchCell]) -> Result<()> {
    let mut csv = String::from(
        "lock,threads,write_pct,hold_ns,outcome,ops,elapsed_ns,ops_per_sec,thread_min_ops_per_sec,thread_median_ops_per_sec\n",
    );
    for c in cells {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{:.0},{:.0},{:.0}",
            c.lock,
            c.threads,
            c.write_pct,
            c.hold_ns,
            c.outcome,
            c.ops,
            c.elapsed_ns,
            c.ops_per_sec,
            c.thread_min_ops_per_sec,
            c.thread_median_ops_per_sec
        );
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))
}
