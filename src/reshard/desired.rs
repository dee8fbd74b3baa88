//! How many shards an endpoint needs: Prometheus's `calculateDesiredShards`, split into the
//! raw estimate ([`desired_shards`], the `shards_desired` gauge) and the decision with its
//! hysteresis ([`next_shard_count`]). DESIGN.md "The resharding rule"; FORMATS.md §5.4.

/// Prometheus's `shardToleranceFraction`: no change while `ceil(desired)` is within ±30 %
/// of the current count.
pub const SHARD_TOLERANCE_FRACTION: f64 = 0.3;
/// Share of the backlog to catch up per second (Prometheus PR #9274: 5 %).
pub const BACKLOG_CATCHUP_FRACTION: f64 = 0.05;
/// Never down-shard while the newest sent sample is more than this far (seconds) behind the
/// newest received one.
pub const MAX_DELAY_FOR_DOWNSHARD_SECS: f64 = 10.0;

/// The rates one tick of the controller sees, all per second (EWMA over 10 s ticks).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DesiredInputs {
    /// Samples (+ exemplars + histograms) written to the WAL: the ingest rate, measured
    /// independently of this queue's backpressure (FORMATS.md §5.4 "Standalone caveat").
    pub data_in_rate: f64,
    /// Samples whose send finished (acknowledged or dropped by the receiver).
    pub data_out_rate: f64,
    /// Samples dropped before sending (relabeling, unknown series).
    pub data_dropped_rate: f64,
    /// Seconds spent sending (including retries and backoff) per second of wall time.
    pub data_out_duration_rate: f64,
    /// Highest received timestamp minus highest sent timestamp, in seconds.
    pub delay_secs: f64,
}

/// The raw number of shards needed to keep up with `data_in_rate` and drain 5 % of the
/// backlog per second. `None` when nothing was sent this tick (`data_out_rate <= 0`): no
/// measurement, keep the current count and leave the gauge as it was.
pub fn desired_shards(inputs: &DesiredInputs) -> Option<f64> {
    let out = inputs.data_out_rate;
    if out.is_nan() || out <= 0.0 {
        return None;
    }
    let kept_ratio = out / (inputs.data_dropped_rate + out);
    let pending = inputs.delay_secs * inputs.data_in_rate * kept_ratio;
    let backlog_catchup = BACKLOG_CATCHUP_FRACTION * pending;
    let time_per_sample = inputs.data_out_duration_rate / out;
    Some(time_per_sample * (inputs.data_in_rate * kept_ratio + backlog_catchup))
}

/// The shard count to move to, or `None` to stay at `current`. Rounds `desired` up; keeps
/// `current` while that is within ±30 % of it; refuses to shrink while more than 10 s behind;
/// clamps to `[min, max]`. The returned count always differs from `current`.
pub fn next_shard_count(
    current: usize,
    desired: f64,
    min: usize,
    max: usize,
    delay_secs: f64,
) -> Option<usize> {
    let lower = current as f64 * (1.0 - SHARD_TOLERANCE_FRACTION);
    let upper = current as f64 * (1.0 + SHARD_TOLERANCE_FRACTION);
    let desired = desired.ceil();
    if lower <= desired && desired <= upper {
        return None;
    }
    // Saturating: NaN becomes 0 and +inf becomes usize::MAX; both are then clamped.
    let mut next = desired as usize;
    if next < current && delay_secs > MAX_DELAY_FOR_DOWNSHARD_SECS {
        return None;
    }
    if next > max {
        next = max;
    } else if next < min {
        next = min;
    }
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_table() {
        // (in, out, dropped, duration, delay, expected)
        type Row = (f64, f64, f64, f64, f64, Option<f64>);
        let cases: &[Row] = &[
            (0.0, 0.0, 0.0, 0.0, 0.0, None),
            (10.0, 0.0, 5.0, 1.0, 0.0, None),
            (10.0, -1.0, 0.0, 1.0, 0.0, None),
            // 1 s of sending per second for 10 samples/s: 0.1 s/sample * 10/s = 1 shard.
            (10.0, 10.0, 0.0, 1.0, 0.0, Some(1.0)),
            // Half the input is dropped: only the kept half needs sending.
            (20.0, 10.0, 10.0, 1.0, 0.0, Some(1.0)),
            // 20 s behind at 10/s: 200 pending, catch up 5 % = 10/s more.
            (10.0, 10.0, 0.0, 2.0, 20.0, Some(4.0)),
            // Ahead (negative delay) lowers the estimate, as in Prometheus.
            (10.0, 10.0, 0.0, 1.0, -10.0, Some(0.5)),
        ];
        for &(data_in_rate, data_out_rate, data_dropped_rate, dur, delay_secs, want) in cases {
            let inputs = DesiredInputs {
                data_in_rate,
                data_out_rate,
                data_dropped_rate,
                data_out_duration_rate: dur,
                delay_secs,
            };
            let got = desired_shards(&inputs);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{inputs:?}: {g} want {w}"),
                _ => assert_eq!(got, want, "{inputs:?}"),
            }
        }
    }

    #[test]
    fn next_table() {
        // (current, desired, min, max, delay, expected)
        type Row = (usize, f64, usize, usize, f64, Option<usize>);
        let cases: &[Row] = &[
            // Within tolerance [7, 13] of 10 after rounding up.
            (10, 7.0, 1, 50, 0.0, None),
            (10, 6.01, 1, 50, 0.0, None),
            (10, 13.0, 1, 50, 0.0, None),
            (10, 12.5, 1, 50, 0.0, None),
            // Outside it.
            (10, 6.0, 1, 50, 0.0, Some(6)),
            (10, 13.01, 1, 50, 0.0, Some(14)),
            // 1 shard: tolerance [0.7, 1.3]; 1.2 rounds up to 2.
            (1, 1.2, 1, 50, 0.0, Some(2)),
            (1, 0.5, 1, 50, 0.0, None),
            // Zero desired clamps to min, which may equal current.
            (3, 0.0, 1, 50, 0.0, Some(1)),
            (1, 0.0, 1, 50, 0.0, None),
            // No down-shard while more than 10 s behind; exactly 10 s is allowed.
            (10, 2.0, 1, 50, 10.5, None),
            (10, 2.0, 1, 50, 10.0, Some(2)),
            // Up-shard while behind is fine.
            (10, 20.0, 1, 50, 100.0, Some(20)),
            // Clamp to max and min; clamping back onto current is "no change".
            (10, 200.0, 1, 50, 0.0, Some(50)),
            (50, 200.0, 1, 50, 0.0, None),
            (10, 2.0, 5, 50, 0.0, Some(5)),
            // Non-finite estimates are clamped too.
            (10, f64::INFINITY, 1, 50, 0.0, Some(50)),
            (10, f64::NAN, 2, 50, 0.0, Some(2)),
        ];
        for &(current, desired, min, max, delay, want) in cases {
            assert_eq!(
                next_shard_count(current, desired, min, max, delay),
                want,
                "current {current} desired {desired} min {min} max {max} delay {delay}"
            );
        }
    }
}
