//! What the generator writes, as pure functions of (series id, scrape index), so the
//! verifying sink and the tests can check what arrived without keeping a copy of it.
//!
//! Series `id` (0-based, WAL ref `id + 1`) belongs to target `id / series_per_target`; a
//! target's series are appended together, one commit per scrape, like Prometheus's
//! appender. Every label set carries `id="<id>"` so a receiver finds the series without a
//! lookup table; the rest of the shape (metric name, `instance`, `job`, padding labels) is
//! configurable so label bytes per series can match a real node.

use crate::record::{Histogram, MetricType, ResetHint, Span};

/// Every `HISTOGRAM_EVERY`-th series (when histograms are on) is a native histogram series.
pub const HISTOGRAM_EVERY: u64 = 10;
/// Float series with `id % EXEMPLAR_SERIES_EVERY == 0` get an exemplar on every
/// `EXEMPLAR_SAMPLE_EVERY`-th sample (when exemplars are on).
pub const EXEMPLAR_SERIES_EVERY: u64 = 4;
pub const EXEMPLAR_SAMPLE_EVERY: u64 = 10;
/// Sample values are `index * VALUE_STRIDE + id % VALUE_STRIDE`: increasing like a counter,
/// exact in an f64 up to 2^43 scrapes, and both parts recoverable.
pub const VALUE_STRIDE: u64 = 1000;

/// How sample timestamps are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    /// `start_ms + index * interval_ms + target offset`: reproducible (tests, promtool).
    Synthetic { start_ms: i64, interval_ms: i64 },
    /// Wall clock at append, strictly increasing per target (live benchmarks).
    WallClock,
}

/// The label shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelShape {
    /// Distinct metric names (`__name__`) cycled through by id.
    pub metric_names: u64,
    /// Padding labels `label_<j>` beyond `__name__`, `id`, `instance` and `job`.
    pub extra_labels: usize,
    /// Length of each padding label's value.
    pub value_len: usize,
}

impl Default for LabelShape {
    fn default() -> Self {
        // About a node_exporter series: 6 labels, ~120 label bytes.
        LabelShape {
            metric_names: 50,
            extra_labels: 2,
            value_len: 12,
        }
    }
}

/// Kind of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    Float,
    Histogram,
}

/// The generated data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub series: u64,
    pub series_per_target: u64,
    pub samples_per_series: u64,
    pub shape: LabelShape,
    pub histograms: bool,
    pub exemplars: bool,
    pub metadata: bool,
    pub timestamps: Timestamps,
}

impl Model {
    /// Number of targets (scrape batches per scrape round).
    pub fn targets(&self) -> u64 {
        self.series.div_ceil(self.series_per_target.max(1))
    }

    /// Series ids of `target`.
    pub fn target_series(&self, target: u64) -> std::ops::Range<u64> {
        let per = self.series_per_target.max(1);
        let start = target * per;
        start..(start + per).min(self.series)
    }

    pub fn target_of(&self, id: u64) -> u64 {
        id / self.series_per_target.max(1)
    }

    /// Position of scrape (`target`, `index`) in append order.
    pub fn scrape_seq(&self, target: u64, index: u64) -> u64 {
        index * self.targets() + target
    }

    /// Total scrapes.
    pub fn scrapes(&self) -> u64 {
        self.targets() * self.samples_per_series
    }

    pub fn kind(&self, id: u64) -> SeriesKind {
        if self.histograms && id % HISTOGRAM_EVERY == HISTOGRAM_EVERY - 1 {
            SeriesKind::Histogram
        } else {
            SeriesKind::Float
        }
    }

