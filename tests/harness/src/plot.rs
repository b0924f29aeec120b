//! The bench matrix as an SVG: one panel per (hold time, write share), throughput against
//! threads, one line per lock. SVG needs no fonts on the machine, so it draws anywhere.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::bench::BenchCell;

const PALETTE: [RGBColor; 7] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

fn distinct<T: PartialEq + Copy>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

pub fn draw(path: &Path, cells: &[BenchCell]) -> Result<()> {
    let holds = distinct(cells.iter().map(|c| c.hold_ns));
    let writes = distinct(cells.iter().map(|c| c.write_pct.to_bits()));
    let threads = distinct(cells.iter().map(|c| c.threads));
    let locks = distinct(cells.iter().map(|c| c.lock));
    if cells.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let (columns, rows) = (writes.len(), holds.len());
    let size = (
        u32::try_from(columns * 420)?,
        u32::try_from(rows * 320 + 40)?,
    );
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (title, body) = root.split_vertically(40);
    title
        .titled(
            "push-lock throughput (million ops/s) against threads",
            ("sans-serif", 20),
        )
        .map_err(|e| anyhow!("{e}"))?;
    let panels = body.split_evenly((rows, columns));
    for (index, panel) in panels.iter().enumerate() {
        let (hold, write_bits) = (holds[index / columns], writes[index % columns]);
        let in_panel: Vec<&BenchCell> = cells
            .iter()
            .filter(|c| c.hold_ns == hold && c.write_pct.to_bits() == write_bits)
            .collect();
        let top = in_panel
            .iter()
            .map(|c| c.ops_per_sec / 1e6)
            .fold(0.0_f64, f64::max)
            .max(0.001)
            * 1.1;
        let caption = format!("{}% writes, hold {hold} ns", f64::from_bits(write_bits));
        #[allow(clippy::cast_precision_loss, reason = "a handful of thread counts")]
        let last = threads.len().saturating_sub(1) as f64;
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(-0.25..last + 0.25, 0.0..top)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_labels(threads.len())
            .x_label_formatter(&|x| {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "axis positions"
                )]
                let index = x.round() as usize;
                threads
                    .get(index)
                    .filter(|_| (x - x.round()).abs() < 0.01)
                    .map_or_else(String::new, ToString::to_string)
            })
            .x_desc("threads")
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (n, lock) in locks.iter().enumerate() {
            let color = PALETTE[n % PALETTE.len()];
            #[allow(clippy::cast_precision_loss, reason = "a handful of thread counts")]
            let points: Vec<(f64, f64)> = threads
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    let cell = in_panel
                        .iter()
                        .find(|c| c.lock == *lock && c.threads == *t)?;
                    Some((i as f64, cell.ops_per_sec / 1e6))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(*lock)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(|e| anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))
}
