//! ringwrite's WAL reader against promtool, on the real Prometheus 2.42 fixtures in
//! tests/fixtures/ (see tests/fixtures/README.md; regenerate with scripts/make-fixtures.sh).
//!
//! Each test copies a fixture into a temp dir, runs `promtool tsdb dump <dir>` and
//! `ringwrite wal inspect <dir>/wal --dump`, and compares the float samples as multisets of
//! (labels, timestamp, value bits), where every NaN is one class because promtool prints both
//! StaleNaN and Go's NaN as `NaN`. ringwrite's NaN spelling is then checked separately: the only
//! scraped NaN in the fixtures is `fixture_special{kind="nan"}`, so every other NaN must be a
//! staleness marker.
//!
//! What promtool sees is more than the WAL: `promtool tsdb dump` opens the DB read-only, reads
//! the blocks, and replays checkpoint + segments into a head whose minimum valid time is the
//! newest block's maxTime (older WAL samples are dropped there; the blocks hold them). So:
//! * `prom242-basic` has no blocks: both dumps must be equal, sample for sample.
//! * `prom242-checkpoint` has blocks, a checkpoint and deleted segments. Let K be the earliest
//!   timestamp ringwrite prints. Then promtool's samples at t >= K must equal ringwrite's exactly
//!   (so also: everything ringwrite prints is in promtool's dump). This holds whether or not
//!   ringwrite prints the checkpoint's samples:
//!   - if it does, K is the checkpoint's earliest sample, which is >= the head's minimum time at
//!     truncation, and every sample Prometheus kept at or after that time is in checkpoint +
//!     segments (blocks above it were compacted from that same head);
//!   - if it does not, K is the earliest segment sample, and the fixture guarantees that the
//!     checkpoint holds nothing at or after K (its first remaining segment starts at a Prometheus
//!     restart; make-fixtures.sh checks this with walstat.py --check-checkpoint-boundary).
//!
//!   Samples before K exist only in blocks (the first block and the samples of deleted segments
//!   below the head's truncation time) and are not compared.
//! * `prom242-native` has native histograms, which promtool 2.42 does not print at all (its
//!   dump loop stops at the first non-float sample). Float samples are compared as for basic;
//!   histogram lines are checked against what the target exposes (fixed spans, schema and zero
//!   threshold, counts that add up) and for Prometheus 2.42's histogram staleness marker
//!   (a histogram whose sum is StaleNaN).
mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::dump::{self, Dump, HistogramLine, Sample, SeriesTable, ValueKey, STALE_NAN_BITS};
use common::prom::{copy_dir, repo_root, require_tool, run_streaming, tool_version};

/// Both dumps of one fixture, with a shared series table.
struct Dumps {
    table: SeriesTable,
    promtool: Dump,
    ringwrite: Dump,
    _tmp: tempfile::TempDir,
}

fn fixture_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("tests/fixtures").join(name);
    assert!(
        dir.join("wal").is_dir(),
        "fixture {} is missing (run scripts/make-fixtures.sh)",
        dir.display()
    );
    dir
}