    /// The sorted label set of series `id`.
    pub fn labels(&self, id: u64) -> Vec<(String, String)> {
        let target = self.target_of(id);
        let name = match self.kind(id) {
            SeriesKind::Float => {
                format!("bench_metric_{}_total", id % self.shape.metric_names.max(1))
            }
            SeriesKind::Histogram => format!(
                "bench_latency_{}_seconds",
                id % self.shape.metric_names.max(1)
            ),
        };
        let mut l = vec![
            ("__name__".to_string(), name),
            ("id".to_string(), id.to_string()),
            (
                "instance".to_string(),
                format!(
                    "10.{}.{}.{}:9100",
                    target / 62500,
                    (target / 250) % 250,
                    target % 250
                ),
            ),
            ("job".to_string(), "bench".to_string()),
        ];
        for j in 0..self.shape.extra_labels {
            let mut v = format!("v{}-{}", j, id % (j as u64 + 7));
            while v.len() < self.shape.value_len {
                v.push('x');
            }
            l.push((format!("label_{j}"), v));
        }
        l.sort();
        l
    }

    /// Float value of sample `index` of series `id`.
    pub fn value(&self, id: u64, index: u64) -> f64 {
        (index * VALUE_STRIDE + id % VALUE_STRIDE) as f64
    }

    /// The sample index a value encodes, if it is one of series `id`'s values.
    pub fn index_of_value(&self, id: u64, v: f64) -> Option<u64> {
        if !(v >= 0.0 && v.fract() == 0.0 && v < 9.0e15) {
            return None;
        }
        let v = v as u64;
        (v % VALUE_STRIDE == id % VALUE_STRIDE).then_some(v / VALUE_STRIDE)
    }

    /// Timestamp of scrape `index` of `target` in synthetic mode.
    pub fn synthetic_timestamp(&self, target: u64, index: u64) -> Option<i64> {
        match self.timestamps {
            Timestamps::Synthetic {
                start_ms,
                interval_ms,
            } => {
                let offset = (target as i64 * interval_ms) / self.targets().max(1) as i64;
                Some(start_ms + index as i64 * interval_ms + offset)
            }
            Timestamps::WallClock => None,
        }
    }

    /// Histogram sample `index` of series `id`: schema 0, two positive buckets of
    /// `index + 1` observations each; the count (`2 * (index + 1)`) carries the index.
    pub fn histogram(&self, id: u64, index: u64) -> Histogram {
        let n = index + 1;
        Histogram {
            reset_hint: ResetHint::No,
            schema: 0,
            zero_threshold: 1e-128,
            zero_count: 0,
            count: 2 * n,
            sum: n as f64 * 3.0 + (id % VALUE_STRIDE) as f64 / 1024.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            negative_spans: Vec::new(),
            positive_deltas: vec![n as i64, 0],
            negative_deltas: Vec::new(),
            custom_values: Vec::new(),
        }
    }

    /// The index a histogram count encodes.
    pub fn index_of_histogram_count(count: u64) -> Option<u64> {
        (count >= 2 && count % 2 == 0).then(|| count / 2 - 1)
    }

    /// Whether sample `index` of series `id` carries an exemplar.
    pub fn has_exemplar(&self, id: u64, index: u64) -> bool {
        self.exemplars
            && self.kind(id) == SeriesKind::Float
            && id % EXEMPLAR_SERIES_EVERY == 0
            && index % EXEMPLAR_SAMPLE_EVERY == 0
    }

    /// Exemplars series `id` gets in total.
    pub fn exemplars_of(&self, id: u64) -> u64 {
        if self.has_exemplar(id, 0) {
            self.samples_per_series.div_ceil(EXEMPLAR_SAMPLE_EVERY)
        } else {
            0
        }
    }

    /// The exemplar's `trace_id` label value.
    pub fn exemplar_trace_id(id: u64, index: u64) -> String {
        format!("{id:x}-{index:x}")
    }

    /// Metadata of series `id` (written with its first scrape, as Prometheus does).
    pub fn metadata(&self, id: u64) -> (MetricType, &'static str, String) {
        match self.kind(id) {
            SeriesKind::Float => (MetricType::Counter, "", "Benchmark counter.".to_string()),
            SeriesKind::Histogram => (
                MetricType::Histogram,
                "seconds",
                "Benchmark native histogram.".to_string(),
            ),
        }
    }

