//! A fixed-size log-linear latency histogram (HDR style).
//!
//! Owns recording and querying latencies in nanoseconds. Values below 128 are
//! exact; above that every power-of-two range is split into 128 equal
//! sub-buckets, so a reported quantile is within 1/128 (< 0.8%) of the true
//! value. Recording is one `leading_zeros`, a shift and an increment: cheap
//! enough for the load generator's hot loop. It must not allocate per sample.

use std::time::Duration;

/// log2 of the number of sub-buckets per power of two.
const SUB_BITS: u32 = 7;
/// Sub-buckets per power of two (and the exact range `0..SUB`).
const SUB: u64 = 1 << SUB_BITS;
/// Total number of buckets: the exact range plus one row per shift 0..=56.
const BUCKETS: usize = 128 * 58;

/// Latency histogram over `u64` nanoseconds.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.record_nanos(nanos);
    }

    /// Records one value in nanoseconds.
    pub fn record_nanos(&mut self, nanos: u64) {
        if let Some(slot) = self.counts.get_mut(index_of(nanos)) {
            *slot += 1;
        }
        self.total += 1;
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
        self.sum += u128::from(nanos);
    }

    /// Adds every sample of `other` to `self`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Number of recorded samples.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Largest recorded value (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest recorded value (exact), 0 when empty.
    pub fn min(&self) -> u64 {
        if self.total == 0 { 0 } else { self.min }
    }

    /// Arithmetic mean (exact), 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        // Precision loss is irrelevant at these magnitudes.
        self.sum as f64 / self.total as f64
    }

    /// The value at quantile `q` (0.0..=1.0): the highest value equivalent to
    /// the bucket holding the sample of rank `ceil(q * len)`, clamped to the
    /// recorded min/max; quantile 0 is the exact minimum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        if q == 0.0 {
            return self.min;
        }
        // Saturating float-to-int conversion: the rank is at most `total`.
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return highest_equivalent(index).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("len", &self.total)
            .field("min", &self.min())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// The bucket for `v`: `v` itself below `SUB`, else row `shift` (how far `v`
/// must be shifted right to fit in `SUB..2*SUB`) and column `v >> shift`.
fn index_of(v: u64) -> usize {
    if v < SUB {
        return usize::try_from(v).unwrap_or(0);
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BITS because v >= SUB
    let shift = msb - SUB_BITS;
    let column = (v >> shift) - SUB; // 0..SUB
    let index = SUB + u64::from(shift) * SUB + column;
    usize::try_from(index).unwrap_or(BUCKETS - 1)
}

/// The largest value that maps to bucket `index`.
fn highest_equivalent(index: usize) -> u64 {
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    if index < SUB {
        return index;
    }
    let shift = (index - SUB) / SUB;
    let column = (index - SUB) % SUB;
    let low = (SUB + column) << shift;
    low.saturating_add((1u64 << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        for v in 0..1000u64 {
            let i = index_of(v);
            assert!(highest_equivalent(i) >= v, "{v}");
            if v < 256 {
                assert_eq!(highest_equivalent(i), v);
            }
        }
    }

    #[test]
    fn buckets_are_contiguous_and_relative_error_bounded() {
        let mut v = 1u64;
        while v < u64::MAX / 3 {
            for probe in [v, v + 1, v.saturating_mul(3) / 2] {
                let i = index_of(probe);
                assert!(i < BUCKETS, "{probe} -> {i}");
                let hi = highest_equivalent(i);
                assert!(hi >= probe);
                assert!(
                    (hi - probe) as f64 <= probe as f64 / 128.0 + 1.0,
                    "{probe} {hi}"
                );
                // The next bucket starts right after this one ends.
                assert_eq!(index_of(hi + 1), i + 1);
            }
            v = v * 2 + 1;
        }
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
        assert_eq!(highest_equivalent(BUCKETS - 1), u64::MAX);
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record_nanos(v * 1000);
        }
        assert_eq!(h.len(), 100_000);
        assert_eq!(h.min(), 1000);
        assert_eq!(h.max(), 100_000_000);
        for (q, want) in [(0.5, 50_000_000f64), (0.9, 90e6), (0.99, 99e6)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(h.quantile(0.0), 1000);
        assert!((h.mean() - 50_000_500.0).abs() < 1.0);
    }

    #[test]
    fn merge_equals_recording_into_one() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        let mut both = Histogram::new();
        for v in 0..5000u64 {
            let x = v * v;
            if v % 3 == 0 {
                a.record_nanos(x)
            } else {
                b.record_nanos(x)
            }
            both.record_nanos(x);
        }
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!(Histogram::new().quantile(0.5), 0);
        assert_eq!(Histogram::new().min(), 0);
    }
}
