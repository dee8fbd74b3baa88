//! `ringwrite wal inspect` end to end on WALs holding every record type, including those
//! Prometheus 2.42 cannot write (zstd records, metadata, custom-bucket histograms,
//! V2 samples and histograms with start timestamps), built per FORMATS.md §1–2.

use ringwrite::record::{
    encode, FloatHistogram, Histogram, MetricType, RefMetadata, RefSample, ResetHint, Span,
    STALE_NAN_BITS,
};
use ringwrite::wal::dir::segment_name;
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::Path;
use std::process::Command;

fn inspect(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwrite"))
        .args(["wal", "inspect"])
        .args(args)
        .output()
        .expect("run ringwrite");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn hist() -> Histogram {
    Histogram {
        reset_hint: ResetHint::No,
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 2,
        count: 9,
        sum: 12.5,
        positive_spans: vec![
            Span {
                offset: 0,
                length: 2,
            },
            Span {
                offset: 3,
                length: 1,
            },
        ],
        negative_spans: vec![],
        positive_deltas: vec![1, 2, -1],
        negative_deltas: vec![],
        custom_values: vec![],
    }
}

fn nhcb() -> FloatHistogram {
    FloatHistogram {
        reset_hint: ResetHint::Gauge,
        schema: -53,
        zero_threshold: 0.0,
        zero_count: 0.0,
        count: 4.0,
        sum: 3.25,
        positive_spans: vec![Span {
            offset: 0,
            length: 3,
        }],
        negative_spans: vec![],
        positive_counts: vec![1.0, 2.0, 1.0],
        negative_counts: vec![],
        custom_values: vec![0.1, 0.5, 1.0],
    }
}

/// Writes a WAL with every record type into `dir`, compressed with `comp`.
fn write_all_types(dir: &Path, comp: Compression) {
    let mut w = WalWriter::create(dir, 0, 4 * PAGE_SIZE, comp).unwrap();
    let mut b = Vec::new();
    let s1 = vec![("__name__", "up"), ("job", "a\"b")];
    let s2 = vec![("__name__", "lat"), ("job", "x")];
    encode::series(&mut b, [(1u64, &s1), (2u64, &s2)]);
    w.log(&[&b]).unwrap();
    b.clear();
    encode::metadata(
        &mut b,
        &[RefMetadata {
            sref: 1,
            mtype: MetricType::Gauge,
            unit: b"seconds",
            help: b"Up or not.",
        }],
    );
    w.log(&[&b]).unwrap();
    b.clear();
    let samples = [
        RefSample {
            sref: 1,
            t: 1000,
            st: 0,
            v: 1.0,
        },
        RefSample {
            sref: 1,
            t: 2000,
            st: 0,
            v: f64::from_bits(STALE_NAN_BITS),
        },
    ];
    encode::samples_v1(&mut b, &samples);
    w.log(&[&b]).unwrap();
    b.clear();
    let v2 = [
        RefSample {
            sref: 1,
            t: 3000,
            st: 500,
            v: 0.25,
        },
        RefSample {
            sref: 2,
            t: 3000,
            st: 500,
            v: -7.5,
        },
    ];
    encode::samples_v2(&mut b, &v2);
    w.log(&[&b]).unwrap();
    b.clear();
    let h = hist();
    encode::histogram_samples_v1(
        &mut b,
        false,
        &[encode::HistogramSample {
            sref: 2,
            t: 4000,
            st: 0,
            h: &h,
        }],
    );
    w.log(&[&b]).unwrap();
    // Force a segment boundary in the middle.
    w.next_segment().unwrap();
    b.clear();
    let f = nhcb();
    encode::float_histogram_samples_v1(
        &mut b,
        true,
        &[encode::FloatHistogramSample {
            sref: 2,
            t: 5000,
            st: 0,
            h: &f,
        }],
    );
    w.log(&[&b]).unwrap();
    b.clear();
    encode::histogram_samples_v2(
        &mut b,
        &[encode::HistogramSample {
            sref: 2,
            t: 6000,
            st: 100,
            h: &h,
        }],
    );
    w.log(&[&b]).unwrap();
    b.clear();
    let ex = vec![("trace_id", "abc")];
    encode::exemplars(&mut b, [(1u64, 2500i64, 1.5f64, &ex)]);
    w.log(&[&b]).unwrap();
    b.clear();
    encode::tombstones(
        &mut b,
        &[encode::Tombstone {
            sref: 1,
            mint: 0,
            maxt: 10,
        }],
    );
    w.log(&[&b]).unwrap();
    // An unknown record type: counted, skipped.
    w.log(&[&[200u8, 1, 2, 3]]).unwrap();
    w.close().unwrap();
}

const WANT_DUMP: &str = r#"{__name__="up", job="a\"b"} metadata type=gauge unit="seconds" help="Up or not."
{__name__="up", job="a\"b"} 1 1000
{__name__="up", job="a\"b"} StaleNaN 2000
{__name__="up", job="a\"b"} 0.25 3000 st=500
{__name__="lat", job="x"} -7.5 3000 st=500
{__name__="lat", job="x"} histogram 4000 schema=1 count=9 sum=12.5 zero_threshold=0.001 zero_count=2 reset_hint=2 positive_spans=[0:2,3:1] positive_deltas=[1,2,-1] negative_spans=[] negative_deltas=[]
{__name__="lat", job="x"} float_histogram 5000 schema=-53 count=4 sum=3.25 zero_threshold=0 zero_count=0 reset_hint=3 positive_spans=[0:3] positive_counts=[1,2,1] negative_spans=[] negative_counts=[] custom_values=[0.1,0.5,1]
{__name__="lat", job="x"} histogram 6000 schema=1 count=9 sum=12.5 zero_threshold=0.001 zero_count=2 reset_hint=2 positive_spans=[0:2,3:1] positive_deltas=[1,2,-1] negative_spans=[] negative_deltas=[] st=100
{__name__="up", job="a\"b"} exemplar {trace_id="abc"} 1.5 2500
"#;

#[test]
fn dumps_every_record_type_for_every_compression() {
    for comp in [Compression::None, Compression::Snappy, Compression::Zstd] {
        let d = tempfile::tempdir().unwrap();
        write_all_types(d.path(), comp);
        let (code, out, err) = inspect(&[d.path().to_str().unwrap(), "--dump"]);
        assert_eq!(code, 0, "{comp:?}: {err}");
        assert_eq!(out, WANT_DUMP, "{comp:?}");
        assert!(err.contains("Samples:            4"), "{err}");
        assert!(err.contains("Histograms:         2"), "{err}");
        assert!(err.contains("Float histograms:   1"), "{err}");
        assert!(err.contains("Exemplars:          1"), "{err}");
        assert!(err.contains("unknown=1"), "{err}");
        assert!(err.contains("tombstones=1"), "{err}");
        assert!(err.contains("Distinct series:    2"), "{err}");
        assert!(err.contains("Time range:         1000 .. 6000"), "{err}");
    }
}

#[test]
fn from_position_skips_earlier_samples_but_keeps_series() {
    let d = tempfile::tempdir().unwrap();
    write_all_types(d.path(), Compression::Snappy);
    // Segment 1 starts with the NHCB float histogram.
    let (code, out, err) = inspect(&[d.path().to_str().unwrap(), "--dump", "--from", "1:0"]);
    assert_eq!(code, 0, "{err}");
    let want: Vec<&str> = WANT_DUMP.lines().skip(6).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn corruption_is_reported_with_position_and_the_rest_still_read() {
    let d = tempfile::tempdir().unwrap();
    write_all_types(d.path(), Compression::None);
    // Flip a byte inside the first record of (sealed) segment 0: the series record.
    let p = d.path().join(segment_name(0));
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[12] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let (code, out, err) = inspect(&[d.path().to_str().unwrap(), "--dump"]);
    assert_eq!(code, 1, "corruption must make the exit code non-zero");
    assert!(
        err.contains("corruption: segment 00000000 offset 0: checksum mismatch"),
        "{err}"
    );
    assert!(err.contains("Corruptions:        1"), "{err}");
    // The whole first page was skipped; segment 1's records still arrive (with unknown
    // series, since the series record was lost).
    assert!(
        out.contains(r#"{__unknown_series_ref__="2"} float_histogram 5000"#),
        "{out}"
    );
}

#[test]
fn bad_directory_errors_say_what_was_expected() {
    let d = tempfile::tempdir().unwrap();
    let (code, _, err) = inspect(&[d.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("expected `<data>/wal`"), "{err}");
    let (code, _, err) = inspect(&["/nonexistent/wal"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read it"), "{err}");
    let (code, _, err) = inspect(&[d.path().to_str().unwrap(), "--from", "x:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad segment number"), "{err}");
}