    /// Totals: (float samples, histogram samples, exemplars).
    pub fn totals(&self) -> (u64, u64, u64) {
        let hist = if self.histograms {
            // ids with id % 10 == 9 below `series`.
            (self.series + 1) / HISTOGRAM_EVERY
        } else {
            0
        };
        let floats = self.series - hist;
        let ex_series = if self.exemplars {
            (0..self.series)
                .step_by(EXEMPLAR_SERIES_EVERY as usize)
                .filter(|&id| self.kind(id) == SeriesKind::Float)
                .count() as u64
        } else {
            0
        };
        (
            floats * self.samples_per_series,
            hist * self.samples_per_series,
            ex_series * self.samples_per_series.div_ceil(EXEMPLAR_SAMPLE_EVERY),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(series: u64, per_target: u64, k: u64) -> Model {
        Model {
            series,
            series_per_target: per_target,
            samples_per_series: k,
            shape: LabelShape::default(),
            histograms: true,
            exemplars: true,
            metadata: true,
            timestamps: Timestamps::Synthetic {
                start_ms: 1_000,
                interval_ms: 100,
            },
        }
    }

    #[test]
    fn value_and_histogram_indexes_round_trip() {
        let m = model(2000, 100, 10);
        for (id, index) in [(0, 0), (1, 1), (999, 7), (1000, 123_456), (1999, 1 << 40)] {
            let v = m.value(id, index);
            assert_eq!(
                m.index_of_value(id, v),
                Some(index),
                "id {id} index {index}"
            );
            assert_eq!(m.index_of_value(id + 1, v), None);
            let h = m.histogram(id, index);
            assert_eq!(Model::index_of_histogram_count(h.count), Some(index));
        }
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY] {
            assert_eq!(m.index_of_value(0, bad), None);
        }
    }

    #[test]
    fn targets_and_totals_match_a_count_by_hand() {
        let cases = [(10, 3, 4), (2000, 100, 11), (7, 10, 1), (1, 1, 25)];
        for (series, per, k) in cases {
            let m = model(series, per, k);
            let ids: Vec<u64> = (0..m.targets()).flat_map(|t| m.target_series(t)).collect();
            assert_eq!(ids, (0..series).collect::<Vec<_>>());
            let (mut f, mut h, mut e) = (0, 0, 0);
            for id in 0..series {
                assert!(m.target_series(m.target_of(id)).contains(&id));
                for i in 0..k {
                    match m.kind(id) {
                        SeriesKind::Float => f += 1,
                        SeriesKind::Histogram => h += 1,
                    }
                    e += u64::from(m.has_exemplar(id, i));
                }
                assert_eq!(
                    m.exemplars_of(id),
                    (0..k).filter(|&i| m.has_exemplar(id, i)).count() as u64
                );
            }
            assert_eq!(m.totals(), (f, h, e), "{series} {per} {k}");
        }
    }

    #[test]
    fn labels_are_sorted_unique_and_carry_the_id() {
        let m = model(500, 100, 1);
        let mut seen = std::collections::HashSet::new();
        for id in 0..500 {
            let l = m.labels(id);
            assert!(l.windows(2).all(|w| w[0].0 < w[1].0));
            assert_eq!(
                l.iter().find(|(n, _)| n == "id").map(|(_, v)| v.clone()),
                Some(id.to_string())
            );
            assert!(seen.insert(l));
        }
    }

    #[test]
    fn synthetic_timestamps_increase_per_target_and_across_targets() {
        let m = model(1000, 100, 5);
        let mut last = i64::MIN;
        for index in 0..5 {
            for t in 0..m.targets() {
                let ts = m.synthetic_timestamp(t, index).unwrap_or(0);
                assert!(ts > last, "{t} {index}");
                last = ts;
            }
        }
    }
}
