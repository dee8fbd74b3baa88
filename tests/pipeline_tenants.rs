//! `tenant_label` through the whole pipeline: one WAL read feeds requests that each carry
//! one tenant's series and that tenant's `X-Scope-OrgID`; series without the label go to
//! `tenant_default`.

mod common;

use common::walgen::{indexed_labels, log_scrape, log_series};
use prost::Message;
use ringwrite::config::Config;
use ringwrite::encode::proto::v1;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::runtime::Cores;
use ringwrite::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERIES: u64 = 90;
const SCRAPES: i64 = 30;

/// Per tenant header: samples received; plus requests whose series belong to another
/// tenant, and every series' timestamps in the order they arrived.
#[derive(Default)]
struct PerTenant {
    samples: Mutex<BTreeMap<String, u64>>,
    mixed: AtomicU64,
    requests: AtomicU64,
    series: Mutex<BTreeMap<String, Vec<i64>>>,
}

impl Handler for PerTenant {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let tenant = req
            .headers
            .get("x-scope-orgid")
            .map_or("<none>".to_string(), |v| v.to_str().unwrap().to_string());
        let body = req.decompressed.as_ref()?.as_ref().ok()?;
        let r = v1::WriteRequest::decode(&body[..]).expect("RW 1.0 body");
        let mut n = 0;
        for ts in &r.timeseries {
            let label = ts
                .labels
                .iter()
                .find(|l| l.name == "team")
                .map_or("anon".to_string(), |l| l.value.clone());
            if label != tenant {
                self.mixed.fetch_add(1, Ordering::SeqCst);
            }
            n += ts.samples.len() as u64;
            let key: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            self.series
                .lock()
                .unwrap()
                .entry(key.join(","))
                .or_default()
                .extend(ts.samples.iter().map(|s| s.timestamp));
        }
        *self.samples.lock().unwrap().entry(tenant).or_default() += n;
        None
    }
}

#[test]
fn one_wal_read_many_tenants() {
    let d = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(d.path(), 0, 8 * PAGE_SIZE, Compression::Snappy).unwrap();
    // Series i: team a (i % 3 == 0), team b (i % 3 == 1), no team label (i % 3 == 2).
    let mut labels = indexed_labels("tenant_test", &[], SERIES, 3);
    for (i, l) in labels.iter_mut().enumerate() {
        match i % 3 {
            0 => l.push(("team".into(), "a".into())),
            1 => l.push(("team".into(), "b".into())),
            _ => {}
        }
    }
    log_series(&mut w, &labels);
    for s in 0..SCRAPES {
        log_scrape(&mut w, SERIES, 1_700_000_000_000 + s * 1000, |_| s as f64);
    }
    w.close().unwrap();
    let rec = Arc::new(PerTenant::default());
    let sink = Sink::builder(SinkTransport::H2c)
        .handler(rec.clone())
        .start()
        .unwrap();
    let yaml = format!(
        "remote_write:\n  - url: {}\n    name: tenants\n    protocol: h2c\n    \
         tenant_label: team\n    tenant_default: anon\n    queue_config:\n      \
         max_samples_per_send: 200\n      batch_send_deadline: 50ms\n",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap_or_else(|e| panic!("{e}"));
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let spec = PipelineSpec {
        flush_deadline: Duration::from_secs(30),
        fixed_shards: Some(2),
        shard_update_interval: Duration::from_secs(3600),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), d.path().to_path_buf())
    };
    let p = Pipeline::start(spec, Arc::clone(&cores)).unwrap();
    let total = SERIES * SCRAPES as u64;
    let start = Instant::now();
    loop {
        let got: u64 = rec.samples.lock().unwrap().values().sum();
        if got >= total {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{got} of {total}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let per = rec.samples.lock().unwrap().clone();
    let third = total / 3;
    let want: BTreeMap<String, u64> = [("a", third), ("anon", third), ("b", third)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(per, want);
    assert_eq!(
        rec.mixed.load(Ordering::SeqCst),
        0,
        "a request mixed tenants"
    );
    assert_eq!(stats.queue.samples_acked.load(Ordering::Relaxed), total);
    assert_eq!(stats.queue.pending.load(Ordering::Relaxed), 0);
    // Every series once per scrape, in order, although each tenant's body was encoded
    // while the previous tenant's request was in flight.
    let want_ts: Vec<i64> = (0..SCRAPES).map(|s| 1_700_000_000_000 + s * 1000).collect();
    let series = rec.series.lock().unwrap();
    assert_eq!(series.len() as u64, SERIES);
    for (k, ts) in series.iter() {
        assert_eq!(ts, &want_ts, "series {k}: order or content differs");
    }
    assert!(
        stats.queue.batches_encoded_ahead.load(Ordering::Relaxed) > 0,
        "no tenant's request was encoded while another was in flight"
    );
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}
