//! The harness as users run it: exit statuses, JSON that parses, files that appear.

use std::process::{Command, Output};

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushlock-harness"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let output = harness(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn auto_falls_back_to_the_sim_with_a_notice() {
    let output = harness(&["info"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !cfg!(windows) {
        assert!(
            stderr.contains("running the scenarios in-process (sim)"),
            "{stderr}"
        );
    }
    assert!(String::from_utf8_lossy(&output.stdout).contains("sim (in-process"));
}

#[test]
fn the_suite_passes_and_says_so() {
    let results = json(&["--backend", "sim", "--json", "suite"]);
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 16);
    assert!(
        results.iter().all(|r| r["outcome"] == "passed"),
        "{results:#?}"
    );
}

#[test]
fn list_names_every_scenario() {
    let entries = json(&["--backend", "sim", "--json", "list"]);
    let names: Vec<_> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"queued-readers-together") && names.contains(&"bench"),
        "{names:?}"
    );
}

#[test]
fn a_workload_run_reports_its_threads() {
    let run = json(&[
        "--backend",
        "sim",
        "--json",
        "run",
        "stress",
        "--lock",
        "parking_lot",
        "--threads",
        "3",
        "--iterations",
        "200",
        "--write-pct",
        "50",
    ]);
    assert_eq!(run["outcome"], "passed");
    assert_eq!(run["lock"], "parking_lot");
    assert_eq!(run["threads"].as_array().unwrap().len(), 3);
    assert_eq!(
        run["shared"].as_u64().unwrap() + run["exclusive"].as_u64().unwrap(),
        600
    );
}

#[test]
fn bad_requests_fail_with_the_status_name() {
    let unknown = harness(&["--backend", "sim", "run", "no-such-scenario"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no scenario"));

    let conformance_with_threads =
        harness(&["--backend", "sim", "run", "encodings", "--lock", "std"]);
    assert_eq!(conformance_with_threads.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&conformance_with_threads.stderr).contains("STATUS_NOT_SUPPORTED")
    );

    let raw = harness(&[
        "--backend",
        "sim",
        "raw",
        "504c434b 0100 0400 1900 0000 00000000 0100000000000000",
    ]);
    assert_eq!(raw.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&raw.stdout).contains("STATUS_INFO_LENGTH_MISMATCH"));
}

#[test]
fn bench_writes_a_table_a_csv_and_a_plot() {
    let dir = std::env::temp_dir().join(format!("pushlock-bench-{}", std::process::id()));
    let (csv, svg, readme) = (
        dir.join("cells.csv"),
        dir.join("plot.svg"),
        dir.join("README.md"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &readme,
        "# Title\n\n<!-- bench:begin -->\nold figures\n<!-- bench:end -->\n\nKept.\n",
    )
    .unwrap();
    let output = harness(&[
        "--backend",
        "sim",
        "bench",
        "--locks",
        "pushlock,std",
        "--threads",
        "1,2",
        "--write-pct",
        "0,50",
        "--seconds",
        "0.05",
        "--flood-readers",
        "1,2",
        "--csv",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "--repeat",
        "2",
        "--hold-ns",
        "0",
        "--readme",
        readme.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| pushlock"), "{stdout}");
    for readers in ["1", "2"] {
        let row = stdout
            .lines()
            .map(|line| line.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|cells| cells.len() == 10 && cells[1] == "pushlock" && cells[2] == readers)
            .unwrap_or_else(|| panic!("no writer-wait row for {readers} readers: {stdout}"));
        let waits: Vec<f64> = row[4..8].iter().map(|cell| nanoseconds(cell)).collect();
        assert!(
            waits[0] > 0.0 && waits.is_sorted(),
            "median <= p99 <= p99.9 <= longest: {row:?}"
        );
    }
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 1 + 2 * 2 * 2, "{rows}");
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let readme = std::fs::read_to_string(&readme).unwrap();
    assert!(
        readme.starts_with("# Title\n\n<!-- bench:begin -->\nCommand: `cargo run --release -p pushlock-harness -- --backend sim bench")
            && readme.ends_with("<!-- bench:end -->\n\nKept.\n")
            && !readme.contains("old figures"),
        "{readme}"
    );
    assert!(readme.contains("pushlock ÷ best peer"), "{readme}");
    let memory_row = readme
        .lines()
        .find(|line| line.starts_with("| pushlock") && line.contains(" in 80000"))
        .unwrap_or_else(|| panic!("no memory row for pushlock: {readme}"));
    let cells: Vec<&str> = memory_row.split('|').map(str::trim).collect();
    assert_eq!(
        cells,
        ["", "pushlock", "8", "64", "0 (0 in 80000)", ""],
        "one word per lock, a 64-byte wait block, no allocations"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// "43 ns", "8.2 µs", "1.5 ms", "2.0 s" in nanoseconds.
fn nanoseconds(text: &str) -> f64 {
    let (number, unit) = text.split_once(' ').unwrap();
    let scale = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => panic!("unknown unit in {text:?}"),
    };
    number.parse::<f64>().unwrap() * scale
}

#[test]
fn locks_on_the_sim_says_there_are_none() {
    assert_eq!(
        json(&["--backend", "sim", "--json", "locks"]),
        serde_json::json!([])
    );
    let output = harness(&["--backend", "sim", "locks"]);
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("no named locks"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