/// promtool writes `chunks_head/` into the directory it opens, so each tool gets its own copy.
fn dump_both(fixture: &str) -> Dumps {
    let promtool = require_tool("PROMTOOL", "promtool");
    eprintln!("promtool: {}", tool_version(&promtool));
    let src = fixture_dir(fixture);
    let tmp = tempfile::tempdir().expect("tempdir");
    let for_promtool = tmp.path().join("promtool");
    let for_ringwrite = tmp.path().join("ringwrite");
    copy_dir(&src, &for_promtool).expect("copy fixture");
    copy_dir(&src, &for_ringwrite).expect("copy fixture");

    let mut table = SeriesTable::default();
    let promtool_dump = run_streaming(
        "promtool tsdb dump",
        Command::new(&promtool)
            .args(["tsdb", "dump"])
            .arg(&for_promtool),
        |r| dump::parse_promtool(r, &mut table),
    )
    .unwrap_or_else(|e| panic!("parsing promtool output: {e}"));
    let ringwrite_dump = run_streaming(
        "ringwrite wal inspect --dump",
        Command::new(env!("CARGO_BIN_EXE_ringwrite"))
            .args(["wal", "inspect"])
            .arg(for_ringwrite.join("wal"))
            .arg("--dump"),
        |r| dump::parse_ringwrite(r, &mut table),
    )
    .unwrap_or_else(|e| panic!("parsing ringwrite output: {e}"));
    eprintln!(
        "{fixture}: promtool {} float samples; ringwrite {} float samples ({} StaleNaN, {} NaN), \
         {} exemplars, {} histograms, {} float histograms; {} series",
        promtool_dump.floats.len(),
        ringwrite_dump.floats.len(),
        ringwrite_dump.stale_markers,
        ringwrite_dump.plain_nans,
        ringwrite_dump.exemplars,
        ringwrite_dump.histograms,
        ringwrite_dump.float_histograms,
        table.len(),
    );
    Dumps {
        table,
        promtool: promtool_dump,
        ringwrite: ringwrite_dump,
        _tmp: tmp,
    }
}

/// `fixture_special{kind="nan"}` is the only series the targets expose as a literal NaN.
fn is_scraped_nan_series(table: &SeriesTable, id: u32) -> bool {
    table.name_of(id) == Some(b"fixture_special".as_slice())
        && table
            .labels(id)
            .iter()
            .any(|(n, v)| n == "kind" && v == b"nan")
}

/// ringwrite must print staleness markers as `StaleNaN` and the scraped NaN as `NaN`; promtool
/// prints both as `NaN`, so derive the expected counts from which series each NaN belongs to.
fn assert_nan_spelling(table: &SeriesTable, promtool: &[Sample], ringwrite: &Dump) {
    let (mut scraped, mut stale) = (0usize, 0usize);
    for s in promtool.iter().filter(|s| s.v == ValueKey::NaN) {
        if is_scraped_nan_series(table, s.series) {
            scraped += 1;
        } else {
            stale += 1;
        }
    }
    assert!(
        stale > 0 && scraped > 0,
        "fixture should contain both staleness markers and scraped NaNs"
    );
    assert_eq!(
        ringwrite.stale_markers, stale,
        "samples printed as StaleNaN"
    );
    assert_eq!(ringwrite.plain_nans, scraped, "samples printed as NaN");
    assert_eq!(ringwrite.other_nans, 0, "samples printed as NaN(0x...)");
}

