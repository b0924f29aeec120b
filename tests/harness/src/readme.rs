//! Writes the bench results into the README, between two marker comments, so that the published
//! figures are always the output of one command.

use std::path::Path;

use anyhow::{Context, Result, bail};

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// Replaces what lies between the markers in `path` with `body`.
///
/// # Errors
/// The file cannot be read or written, or lacks the markers (in this order).
pub fn update(path: &Path, body: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{} has no {BEGIN} ... {END} section", path.display());
    };
    if end < begin {
        bail!("{}: {END} comes before {BEGIN}", path.display());
    }
    let before = text.get(..begin + BEGIN.len()).unwrap_or_default();
    let after = text.get(end..).unwrap_or_default();
    std::fs::write(path, format!("{before}\n{}\n{after}", body.trim()))
        .with_context(|| format!("writing {}", path.display()))
}

/// The processor and how many of them, for the record.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .or_else(|| std::env::var("PROCESSOR_IDENTIFIER").ok())
        .unwrap_or_else(|| String::from("unknown processor"));
    let threads = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!(
        "{model}, {threads} logical processors, {}",
        std::env::consts::OS
    )
}
