//! A model check of "lose nothing" (issue 5), in the spirit of Vector's disk-buffer model
//! test: proptest generates sequences of WAL appends, segment rotations, receiver outages,
//! `kill -9` + restarts of `ringwrite run`, and Prometheus-style truncations (a checkpoint
//! of the live series, then the segments before it deleted). The model is the simplest
//! possible: every sample appended must arrive, and per series the first arrivals come in
//! timestamp order. Nothing here is dropped on purpose (the spool budget is large), so any
//! missing sample is a failure.

mod common;

use common::prom::{http_get, ChildGuard};
use common::recorder::{compare, Accepted, Recorder};
use common::ringwrite::{start_run, wait_for};
use proptest::prelude::*;
use ringwrite::record::{encode, RefSample};
use ringwrite::sink::{Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const SERIES: u64 = 50;
const T0: i64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    /// Scrapes of every series.
    Append(u8),
    /// Start the next segment.
    Rotate,
    ReceiverDown,
    ReceiverUp,
    /// SIGKILL ringwrite and start it again.
    Kill,
    /// Checkpoint everything but the live segment and delete those segments.
    Truncate,
    /// Let time pass (ms).
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..20).prop_map(Op::Append),
        3 => Just(Op::Rotate),
        2 => Just(Op::ReceiverDown),
        1 => Just(Op::ReceiverUp),
        2 => Just(Op::Kill),
        2 => Just(Op::Truncate),
        1 => (50u16..600).prop_map(Op::Wait),
    ]
}

