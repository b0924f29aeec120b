//! The throughput matrix: threads x write share x hold time x lock, one `bench` run per cell, plus
//! one writer's waits (median, p99, p99.9, longest) under reader floods of two sizes per lock.
//! Prints the tables, writes CSV and an SVG plot, and optionally the README's section.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use comfy_table::{Cell, CellAlignment};
use pushlock_protocol::{LockKind, Outcome, PlatformKind, RunRequest, U16, U32, U64};
use serde::Serialize;

use crate::client::Client;
use crate::memory::Memory;
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
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4, 8, 16])]
    threads: Vec<u32>,
    /// Write shares, in percent.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 1.0, 10.0, 50.0, 100.0])]
    write_pct: Vec<f64>,
    /// Critical-section lengths, in nanoseconds.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 100])]
    hold_ns: Vec<u32>,
    /// Measuring time per run.
    #[arg(long, default_value_t = 0.5)]
    seconds: f64,
    /// Runs per cell and lock; the cell reports the run with the median throughput. The locks
    /// take turns within each round, in a rotating order, so a noisy spell hits them all alike.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Readers flooding the lock in the writer-wait runs, one set of runs per count. Default:
    /// one fewer than the server's processors (every thread has one, so the waits are the
    /// lock's), and 8 (more threads than processors: the longest wait is a time slice). 0 skips.
    #[arg(long, value_delimiter = ',')]
    flood_readers: Vec<u32>,
    /// Write every cell here as CSV.
    #[arg(long, default_value = "target/pushlock-bench.csv")]
    csv: PathBuf,
    /// Draw throughput against threads here (SVG).
    #[arg(long, default_value = "target/pushlock-bench.svg")]
    plot: PathBuf,
    /// Also write the results (with the command line and the machine) into this file, between
    /// its `<!-- bench:begin -->` and `<!-- bench:end -->` markers.
    #[arg(long)]
    readme: Option<PathBuf>,
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

/// One writer among a flood of readers: its waits' median, 99th and 99.9th percentile and the
/// longest, each the median over the runs; and the longest of the worst run.
#[derive(Serialize)]
pub struct WriterWait {
    pub lock: &'static str,
    pub readers: u32,
    pub writes: u64,
    pub percentiles_ns: [u64; 3],
    pub max_writer_wait_ns: u64,
    pub worst_writer_wait_ns: u64,
}

#[derive(Serialize)]
struct Results<'a> {
    backend: String,
    cells: &'a [BenchCell],
    writer_wait: &'a [WriterWait],
    memory: &'a [Memory],
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
    let repeat = args.repeat.max(1);
    let mut keys = Vec::new();
    for &hold_ns in &args.hold_ns {
        for &write_pct in &args.write_pct {
            for &threads in &args.threads {
                keys.push((threads, write_pct, hold_ns));
            }
        }
    }
    let floods: Vec<u32> = if args.flood_readers.is_empty() {
        let spare = hello.processor_count.get().saturating_sub(1).max(1);
        let mut floods = vec![spare, 8];
        floods.dedup();
        floods
    } else {
        args.flood_readers
            .iter()
            .copied()
            .filter(|&n| n > 0)
            .collect()
    };
    let rows_per_round = keys.len().saturating_add(floods.len());
    let runs = rows_per_round
        .saturating_mul(locks.len())
        .saturating_mul(repeat as usize);
    let progress = out.progress(runs, "bench");
    // Warm-up: page in the code and wake the CPUs up before anything is measured.
    for &lock in &locks {
        measure(client, lock, (2, 10.0, 0), 50, args.seed)?;
    }
    let mut runs = Vec::new();
    let mut wait_runs = Vec::new();
    for round in 0..repeat as usize {
        for (index, &key) in keys.iter().enumerate() {
            for lock in rotated(&locks, round.wrapping_add(index)) {
                progress.set_message(format!("{} x{} {}% writes", lock.name(), key.0, key.1));
                runs.push(measure(client, lock, key, time_limit, args.seed)?);
                progress.inc(1);
            }
        }
        for &readers in &floods {
            for lock in rotated(&locks, round) {
                progress.set_message(format!("{} writer wait, {readers} readers", lock.name()));
                wait_runs.push(writer_wait(client, lock, readers, time_limit, args.seed)?);
                progress.inc(1);
            }
        }
    }
    let cells = median_cells(runs);
    let writer_waits: Vec<WriterWait> = floods
        .iter()
        .flat_map(|&readers| summarize_waits(&locks, readers, &wait_runs))
        .collect();
    progress.finish_and_clear();
    // Allocation counts are only seen in this process.
    let memory = if hello.platform.get() == PlatformKind::Sim as u16 {
        crate::memory::measure()
    } else {
        Vec::new()
    };
    write_csv(&args.csv, &cells)?;
    crate::plot::draw(&args.plot, &cells)
        .with_context(|| format!("drawing {}", args.plot.display()))?;
    let all_passed = cells.iter().all(|cell| cell.outcome == "passed");
    let tables = [
        matrix_table(&cells, &locks),
        writer_wait_table(&writer_waits),
        memory_table(&memory),
    ];
    if out.json() {
        let results = Results {
            backend: client.describe(),
            cells: &cells,
            writer_wait: &writer_waits,
            memory: &memory,
        };
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for table in tables.iter().filter(|table| !table.is_empty()) {
            println!("{table}\n");
        }
        println!(
            "backend: {}; CSV: {}; plot: {}",
            client.describe(),
            args.csv.display(),
            args.plot.display()
        );
    }
    if let Some(readme) = &args.readme {
        write_readme(readme, client, args, &tables)?;
    }
    Ok(all_passed)
}

