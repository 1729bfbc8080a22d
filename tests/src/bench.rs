//! Latency figures of the benchmarks.

/// Latency figures of a benchmark: percentiles, maximum and rate.
pub struct Latencies(pub Vec<std::time::Duration>);

impl Latencies {
    /// `(p50, p95, max, per second)`; the samples are sorted in place.
    pub fn summary(
        &mut self,
    ) -> (
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
        f64,
    ) {
        self.0.sort();
        let n = self.0.len().max(1);
        let pct = |p: f64| {
            self.0
                .get(((n as f64 * p).ceil() as usize).clamp(1, n) - 1)
                .copied()
                .unwrap_or_default()
        };
        let total: std::time::Duration = self.0.iter().sum();
        let rate = if total.is_zero() {
            0.0
        } else {
            self.0.len() as f64 / total.as_secs_f64()
        };
        (
            pct(0.50),
            pct(0.95),
            self.0.last().copied().unwrap_or_default(),
            rate,
        )
    }
}