struct World {
    dir: tempfile::TempDir,
    wal: PathBuf,
    writer: WalWriter,
    scrapes: i64,
    want: Accepted,
    rec: Arc<Recorder>,
    sink: Sink,
    rw: Option<ChildGuard>,
    cfg: PathBuf,
    labels: Vec<Vec<(String, String)>>,
    first_segment: u64,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        let mut writer = WalWriter::create(&wal, 0, 4 * PAGE_SIZE, Compression::Snappy).unwrap();
        let labels: Vec<Vec<(String, String)>> = (0..SERIES)
            .map(|i| {
                vec![
                    ("__name__".to_string(), "model".to_string()),
                    ("i".to_string(), format!("{i:03}")),
                ]
            })
            .collect();
        let mut b = Vec::new();
        encode::series(
            &mut b,
            labels.iter().enumerate().map(|(i, l)| (i as u64 + 1, l)),
        );
        writer.log(&[&b]).unwrap();
        let rec = Arc::new(Recorder::new(0));
        let sink = Sink::builder(SinkTransport::Http1)
            .handler(rec.clone())
            .start()
            .unwrap();
        let cfg = dir.path().join("ringwrite.yml");
        std::fs::write(
            &cfg,
            format!(
                "remote_write:\n- url: {}\n  name: model\n  queue_config: {{batch_send_deadline: 20ms, max_samples_per_send: 100, capacity: 200, min_backoff: 10ms, max_backoff: 100ms}}\n",
                sink.url()
            ),
        )
        .unwrap();
        let mut w = World {
            dir,
            wal,
            writer,
            scrapes: 0,
            want: Accepted::new(),
            rec,
            sink,
            rw: None,
            cfg,
            labels,
            first_segment: 0,
        };
        w.start();
        w
    }

    fn start(&mut self) {
        let state = self.dir.path().join("state");
        let log = self.dir.path().join("ringwrite.log");
        let (child, port) = start_run(&self.cfg, &self.wal, &state, &log);
        wait_for("ringwrite's web server", Duration::from_secs(20), || {
            http_get(port, "/-/healthy").is_ok()
        });
        self.rw = Some(child);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(n) => {
                let mut b = Vec::new();
                for _ in 0..*n {
                    let s = self.scrapes;
                    self.scrapes += 1;
                    let batch: Vec<RefSample> = (0..SERIES)
                        .map(|i| RefSample {
                            sref: i + 1,
                            t: T0 + s * 1000,
                            st: 0,
                            v: (s * 5 + i as i64) as f64,
                        })
                        .collect();
                    for r in &batch {
                        self.want
                            .entry(format!("__name__=model,i={:03}", r.sref - 1))
                            .or_default()
                            .push((r.t, r.v.to_bits()));
                    }
                    b.clear();
                    encode::samples_v1(&mut b, &batch);
                    self.writer.log(&[&b]).unwrap();
                }
            }
            Op::Rotate => self.writer.next_segment().unwrap(),
            Op::ReceiverDown => self.rec.down.store(true, Ordering::SeqCst),
            Op::ReceiverUp => self.rec.down.store(false, Ordering::SeqCst),
            Op::Kill => {
                if let Some(mut c) = self.rw.take() {
                    c.signal(libc::SIGKILL);
                    c.wait();
                }
                self.start();
            }
            Op::Truncate => self.truncate(),
            Op::Wait(ms) => std::thread::sleep(Duration::from_millis(*ms as u64)),
        }
    }

    /// What Prometheus's head truncation does: `checkpoint.N` with the series, then
    /// segments up to N deleted, then older checkpoints. Like Prometheus, it only touches
    /// segments that have existed a while (the spool looks every 250 ms).
    fn truncate(&mut self) {
        let live = self.writer.segment();
        if live == 0 || live - 1 < self.first_segment {
            return;
        }
        std::thread::sleep(Duration::from_millis(600));
        let n = live - 1;
        let tmp = self.wal.join(format!("checkpoint.{n:08}.tmp"));
        let mut cw = WalWriter::create(&tmp, 0, 4 * PAGE_SIZE, Compression::Snappy).unwrap();
        let mut b = Vec::new();
        encode::series(
            &mut b,
            self.labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i as u64 + 1, l)),
        );
        cw.log(&[&b]).unwrap();
        cw.close().unwrap();
        std::fs::rename(&tmp, self.wal.join(format!("checkpoint.{n:08}"))).unwrap();
        for i in self.first_segment..=n {
            let _ = std::fs::remove_file(self.wal.join(format!("{i:08}")));
        }
        for e in std::fs::read_dir(&self.wal).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("checkpoint.") && name != format!("checkpoint.{n:08}") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        self.first_segment = n + 1;
    }

    /// Receiver up, wait for everything; returns the comparison.
    fn finish(&mut self) -> (common::recorder::Delivery, String) {
        self.rec.down.store(false, Ordering::SeqCst);
        let want = self.want.clone();
        let rec = Arc::clone(&self.rec);
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while compare(&want, &rec.snapshot()).missing > 0 && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(mut c) = self.rw.take() {
            c.terminate(Duration::from_secs(20));
        }
        let log =
            std::fs::read_to_string(self.dir.path().join("ringwrite.log")).unwrap_or_default();
        (compare(&want, &rec.snapshot()), log)
    }
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn wal_of(p: &Path) -> String {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.join(" ")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 4, ..ProptestConfig::default() })]

    #[test]
    fn no_loss_and_per_series_order_under_random_faults(ops in prop::collection::vec(op(), 6..16)) {
        let mut w = World::new();
        for op in &ops {
            w.apply(op);
        }
        w.apply(&Op::Append(3));
        let (d, log) = w.finish();
        let written: usize = w.want.values().map(Vec::len).sum();
        prop_assert_eq!(d.missing, 0, "{:?} of {} written; ops {:?}; wal {}; log:\n{}", d, written, ops, wal_of(&w.wal), tail(&log, 40));
        prop_assert_eq!(d.unexpected, 0, "{:?}", d);
        prop_assert_eq!(d.out_of_order_series, 0, "{:?}; ops {:?}", d, ops);
        w.sink.shutdown();
    }
}

/// The sequence that loses data without the spool: the receiver is down, the reader is
/// stalled by full queues, Prometheus truncates segments it has not read, and ringwrite is
/// killed (so its saved position lies in a deleted segment).
#[test]
fn truncation_during_an_outage_then_kill_loses_nothing() {
    let ops = [
        Op::Append(5),
        Op::Wait(300),
        Op::ReceiverDown,
        Op::Append(19),
        Op::Rotate,
        Op::Append(19),
        Op::Rotate,
        Op::Append(19),
        Op::Rotate,
        Op::Append(5),
        Op::Truncate,
        Op::Kill,
        Op::Append(5),
        Op::ReceiverUp,
    ];
    let mut w = World::new();
    for op in &ops {
        w.apply(op);
    }
    let (d, log) = w.finish();
    assert_eq!(
        d.missing,
        0,
        "{d:?}; wal {}; log:\n{}",
        wal_of(&w.wal),
        tail(&log, 40)
    );
    assert_eq!(d.unexpected, 0, "{d:?}");
    assert_eq!(d.out_of_order_series, 0, "{d:?}");
    w.sink.shutdown();
}