/// The results, the command that produced them and the machine, into the README's section.
fn write_readme(readme: &Path, client: &Client, args: &BenchArgs, tables: &[String]) -> Result<()> {
    let command: Vec<String> = std::env::args().skip(1).collect();
    let mut body = format!(
        "Command: `cargo run --release -p pushlock-harness -- {}`\n\nMachine: {}; backend: {}. \
         Each cell is the median of {} runs of {} s.\n\n![throughput against threads]({})\n",
        command.join(" "),
        crate::readme::machine(),
        client.describe(),
        args.repeat.max(1),
        args.seconds,
        args.plot.display(),
    );
    for table in tables.iter().filter(|table| !table.is_empty()) {
        let _ = write!(body, "\n{table}\n");
    }
    crate::readme::update(readme, &body)
}

/// `locks`, starting at `start` (mod their number).
fn rotated(locks: &[LockKind], start: usize) -> Vec<LockKind> {
    let mut order = locks.to_vec();
    if let Some(shift) = start.checked_rem(order.len()) {
        order.rotate_left(shift);
    }
    order
}

/// One cell per (lock, threads, write share, hold): its run with the median throughput.
fn median_cells(mut runs: Vec<BenchCell>) -> Vec<BenchCell> {
    let key = |c: &BenchCell| (c.hold_ns, c.write_pct.to_bits(), c.threads, c.lock);
    runs.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then(a.ops_per_sec.total_cmp(&b.ops_per_sec))
    });
    let mut cells: Vec<BenchCell> = Vec::new();
    for group in runs.chunk_by(|a, b| key(a) == key(b)) {
        // A failed run makes the cell fail; otherwise the median run speaks for the cell.
        let pick = group
            .iter()
            .find(|c| c.outcome != "passed")
            .or_else(|| group.get(group.len() / 2));
        cells.extend(pick.cloned());
    }
    cells
}

