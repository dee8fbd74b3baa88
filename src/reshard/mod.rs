//! Resharding: how many shards each endpoint runs, decided every 10 s from EWMA rates, with
//! Prometheus's rule (DESIGN.md "The resharding rule", FORMATS.md §5.3–5.4).
//!
//! Pure functions and small state, no I/O and no clock: callers pass counts and times.
//! * [`Ewma`]: a per-second rate smoothed over 10 s ticks (`ewma.go`).
//! * [`desired_shards`] / [`next_shard_count`]: `calculateDesiredShards`, split into the
//!   raw estimate and the decision (±30 % tolerance, no down-shard while >10 s behind, clamp).
//! * [`should_reshard`] / [`reshard_skip_reason`]: `shouldReshard` (no change, no recent send,
//!   paused); [`ReshardPause`]: the pause after recoverable errors (`2 × sleep`, v2.51+).
//! * [`ShardController`]: the four rates and the current count for one endpoint.
//!
//! A tick, as the runtime wires it:
//! ```
//! use ringwrite::reshard::{should_reshard, ReshardPause, ShardController, TickCounts};
//! let mut ctl = ShardController::new(1, 50);
//! let pause = ReshardPause::new();
//! let (now_ms, last_send_ms) = (1_700_000_000_000, 1_700_000_000_000);
//! let tick = ctl.tick(&TickCounts { data_in: 500_000, data_out: 500_000,
//!     data_out_duration_nanos: 30_000_000_000, ..TickCounts::default() });
//! if should_reshard(tick.target, ctl.current(), now_ms, last_send_ms, pause.until_ms()) {
//!     // stop and flush the old shards, start `tick.target` new ones, then:
//!     ctl.set_current(tick.target);
//! }
//! assert_eq!(ctl.current(), 3);
//! ```

mod controller;
mod desired;
mod ewma;
mod gate;

pub use controller::{ShardController, Tick, TickCounts};
pub use desired::{
    desired_shards, next_shard_count, DesiredInputs, BACKLOG_CATCHUP_FRACTION,
    MAX_DELAY_FOR_DOWNSHARD_SECS, SHARD_TOLERANCE_FRACTION,
};
pub use ewma::{Ewma, EWMA_WEIGHT, SHARD_UPDATE_INTERVAL};
pub use gate::{reshard_skip_reason, should_reshard, ReshardPause, SkipReason};
