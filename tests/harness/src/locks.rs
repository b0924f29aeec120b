//! `locks`: the contention statistics of the server's named locks, one table per lock.

use anyhow::Result;
use comfy_table::{Cell, CellAlignment};
use pushlock::LockWord;
use pushlock_protocol::{LockInfo, text};
use serde::Serialize;

use crate::report::{Output, duration, table};

/// One named lock, as reported.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct LockReport {
    pub name: String,
    pub shared_acquisitions: u64,
    pub exclusive_acquisitions: u64,
    pub contended: u64,
    pub spun: u64,
    pub sleeps: u64,
    pub longest_wait_ns: u64,
    pub longest_hold_ns: u64,
    /// The lock word when read, decoded.
    pub word: String,
}

impl LockReport {
    pub fn new(info: &LockInfo) -> Self {
        Self {
            name: text(&info.name).to_owned(),
            shared_acquisitions: info.shared_acquisitions.get(),
            exclusive_acquisitions: info.exclusive_acquisitions.get(),
            contended: info.contended.get(),
            spun: info.spun.get(),
            sleeps: info.sleeps.get(),
            longest_wait_ns: info.longest_wait_ns.get(),
            longest_hold_ns: info.longest_hold_ns.get(),
            word: LockWord(usize::try_from(info.word.get()).unwrap_or(0)).to_string(),
        }
    }

    /// The rows of its table: what was counted, and its share where one helps.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let acquisitions = self
            .shared_acquisitions
            .saturating_add(self.exclusive_acquisitions);
        vec![
            ("shared acquisitions", self.shared_acquisitions.to_string()),
            (
                "exclusive acquisitions",
                self.exclusive_acquisitions.to_string(),
            ),
            (
                "contended",
                format!(
                    "{} ({})",
                    self.contended,
                    share(self.contended, acquisitions)
                ),
            ),
            (
                "  got it spinning",
                format!("{} ({})", self.spun, share(self.spun, self.contended)),
            ),
            ("sleeps", self.sleeps.to_string()),
            ("longest wait", duration(self.longest_wait_ns)),
            (
                "longest exclusive hold (1 in 64)",
                duration(self.longest_hold_ns),
            ),
            ("word now", self.word.clone()),
        ]
    }

    /// Its table, headed by its name.
    fn render(&self) -> String {
        let mut table = table(&[self.name.as_str(), ""]);
        for (counter, value) in self.rows() {
            table.add_row([
                Cell::new(counter),
                Cell::new(value).set_alignment(CellAlignment::Right),
            ]);
        }
        table.to_string()
    }
}

/// `part` of `whole` in percent, for humans ("-" of nothing).
#[allow(clippy::cast_precision_loss, reason = "a share for display")]
fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        String::from("-")
    } else {
        format!("{:.2} %", part as f64 * 100.0 / whole as f64)
    }
}

impl Output {
    pub fn locks(&self, backend: &str, locks: &[LockInfo]) -> Result<()> {
        let reports: Vec<LockReport> = locks.iter().map(LockReport::new).collect();
        self.emit(&reports, || {
            if reports.is_empty() {
                return format!(
                    "{backend}: no named locks (only the driver's filter keeps locks of its own)"
                );
            }
            let tables: Vec<String> = reports.iter().map(LockReport::render).collect();
            tables.join("\n\n")
        })
    }
}

#[cfg(test)]
mod tests {
    use pushlock_protocol::{U64, put_text};

    use super::*;

    fn policy_lock() -> LockInfo {
        let mut info = LockInfo {
            shared_acquisitions: U64::new(9_000),
            exclusive_acquisitions: U64::new(1_000),
            contended: U64::new(250),
            spun: U64::new(200),
            sleeps: U64::new(61),
            longest_wait_ns: U64::new(48_500),
            longest_hold_ns: U64::new(2_100),
            word: U64::new(0x21),
            ..LockInfo::default()
        };
        put_text(&mut info.name, "filter policy");
        info
    }

    #[test]
    fn a_lock_s_table_names_it_and_shows_every_counter_with_its_share() {
        let report = LockReport::new(&policy_lock());
        assert_eq!(report.word, LockWord(0x21).to_string());
        let table = report.render();
        for expected in [
            "filter policy",
            "| shared acquisitions ",
            "9000",
            " 250 (2.50 %) |",
            " 200 (80.00 %) |",
            " 61 |",
            "48.5 µs",
            "2.1 µs",
            "shared x2",
        ] {
            assert!(table.contains(expected), "{expected:?} not in\n{table}");
        }
    }

    #[test]
    fn nothing_counted_has_no_share() {
        let report = LockReport::new(&LockInfo::default());
        let rows = report.rows();
        assert_eq!(rows[2], ("contended", String::from("0 (-)")));
        assert_eq!(rows[3], ("  got it spinning", String::from("0 (-)")));
    }

    #[test]
    fn json_keeps_raw_numbers() {
        let json = serde_json::to_value(LockReport::new(&policy_lock())).unwrap();
        assert_eq!(json["name"], "filter policy");
        assert_eq!(json["contended"], 250);
        assert_eq!(json["longest_wait_ns"], 48_500);
    }
}
