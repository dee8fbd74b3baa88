//! Whether a computed shard count may be applied now: Prometheus's `shouldReshard` and the
//! reshard pause after recoverable errors (`reshardDisableEndTimestamp`, v2.51+).
//!
//! Times are milliseconds on one clock chosen by the caller (Unix time or a monotonic
//! counter); every argument must use the same one. Prometheus uses whole Unix seconds, which
//! makes a short backoff (2 × 30 ms) usually fall inside the current second and not pause
//! resharding at all; milliseconds make the pause as long as intended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ewma::SHARD_UPDATE_INTERVAL;

/// Why a reshard is skipped this tick (each maps to one of Prometheus's log lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The desired count equals the current one.
    NoChange,
    /// "Skipping resharding, last successful send was beyond threshold": nothing has been
    /// sent for more than 10 s, so the rates say nothing about the receiver.
    NoRecentSend {
        last_send_ms: u64,
        threshold_ms: u64,
    },
    /// "Skipping resharding, resharding is disabled while waiting for recoverable errors".
    Disabled { until_ms: u64 },
}

/// Why not to reshard from `current` to `desired` now, or `None` to go ahead.
/// `last_send_ms` is when a batch last finished sending (acknowledged or dropped as
/// non-recoverable; 0 = never); `disabled_until_ms` comes from [`ReshardPause::until_ms`].
pub fn reshard_skip_reason(
    desired: usize,
    current: usize,
    now_ms: u64,
    last_send_ms: u64,
    disabled_until_ms: u64,
) -> Option<SkipReason> {
    if desired == current {
        return Some(SkipReason::NoChange);
    }
    let threshold_ms = now_ms.saturating_sub(millis(SHARD_UPDATE_INTERVAL));
    if last_send_ms < threshold_ms {
        return Some(SkipReason::NoRecentSend {
            last_send_ms,
            threshold_ms,
        });
    }
    if now_ms < disabled_until_ms {
        return Some(SkipReason::Disabled {
            until_ms: disabled_until_ms,
        });
    }
    None
}

/// Prometheus's `shouldReshard`: [`reshard_skip_reason`] is `None`.
pub fn should_reshard(
    desired: usize,
    current: usize,
    now_ms: u64,
    last_send_ms: u64,
    disabled_until_ms: u64,
) -> bool {
    reshard_skip_reason(desired, current, now_ms, last_send_ms, disabled_until_ms).is_none()
}

/// The reshard pause shared by an endpoint's shards (on any core) and its controller.
/// Lock-free: shards call [`Self::on_recoverable_error`] before each backoff sleep.
#[derive(Debug, Default)]
pub struct ReshardPause {
    until_ms: AtomicU64,
    since_ms: AtomicU64,
}

impl ReshardPause {
    /// No pause.
    pub const fn new() -> Self {
        Self {
            until_ms: AtomicU64::new(0),
            since_ms: AtomicU64::new(0),
        }
    }

    /// A send failed with a recoverable error and will be retried after `sleep` (backoff or
    /// Retry-After): pause resharding until `now + 2 × sleep`, never shortening a longer
    /// pause already set. Returns whether the pause was extended.
    pub fn on_recoverable_error(&self, now_ms: u64, sleep: Duration) -> bool {
        let until = now_ms.saturating_add(millis(sleep).saturating_mul(2));
        let previous = self.until_ms.fetch_max(until, Ordering::AcqRel);
        if previous >= until {
            return false;
        }
        // The pause had ended: remember when this one began (for the log line).
        if previous < now_ms {
            self.since_ms.store(now_ms, Ordering::Release);
        }
        true
    }

    /// End of the pause (0 = never paused); pass to [`should_reshard`].
    pub fn until_ms(&self) -> u64 {
        self.until_ms.load(Ordering::Acquire)
    }

    /// Start of the current (or last) pause, for logging how long resharding has been off.
    pub fn since_ms(&self) -> u64 {
        self.since_ms.load(Ordering::Acquire)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn skip_reason_table() {
        // (desired, current, last_send, disabled_until, expected)
        let cases: &[(usize, usize, u64, u64, Option<SkipReason>)] = &[
            (5, 5, NOW, 0, Some(SkipReason::NoChange)),
            (6, 5, NOW, 0, None),
            (4, 5, NOW - 10_000, 0, None),
            (
                4,
                5,
                NOW - 10_001,
                0,
                Some(SkipReason::NoRecentSend {
                    last_send_ms: NOW - 10_001,
                    threshold_ms: NOW - 10_000,
                }),
            ),
            (
                4,
                5,
                0,
                0,
                Some(SkipReason::NoRecentSend {
                    last_send_ms: 0,
                    threshold_ms: NOW - 10_000,
                }),
            ),
            (
                6,
                5,
                NOW,
                NOW + 1,
                Some(SkipReason::Disabled { until_ms: NOW + 1 }),
            ),
            (6, 5, NOW, NOW, None),
        ];
        for &(desired, current, last, until, want) in cases {
            assert_eq!(
                reshard_skip_reason(desired, current, NOW, last, until),
                want,
                "desired {desired} current {current} last {last} until {until}"
            );
            assert_eq!(
                should_reshard(desired, current, NOW, last, until),
                want.is_none()
            );
        }
    }

    #[test]
    fn pause_only_grows_and_tracks_its_start() {
        let p = ReshardPause::new();
        assert_eq!(p.until_ms(), 0);
        assert!(p.on_recoverable_error(NOW, Duration::from_secs(1)));
        assert_eq!(p.until_ms(), NOW + 2_000);
        assert_eq!(p.since_ms(), NOW);
        // A shorter backoff later does not shorten the pause.
        assert!(!p.on_recoverable_error(NOW + 100, Duration::from_millis(30)));
        assert_eq!(p.until_ms(), NOW + 2_000);
        // A longer one extends it without moving its start.
        assert!(p.on_recoverable_error(NOW + 500, Duration::from_secs(5)));
        assert_eq!(p.until_ms(), NOW + 10_500);
        assert_eq!(p.since_ms(), NOW);
        // After it ended, a new pause has a new start.
        assert!(p.on_recoverable_error(NOW + 20_000, Duration::from_secs(1)));
        assert_eq!(p.since_ms(), NOW + 20_000);
        assert_eq!(p.until_ms(), NOW + 22_000);
    }
}
