//! The benchmark's WAL generator against Prometheus 2.42: a generated WAL (small segments, so
//! it rotates and checkpoints like Prometheus's head truncation; histograms, exemplars and
//! metadata on) is replayed by `promtool tsdb dump`, and every float sample promtool prints
//! must be exactly the model's, and every sample of the segments still on disk must be
//! printed. promtool 2.42 prints no native histograms; those (and exemplars, metadata, the
//! checkpoint's series) are checked with `ringwrite wal inspect`, whose reader the
//! promtool_compare tests hold to promtool on real Prometheus WALs.
mod common;

use common::dump::{self, render_labels, Sample, SeriesTable, ValueKey};
use common::prom::{require_tool, run_streaming, tool_version};
use ringwrite::gen::{AppendLog, GenSpec, Generator, LabelShape, Model, SeriesKind, Timestamps};
use ringwrite::wal::writer::Compression;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

fn model() -> Model {
    Model {
        series: 1_150,
        series_per_target: 100,
        samples_per_series: 60,
        shape: LabelShape {
            metric_names: 7,
            extra_labels: 3,
            value_len: 10,
        },
        histograms: true,
        exemplars: true,
        metadata: true,
        timestamps: Timestamps::Synthetic {
            start_ms: 1_700_000_000_000,
            interval_ms: 15_000,
        },
    }
}

fn labels_of(m: &Model, id: u64) -> dump::Labels {
    m.labels(id)
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect()
}

#[test]
fn promtool_replays_a_generated_wal_with_checkpoints_sample_for_sample() {
    let promtool = require_tool("PROMTOOL", "promtool");
    eprintln!("promtool: {}", tool_version(&promtool));
    let tmp = tempfile::tempdir().expect("tempdir");
    let wal = tmp.path().join("wal");
    let m = model();
    let spec = GenSpec {
        model: m.clone(),
        rate: None,
        segment_size: 64 << 10,
        compression: Compression::Snappy,
        checkpoint_every: Some(4),
    };
    let log = Arc::new(AppendLog::new(m.scrapes(), Instant::now()));
    let gen = Generator::create(&wal, spec, Arc::clone(&log)).expect("create");
    let summary = gen.run(&AtomicBool::new(false)).expect("generate");
    eprintln!("{summary:?}");
    assert_eq!(summary.scrapes, m.scrapes());
    assert!(
        summary.checkpoints >= 2,
        "no truncation exercised: {summary:?}"
    );
    let retained = summary.first_retained_scrape;
    assert!(
        retained > m.targets(),
        "checkpoint must cover first scrapes"
    );
    assert!(retained < m.scrapes());
    assert!(log.get(m.scrapes() - 1).is_some(), "append times recorded");
    let (floats, hists, exemplars) = m.totals();
    assert_eq!(
        (summary.samples, summary.histograms, summary.exemplars),
        (floats, hists, exemplars)
    );

    // What the segments still on disk hold, by the model.
    let mut table = SeriesTable::default();
    let mut ids = Vec::new();
    for id in 0..m.series {
        let (sid, _) = table
            .intern_prefix(&render_labels(&labels_of(&m, id)))
            .expect("intern");
        ids.push(sid);
    }
    let mut want = Vec::new();
    let mut want_hist = 0usize;
    let mut want_ex = 0usize;
    for seq in retained..m.scrapes() {
        let (index, target) = (seq / m.targets(), seq % m.targets());
        let t = m.synthetic_timestamp(target, index).expect("synthetic");
        for id in m.target_series(target) {
            match m.kind(id) {
                SeriesKind::Float => want.push(Sample {
                    series: ids[id as usize],
                    t,
                    v: ValueKey::from_f64(m.value(id, index)),
                }),
                SeriesKind::Histogram => want_hist += 1,
            }
            want_ex += usize::from(m.has_exemplar(id, index));
        }
    }

    let dir = tmp.path().to_path_buf();
    let got = run_streaming(
        "promtool tsdb dump",
        Command::new(&promtool).args(["tsdb", "dump"]).arg(&dir),
        |r| dump::parse_promtool(r, &mut table),
    )
    .unwrap_or_else(|e| panic!("promtool: {e}"));
    eprintln!(
        "promtool printed {} float samples; the model has {} after scrape {retained}",
        got.floats.len(),
        want.len()
    );
    dump::diff_multisets(&table, "promtool", &got.floats, "model", &want, 10)
        .unwrap_or_else(|e| panic!("{e}"));

    // Histograms, exemplars, metadata and the checkpoint's series, through our reader.
    let out = Command::new(env!("CARGO_BIN_EXE_ringwrite"))
        .args(["wal", "inspect", "--dump"])
        .arg(&wal)
        .output()
        .expect("ringwrite wal inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut table2 = SeriesTable::default();
    let ours = dump::parse_ringwrite(&out.stdout[..], &mut table2).expect("parse");
    assert_eq!(ours.floats.len(), want.len());
    assert_eq!(ours.histograms, want_hist);
    assert_eq!(ours.exemplars, want_ex);
    // The checkpoint keeps the metadata of the targets it covers; the others' is in the
    // segments (every target's first scrape here is before the first truncation point).
    assert_eq!(ours.metadata as u64, m.series);
    for line in ours.histogram_lines.iter().take(50) {
        let count: u64 = line.field("count").expect("count").parse().expect("int");
        assert!(Model::index_of_histogram_count(count).is_some(), "{count}");
    }
}
