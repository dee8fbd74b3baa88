//! Prometheus's queue-manager tests for the pure resharding parts, ported by name from
//! prometheus/prometheus `storage/remote/queue_manager_test.go` (HEAD d15adb9a, 2026-08).
//! The tests there that need a running queue (TestReshard, TestReshardPartialBatch,
//! TestSampleDeliveryOrder, TestQueueFilledDeadlock, ...) belong with the queue, not here.

use std::time::Duration;

use ringwrite::config::QueueConfig;
use ringwrite::reshard::{
    reshard_skip_reason, should_reshard, ReshardPause, ShardController, SkipReason, TickCounts,
    SHARD_UPDATE_INTERVAL,
};

const TICK_SECS: u64 = SHARD_UPDATE_INTERVAL.as_secs();

/// Port of `TestCalculateDesiredShards`: a simulated endpoint at 50 000 samples/s, where each
/// shard sends one 2 000-sample batch per 100 ms. Two minutes without any send build a
/// backlog; then the controller must scale so that it never drops below "barely keeping up",
/// never exceeds 200 shards, and clears the whole backlog by minute 15.
#[test]
fn test_calculate_desired_shards() {
    let cfg = QueueConfig::default();
    let mut ctl = ShardController::new(cfg.min_shards, cfg.max_shards);
    let input_rate: u64 = 50_000;
    let mut pending: u64 = 0;
    // Go uses time.Now() minus two minutes, in whole Unix seconds; only differences matter.
    let started_at: f64 = 1_700_000_000.0;
    let mut highest_sent: f64 = 0.0;

    // Two minute startup, no samples are sent.
    let mut ts: u64 = 0;
    while ts < 120 {
        let s = input_rate * TICK_SECS;
        pending += s;
        let tick = ctl.tick(&TickCounts {
            data_in: s,
            highest_recv_secs: started_at + ts as f64,
            highest_sent_secs: highest_sent,
            ..TickCounts::default()
        });
        ctl.set_current(tick.target);
        assert_eq!(ctl.current(), 1, "t={ts}s");
        ts += TICK_SECS;
    }

    // Assume 100ms per request, or 10 requests per second per shard.
    // Shard calculation should never drop below barely keeping up.
    let min_shards = input_rate as usize / cfg.max_samples_per_send / 10;
    // This test should never go above 200 shards, that would be more resources than needed.
    let max_shards = 200;

    while ts < 15 * 60 {
        let sin = input_rate * TICK_SECS;
        pending += sin;
        // You can't send samples that don't exist so cap at the number of pending samples.
        let per_tick = (ctl.current() * cfg.max_samples_per_send) as u64 * (TICK_SECS * 10);
        let sout = per_tick.min(pending);
        pending -= sout;
        // Highest sent is how far back pending samples would be at our input rate
        // (whole seconds, as Go's time.Duration(pending/inputRate)*time.Second).
        highest_sent = started_at + ts as f64 - (pending / input_rate) as f64;
        let tick = ctl.tick(&TickCounts {
            data_in: sin,
            data_out: sout,
            // Every shard was busy sending for the whole tick.
            data_out_duration_nanos: ctl.current() as u64 * TICK_SECS * 1_000_000_000,
            highest_recv_secs: started_at + ts as f64,
            highest_sent_secs: highest_sent,
            ..TickCounts::default()
        });
        ctl.set_current(tick.target);
        assert!(
            ctl.current() >= min_shards,
            "Shards are too low. desiredShards={}, minShards={min_shards}, t_seconds={ts}",
            ctl.current()
        );
        assert!(
            ctl.current() <= max_shards,
            "Shards are too high. desiredShards={}, maxShards={max_shards}, t_seconds={ts}",
            ctl.current()
        );
        ts += TICK_SECS;
    }
    assert_eq!(
        pending, 0,
        "Remote write never caught up, there are still {pending} pending samples."
    );
}