/// Per lock, for floods of `readers`: each measure's median over the runs, and the worst run's
/// longest wait.
fn summarize_waits(locks: &[LockKind], readers: u32, runs: &[WriterWait]) -> Vec<WriterWait> {
    locks
        .iter()
        .filter_map(|lock| {
            let mine: Vec<&WriterWait> = runs
                .iter()
                .filter(|w| w.lock == lock.name() && w.readers == readers)
                .collect();
            let median_of = |measure: &dyn Fn(&WriterWait) -> u64| {
                let mut values: Vec<u64> = mine.iter().map(|w| measure(w)).collect();
                values.sort_unstable();
                values.get(values.len() / 2).copied().unwrap_or(0)
            };
            Some(WriterWait {
                lock: lock.name(),
                readers,
                writes: median_of(&|w| w.writes),
                percentiles_ns: [0, 1, 2].map(|i| median_of(&|w| w.percentiles_ns[i])),
                max_writer_wait_ns: median_of(&|w| w.max_writer_wait_ns),
                worst_writer_wait_ns: mine.iter().map(|w| w.max_writer_wait_ns).max()?,
            })
        })
        .collect()
}

/// One run of `lock` for `time_limit` milliseconds at (threads, write share %, hold ns).
fn measure(
    client: &Client,
    lock: LockKind,
    (threads, write_pct, hold_ns): (u32, f64, u32),
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
        percentiles_ns: crate::report::writer_wait_percentiles(&reply),
        max_writer_wait_ns: reply.max_writer_wait_ns.get(),
        worst_writer_wait_ns: reply.max_writer_wait_ns.get(),
    })
}

/// The one-word peers: the locks issue 5's and 15's targets are set against.
const ONE_WORD_PEERS: [LockKind; 4] = [
    LockKind::ParkingLot,
    LockKind::StdRwLock,
    LockKind::Spin,
    LockKind::Usync,
];

/// A ratio column: `lock` against the best of `against`, shown when both are in the run.
struct Ratio {
    title: &'static str,
    lock: LockKind,
    against: &'static [LockKind],
}

const RATIOS: [Ratio; 3] = [
    Ratio {
        title: "pushlock ÷ best peer",
        lock: LockKind::PushLock,
        against: &ONE_WORD_PEERS,
    },
    Ratio {
        title: "cache-aware ÷ best peer",
        lock: LockKind::CacheAwarePushLock,
        against: &ONE_WORD_PEERS,
    },
    Ratio {
        title: "cache-aware ÷ sharded",
        lock: LockKind::CacheAwarePushLock,
        against: &[LockKind::CrossbeamSharded],
    },
];

