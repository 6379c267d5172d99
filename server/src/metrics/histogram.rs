//! A latency histogram that records with two relaxed atomic adds and no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds. Every 10 µs up to 100 µs and a few steps on
/// to 1 ms, where this server's own share of a request falls, so that a median there can be
/// read off; from 1 ms on the real server's bounds (1, 2, 5 per decade up to 1000 s), so
/// that queries written against its buckets find the same ones here.
#[rustfmt::skip]
pub const BOUNDS_MICROS: [u64; 35] = [
    10, 20, 30, 40, 50, 60, 70, 80, 90,
    100, 150, 200, 300, 400, 500, 750,
    1_000, 2_000, 5_000,
    10_000, 20_000, 50_000,
    100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000,
    10_000_000, 20_000_000, 50_000_000,
    100_000_000, 200_000_000, 500_000_000,
    1_000_000_000,
];

#[derive(Debug)]
pub struct Histogram {
    /// Observations per bucket, not cumulative; the last one counts those above every bound.
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Observations at most each bound of `BOUNDS_MICROS`, in order (cumulative).
    pub at_most: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_MICROS.partition_point(|&bound| bound * 1_000 < nanos);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut total = 0;
        let mut at_most = Vec::with_capacity(BOUNDS_MICROS.len());
        for bucket in &self.buckets[..BOUNDS_MICROS.len()] {
            total += bucket.load(Ordering::Relaxed);
            at_most.push(total);
        }
        let count = total + self.buckets[BOUNDS_MICROS.len()].load(Ordering::Relaxed);
        Snapshot {
            at_most,
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_rise() {
        assert!(BOUNDS_MICROS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn an_observation_counts_in_every_bucket_whose_bound_it_does_not_exceed() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(10)); // on a bound: in that bucket
        histogram.observe(Duration::from_nanos(10_001)); // just above it: in the next
        histogram.observe(Duration::from_micros(95));
        histogram.observe(Duration::from_secs(2_000)); // above every bound
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 4);
        assert_eq!(&snapshot.at_most[..3], &[1, 2, 2]);
        let at_100_micros = BOUNDS_MICROS.iter().position(|&b| b == 100).unwrap();
        assert_eq!(snapshot.at_most[at_100_micros - 1], 2);
        assert_eq!(snapshot.at_most[at_100_micros], 3);
        assert_eq!(*snapshot.at_most.last().unwrap(), 3);
        assert!((snapshot.sum_seconds - (2_000.0 + 0.000_115_001)).abs() < 1e-9);
    }

    #[test]
    fn an_empty_histogram_reads_zero() {
        let snapshot = Histogram::default().snapshot();
        assert_eq!(snapshot.count, 0);
        assert_eq!(snapshot.sum_seconds, 0.0);
        assert!(snapshot.at_most.iter().all(|&n| n == 0));
    }
}