/// Port of `TestCalculateDesiredShardsDetail`: every row, with its expected shard count.
/// Quantities are per second; the Go test forces each EWMA to exactly that rate
/// (`forceEMWA` + one tick), which a fresh controller ticked once with `rate × 10 s` events
/// reproduces. The backlog is `highestRecv - highestSent` with highestSent at 0.
#[test]
fn test_calculate_desired_shards_detail() {
    struct Row {
        name: &'static str,
        prev_shards: usize,
        data_in: u64,
        data_out: u64,
        data_dropped: u64,
        data_out_duration: f64,
        backlog: f64,
        expected_shards: usize,
    }
    const fn row(
        name: &'static str,
        prev_shards: usize,
        data_in: u64,
        data_out: u64,
        data_out_duration: f64,
        backlog: f64,
        expected_shards: usize,
    ) -> Row {
        Row {
            name,
            prev_shards,
            data_in,
            data_out,
            data_dropped: 0,
            data_out_duration,
            backlog,
            expected_shards,
        }
    }
    let rows = [
        row("nothing in or out 1", 1, 0, 0, 0.0, 0.0, 1), // Shards stays the same.
        row("nothing in or out 10", 10, 0, 0, 0.0, 0.0, 10), // Shards stays the same.
        row("steady throughput", 1, 10, 10, 1.0, 0.0, 1),
        row("scale down", 10, 10, 10, 5.0, 0.0, 5),
        row("scale down constrained", 7, 10, 10, 5.0, 0.0, 7),
        row("scale up", 1, 10, 10, 10.0, 0.0, 10),
        row("scale up constrained", 8, 10, 10, 10.0, 0.0, 8),
        row("backlogged 20s", 2, 10, 10, 2.0, 20.0, 4),
        row("backlogged 90s", 4, 10, 10, 4.0, 90.0, 22),
        row("backlog reduced", 22, 10, 20, 4.0, 10.0, 3),
        row("backlog eliminated", 3, 10, 10, 2.0, 0.0, 2), // Shard back down.
        row("slight slowdown", 1, 10, 10, 1.2, 0.0, 2),    // 1.2 is rounded up to 2.
        row("bigger slowdown", 1, 10, 10, 1.4, 0.0, 2),
        row("speed up", 2, 10, 10, 1.2, 0.0, 2), // No reaction - 1.2 is rounded up to 2.
        row("speed up more", 2, 10, 10, 0.9, 0.0, 1),
        row("marginal decision A", 3, 10, 10, 2.01, 0.0, 3), // 2.01 rounds up to 3.
        row("marginal decision B", 3, 10, 10, 1.99, 0.0, 2), // 1.99 rounds up to 2.
    ];
    let cfg = QueueConfig::default();
    for r in rows {
        let mut ctl = ShardController::new(cfg.min_shards, cfg.max_shards);
        ctl.set_current(r.prev_shards);
        let tick = ctl.tick(&TickCounts {
            data_in: r.data_in * TICK_SECS,
            data_out: r.data_out * TICK_SECS,
            data_dropped: r.data_dropped * TICK_SECS,
            // Go: int64(tc.dataOutDuration * float64(shardUpdateDuration)), truncated.
            data_out_duration_nanos: (r.data_out_duration * 1e10) as u64,
            highest_recv_secs: r.backlog,
            highest_sent_secs: 0.0,
        });
        assert_eq!(tick.target, r.expected_shards, "{}", r.name);
    }
}

/// Port of `TestShouldReshard`: 10 shards, 1 000 samples in and 10 out, with the last send
/// long ago (no reshard) or just now (reshard).
#[test]
fn test_should_reshard() {
    let now_ms: u64 = 1_700_000_000_000;
    struct Case {
        starting_shards: usize,
        samples_out: u64,
        last_send_ms: u64,
        expected_to_reshard: bool,
    }
    let cases = [
        // Resharding shouldn't take place if we haven't successfully sent since the last
        // shardUpdateDuration. (Go subtracts int64(shardUpdateDuration) from Unix seconds,
        // i.e. 10^10 s: "very long ago".)
        Case {
            starting_shards: 10,
            samples_out: 10,
            last_send_ms: now_ms.saturating_sub(10_000_000_000 * 1000),
            expected_to_reshard: false,
        },
        Case {
            starting_shards: 10,
            samples_out: 10,
            last_send_ms: now_ms,
            expected_to_reshard: true,
        },
    ];
    let cfg = QueueConfig::default();
    for c in cases {
        let mut ctl = ShardController::new(cfg.min_shards, cfg.max_shards);
        ctl.set_current(c.starting_shards);
        // The Go test increments dataIn by 1000 but calculateDesiredShards never ticks
        // dataIn (WriteStorage does), so its rate stays 0 there; so it does here.
        let tick = ctl.tick(&TickCounts {
            data_in: 0,
            data_out: c.samples_out,
            ..TickCounts::default()
        });
        // Nothing to send for: the estimate is 0 and the count falls to min_shards.
        assert_eq!(tick.target, cfg.min_shards);
        let pause = ReshardPause::new();
        assert_eq!(
            should_reshard(
                tick.target,
                ctl.current(),
                now_ms,
                c.last_send_ms,
                pause.until_ms()
            ),
            c.expected_to_reshard,
            "last send {} ms ago",
            now_ms - c.last_send_ms
        );
    }
}

/// Port of the pure part of `TestDisableReshardOnRetry`: a recoverable error with
/// Retry-After 1 s makes the sender sleep 1 s; resharding is then disabled (even with a
/// recent send) and is enabled again after 2 × retryAfter.
#[test]
fn test_disable_reshard_on_retry() {
    let retry_after = Duration::from_secs(1);
    let t0: u64 = 1_700_000_000_000;
    let pause = ReshardPause::new();
    let current = 1;
    assert!(should_reshard(
        current + 1,
        current,
        t0,
        t0,
        pause.until_ms()
    ));

    // sendWriteRequestWithBackoff: sleep = retryAfter (> 0), then disable for 2 × sleep.
    assert!(pause.on_recoverable_error(t0, retry_after));

    // Force the last send timestamp to be current so it isn't the reason.
    for now in [t0, t0 + 1_000, t0 + 1_999] {
        assert_eq!(
            reshard_skip_reason(current + 1, current, now, now, pause.until_ms()),
            Some(SkipReason::Disabled {
                until_ms: t0 + 2_000
            }),
            "shouldReshard was never disabled (at +{} ms)",
            now - t0
        );
    }
    // After 2x retryAfter, resharding should be enabled again.
    let later = t0 + 2 * 1_000;
    assert!(
        should_reshard(current + 1, current, later, later, pause.until_ms()),
        "shouldReshard should have been re-enabled"
    );
}
