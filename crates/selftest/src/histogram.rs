//! Wait times as a histogram, for percentiles: the longest wait alone measures the scheduler (one
//! preempted thread on a busy machine waits a whole time slice whatever the lock), the 99th and
//! 99.9th percentiles measure the lock.
//!
//! Buckets are log-linear: values below 16 ns have one bucket each, and every power of two above
//! is split into 8 equal buckets, so a bucket's upper bound is within 12.5 % of any value in it.
//! 496 buckets cover all of `u64`. No allocation while recording: each thread counts into its own
//! histogram with plain loads and stores (atomics only so that the reporter may read them after
//! the thread is done), and the report merges them.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::fallible::{OutOfMemory, try_collect};

/// Buckets per power of two, as a shift.
const SUB_BITS: u32 = 3;
/// Values below this have a bucket each.
const LINEAR: u64 = 2 << SUB_BITS;
/// Enough for `u64::MAX`: 16 linear buckets, then 8 for each exponent from 4 to 63.
const BUCKETS: usize = 496;

/// One thread's wait times. The counts live on the heap, built in place: as an array they would
/// be a 4 KB temporary on a kernel stack (and a `__chkstk` probe the driver cannot link).
pub struct WaitHistogram {
    counts: Vec<AtomicU64>,
}

impl WaitHistogram {
    /// An empty histogram.
    ///
    /// # Errors
    /// [`OutOfMemory`].
    pub fn try_new() -> Result<Self, OutOfMemory> {
        Ok(Self {
            counts: try_collect((0..BUCKETS).map(|_| AtomicU64::new(0)))?,
        })
    }

    /// Counts one wait. Only the owning thread records, so a load and a store suffice.
    pub fn record(&self, ns: u64) {
        if let Some(count) = self.counts.get(bucket(ns)) {
            count.store(count.load(Relaxed).wrapping_add(1), Relaxed);
        }
    }
}

/// The 50th, 99th and 99.9th percentile of the waits in `histograms` (each the upper bound of
/// its bucket, but no more than `max_ns`, the longest wait seen); zeros if nothing was recorded.
/// Bucket by bucket across the histograms: no merged copy is allocated.
pub fn percentiles<'a>(
    histograms: &(impl Iterator<Item = &'a WaitHistogram> + Clone),
    max_ns: u64,
) -> [u64; 3] {
    let merged = |index: usize| {
        histograms
            .clone()
            .filter_map(|histogram| histogram.counts.get(index))
            .fold(0_u64, |sum, count| sum.saturating_add(count.load(Relaxed)))
    };
    let total = (0..BUCKETS).map(merged).fold(0_u64, u64::saturating_add);
    [(1, 2), (99, 100), (999, 1000)].map(|(num, den)| {
        // The smallest value with at least ⌈total·num/den⌉ waits at or below it.
        let rank = u128::from(total).saturating_mul(num).div_ceil(den);
        upper_bound_of_rank(&merged, rank).min(max_ns)
    })
}

fn upper_bound_of_rank(merged: &impl Fn(usize) -> u64, rank: u128) -> u64 {
    if rank == 0 {
        return 0;
    }
    let mut seen = 0_u128;
    for index in 0..BUCKETS {
        seen = seen.saturating_add(u128::from(merged(index)));
        if seen >= rank {
            return upper_bound(index);
        }
    }
    u64::MAX
}

/// The bucket of `ns`.
fn bucket(ns: u64) -> usize {
    if ns < LINEAR {
        return usize::try_from(ns).unwrap_or(0);
    }
    // ns ≥ 16: its top four bits are `1sss`, and 4 ≤ exponent ≤ 63, so nothing below wraps.
    let exponent = ns.ilog2();
    let sub = (ns >> exponent.wrapping_sub(SUB_BITS)) & ((1 << SUB_BITS) - 1);
    let power = exponent.wrapping_sub(SUB_BITS - 1) << SUB_BITS;
    usize::try_from(u64::from(power) | sub).unwrap_or(BUCKETS)
}

/// The largest value in bucket `index`.
fn upper_bound(index: usize) -> u64 {
    let linear = usize::try_from(LINEAR).unwrap_or(usize::MAX);
    if index < linear {
        return u64::try_from(index).unwrap_or(u64::MAX);
    }
    let per_power = 1_usize << SUB_BITS;
    let (power, sub) = (index / per_power, index % per_power);
    // index = (exponent - 2) * 8 + sub, so exponent = power + 2 and the bucket's values are
    // [(8 + sub) << (exponent - 3), (9 + sub) << (exponent - 3)).
    let shift = u32::try_from(power).unwrap_or(u32::MAX).saturating_sub(1);
    let end = u128::try_from(per_power.saturating_add(sub).saturating_add(1))
        .unwrap_or(u128::MAX)
        .checked_shl(shift)
        .unwrap_or(u128::MAX);
    u64::try_from(end.saturating_sub(1)).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::disallowed_macros,
    reason = "a test fails loudly, and may allocate as it likes"
)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn every_value_is_at_most_its_buckets_upper_bound_and_within_an_eighth_of_it() {
        let mut values = vec![0, 1, 15, 16, 17, 31, 32, 100, 1_000, 123_456_789, u64::MAX];
        values.extend((0..64).map(|shift| 1_u64 << shift));
        values.extend((1..64).map(|shift| (1_u64 << shift) - 1));
        for value in values {
            let bound = upper_bound(bucket(value));
            assert!(value <= bound, "{value} above its bound {bound}");
            assert!(
                u128::from(bound) * 8 <= u128::from(value) * 9 + 8,
                "{value}: bound {bound} is more than 12.5 % off"
            );
            if bucket(value) > 0 {
                assert!(
                    upper_bound(bucket(value) - 1) < value,
                    "{value}: buckets overlap"
                );
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_pick_the_ranked_wait_capped_by_the_longest() {
        let (fast, slow) = (
            WaitHistogram::try_new().unwrap(), // allowed: a test
            WaitHistogram::try_new().unwrap(), // allowed: a test
        );
        for _ in 0..990 {
            fast.record(100);
        }
        for _ in 0..9 {
            slow.record(10_000);
        }
        slow.record(5_000_000);
        let [p50, p99, p999] = percentiles(&[&fast, &slow].into_iter(), 5_000_000);
        assert_eq!(p50, upper_bound(bucket(100)));
        assert!((100..=112).contains(&p50), "{p50}");
        assert_eq!(
            p99,
            upper_bound(bucket(100)),
            "the 990th of 1000 waits is still fast"
        );
        assert!((10_000..=11_250).contains(&p999), "{p999}");
        assert_eq!(
            percentiles(&core::iter::once(&fast), 50),
            [50; 3],
            "capped by the max"
        );
        let empty = WaitHistogram::try_new().unwrap(); // allowed: a test
        assert_eq!(percentiles(&core::iter::once(&empty), 0), [0; 3]);
    }
}