#[test]
fn basic_fixture_matches_promtool_sample_for_sample() {
    let d = dump_both("prom242-basic");
    assert!(
        d.promtool.floats.len() > 10_000,
        "promtool dumped only {} samples",
        d.promtool.floats.len()
    );
    dump::diff_multisets(
        &d.table,
        "promtool",
        &d.promtool.floats,
        "ringwrite",
        &d.ringwrite.floats,
        20,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_nan_spelling(&d.table, &d.promtool.floats, &d.ringwrite);
    assert!(
        d.ringwrite.exemplars > 0,
        "the openmetrics job wrote exemplar records"
    );
    assert_eq!(
        d.ringwrite.with_start_timestamp, 0,
        "Prometheus 2.42 writes no V2 sample records"
    );
}

/// The dump's label text must be byte-identical to promtool's (Go `strconv.Quote`), not just
/// decode to the same bytes: the fixture's hostile label values include characters Go escapes
/// although they are not control characters (U+00A0 NBSP -> `\u00a0`, U+200B ZWSP -> `\u200b`,
/// U+E0001 LANGUAGE TAG -> `\U000e0001`: everything `unicode.IsPrint` rejects).
#[test]
fn basic_fixture_label_text_matches_promtool_byte_for_byte() {
    let d = dump_both("prom242-basic");
    let several = d.table.several_spellings();
    let report: Vec<String> = several
        .iter()
        .map(|(_, raws)| format!("  {}", raws.join("\n  vs ")))
        .collect();
    assert!(
        several.is_empty(),
        "{} series are quoted differently by promtool and ringwrite:\n{}",
        several.len(),
        report.join("\n")
    );
}

#[test]
fn checkpoint_fixture_matches_promtool_from_the_earliest_wal_sample_on() {
    let d = dump_both("prom242-checkpoint");
    let k = d
        .ringwrite
        .floats
        .iter()
        .map(|s| s.t)
        .min()
        .expect("ringwrite printed no samples");
    let block_max = max_block_time(&fixture_dir("prom242-checkpoint"));
    let (before, from_k): (Vec<Sample>, Vec<Sample>) =
        d.promtool.floats.iter().partition(|s| s.t < k);
    eprintln!(
        "cutoff K={k} (newest block maxTime {block_max}); promtool: {} samples before K (blocks only), \
         {} at or after K",
        before.len(),
        from_k.len()
    );
    assert!(
        !before.is_empty(),
        "fixture should have block-only samples before the WAL starts"
    );
    assert!(
        from_k.len() > 10_000,
        "too few samples to compare: {}",
        from_k.len()
    );
    dump::diff_multisets(
        &d.table,
        "promtool (t >= K)",
        &from_k,
        "ringwrite",
        &d.ringwrite.floats,
        20,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_nan_spelling(&d.table, &from_k, &d.ringwrite);
}

#[test]
fn native_fixture_matches_promtool_and_histograms_add_up() {
    let mut wal: Vec<String> = fs::read_dir(fixture_dir("prom242-native").join("wal"))
        .expect("read wal dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    wal.sort();
    assert_eq!(
        wal,
        ["00000000", "00000001"],
        "prom242-native: wal/ entries"
    );
    let d = dump_both("prom242-native");
    let histogram_series: HashSet<u32> = d
        .ringwrite
        .histogram_lines
        .iter()
        .map(|h| h.series)
        .collect();
    assert!(
        d.promtool
            .floats
            .iter()
            .all(|s| !histogram_series.contains(&s.series)),
        "promtool 2.42 is not expected to print samples of histogram series"
    );
    assert!(
        d.ringwrite
            .floats
            .iter()
            .all(|s| !histogram_series.contains(&s.series)),
        "a histogram series got float samples (2.42 writes histogram staleness markers)"
    );
    dump::diff_multisets(
        &d.table,
        "promtool",
        &d.promtool.floats,
        "ringwrite",
        &d.ringwrite.floats,
        20,
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let name = |h: &HistogramLine| {
        String::from_utf8_lossy(d.table.name_of(h.series).unwrap_or_default()).into_owned()
    };
    let (mut checked_int, mut checked_float, mut stale, mut from_rules) = (0, 0, 0, 0);
    for h in &d.ringwrite.histogram_lines {
        let what = format!("{} {} {:?}", d.table.render(h.series), h.t, h.fields);
        if h.value_bits("sum")
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            == STALE_NAN_BITS
        {
            stale += 1;
            continue;
        }
        match name(h).as_str() {
            "fixture_native_seconds" => {
                assert!(!h.float, "{what}");
                assert_target_layout(h, &what);
                let count: u64 = h
                    .field("count")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or_else(|| panic!("{what}"));
                let zero: u64 = h
                    .field("zero_count")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or_else(|| panic!("{what}"));
                let total = |key: &str| -> i64 {
                    let deltas = h.list(key, |v| v.parse::<i64>().map_err(|e| e.to_string()));
                    let deltas = deltas.unwrap_or_else(|e| panic!("{what}: {e}"));
                    let mut bucket = 0;
                    deltas
                        .iter()
                        .map(|d| {
                            bucket += d;
                            assert!(bucket >= 0, "{what}");
                            bucket
                        })
                        .sum()
                };
                let buckets = total("positive_deltas") + total("negative_deltas");
                assert_eq!(
                    i64::try_from(count).ok(),
                    Some(i64::try_from(zero).unwrap_or(0) + buckets),
                    "{what}"
                );
                checked_int += 1;
            }
            "fixture_native_float_seconds" => {
                assert!(h.float, "{what}");
                assert_target_layout(h, &what);
                let f = |key: &str| {
                    f64::from_bits(h.value_bits(key).unwrap_or_else(|e| panic!("{what}: {e}")))
                };
                let counts = |key: &str| -> f64 {
                    h.list(key, |v| dump::parse_ringwrite_value(v).map(f64::from_bits))
                        .unwrap_or_else(|e| panic!("{what}: {e}"))
                        .iter()
                        .sum()
                };
                // All counts are multiples of 0.25, so the sums are exact.
                assert_eq!(
                    f("count"),
                    f("zero_count") + counts("positive_counts") + counts("negative_counts"),
                    "{what}"
                );
                checked_float += 1;
            }
            n if n.starts_with("fixture:native:") => {
                assert!(h.float, "recording rules write float histograms: {what}");
                from_rules += 1;
            }
            other => panic!("unexpected histogram series {other}: {what}"),
        }
    }
    eprintln!("histograms: {checked_int} integer, {checked_float} float, {from_rules} from rules, {stale} staleness markers");
    assert!(
        checked_int > 0 && checked_float > 0 && from_rules > 0,
        "fixture should have all kinds"
    );
    assert!(
        stale > 0,
        "the coming-and-going series path=\"/c\" should have histogram staleness markers"
    );
}

/// Schema and zero threshold that `scripts/fixture_targets.py` exposes for every scraped native
/// histogram, and spans that cover exactly the printed buckets. (The spans themselves vary:
/// Prometheus drops buckets that are empty, e.g. `[-2:3,2:2]` becomes `[-2:3,2:1]`.)
fn assert_target_layout(h: &HistogramLine, what: &str) {
    assert_eq!(h.field("schema"), Some("3"), "{what}");
    assert_eq!(
        h.value_bits("zero_threshold"),
        Ok(0.001f64.to_bits()),
        "{what}"
    );
    let float = h.float;
    for (spans, buckets) in [
        (
            "positive_spans",
            if float {
                "positive_counts"
            } else {
                "positive_deltas"
            },
        ),
        (
            "negative_spans",
            if float {
                "negative_counts"
            } else {
                "negative_deltas"
            },
        ),
    ] {
        let lengths = h.list(spans, |sp| {
            let (offset, len) = sp.split_once(':').ok_or("span is not offset:length")?;
            offset.parse::<i32>().map_err(|e| e.to_string())?;
            len.parse::<usize>().map_err(|e| e.to_string())
        });
        let lengths = lengths.unwrap_or_else(|e| panic!("{what}: {e}"));
        let n = h
            .list(buckets, |v| Ok(v.to_owned()))
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .len();
        assert_eq!(
            lengths.iter().sum::<usize>(),
            n,
            "{what}: {spans} vs {buckets}"
        );
        assert!(!lengths.is_empty(), "{what}: the target always has {spans}");
    }
}

/// Checks the fixtures and the promtool-side parser without ringwrite: the shape README.md
/// documents, and label values / float values that must survive Go quoting and `%g`.
#[test]
fn fixtures_have_the_documented_shape_in_promtool() {
    let promtool = require_tool("PROMTOOL", "promtool");
    for (fixture, segments, checkpoint) in [
        ("prom242-basic", &["00000000", "00000001"][..], None),
        (
            "prom242-checkpoint",
            &["00000002", "00000003", "00000004", "00000005"][..],
            Some("checkpoint.00000001"),
        ),
    ] {
        let src = fixture_dir(fixture);
        let mut names: Vec<String> = fs::read_dir(src.join("wal"))
            .expect("read wal dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        let mut want: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
        want.extend(checkpoint.map(str::to_owned));
        want.sort();
        assert_eq!(names, want, "{fixture}: wal/ entries");

        let tmp = tempfile::tempdir().expect("tempdir");
        copy_dir(&src, tmp.path()).expect("copy fixture");
        let mut table = SeriesTable::default();
        let p = run_streaming(
            "promtool tsdb dump",
            Command::new(&promtool)
                .args(["tsdb", "dump"])
                .arg(tmp.path()),
            |r| dump::parse_promtool(r, &mut table),
        )
        .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        assert_eq!(
            p.ignored_lines, 0,
            "{fixture}: promtool printed non-sample lines"
        );

        let value_of = |name: &str, label: &str, value: &[u8]| -> Vec<ValueKey> {
            p.floats
                .iter()
                .filter(|s| {
                    table.name_of(s.series) == Some(name.as_bytes())
                        && table
                            .labels(s.series)
                            .iter()
                            .any(|(n, v)| n == label && v == value)
                })
                .map(|s| s.v)
                .collect()
        };
        for (kind, want) in [
            ("e21", 1e21f64),
            ("neg_zero", -0.0),
            ("subnormal", 5e-324),
            ("huge", f64::MAX),
            ("two53p1", 9_007_199_254_740_992.0),
            ("neg_inf", f64::NEG_INFINITY),
            ("nan", f64::NAN),
        ] {
            let got = value_of("fixture_special", "kind", kind.as_bytes());
            assert!(
                !got.is_empty(),
                "{fixture}: no fixture_special{{kind={kind:?}}}"
            );
            assert!(
                got.iter().all(|v| *v == ValueKey::from_f64(want)),
                "{fixture}: {kind}: {got:?}"
            );
        }
        for value in [
            "say \"hi\"",
            "line1\nline2",
            "a\tb",
            "non\u{a0}breaking",
            "lang\u{e0001}tag",
            "crab 🦀 snowman ☃",
        ] {
            assert!(
                !value_of("fixture_hostile_labels", "value", value.as_bytes()).is_empty(),
                "{fixture}: label value {value:?} not found"
            );
        }
        // Staleness: every vanished / rotating series ends or pauses with a NaN that is not the
        // scraped-NaN series.
        let mut nan_by_name: HashMap<Vec<u8>, usize> = HashMap::new();
        for s in p
            .floats
            .iter()
            .filter(|s| s.v == ValueKey::NaN && !is_scraped_nan_series(&table, s.series))
        {
            *nan_by_name
                .entry(table.name_of(s.series).unwrap_or_default().to_vec())
                .or_default() += 1;
        }
        assert!(
            nan_by_name.contains_key(b"fixture_rotating".as_slice()),
            "{fixture}: {nan_by_name:?}"
        );
        if fixture == "prom242-basic" {
            assert_eq!(
                nan_by_name.get(b"fixture_vanish_gauge".as_slice()),
                Some(&5),
                "{fixture}: {nan_by_name:?}"
            );
        }
    }
}

/// Newest `maxTime` over the fixture's blocks (`<ulid>/meta.json`), for the log.
fn max_block_time(dir: &Path) -> i64 {
    let mut max = i64::MIN;
    for entry in fs::read_dir(dir).expect("read fixture dir") {
        let meta = entry.expect("dir entry").path().join("meta.json");
        let Ok(text) = fs::read_to_string(&meta) else {
            continue;
        };
        let v = text
            .split("\"maxTime\":")
            .nth(1)
            .and_then(|r| {
                r.trim_start()
                    .split(|c: char| !c.is_ascii_digit() && c != '-')
                    .next()
            })
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no maxTime in {}", meta.display()));
        max = max.max(v);
    }
    assert!(max > i64::MIN, "no blocks in {}", dir.display());
    max
}
