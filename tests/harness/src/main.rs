//! `pushlock-harness`: runs the push-lock scenarios inside the driver through its Filter Manager
//! port, or, where no driver is reachable, in this process on the std platform (`sim`). Same
//! commands, same output, either way.

mod bench;
mod client;
mod locks;
mod memory;
mod plot;
#[cfg(windows)]
mod port;
mod readme;
mod report;
mod status;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pushlock_protocol::{
    LockKind, Outcome, PORT_NAME, RunRequest, ScenarioKind, U16, U32, U64, text,
};

use crate::client::{Client, REPLY_CAPACITY, Sim, Transport};
use crate::report::Output;

/// Counts heap allocations, for the bench's memory table.
#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

#[derive(Parser)]
#[command(name = "pushlock-harness", version, about, long_about = None)]
struct Cli {
    /// Where scenarios run: the driver's port, the in-process sim, or the port if it connects.
    #[arg(long, value_enum, default_value_t = Backend::Auto, global = true)]
    backend: Backend,
    /// The driver's communication port.
    #[arg(long, default_value = PORT_NAME, global = true)]
    port: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Auto,
    Port,
    Sim,
}

#[derive(Subcommand)]
enum Command {
    /// Versions, platform, processors, locks and limits of the server.
    Info,
    /// The scenario catalogue.
    List,
    /// Run one scenario (by name or id).
    Run(RunArgs),
    /// Run every conformance scenario; exit status 1 if any does not pass.
    Suite {
        /// Time limit per scenario, in milliseconds.
        #[arg(long, default_value_t = 30_000)]
        time_limit_ms: u32,
        /// Seeds the scenarios' timing jitter.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Invariant-checked readers and writers on one lock for a while.
    Stress(StressArgs),
    /// Throughput matrix: threads x write share x hold time x lock; table, CSV and SVG plot.
    Bench(bench::BenchArgs),
    /// The server's counters (and the filter's, from the driver).
    Stats,
    /// Contention statistics of the server's named locks (the driver's policy lock), a table each.
    Locks,
    /// Set the process ids whose creates the driver's filter counts (none: clear the set).
    Policy {
        /// Process ids (at most 64).
        pids: Vec<u32>,
    },
    /// Send raw hex bytes as a message and show the status (for debugging the protocol).
    Raw {
        /// The message, in hex (spaces allowed).
        hex: Vec<String>,
        /// Output buffer size offered to the server.
        #[arg(long, default_value_t = REPLY_CAPACITY)]
        capacity: usize,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Scenario name or id (see `list`).
    scenario: String,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Threads (workloads; default: the scenario's suggestion).
    #[arg(long)]
    threads: Option<u32>,
    /// Operations per thread (workloads; default: run for --seconds).
    #[arg(long)]
    iterations: Option<u64>,
    /// How long a workload without --iterations runs.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Time limit in milliseconds (default: 30 s, or --seconds for workloads).
    #[arg(long)]
    time_limit_ms: Option<u32>,
}

#[derive(Args)]
struct StressArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Threads.
    #[arg(long, default_value_t = 8)]
    threads: u32,
    /// How long to run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

/// What a workload runs against and how (shared by `run` and `stress`).
#[derive(Args, Clone, Copy)]
struct WorkloadArgs {
    /// Lock under test.
    #[arg(long, default_value = "pushlock", value_parser = parse_lock)]
    lock: LockKind,
    /// Exclusive share of operations, in percent.
    #[arg(long, default_value_t = 10.0)]
    write_pct: f64,
    /// Critical-section length in nanoseconds.
    #[arg(long, default_value_t = 100)]
    hold_ns: u32,
    /// Seeds the operation mix and timing jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A lock kind by its command-line name.
///
/// # Errors
/// The name of no lock kind; the message lists them.
pub(crate) fn parse_lock(name: &str) -> Result<LockKind, String> {
    LockKind::ALL
        .into_iter()
        .find(|kind| kind.name() == name)
        .ok_or_else(|| {
            let names: Vec<_> = LockKind::ALL.iter().map(|kind| kind.name()).collect();
            format!("unknown lock {name:?}; one of {}", names.join(", "))
        })
}

/// Percent to thousandths.
///
/// # Errors
/// Not within 0-100 %.
pub(crate) fn permille(percent: f64) -> Result<u16> {
    if !(0.0..=100.0).contains(&percent) {
        bail!("write share {percent}% is not within 0-100%");
    }
    // Within 0..=1000 by the check above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((percent * 10.0).round() as u16)
}

/// Seconds to a millisecond time limit, at least 1 ms.
///
/// # Errors
/// Not within (0, 60] s.
pub(crate) fn millis(seconds: f64) -> Result<u32> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 60.0) {
        bail!("duration {seconds} s is not within (0, 60] s");
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(((seconds * 1000.0).round() as u32).max(1))
}

fn connect(cli: &Cli) -> Result<Client> {
    let transport: Box<dyn Transport> = match cli.backend {
        Backend::Sim => Box::new(Sim::new()),
        Backend::Port => port(&cli.port)?,
        Backend::Auto => port(&cli.port).unwrap_or_else(|error| {
            eprintln!("note: {error:#}; running the scenarios in-process (sim)");
            Box::new(Sim::new())
        }),
    };
    Ok(Client::new(transport))
}

#[cfg(windows)]
fn port(name: &str) -> Result<Box<dyn Transport>> {
    Ok(Box::new(port::Port::connect(name)?))
}

#[cfg(not(windows))]
fn port(name: &str) -> Result<Box<dyn Transport>> {
    bail!("no driver here: the port backend ({name}) needs Windows")
}

/// Finds a scenario by name or id.
fn scenario(client: &Client, wanted: &str) -> Result<pushlock_protocol::ScenarioInfo> {
    let catalogue = client.list()?;
    catalogue
        .into_iter()
        .find(|info| text(&info.name) == wanted || info.id.get().to_string() == wanted)
        .with_context(|| format!("no scenario {wanted:?}; see `pushlock-harness list`"))
}

fn run(client: &Client, out: &Output, args: &RunArgs) -> Result<bool> {
    let info = scenario(client, &args.scenario)?;
    let workload = args.workload;
    let request = if info.kind == ScenarioKind::Conformance as u8 {
        RunRequest {
            scenario: info.id,
            lock: U16::new(workload.lock as u16),
            seed: U64::new(workload.seed),
            time_limit_ms: U32::new(args.time_limit_ms.unwrap_or(30_000)),
            ..RunRequest::default()
        }
    } else {
        let time_limit = match (args.time_limit_ms, args.iterations) {
            (Some(limit), _) => limit,
            (None, Some(_)) => 60_000,
            (None, None) => millis(args.seconds)?,
        };
        RunRequest {
            scenario: info.id,
            lock: U16::new(workload.lock as u16),
            threads: U32::new(
                args.threads
                    .unwrap_or_else(|| u32::from(info.threads.get())),
            ),
            iterations: U64::new(args.iterations.unwrap_or(0)),
            write_permille: U16::new(permille(workload.write_pct)?),
            hold_ns: U32::new(workload.hold_ns),
            seed: U64::new(workload.seed),
            time_limit_ms: U32::new(time_limit),
            ..RunRequest::default()
        }
    };
    let (reply, threads) = client.run(&request)?;
    let result = report::RunResult::new(text(&info.name), &reply, &threads);
    out.run(&result)?;
    Ok(reply.outcome.get() == Outcome::Passed as u16)
}

fn suite(client: &Client, out: &Output, time_limit_ms: u32, seed: u64) -> Result<bool> {
    let conformance: Vec<_> = client
        .list()?
        .into_iter()
        .filter(|info| info.kind == ScenarioKind::Conformance as u8)
        .collect();
    let progress = out.progress(conformance.len(), "conformance");
    let mut results = Vec::new();
    for info in &conformance {
        progress.set_message(text(&info.name).to_owned());
        let request = RunRequest {
            scenario: info.id,
            lock: U16::new(LockKind::PushLock as u16),
            seed: U64::new(seed),
            time_limit_ms: U32::new(time_limit_ms),
            ..RunRequest::default()
        };
        let (reply, threads) = client.run(&request)?;
        results.push(report::RunResult::new(text(&info.name), &reply, &threads));
        progress.inc(1);
    }
    progress.finish_and_clear();
    let passed = results.iter().all(|result| result.outcome == "passed");
    out.suite(&client.describe(), &results)?;
    Ok(passed)
}

fn stress(client: &Client, out: &Output, args: &StressArgs) -> Result<bool> {
    let run_args = RunArgs {
        scenario: String::from("stress"),
        workload: args.workload,
        threads: Some(args.threads),
        iterations: None,
        seconds: args.seconds,
        time_limit_ms: None,
    };
    run(client, out, &run_args)
}

fn raw(client: &Client, out: &Output, hex: &[String], capacity: usize) -> Result<bool> {
    let digits: String = hex
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    let bytes = (0..digits.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(digits.get(at..at + 2).unwrap_or_default(), 16))
        .collect::<Result<Vec<u8>, _>>()
        .context("not hex")?;
    let (result, reply) = client.raw(&bytes, capacity);
    out.raw(
        &bytes,
        result
            .as_ref()
            .map(|_| ())
            .map_err(|error| format!("{error:#}")),
        &reply,
    )?;
    Ok(result.is_ok())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let result = connect(&cli).and_then(|client| match &cli.command {
        Command::Info => out
            .info(&client.describe(), &client.hello()?)
            .map(|()| true),
        Command::List => out.list(&client.list()?).map(|()| true),
        Command::Run(args) => run(&client, &out, args),
        Command::Suite {
            time_limit_ms,
            seed,
        } => suite(&client, &out, *time_limit_ms, *seed),
        Command::Stress(args) => stress(&client, &out, args),
        Command::Bench(args) => bench::run(&client, &out, args),
        Command::Stats => out.stats(&client.stats()?).map(|()| true),
        Command::Locks => out
            .locks(&client.describe(), &client.locks()?)
            .map(|()| true),
        Command::Policy { pids } => {
            client.set_policy(pids)?;
            out.policy(pids).map(|()| true)
        }
        Command::Raw { hex, capacity } => raw(&client, &out, hex, *capacity),
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
