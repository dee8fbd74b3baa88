use super::*;
use crate::record::{encode, RefSample};
use crate::wal::fragment::PAGE_SIZE;
use crate::wal::tail::{Event, TailOptions, Tailer};
use crate::wal::writer::{Compression, WalWriter};

/// Segments 0..n, each with one samples record of `per` samples (series in segment 0).
fn wal_with_segments(dir: &Path, n: u64, per: u64) {
    let mut w = WalWriter::create(dir, 0, 4 * PAGE_SIZE, Compression::None).unwrap();
    let labels = vec![("__name__".to_string(), "x".to_string())];
    let mut b = Vec::new();
    encode::series(&mut b, std::iter::once((1u64, &labels)));
    w.log(&[&b]).unwrap();
    for s in 0..n {
        if s > 0 {
            w.next_segment().unwrap();
        }
        let batch: Vec<RefSample> = (0..per)
            .map(|i| RefSample {
                sref: 1,
                t: (s * per + i) as i64,
                st: 0,
                v: 1.0,
            })
            .collect();
        b.clear();
        encode::samples_v1(&mut b, &batch);
        w.log(&[&b]).unwrap();
    }
    w.close().unwrap();
}

fn spool_for(wal: &Path, dir: &Path, max_bytes: u64) -> Arc<Spool> {
    Spool::open(SpoolOptions {
        wal_dir: wal.to_path_buf(),
        dir: dir.to_path_buf(),
        max_bytes,
        interval: Duration::from_millis(10),
    })
    .unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Samples a follow-less tailer reads from `wal` with the spool as fallback.
fn samples_readable(wal: &Path, spool: &Path) -> (u64, u64) {
    let mut t = Tailer::open(
        wal,
        TailOptions {
            fallback: Some(spool.to_path_buf()),
            ..TailOptions::default()
        },
    )
    .unwrap();
    let (mut samples, mut lost) = (0, 0);
    loop {
        match t.next_event(Duration::ZERO).unwrap() {
            Event::Record(r) => {
                if let Ok(crate::record::Record::Samples(it)) = crate::record::decode(r.bytes) {
                    samples += it.count() as u64;
                }
            }
            Event::SegmentsLost { first, last } => lost += last - first + 1,
            Event::End => return (samples, lost),
            _ => {}
        }
    }
}

#[test]
fn segments_deleted_from_the_wal_stay_readable_until_released() {
    let d = tempfile::tempdir().unwrap();
    let (wal, sp) = (d.path().join("wal"), d.path().join("spool"));
    wal_with_segments(&wal, 4, 100);
    let spool = spool_for(&wal, &sp, u64::MAX);
    let claim = spool.claim();
    let r = spool.sync().unwrap();
    assert_eq!(r.linked, 4);
    assert_eq!(r.held_bytes, 0, "links to live WAL files cost nothing");
    // Prometheus truncates: segments 0 and 1 go (a checkpoint.00000001 would be written).
    std::fs::remove_file(wal.join("00000000")).unwrap();
    std::fs::remove_file(wal.join("00000001")).unwrap();
    let r = spool.sync().unwrap();
    assert!(r.held_bytes > 0);
    assert_eq!(samples_readable(&wal, &sp), (400, 0));
    // The endpoint moved past segment 2: with no checkpoint below it nothing is released
    // (its series come from segment 0).
    claim.set(2);
    spool.sync().unwrap();
    assert_eq!(names(&sp).len(), 4);
    // A checkpoint.00000001 appears in the WAL: segments up to 1 are covered by it.
    let cp = wal.join("checkpoint.00000001");
    std::fs::create_dir_all(&cp).unwrap();
    WalWriter::create(&cp, 0, 4 * PAGE_SIZE, Compression::None)
        .unwrap()
        .close()
        .unwrap();
    let r = spool.sync().unwrap();
    assert_eq!(r.released, 2, "{r:?}");
    assert_eq!(
        names(&sp),
        vec!["00000002", "00000003", "checkpoint.00000001"]
    );
    // Without an endpoint claim holding it, the checkpoint and segments stay (claim
    // dropped = no endpoint: nothing is needed, but nothing newer covers them either).
    drop(claim);
    spool.sync().unwrap();
    assert!(sp.join("00000002").exists());
}

#[test]
fn over_budget_the_oldest_deleted_segment_goes_and_is_counted() {
    let d = tempfile::tempdir().unwrap();
    let (wal, sp) = (d.path().join("wal"), d.path().join("spool"));
    wal_with_segments(&wal, 4, 50);
    let seg_len = std::fs::metadata(wal.join("00000001")).unwrap().len();
    // Room for one deleted segment only.
    let spool = spool_for(&wal, &sp, seg_len + seg_len / 2);
    let _claim = spool.claim();
    spool.sync().unwrap();
    for i in 0..3 {
        std::fs::remove_file(wal.join(format!("{i:08}"))).unwrap();
    }
    let r = spool.sync().unwrap();
    assert_eq!(r.evicted, vec![0, 1], "{r:?}");
    assert!(r.held_bytes <= seg_len + seg_len / 2);
    let (counts, n) = spool.evicted_in(0, 5);
    assert_eq!(n, 2);
    assert_eq!(counts.samples, 100);
    // What is left is readable; the evicted segments show up as lost.
    let (samples, lost) = samples_readable(&wal, &sp);
    assert_eq!(
        (samples, lost),
        (100, 0),
        "reading starts at the first segment left"
    );
}

#[test]
fn a_replaced_wal_segment_replaces_the_spooled_one() {
    let d = tempfile::tempdir().unwrap();
    let (wal, sp) = (d.path().join("wal"), d.path().join("spool"));
    wal_with_segments(&wal, 2, 10);
    let spool = spool_for(&wal, &sp, u64::MAX);
    let _claim = spool.claim();
    spool.sync().unwrap();
    // Repair: a new file under the same name.
    let p = wal.join("00000001");
    let data = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    std::fs::write(&p, &data[..data.len() / 2]).unwrap();
    spool.sync().unwrap();
    let a = std::fs::metadata(&p).unwrap();
    let b = std::fs::metadata(sp.join("00000001")).unwrap();
    assert_eq!(a.ino(), b.ino());
}