/// One row per (hold, write share, threads), one column per lock: total throughput, then the
/// slowest and median thread; then the ratios whose locks ran.
fn matrix_table(cells: &[BenchCell], locks: &[LockKind]) -> String {
    let mut header = vec!["hold", "writes", "threads"];
    header.extend(locks.iter().map(|lock| lock.name()));
    let ratios: Vec<&Ratio> = RATIOS
        .iter()
        .filter(|ratio| {
            locks.contains(&ratio.lock) && ratio.against.iter().any(|peer| locks.contains(peer))
        })
        .collect();
    header.extend(ratios.iter().map(|ratio| ratio.title));
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
        let cell_of = |lock: LockKind| {
            cells.iter().find(|c| {
                c.lock == lock.name()
                    && c.threads == threads
                    && c.hold_ns == hold_ns
                    && c.write_pct.to_bits() == write_bits
            })
        };
        for &lock in locks {
            let text = cell_of(lock).map_or_else(String::new, |c| {
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
        let rate = |lock| cell_of(lock).map_or(0.0, |c| c.ops_per_sec);
        for ratio in &ratios {
            let best = ratio
                .against
                .iter()
                .map(|&peer| rate(peer))
                .fold(0.0, f64::max);
            let text = format!("{:.2}x", rate(ratio.lock) / best);
            row.push(Cell::new(text).set_alignment(CellAlignment::Right));
        }
        out.add_row(row);
    }
    format!(
        "{out}\n\nthroughput in million operations per second; (slowest/median thread) for threads > 1"
    )
}

fn writer_wait_table(waits: &[WriterWait]) -> String {
    if waits.is_empty() {
        return String::new();
    }
    let mut out = table(&[
        "lock",
        "readers",
        "writes",
        "median wait",
        "p99",
        "p99.9",
        "longest",
        "longest (worst run)",
    ]);
    for wait in waits {
        let mut row = vec![
            Cell::new(wait.lock),
            Cell::new(wait.readers),
            Cell::new(wait.writes),
        ];
        row.extend(
            wait.percentiles_ns
                .into_iter()
                .chain([wait.max_writer_wait_ns, wait.worst_writer_wait_ns])
                .map(duration)
                .map(Cell::new),
        );
        out.add_row(
            row.into_iter()
                .map(|cell| cell.set_alignment(CellAlignment::Right)),
        );
    }
    format!(
        "{out}\n\none writer against a flood of readers (no hold); each figure is the median over the \
         runs. Where threads outnumber processors, the longest wait measures the scheduler: a \
         writer preempted just before it reaches the lock waits for its next time slice while \
         the readers run, whatever the lock. The percentiles, and the longest wait where every \
         thread has a processor, measure the lock."
    )
}

fn memory_table(memory: &[Memory]) -> String {
    if memory.is_empty() {
        return String::new();
    }
    let mut out = table(&[
        "lock",
        "bytes per lock",
        "stack bytes per waiter",
        "heap allocations per contended acquisition",
    ]);
    for row in memory {
        #[allow(clippy::cast_precision_loss, reason = "a ratio for display")]
        let per_acquisition = row.heap_allocations as f64 / row.acquisitions.max(1) as f64;
        out.add_row([
            Cell::new(row.lock),
            Cell::new(row.bytes_per_lock).set_alignment(CellAlignment::Right),
            Cell::new(
                row.bytes_per_waiter
                    .map_or_else(|| String::from("-"), |b| b.to_string()),
            )
            .set_alignment(CellAlignment::Right),
            Cell::new(format!(
                "{per_acquisition} ({} in {})",
                row.heap_allocations, row.acquisitions
            ))
            .set_alignment(CellAlignment::Right),
        ]);
    }
    format!(
        "{out}\n\n4 threads, half writing, each holding the lock for 512 pauses; allocations counted by \
         a global allocator after a warm-up. Bytes per lock include the heap a lock allocates for \
         itself where it says (the cache-aware lock's slots; crossbeam's shards are not counted). A \
         waiter's bytes are shown for our locks only (the wait block); the peers' per-waiter state \
         cannot be sized from outside."
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(lock: LockKind, ops_per_sec: f64) -> BenchCell {
        BenchCell {
            lock: lock.name(),
            threads: 2,
            write_pct: 10.0,
            hold_ns: 0,
            outcome: "passed",
            ops: 1,
            elapsed_ns: 1,
            ops_per_sec,
            thread_min_ops_per_sec: ops_per_sec / 2.0,
            thread_median_ops_per_sec: ops_per_sec / 2.0,
        }
    }

    #[test]
    fn the_counted_push_lock_is_not_a_peer_in_the_ratio() {
        let cells = [
            cell(LockKind::PushLock, 40e6),
            cell(LockKind::CountedPushLock, 80e6),
            cell(LockKind::ParkingLot, 50e6),
        ];
        let locks = [
            LockKind::PushLock,
            LockKind::CountedPushLock,
            LockKind::ParkingLot,
        ];
        let table = matrix_table(&cells, &locks);
        assert!(
            table.contains(" 0.80x |"),
            "against parking_lot only:\n{table}"
        );
        let ours = matrix_table(&cells[..2], &locks[..2]);
        assert!(
            !ours.contains("best peer") && !ours.contains("inf"),
            "no peer, no ratio:\n{ours}"
        );
        let sharded = [
            cell(LockKind::CacheAwarePushLock, 90e6),
            cell(LockKind::CrossbeamSharded, 60e6),
            cell(LockKind::Spin, 45e6),
        ];
        let kinds = [
            LockKind::CacheAwarePushLock,
            LockKind::CrossbeamSharded,
            LockKind::Spin,
        ];
        let table = matrix_table(&sharded, &kinds);
        assert!(
            table.contains(" 2.00x |") && table.contains(" 1.50x |"),
            "against spin, the best one-word peer, and against crossbeam:\n{table}"
        );
    }
}
