//! One endpoint's pipeline: its own WAL reader thread (tailer -> record decoder -> series
//! cache -> router) feeding its shards on the core loops, and the resharding controller
//! that runs between records on the same thread. Each endpoint has its own reader, so a
//! slow receiver never holds back another one.

pub mod adapt;
mod metadata;
mod observe;

use crate::config::{Endpoint as EndpointConfig, ProtobufMessage};
use crate::http::{Endpoint, Pool, PoolOptions, RetryPolicy, WireFormat};
use crate::metrics::Kind;
use crate::progress::{AckSlots, MarkLog, ProgressStore, Saved, ShardMarks};
use crate::queue::{
    now_ms, run_shard, Item, ItemKind, Loss, QueueStats, Router, ShardHandle, ShardSettings,
};
use crate::record::{self, FloatHistogram, Histogram, Record};
use crate::reshard::{reshard_skip_reason, ReshardPause, ShardController, TickCounts};
use crate::runtime::Cores;
use crate::series::SeriesCache;
use crate::wal::reader::Position;
use crate::wal::tail::{Event, TailOptions, Tailer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a partial chunk waits on the reader side while more records keep coming (the
/// shard's own `batch_send_deadline` applies after that).
const PARTIAL_CHUNK_DELAY: Duration = Duration::from_millis(20);

/// Prometheus's `shardUpdateDuration`.
pub const SHARD_UPDATE_INTERVAL: Duration = Duration::from_secs(10);

/// How one endpoint runs.
#[derive(Clone)]
pub struct PipelineSpec {
    pub endpoint: EndpointConfig,
    pub external_labels: Vec<(String, String)>,
    pub wal_dir: PathBuf,
    /// Ship everything on disk (checkpoint and segments), not only what is written after
    /// the start.
    pub from_start: bool,
    /// How long a stop may take to send what is queued.
    pub flush_deadline: Duration,
    pub pool_options: PoolOptions,
    /// Shard count override (tests, benchmarks): resharding stays off.
    pub fixed_shards: Option<usize>,
    /// How often the shard count is reconsidered.
    pub shard_update_interval: Duration,
    /// Tests and benchmarks: reshard through these counts, one per interval, instead of
    /// following the resharding rule.
    pub reshard_plan: Vec<usize>,
    /// Where the self-metrics go (`None`: not exported).
    pub registry: Option<crate::metrics::Registry>,
    /// Durable progress (`None`: nothing is saved; every start is a first start).
    pub progress: Option<ProgressStore>,
    /// Segments kept when Prometheus truncates the WAL (`None`: read the WAL only).
    pub spool: Option<Arc<crate::spool::Spool>>,
}

impl PipelineSpec {
    /// `endpoint` reading `wal_dir` with the defaults of `ringwrite run --from-start`:
    /// resharding on, a 1-minute flush deadline, no metrics, no saved progress, no spool.
    pub fn new(endpoint: EndpointConfig, wal_dir: PathBuf) -> PipelineSpec {
        PipelineSpec {
            endpoint,
            external_labels: Vec::new(),
            wal_dir,
            from_start: true,
            flush_deadline: Duration::from_secs(60),
            pool_options: PoolOptions::default(),
            fixed_shards: None,
            shard_update_interval: SHARD_UPDATE_INTERVAL,
            reshard_plan: Vec::new(),
            registry: None,
            progress: None,
            spool: None,
        }
    }
}

/// What an endpoint counted; read while it runs and after it stops.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub queue: Arc<QueueStats>,
    /// Samples, histograms and exemplars read from the WAL while shipping.
    pub data_in: AtomicU64,
    /// Items dropped because their series ref was never announced.
    pub dropped_unknown_series: AtomicU64,
    pub records: AtomicU64,
    pub corruptions: AtomicU64,
    pub decode_errors: AtomicU64,
    pub segments_lost: AtomicU64,
    /// Of those, segments Prometheus deleted while nothing kept them.
    pub segments_truncated: AtomicU64,
    pub shards: AtomicU64,
    pub reshards: AtomicU64,
    /// Set once the reader has caught up with the WAL's end for the first time.
    pub caught_up: AtomicBool,
    /// Everything before this WAL position is acknowledged (`segment`, `offset`; both
    /// `u64::MAX` while unknown).
    pub acked_segment: AtomicU64,
    pub acked_offset: AtomicU64,
    /// The position saved last, and failed attempts to save.
    pub saved_segment: AtomicU64,
    pub saved_offset: AtomicU64,
    pub progress_save_failures: AtomicU64,
    /// Where this start resumed from (`u64::MAX`: a first start).
    pub resumed_segment: AtomicU64,
    pub resumed_offset: AtomicU64,
}

impl PipelineStats {
    fn new() -> PipelineStats {
        let unknown = || AtomicU64::new(u64::MAX);
        PipelineStats {
            acked_segment: unknown(),
            acked_offset: unknown(),
            saved_segment: unknown(),
            saved_offset: unknown(),
            resumed_segment: unknown(),
            resumed_offset: unknown(),
            ..PipelineStats::default()
        }
    }

    /// Everything before this position is acknowledged, if known.
    pub fn acked_position(&self) -> Option<Position> {
        load_pos(&self.acked_segment, &self.acked_offset)
    }

    /// The position saved last, if any.
    pub fn saved_position(&self) -> Option<Position> {
        load_pos(&self.saved_segment, &self.saved_offset)
    }

    /// Where this start resumed from (`None`: a first start).
    pub fn resumed_position(&self) -> Option<Position> {
        load_pos(&self.resumed_segment, &self.resumed_offset)
    }
}

/// A position for log lines: `SEGMENT:OFFSET`, or `n/a`.
fn show_pos(p: Option<Position>) -> String {
    p.map_or_else(|| "n/a".to_string(), |p| p.to_string())
}

/// ringwrite's own per-endpoint metrics (no Prometheus equivalent): durability, and
/// the batches shards encoded ahead.
fn register_progress_metrics(
    reg: &crate::metrics::Registry,
    name: &str,
    stats: &Arc<PipelineStats>,
) {
    let labels = [("remote_name", name)];
    let st = Arc::clone(stats);
    reg.gauge_fn(
        "ringwrite_progress_acknowledged_segment",
        "WAL segment of the position below which every sample was acknowledged (-1: none yet).",
        &labels,
        move || st.acked_position().map_or(-1.0, |p| p.segment as f64),
    );
    let st = Arc::clone(stats);
    reg.gauge_fn(
        "ringwrite_progress_saved_segment",
        "WAL segment of the last saved progress position (-1: none yet).",
        &labels,
        move || st.saved_position().map_or(-1.0, |p| p.segment as f64),
    );
    let st = Arc::clone(stats);
    reg.counter_fn(
        "ringwrite_progress_save_failures_total",
        "Failed attempts to save progress under --storage.path (e.g. a full disk).",
        &labels,
        move || st.progress_save_failures.load(Ordering::Relaxed) as f64,
    );
    let st = Arc::clone(stats);
    reg.counter_fn(
        "ringwrite_shard_batches_encoded_ahead_total",
        "Request bodies a shard encoded while its previous request was in flight (its next batch, or with tenant_label the next tenant's part of the batch; sent as soon as that request was answered).",
        &labels,
        move || st.queue.batches_encoded_ahead.load(Ordering::Relaxed) as f64,
    );
    for reason in ["truncated", "spool_full"] {
        let st = Arc::clone(stats);
        reg.counter_fn(
            "ringwrite_wal_segments_lost_total",
            "WAL segments deleted before this endpoint read them: truncated by Prometheus while not spooled, or released by the spool over max_spool_bytes.",
            &[("remote_name", name), ("reason", reason)],
            move || {
                let all = st.segments_lost.load(Ordering::Relaxed);
                let truncated = st.segments_truncated.load(Ordering::Relaxed);
                (if reason == "truncated" { truncated } else { all - truncated }) as f64
            },
        );
    }
}

fn load_pos(seg: &AtomicU64, off: &AtomicU64) -> Option<Position> {
    let segment = seg.load(Ordering::Acquire);
    (segment != u64::MAX).then(|| Position {
        segment,
        offset: off.load(Ordering::Acquire),
    })
}

fn store_pos(seg: &AtomicU64, off: &AtomicU64, p: Position) {
    off.store(p.offset, Ordering::Release);
    seg.store(p.segment, Ordering::Release);
}

/// A running endpoint.
pub struct Pipeline {
    pub name: String,
    pub stats: Arc<PipelineStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Pipeline {
    /// Starts the reader thread of `spec`; its shards run on `cores`.
    pub fn start(spec: PipelineSpec, cores: Arc<Cores>) -> Result<Pipeline, String> {
        let http_cfg = adapt::endpoint_config(&spec.endpoint.name, &spec.endpoint.config);
        http_cfg.validate().map_err(|e| e.to_string())?;
        let endpoint = Arc::new(Endpoint::new(&http_cfg).map_err(|e| e.to_string())?);
        let stats = Arc::new(PipelineStats::new());
        if let Some(reg) = &spec.registry {
            register_progress_metrics(reg, &spec.endpoint.name, &stats);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let name = spec.endpoint.name.clone();
        let (s2, st2, n2) = (Arc::clone(&stats), Arc::clone(&stop), name.clone());
        let thread = std::thread::Builder::new()
            .name(format!("ringwrite-wal-{name}"))
            .spawn(move || {
                Reader::new(spec, endpoint, cores, s2, st2)
                    .and_then(|mut r| r.run())
                    .map_err(|e| {
                        tracing::error!(endpoint = %n2, error = %e, "Endpoint pipeline failed.");
                        e
                    })
            })
            .map_err(|e| e.to_string())?;
        Ok(Pipeline {
            name,
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the pipeline to stop (flushing for up to its flush deadline) and waits.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(format!("endpoint {}: reader thread panicked", self.name)),
            None => Ok(()),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

thread_local! {
    /// Per core and endpoint: one connection pool, shared by that core's shards.
    static POOLS: RefCell<HashMap<String, Rc<Pool>>> = RefCell::new(HashMap::new());
}

fn core_pool(endpoint: &Arc<Endpoint>, opts: &PoolOptions) -> Rc<Pool> {
    POOLS.with(|p| {
        let mut pools = p.borrow_mut();
        // A pool built for another `Endpoint` of the same name (the endpoint restarted with
        // a new config on reload) must not be reused: it holds the old URL, auth and TLS.
        match pools.get(endpoint.name()) {
            Some(pool) if Arc::ptr_eq(pool.endpoint(), endpoint) => Rc::clone(pool),
            _ => {
                let pool = Rc::new(Pool::new(Arc::clone(endpoint), opts.clone()));
                pools.insert(endpoint.name().to_string(), Rc::clone(&pool));
                pool
            }
        }
    })
}

/// Drops every core's connection pool of an endpoint that left the config (reload), so its
/// idle connections close.
pub fn release_pools(cores: &Cores, name: &str) {
    for i in 0..cores.len() {
        let name = name.to_string();
        cores.spawn_on(i, move || async move {
            POOLS.with(|p| p.borrow_mut().remove(&name));
        });
    }
}

struct Reader {
    spec: PipelineSpec,
    endpoint: Arc<Endpoint>,
    cores: Arc<Cores>,
    stats: Arc<PipelineStats>,
    stop: Arc<AtomicBool>,
    cache: SeriesCache,
    router: Router,
    controller: ShardController,
    pause: Arc<ReshardPause>,
    settings: ShardSettings,
    shipping: bool,
    hist: Histogram,
    fhist: FloatHistogram,
    highest_recv_ms: i64,
    last_tick: Instant,
    tick_base: TickCounts,
    epoch: u64,
    metrics: Option<(Arc<observe::BatchMetrics>, crate::metrics::WatcherMetrics)>,
    synced: observe::Synced,
    last_sync: Instant,
    desired: Option<f64>,
    last_flush: Instant,
    marks: MarkLog,
    slots: AckSlots,
    last_save: Instant,
    saved: Option<Position>,
    /// Timestamps below this are past `sample_age_limit` (`i64::MIN`: off).
    age_cutoff: i64,
    /// The tailer's position after the last event (the next record to read).
    pos: Option<Position>,
    /// This endpoint's claim on spooled segments.
    claim: Option<Arc<crate::spool::Claim>>,
    /// RW 1.0 metric metadata to send every `metadata_config.send_interval`.
    book: metadata::MetadataBook,
    last_metadata: Instant,
    /// Checkpoints seen while the reader was still before them: garbage collection waits
    /// until the reader has passed their last segment (their series may still have data
    /// in segments not yet read).
    pending_gc: Vec<u64>,
}

/// How often the acknowledged position is saved.
const PROGRESS_SAVE_INTERVAL: Duration = Duration::from_secs(2);

/// How often `sample_age_limit`'s cutoff is recomputed on the reader.
fn age_cutoff(limit: Duration) -> i64 {
    if limit.is_zero() {
        i64::MIN
    } else {
        crate::queue::age_cutoff(limit)
    }
}

impl Reader {
    fn new(
        spec: PipelineSpec,
        endpoint: Arc<Endpoint>,
        cores: Arc<Cores>,
        stats: Arc<PipelineStats>,
        stop: Arc<AtomicBool>,
    ) -> Result<Reader, String> {
        let q = &spec.endpoint.config.queue_config;
        let format = match spec.endpoint.config.protobuf_message {
            ProtobufMessage::RequestV2 => WireFormat::Rw2,
            _ => WireFormat::Rw1,
        };
        let settings = ShardSettings {
            max_samples_per_send: q.max_samples_per_send,
            batch_send_deadline: q.batch_send_deadline,
            retry: RetryPolicy {
                min_backoff: q.min_backoff,
                max_backoff: q.max_backoff,
                retry_on_http_429: q.retry_on_http_429,
                max_attempts: None,
            },
            format,
            sample_age_limit: q.sample_age_limit,
            rate_limit: crate::queue::RateLimit::from_config(q, spec.fixed_shards, {
                let stats = Arc::clone(&stats);
                Box::new(move || stats.shards.load(Ordering::Relaxed) as usize)
            }),
            tenants: crate::queue::Tenants::from_config(&spec.endpoint.config),
        };
        let (min, max) = match spec.fixed_shards {
            Some(n) => (n, n),
            None => (q.min_shards, q.max_shards),
        };
        let mut router = Router::new(Arc::clone(&stats.queue), q.max_samples_per_send);
        router.set_stop_flag(Arc::clone(&stop));
        let metrics = spec.registry.as_ref().map(|reg| {
            let url = crate::config::redact_url(&spec.endpoint.config.url);
            let qm = crate::metrics::QueueMetrics::new(reg, &spec.endpoint.name, &url);
            qm.shards_min.set(min as f64);
            qm.shards_max.set(max as f64);
            qm.shard_capacity.set(q.capacity as f64);
            qm.max_samples_per_send.set(q.max_samples_per_send as f64);
            (
                Arc::new(observe::BatchMetrics(qm)),
                crate::metrics::WatcherMetrics::new(reg, &spec.endpoint.name),
            )
        });
        Ok(Reader {
            metrics,
            synced: observe::Synced::default(),
            last_sync: Instant::now(),
            desired: None,
            last_flush: Instant::now(),
            marks: MarkLog::new(None),
            slots: AckSlots::default(),
            last_save: Instant::now(),
            saved: None,
            age_cutoff: i64::MIN,
            pos: None,
            claim: spec.spool.as_ref().map(|s| s.claim()),
            pending_gc: Vec::new(),
            book: metadata::MetadataBook::default(),
            last_metadata: Instant::now(),
            cache: SeriesCache::new(
                &spec.external_labels,
                &spec.endpoint.config.write_relabel_configs,
            )
            .rw1_only(format == WireFormat::Rw1),
            shipping: spec.from_start,
            spec,
            endpoint,
            cores,
            stats,
            stop,
            router,
            controller: ShardController::new(min, max),
            pause: Arc::new(ReshardPause::new()),
            settings,
            hist: Histogram::default(),
            fhist: FloatHistogram::default(),
            highest_recv_ms: i64::MIN,
            last_tick: Instant::now(),
            tick_base: TickCounts::default(),
            epoch: 0,
        })
    }

    fn start_shards(&mut self, n: usize) {
        let bound = self
            .router
            .channel_bound(self.spec.endpoint.config.queue_config.capacity);
        self.epoch += 1;
        let mut handles = Vec::with_capacity(n);
        let slots = self.slots.replace(n, self.marks.last_seq());
        for (id, slot) in slots.into_iter().enumerate() {
            let (tx, rx) = flume::bounded(bound);
            handles.push(ShardHandle { tx });
            let ctx_parts = (
                Arc::clone(&self.endpoint),
                self.spec.pool_options.clone(),
                self.settings.clone(),
                Arc::clone(&self.stats.queue),
                self.cache.interner(),
                Arc::clone(&self.pause),
                self.metrics
                    .as_ref()
                    .map(|(m, _)| Arc::clone(m) as Arc<dyn crate::queue::SendObserver>),
            );
            self.cores.spawn_on(id, move || {
                let (endpoint, opts, settings, stats, interner, pause, metrics) = ctx_parts;
                let marks = ShardMarks::new(slot);
                let pool = core_pool(&endpoint, &opts);
                run_shard(crate::queue::ShardContext {
                    id,
                    shards: n,
                    rx,
                    pool,
                    settings,
                    stats,
                    interner,
                    pause,
                    metrics,
                    marks,
                })
            });
        }
        self.router.set_shards(handles);
        self.controller.set_current(n);
        self.stats.shards.store(n as u64, Ordering::Relaxed);
        tracing::info!(
            endpoint = self.endpoint.name(),
            shards = n,
            "Shards started."
        );
    }

    /// The progress file's key for this endpoint.
    fn progress_key(&self) -> String {
        ProgressStore::key(
            self.spec.endpoint.config.name.as_deref(),
            &self.spec.endpoint.config.url,
        )
    }

    /// The saved position to resume from, if any (a broken file is logged and ignored:
    /// the endpoint then starts as on a first start, losing nothing newer).
    fn load_progress(&self) -> Option<Position> {
        let store = self.spec.progress.as_ref()?;
        match store.load(&self.progress_key()) {
            Ok(Some(saved)) => Some(saved.position),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(endpoint = self.endpoint.name(), error = %e,
                    "Cannot read saved progress; starting as on a first start.");
                None
            }
        }
    }

    /// Opens the WAL at the saved position (or as a first start).
    fn open_tailer(&mut self) -> Result<Tailer, String> {
        let resume = self.load_progress();
        let fallback = self.spec.spool.as_ref().map(|s| s.dir().to_path_buf());
        // A first start that ships everything begins at the oldest segment anyone still
        // has (the spool may hold segments a checkpoint now covers, unacknowledged).
        let oldest = match (resume, self.spec.from_start) {
            (None, true) => {
                let wal = crate::wal::dir::resolve_wal_dir(&self.spec.wal_dir)
                    .map_err(|e| e.to_string())?;
                crate::wal::dir::first_segment(&wal, fallback.as_deref())
                    .map_err(|e| e.to_string())?
                    .map(|segment| Position { segment, offset: 0 })
            }
            _ => None,
        };
        let mut opts = TailOptions {
            follow: true,
            from: resume.or(oldest),
            fallback,
            ..TailOptions::default()
        };
        let tailer = match Tailer::open(&self.spec.wal_dir, opts.clone()) {
            Ok(t) => t,
            Err(crate::wal::WalError::BadPosition { pos, why }) => {
                // The WAL is younger than our progress (it was wiped or replaced): all of
                // it is new to the receiver.
                tracing::warn!(
                    endpoint = self.endpoint.name(),
                    saved = pos,
                    why,
                    "Saved position is past the WAL's end; shipping the whole WAL."
                );
                opts.from = None;
                self.shipping = true;
                return Tailer::open(&self.spec.wal_dir, opts).map_err(|e| e.to_string());
            }
            Err(e) => return Err(e.to_string()),
        };
        if let Some(p) = resume {
            tracing::info!(endpoint = self.endpoint.name(), position = %p,
                "Resuming from the saved position.");
            store_pos(&self.stats.resumed_segment, &self.stats.resumed_offset, p);
            store_pos(&self.stats.acked_segment, &self.stats.acked_offset, p);
            store_pos(&self.stats.saved_segment, &self.stats.saved_offset, p);
            self.marks = MarkLog::new(Some(p));
            self.saved = Some(p);
            self.shipping = true;
        }
        Ok(tailer)
    }

    /// Flushes the routed items and sends a progress mark for `pos` behind them.
    fn mark(&mut self, pos: Option<Position>) {
        match pos.filter(|_| self.shipping) {
            Some(p) => match self.marks.issue(p) {
                Some(seq) => self.router.mark(seq),
                None => self.router.flush(),
            },
            None => self.router.flush(),
        }
        self.last_flush = Instant::now();
    }

    /// Moves the acknowledged position forward and saves it when due (or `force`).
    fn update_progress(&mut self, force: bool) {
        let done = self.slots.min_completed();
        if let Some(p) = self.marks.complete_through(done) {
            store_pos(&self.stats.acked_segment, &self.stats.acked_offset, p);
        }
        if let Some(claim) = &self.claim {
            // The spool keeps what a restart would replay: from the saved position (or,
            // with nothing saved, everything).
            let need = match (&self.spec.progress, self.saved, self.marks.acked()) {
                (Some(_), Some(saved), _) => Some(saved.segment),
                (Some(_), None, _) => None,
                (None, _, Some(acked)) => Some(acked.segment),
                (None, _, None) => self.pos.map(|p| p.segment),
            };
            if let Some(n) = need {
                claim.set(n);
            }
        }
        if !force && self.last_save.elapsed() < PROGRESS_SAVE_INTERVAL {
            return;
        }
        self.last_save = Instant::now();
        let (Some(store), Some(acked)) = (self.spec.progress.as_ref(), self.marks.acked()) else {
            return;
        };
        if self.saved == Some(acked) {
            return;
        }
        let saved = Saved {
            endpoint: self.spec.endpoint.name.clone(),
            url: crate::config::redact_url(&self.spec.endpoint.config.url),
            position: acked,
            updated_unix_ms: now_ms(),
        };
        match store.save(&self.progress_key(), &saved) {
            Ok(()) => {
                self.saved = Some(acked);
                store_pos(&self.stats.saved_segment, &self.stats.saved_offset, acked);
            }
            Err(e) => {
                let n = self
                    .stats
                    .progress_save_failures
                    .fetch_add(1, Ordering::Relaxed);
                if n % 30 == 0 {
                    tracing::error!(endpoint = self.endpoint.name(), error = %e, failures = n + 1,
                        "Cannot save progress; shipping continues, but a restart would resend from the last saved position.");
                }
            }
        }
    }

    fn run(&mut self) -> Result<(), String> {
        let q = &self.spec.endpoint.config.queue_config;
        let initial = self.spec.fixed_shards.unwrap_or(q.min_shards).max(1);
        self.start_shards(initial);
        let mut tailer = self.open_tailer()?;
        tracing::info!(endpoint = self.endpoint.name(), wal = %tailer.dir().display(),
            from_start = self.spec.from_start, "Reading the WAL.");
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let ev = tailer
                .next_event(Duration::from_millis(100))
                .map_err(|e| e.to_string())?;
            self.age_cutoff = age_cutoff(self.spec.endpoint.config.queue_config.sample_age_limit);
            match ev {
                Event::Record(r) => {
                    self.stats.records.fetch_add(1, Ordering::Relaxed);
                    let segment = r.checkpoint.unwrap_or(r.pos.segment);
                    let ship = self.shipping && !r.replay;
                    self.record(r.bytes, segment, ship);
                    if self.last_flush.elapsed() >= PARTIAL_CHUNK_DELAY {
                        let pos = tailer.position();
                        self.mark(pos);
                    }
                }
                Event::Corruption(c) => {
                    self.stats.corruptions.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(endpoint = self.endpoint.name(), corruption = %c,
                        "Corrupt WAL data skipped; samples in it are lost.");
                }
                Event::SegmentsLost { first, last } => self.segments_lost(first, last),
                Event::NewCheckpoint { index, path } => self.checkpoint_seen(index, &path),
                Event::Idle | Event::End => {
                    if !self.shipping {
                        tracing::info!(
                            endpoint = self.endpoint.name(),
                            position = %show_pos(tailer.position()),
                            series = self.cache.len(),
                            "Caught up with the WAL; shipping samples from now on."
                        );
                        self.shipping = true;
                    }
                    let pos = tailer.position();
                    self.mark(pos);
                    self.stats.caught_up.store(true, Ordering::Relaxed);
                }
                _ => {}
            }
            self.pos = tailer.position();
            if let (Some(&cp), Some(p)) = (self.pending_gc.first(), self.pos) {
                if p.segment > cp {
                    self.pending_gc.remove(0);
                    self.series_gc(cp);
                }
            }
            self.update_progress(false);
            self.maybe_send_metadata();
            if self.last_tick.elapsed() >= self.spec.shard_update_interval {
                self.reshard_tick();
            }
            if self.last_sync.elapsed() >= Duration::from_secs(1) {
                self.last_sync = Instant::now();
                if let Some((m, w)) = &self.metrics {
                    observe::sync(
                        &m.0,
                        w,
                        &self.stats,
                        &mut self.synced,
                        self.router.enqueue_waits,
                        self.highest_recv_ms,
                        tailer.position().map(|p| p.segment),
                        self.desired,
                    );
                }
            }
        }
        if !self.router.aborted() {
            let pos = tailer.position();
            self.mark(pos);
        }
        let clean = self.router.stop_all(self.spec.flush_deadline);
        // Old shards stopped: their slots hold what they finished.
        self.slots.replace(0, self.marks.last_seq());
        self.update_progress(true);
        if !clean {
            tracing::error!(
                endpoint = self.endpoint.name(),
                pending = self.stats.queue.pending.load(Ordering::Relaxed),
                acked = ?self.marks.acked(),
                "Failed to flush all samples on shutdown; they will be sent again after a restart."
            );
        }
        Ok(())
    }

    /// Decodes one record: series and metadata always; samples, histograms and exemplars
    /// go to the shards when `ship`.
    fn record(&mut self, bytes: &[u8], segment: u64, ship: bool) {
        let rec = match record::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(endpoint = self.endpoint.name(), error = %e,
                    "Undecodable WAL record skipped.");
                return;
            }
        };
        let cfg = &self.spec.endpoint.config;
        let mut n_in = 0u64;
        let res: Result<(), record::DecodeError> = match rec {
            Record::Series(it) => {
                for s in it {
                    match s {
                        Ok((sref, labels)) => {
                            if let Err(e) = self.cache.store(sref, labels, segment) {
                                tracing::error!(endpoint = self.endpoint.name(), error = %e, "Cannot cache series.");
                            }
                        }
                        Err(e) => {
                            self.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(endpoint = self.endpoint.name(), error = %e,
                                "Bad series record.");
                            break;
                        }
                    }
                }
                Ok(())
            }
            Record::Metadata(it) => {
                for m in it.flatten() {
                    let _ = self.cache.set_metadata(m.sref, m.mtype, m.help, m.unit);
                    if let Some(name) = self.series_name(m.sref) {
                        self.book.note(&name, m.mtype, m.help, m.unit);
                    }
                }
                Ok(())
            }
            _ if !ship => Ok(()),
            Record::Samples(it) => {
                let mut r = Ok(());
                for s in it {
                    match s {
                        Ok(s) => {
                            n_in += 1;
                            self.highest_recv_ms = self.highest_recv_ms.max(s.t);
                            self.route(s.sref, s.t, ItemKind::Sample { v: s.v, st: s.st });
                        }
                        Err(e) => r = Err(e),
                    }
                }
                r
            }
            Record::Histograms(mut d) if cfg.send_native_histograms => loop {
                match d.next_into(&mut self.hist) {
                    Ok(Some(h)) => {
                        n_in += 1;
                        self.highest_recv_ms = self.highest_recv_ms.max(h.t);
                        let kind = ItemKind::Histogram {
                            st: h.st,
                            h: Box::new(self.hist.clone()),
                        };
                        self.route(h.sref, h.t, kind);
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            },
            Record::FloatHistograms(mut d) if cfg.send_native_histograms => loop {
                match d.next_into(&mut self.fhist) {
                    Ok(Some(h)) => {
                        n_in += 1;
                        self.highest_recv_ms = self.highest_recv_ms.max(h.t);
                        let kind = ItemKind::FloatHistogram {
                            st: h.st,
                            h: Box::new(self.fhist.clone()),
                        };
                        self.route(h.sref, h.t, kind);
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            },
            Record::Exemplars(it) if cfg.send_exemplars => {
                let mut r = Ok(());
                for e in it {
                    match e {
                        Ok(e) => {
                            n_in += 1;
                            let labels: crate::queue::OwnedLabels = e
                                .labels
                                .iter()
                                .map(|(n, v)| (Box::from(n), Box::from(v)))
                                .collect();
                            let labels = Box::new(labels);
                            self.route(e.sref, e.t, ItemKind::Exemplar { v: e.v, labels });
                        }
                        Err(err) => r = Err(err),
                    }
                }
                r
            }
            _ => Ok(()),
        };
        self.stats.data_in.fetch_add(n_in, Ordering::Relaxed);
        if let Err(e) = res {
            self.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(endpoint = self.endpoint.name(), error = %e,
                "WAL record partly undecodable; the rest of it is skipped.");
        }
    }

    /// Queues one item for its shard: the per-sample path, kept small enough to inline
    /// into the record loops; drops go through the out-of-line [`Reader::route_missing`].
    #[inline(always)]
    fn route(&mut self, sref: u64, t: i64, kind: ItemKind) {
        // Too old: checked before the series is announced, so an announcement is never
        // lost with a dropped item.
        if t < self.age_cutoff && self.cache.get(sref).is_ok() {
            self.drop_item(&Item { sref, t, kind }, Loss::TooOld);
            return;
        }
        match self.cache.announce(sref, self.router.epoch()) {
            Ok(announce) => self.router.route(Item { sref, t, kind }, announce),
            Err(missing) => self.route_missing(sref, &kind, missing),
        }
    }

    /// Counts (and debug-logs) an item whose series has no labels.
    #[cold]
    #[inline(never)]
    fn route_missing(&mut self, sref: u64, kind: &ItemKind, missing: crate::series::Missing) {
        let kind = match kind {
            ItemKind::Sample { .. } => Kind::Samples,
            ItemKind::Exemplar { .. } => Kind::Exemplars,
            _ => Kind::Histograms,
        };
        let loss = match missing {
            crate::series::Missing::Dropped => Loss::DroppedSeries,
            crate::series::Missing::Unknown => {
                self.stats
                    .dropped_unknown_series
                    .fetch_add(1, Ordering::Relaxed);
                Loss::UnknownSeries
            }
        };
        self.stats.queue.drops.add(kind, loss, 1);
        self.stats
            .queue
            .data_dropped
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            sref,
            reason = missing.reason(),
            "Dropped sample for a series with no labels."
        );
    }

    /// The `__name__` of a cached series.
    fn series_name(&self, sref: u64) -> Option<Vec<u8>> {
        let series = self.cache.get(sref).ok()?;
        crate::queue::label_value(series.rw1_labels(), b"__name__").map(<[u8]>::to_vec)
    }

    /// Every `metadata_config.send_interval`, RW 1.0 endpoints send the metadata seen.
    fn maybe_send_metadata(&mut self) {
        let mc = &self.spec.endpoint.config.metadata_config;
        let rw1 = self.endpoint.wire_format(self.settings.format) == WireFormat::Rw1;
        if !self.shipping
            || !mc.send
            || !rw1
            || self.book.is_empty()
            || self.last_metadata.elapsed() < mc.send_interval
        {
            return;
        }
        self.last_metadata = Instant::now();
        tracing::debug!(
            endpoint = self.endpoint.name(),
            families = self.book.len(),
            "Sending metadata."
        );
        let bodies = self.book.requests(mc.max_samples_per_send);
        let (endpoint, opts, policy) = (
            Arc::clone(&self.endpoint),
            self.spec.pool_options.clone(),
            self.settings.retry.clone(),
        );
        let m = self.metrics.as_ref().map(|(m, _)| Arc::clone(m));
        self.cores.spawn_on(0, move || async move {
            let pool = core_pool(&endpoint, &opts);
            metadata::send_all(&pool, bodies, policy, m).await;
        });
    }

    fn drop_item(&self, item: &Item, loss: Loss) {
        self.stats.queue.drops.add(item.metric_kind(), loss, 1);
        self.stats
            .queue
            .data_dropped
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Segments `first..=last` were deleted before this reader got to them: released by
    /// the spool over its budget (counted exactly), or truncated by Prometheus while
    /// nobody kept them.
    fn segments_lost(&mut self, first: u64, last: u64) {
        self.stats
            .segments_lost
            .fetch_add(last - first + 1, Ordering::Relaxed);
        let (evicted, n) = self
            .spec
            .spool
            .as_ref()
            .map(|s| s.evicted_in(first, last))
            .unwrap_or_default();
        let drops = &self.stats.queue.drops;
        drops.add(Kind::Samples, Loss::SpoolFull, evicted.samples);
        drops.add(Kind::Histograms, Loss::SpoolFull, evicted.histograms);
        drops.add(Kind::Exemplars, Loss::SpoolFull, evicted.exemplars);
        let truncated = last - first + 1 - n;
        self.stats
            .segments_truncated
            .fetch_add(truncated, Ordering::Relaxed);
        let last_seen = (self.highest_recv_ms > 0).then_some(self.highest_recv_ms);
        tracing::error!(
            endpoint = self.endpoint.name(),
            first,
            last,
            spool_full_segments = n,
            spool_full_samples = evicted.samples,
            truncated_segments = truncated,
            last_sample_before_gap_ms = ?last_seen,
            "WAL segments lost: data from the last sample before the gap to the first after it is missing."
        );
    }

    /// A new checkpoint: refresh the segments of the refs it holds now; forget the refs
    /// Prometheus retired once the reader has passed the checkpoint (FORMATS.md §5.6).
    fn checkpoint_seen(&mut self, index: u64, path: &std::path::Path) {
        let opts = TailOptions {
            read_checkpoint: false,
            ..TailOptions::default()
        };
        let Ok(mut t) = Tailer::open(path, opts) else {
            return;
        };
        while let Ok(ev) = t.next_event(Duration::ZERO) {
            match ev {
                Event::Record(r) => {
                    if let Ok(Record::Series(it)) = record::decode(r.bytes) {
                        for (sref, _) in it.flatten() {
                            self.cache.touch(sref, index);
                        }
                    }
                }
                Event::End => break,
                _ => {}
            }
        }
        if self.pos.is_some_and(|p| p.segment > index) {
            self.series_gc(index);
        } else {
            self.pending_gc.push(index);
        }
    }

    fn series_gc(&mut self, index: u64) {
        let mut retired = Vec::new();
        let removed = self.cache.gc(index, &mut retired);
        self.router.forget(&retired);
        tracing::info!(
            endpoint = self.endpoint.name(),
            checkpoint = index,
            removed,
            series = self.cache.len(),
            "Series cache garbage-collected after a new checkpoint."
        );
    }

    /// Every shard-update interval: Prometheus's resharding rule.
    fn reshard_tick(&mut self) {
        self.last_tick = Instant::now();
        let q = &self.stats.queue;
        let now = TickCounts {
            data_in: self.stats.data_in.load(Ordering::Relaxed),
            data_out: q.data_out.load(Ordering::Relaxed),
            data_dropped: q.data_dropped.load(Ordering::Relaxed),
            data_out_duration_nanos: q.data_out_duration_nanos.load(Ordering::Relaxed),
            highest_recv_secs: self.highest_recv_ms.max(0) as f64 / 1000.0,
            highest_sent_secs: q.highest_sent_ms.load(Ordering::Relaxed).max(0) as f64 / 1000.0,
        };
        let delta = TickCounts {
            data_in: now.data_in - self.tick_base.data_in,
            data_out: now.data_out - self.tick_base.data_out,
            data_dropped: now.data_dropped - self.tick_base.data_dropped,
            data_out_duration_nanos: now.data_out_duration_nanos
                - self.tick_base.data_out_duration_nanos,
            ..now
        };
        self.tick_base = now;
        let tick = self.controller.tick(&delta);
        if tick.desired.is_some() {
            self.desired = tick.desired;
        }
        if !self.spec.reshard_plan.is_empty() {
            let next = self.spec.reshard_plan.remove(0);
            self.reshard(next.max(1));
            return;
        }
        if self.spec.fixed_shards.is_some() {
            return;
        }
        let current = self.controller.current();
        let skip = reshard_skip_reason(
            tick.target,
            current,
            now_ms() as u64,
            q.last_send_ms.load(Ordering::Relaxed).max(0) as u64,
            self.pause.until_ms(),
        );
        if let Some(reason) = skip {
            tracing::debug!(endpoint = self.endpoint.name(), ?reason, desired = ?tick.desired, "Not resharding.");
            return;
        }
        self.reshard(tick.target);
    }

    /// Stops (flushing) the old shards, then starts `n` new ones: per-series order holds
    /// because no new shard starts before every old one has sent what it held.
    pub(crate) fn reshard(&mut self, n: usize) {
        let from = self.router.num_shards();
        tracing::info!(endpoint = self.endpoint.name(), from, to = n,
            position = %show_pos(self.pos), "Resharding.");
        // The old shards' slots must reach a mark behind everything they were given.
        self.mark(self.pos);
        if !self.router.stop_all(self.spec.flush_deadline) {
            tracing::error!(
                endpoint = self.endpoint.name(),
                "Old shards did not finish within the flush deadline while resharding."
            );
        }
        self.stats.reshards.fetch_add(1, Ordering::Relaxed);
        self.start_shards(n);
    }
}
