//! Retry delays with Prometheus's semantics (FORMATS.md §3.4, `sendWriteRequestWithBackoff`).

use std::time::Duration;

/// Exponential backoff state for one batch.
///
/// Per failure: `sleep = retry_after > 0 ? retry_after : backoff`, then
/// `backoff = min(sleep * 2, max_backoff)`. A `Retry-After` longer than `max_backoff` is
/// slept in full (not capped), exactly as Prometheus does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at `min` (Prometheus `min_backoff`, default 30 ms); doubles up to `max`
    /// (`max_backoff`, default 5 s). `max` below `min` is raised to `min`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// The delay before the next attempt; advances the state.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let sleep = retry_after.filter(|d| !d.is_zero()).unwrap_or(self.current);
        self.current = sleep.saturating_mul(2).min(self.max);
        sleep
    }

    /// Back to `min`, e.g. after a success.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_table() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        // (min, max, [(retry_after, expected sleep)])
        #[allow(clippy::type_complexity)]
        let cases: Vec<(Duration, Duration, Vec<(Option<Duration>, Duration)>)> = vec![
            (
                ms(30),
                s(5),
                vec![
                    (None, ms(30)),
                    (None, ms(60)),
                    (None, ms(120)),
                    (None, ms(240)),
                    (None, ms(480)),
                    (None, ms(960)),
                    (None, ms(1920)),
                    (None, ms(3840)),
                    (None, s(5)),
                    (None, s(5)),
                ],
            ),
            (
                // Retry-After is not capped by max, and the next backoff is capped after it.
                ms(30),
                s(5),
                vec![(None, ms(30)), (Some(s(60)), s(60)), (None, s(5))],
            ),
            (
                // A short Retry-After resets the doubling base to itself.
                ms(100),
                s(10),
                vec![
                    (None, ms(100)),
                    (None, ms(200)),
                    (Some(ms(50)), ms(50)),
                    (None, ms(100)),
                ],
            ),
            (
                // Zero Retry-After means "use the backoff".
                ms(10),
                s(1),
                vec![(Some(Duration::ZERO), ms(10)), (None, ms(20))],
            ),
            (
                // max < min behaves as max == min.
                s(2),
                s(1),
                vec![(None, s(2)), (None, s(2))],
            ),
        ];
        for (i, (min, max, steps)) in cases.into_iter().enumerate() {
            let mut b = Backoff::new(min, max);
            for (j, (after, want)) in steps.into_iter().enumerate() {
                assert_eq!(b.next_delay(after), want, "case {i} step {j}");
            }
        }
    }

    #[test]
    fn reset_goes_back_to_min() {
        let mut b = Backoff::new(Duration::from_millis(5), Duration::from_secs(1));
        b.next_delay(None);
        b.next_delay(None);
        b.reset();
        assert_eq!(b.next_delay(None), Duration::from_millis(5));
    }
}
