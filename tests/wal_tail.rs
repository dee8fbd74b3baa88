//! The WAL reader against WALs laid out like Prometheus's writer does (`wal::writer`):
//! reassembly across pages and segments, corruption, torn tails, live following,
//! truncation and repair.

use proptest::prelude::*;
use ringwrite::wal::dir::segment_name;
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::tail::{Event, TailOptions, Tailer};
use ringwrite::wal::writer::{Compression, WalWriter};
use ringwrite::wal::{CorruptionReason, Position};
use std::path::Path;
use std::time::{Duration, Instant};

/// What a full read of a WAL produced.
#[derive(Default, Debug)]
struct ReadAll {
    records: Vec<(Position, Vec<u8>)>,
    corruptions: Vec<ringwrite::wal::Corruption>,
    lost: Vec<(u64, u64)>,
    replaced: usize,
    checkpoint_records: usize,
    replayed: usize,
}

fn read_all(dir: &Path, opts: TailOptions) -> ReadAll {
    let mut t = Tailer::open(dir, opts).expect("open tailer");
    let mut out = ReadAll::default();
    loop {
        match t.next_event(Duration::from_millis(10)).expect("next event") {
            Event::Record(r) => {
                if r.checkpoint.is_some() {
                    out.checkpoint_records += 1;
                } else if r.replay {
                    out.replayed += 1;
                } else {
                    out.records.push((r.pos, r.bytes.to_vec()));
                }
            }
            Event::Corruption(c) => out.corruptions.push(c),
            Event::SegmentsLost { first, last } => out.lost.push((first, last)),
            Event::SegmentReplaced { .. } => out.replaced += 1,
            Event::End => return out,
            _ => {}
        }
    }
}

/// A record of `len` bytes: type byte 2 then a pattern derived from `seed`, compressible
/// or not.
fn record(seed: u64, len: usize, compressible: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 1);
    v.push(2u8);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..len {
        if compressible {
            v.push((i / 64) as u8 ^ seed as u8);
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
    }
    v
}

/// Writes each batch with one `log` call (one page flush per batch, like a commit).
fn write_wal(dir: &Path, batches: &[Vec<Vec<u8>>], seg_pages: usize, comp: Compression) {
    let mut w = WalWriter::create(dir, 0, seg_pages * PAGE_SIZE, comp).unwrap();
    for b in batches {
        let refs: Vec<&[u8]> = b.iter().map(|r| r.as_slice()).collect();
        w.log(&refs).unwrap();
    }
    w.close().unwrap();
}

fn compression_strategy() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Snappy),
        Just(Compression::Zstd)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Random records straddling page and segment boundaries come back byte for byte,
    /// in order, at strictly increasing positions, and a reader started at any returned
    /// position yields exactly the rest.
    #[test]
    fn records_reassemble_across_pages_and_segments(
        sizes in prop::collection::vec((0usize..80_000, any::<bool>()), 1..40),
        batch in 1usize..5,
        seg_pages in 1usize..6,
        comp in compression_strategy(),
        resume_pick in any::<prop::sample::Index>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let recs: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &(n, c))| record(i as u64, n, c))
            .collect();
        let batches: Vec<Vec<Vec<u8>>> = recs.chunks(batch).map(|c| c.to_vec()).collect();
        write_wal(d.path(), &batches, seg_pages, comp);
        let got = read_all(d.path(), TailOptions::default());
        prop_assert!(got.corruptions.is_empty(), "{:?}", got.corruptions);
        prop_assert_eq!(got.records.len(), recs.len());
        for (i, ((_, g), w)) in got.records.iter().zip(&recs).enumerate() {
            prop_assert!(g == w, "record {} differs", i);
        }
        for w in got.records.windows(2) {
            prop_assert!(w[0].0 < w[1].0);
        }
        let k = resume_pick.index(got.records.len());
        let from = got.records[k].0;
        let resumed = read_all(
            d.path(),
            TailOptions { from: Some(from), read_checkpoint: false, ..TailOptions::default() },
        );
        let want: Vec<&Vec<u8>> = recs[k..].iter().collect();
        let have: Vec<&Vec<u8>> = resumed.records.iter().map(|(_, b)| b).collect();
        prop_assert_eq!(have, want);
        // With replay, everything before `from` is delivered flagged as replay.
        let replayed = read_all(
            d.path(),
            TailOptions { from: Some(from), ..TailOptions::default() },
        );
        prop_assert_eq!(replayed.replayed, k);
        prop_assert_eq!(replayed.records.len(), recs.len() - k);
    }

    /// A flipped bit in a sealed segment is caught (CRC, or a framing error it causes):
    /// reading goes on, and every record returned is one that was written, in order.
    #[test]
    fn flipped_bits_are_caught(
        sizes in prop::collection::vec(0usize..20_000, 2..30),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        comp in compression_strategy(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let recs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| record(i as u64, n, i % 2 == 0)).collect();
        write_wal(d.path(), std::slice::from_ref(&recs), 1000, comp);
        // Seal segment 0 with an empty segment 1, then corrupt segment 0.
        std::fs::write(d.path().join(segment_name(1)), b"").unwrap();
        let p = d.path().join(segment_name(0));
        let mut bytes = std::fs::read(&p).unwrap();
        let i = flip.index(bytes.len());
        bytes[i] ^= 1 << bit;
        std::fs::write(&p, &bytes).unwrap();
        let got = read_all(d.path(), TailOptions::default());
        // Every returned record is an original one, in the original order.
        let mut j = 0;
        for (_, g) in &got.records {
            while j < recs.len() && &recs[j] != g { j += 1; }
            prop_assert!(j < recs.len(), "a record that was never written came back");
            j += 1;
        }
        // Either the flip hit padding (all records intact) or it was reported.
        let intact = got.records.len() == recs.len();
        prop_assert!(intact || !got.corruptions.is_empty(),
            "records lost without a corruption report");
        if !intact {
            let c = &got.corruptions[0];
            prop_assert_eq!(c.segment, 0);
        }
    }

    /// Cutting the live segment anywhere yields a prefix of the records and no error;
    /// once a newer segment exists, a cut inside a record is reported as a torn tail.
    #[test]
    fn torn_tails_wait_then_are_reported(
        sizes in prop::collection::vec(0usize..40_000, 1..20),
        cut in any::<prop::sample::Index>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let recs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| record(i as u64, n, false)).collect();
        // Flush each record separately so the file ends at record boundaries, unpadded.
        let mut w = WalWriter::create(d.path(), 0, 1000 * PAGE_SIZE, Compression::None).unwrap();
        let mut ends = Vec::new();
        for r in &recs {
            w.log(&[r.as_slice()]).unwrap();
            ends.push(w.offset());
        }
        drop(w);
        let p = d.path().join(segment_name(0));
        let full = std::fs::read(&p).unwrap();
        let n = cut.index(full.len() + 1);
        std::fs::write(&p, &full[..n]).unwrap();
        let complete = ends.iter().filter(|&&e| e as usize <= n).count();
        let live = read_all(d.path(), TailOptions::default());
        prop_assert!(live.corruptions.is_empty());
        prop_assert_eq!(live.records.len(), complete);
        for ((_, g), w) in live.records.iter().zip(&recs) { prop_assert_eq!(g, w); }
        std::fs::write(d.path().join(segment_name(1)), b"").unwrap();
        let sealed = read_all(d.path(), TailOptions::default());
        prop_assert_eq!(sealed.records.len(), complete);
        let at_boundary = n == 0 || ends.contains(&(n as u64));
        if at_boundary {
            prop_assert!(sealed.corruptions.is_empty(), "{:?}", sealed.corruptions);
        } else {
            prop_assert_eq!(sealed.corruptions.len(), 1);
            prop_assert_eq!(&sealed.corruptions[0].reason, &CorruptionReason::TornTail);
        }
    }
}

#[test]
fn zero_length_fragment_when_seven_bytes_remain() {
    // Fill a page so exactly 7 bytes remain: the next record starts with an empty
    // `first` fragment (FORMATS.md §1.2).
    let d = tempfile::tempdir().unwrap();
    let r1 = record(1, PAGE_SIZE - 7 - 7 - 1, false); // 7 header + 1 type byte + payload
    assert_eq!(r1.len() + 7, PAGE_SIZE - 7);
    let r2 = record(2, 100, false);
    write_wal(
        d.path(),
        &[vec![r1.clone(), r2.clone()]],
        10,
        Compression::None,
    );
    let bytes = std::fs::read(d.path().join(segment_name(0))).unwrap();
    let hdr = &bytes[PAGE_SIZE - 7..PAGE_SIZE];
    assert_eq!(hdr[0], 2, "first fragment");
    assert_eq!(&hdr[1..3], &[0, 0], "zero length");
    let got = read_all(d.path(), TailOptions::default());
    assert_eq!(got.records.len(), 2);
    assert_eq!(got.records[1].1, r2);
    assert_eq!(got.records[1].0.offset, (PAGE_SIZE - 7) as u64);
}

#[test]
fn checkpoint_is_read_first_then_segments_after_it() {
    let d = tempfile::tempdir().unwrap();
    let cp = d.path().join("checkpoint.00000001");
    let mut w = WalWriter::create(&cp, 0, 4 * PAGE_SIZE, Compression::Snappy).unwrap();
    w.log(&[&record(100, 10, true)]).unwrap();
    w.close().unwrap();
    // Segment 1 is covered by the checkpoint (not yet truncated); 2 and 3 are not.
    let mut w = WalWriter::create(d.path(), 1, 4 * PAGE_SIZE, Compression::Snappy).unwrap();
    w.log(&[&record(1, 10, true)]).unwrap();
    w.next_segment().unwrap();
    w.log(&[&record(2, 10, true)]).unwrap();
    w.next_segment().unwrap();
    w.log(&[&record(3, 10, true)]).unwrap();
    w.close().unwrap();
    std::fs::create_dir(d.path().join("checkpoint.00000002.tmp")).unwrap();
    let got = read_all(d.path(), TailOptions::default());
    assert_eq!(got.checkpoint_records, 1);
    let segs: Vec<u64> = got.records.iter().map(|(p, _)| p.segment).collect();
    assert_eq!(segs, vec![2, 3]);
    assert_eq!(got.records[0].1, record(2, 10, true));
}

#[test]
fn bad_directories_get_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let e = Tailer::open(d.path(), TailOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("numbered segment files"), "{e}");
    for n in [0u64, 1, 3] {
        std::fs::write(d.path().join(segment_name(n)), b"").unwrap();
    }
    let e = Tailer::open(d.path(), TailOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("segment 2 is missing"), "{e}");
    let opts = TailOptions {
        from: Some(Position {
            segment: 9,
            offset: 0,
        }),
        ..TailOptions::default()
    };
    std::fs::remove_file(d.path().join(segment_name(3))).unwrap();
    let e = Tailer::open(d.path(), opts).err().unwrap().to_string();
    assert!(e.contains("newest segment is 00000001"), "{e}");
}

/// Follows a WAL while a writer thread appends, rotates segments and closes; every
/// record arrives in order. Run with inotify and with polling only.
fn follow_while_writing(inotify: bool) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let n = 400usize;
    let recs: Vec<Vec<u8>> = (0..n)
        .map(|i| record(i as u64, (i * 397) % 9000, i % 3 == 0))
        .collect();
    let to_write = recs.clone();
    // Create the first segment before the tailer opens.
    let mut w = WalWriter::create(&dir, 0, 4 * PAGE_SIZE, Compression::Snappy).unwrap();
    let writer = std::thread::spawn(move || {
        for (i, r) in to_write.iter().enumerate() {
            w.log(&[r.as_slice()]).unwrap();
            if i % 40 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        w.close().unwrap();
    });
    let opts = TailOptions {
        follow: true,
        inotify,
        poll_interval: Duration::from_millis(5),
        ..TailOptions::default()
    };
    let mut t = Tailer::open(&dir, opts).unwrap();
    assert_eq!(t.uses_inotify(), inotify);
    let mut got = Vec::new();
    let mut segments_ended = 0;
    let start = Instant::now();
    while got.len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "tail stalled at {} records",
            got.len()
        );
        match t.next_event(Duration::from_millis(50)).unwrap() {
            Event::Record(r) => got.push(r.bytes.to_vec()),
            Event::Corruption(c) => panic!("unexpected corruption {c}"),
            Event::SegmentEnd { .. } => segments_ended += 1,
            Event::End => panic!("follow mode must not end"),
            _ => {}
        }
    }
    writer.join().unwrap();
    assert_eq!(got, recs);
    assert!(segments_ended >= 2, "segments rotated: {segments_ended}");
    // Nothing more: idle, not an error.
    assert!(matches!(
        t.next_event(Duration::from_millis(20)).unwrap(),
        Event::Idle
    ));
}

#[test]
fn follows_live_wal_with_inotify() {
    follow_while_writing(true);
}

#[test]
fn follows_live_wal_with_polling() {
    follow_while_writing(false);
}

#[test]
fn deleted_segments_are_reported_lost_and_tail_moves_on() {
    let d = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(d.path(), 0, 4 * PAGE_SIZE, Compression::None).unwrap();
    w.log(&[&record(0, 10, false)]).unwrap();
    let opts = TailOptions {
        follow: true,
        poll_interval: Duration::from_millis(5),
        rescan_interval: Duration::from_millis(5),
        ..TailOptions::default()
    };
    let mut t = Tailer::open(d.path(), opts).unwrap();
    let mut events = Vec::new();
    let wait_idle = |t: &mut Tailer, events: &mut Vec<String>| loop {
        match t.next_event(Duration::from_millis(30)).unwrap() {
            Event::Idle => break,
            Event::Record(r) => events.push(format!("rec {}", r.pos.segment)),
            Event::SegmentsLost { first, last } => events.push(format!("lost {first}-{last}")),
            Event::SegmentEnd { index, .. } => events.push(format!("end {index}")),
            _ => {}
        }
    };
    wait_idle(&mut t, &mut events);
    // Segments 1 and 2 come and go (truncated) before the tailer reaches them.
    w.next_segment().unwrap();
    w.log(&[&record(1, 10, false)]).unwrap();
    w.next_segment().unwrap();
    w.log(&[&record(2, 10, false)]).unwrap();
    w.next_segment().unwrap();
    w.log(&[&record(3, 10, false)]).unwrap();
    std::fs::remove_file(d.path().join(segment_name(1))).unwrap();
    std::fs::remove_file(d.path().join(segment_name(2))).unwrap();
    wait_idle(&mut t, &mut events);
    assert_eq!(events, vec!["rec 0", "end 0", "lost 1-2", "rec 3"]);
}

#[test]
fn replaced_segment_is_reported_and_reading_continues() {
    let d = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(d.path(), 0, 4 * PAGE_SIZE, Compression::None).unwrap();
    w.log(&[&record(0, 10, false)]).unwrap();
    let opts = TailOptions {
        follow: true,
        poll_interval: Duration::from_millis(5),
        rescan_interval: Duration::from_millis(1),
        ..TailOptions::default()
    };
    let mut t = Tailer::open(d.path(), opts).unwrap();
    let mut recs = 0;
    loop {
        match t.next_event(Duration::from_millis(30)).unwrap() {
            Event::Record(_) => recs += 1,
            Event::Idle => break,
            _ => {}
        }
    }
    assert_eq!(recs, 1);
    // Repair: rename the file away and write the same prefix plus a new record into a
    // fresh file of the same name.
    let p = d.path().join(segment_name(0));
    let old = std::fs::read(&p).unwrap();
    std::fs::rename(&p, d.path().join("00000000.repair")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut w2 = WalWriter::create(tmp.path(), 0, 4 * PAGE_SIZE, Compression::None).unwrap();
    w2.log(&[&record(0, 10, false)]).unwrap();
    w2.log(&[&record(9, 10, false)]).unwrap();
    drop(w2);
    let fresh = std::fs::read(tmp.path().join(segment_name(0))).unwrap();
    assert!(fresh.starts_with(&old));
    std::fs::write(&p, &fresh).unwrap();
    let mut replaced = 0;
    let mut after = Vec::new();
    let start = Instant::now();
    while after.is_empty() && start.elapsed() < Duration::from_secs(5) {
        match t.next_event(Duration::from_millis(30)).unwrap() {
            Event::SegmentReplaced { index: 0, .. } => replaced += 1,
            Event::Record(r) => after.push(r.bytes.to_vec()),
            _ => {}
        }
    }
    assert_eq!(replaced, 1);
    assert_eq!(after, vec![record(9, 10, false)]);
}

#[test]
fn undecompressable_records_are_corruption_and_reading_goes_on() {
    use ringwrite::wal::fragment::{put_fragment, FragmentKind, SNAPPY_FLAG, ZSTD_FLAG};
    let d = tempfile::tempdir().unwrap();
    let mut seg = Vec::new();
    // CRC-valid fragments whose payloads are not valid snappy / zstd.
    put_fragment(
        &mut seg,
        FragmentKind::Full,
        SNAPPY_FLAG,
        &[0xff, 0xff, 0xff, 0xff, 0x0f, 1],
    );
    put_fragment(&mut seg, FragmentKind::Full, ZSTD_FLAG, b"not a zstd frame");
    let good = record(7, 50, false);
    put_fragment(&mut seg, FragmentKind::Full, 0, &good);
    std::fs::write(d.path().join(segment_name(0)), &seg).unwrap();
    let got = read_all(d.path(), TailOptions::default());
    let reasons: Vec<&str> = got.corruptions.iter().map(|c| c.reason.label()).collect();
    assert!(
        reasons == ["record_too_large", "decompress"] || reasons == ["decompress", "decompress"],
        "{reasons:?}"
    );
    assert_eq!(got.corruptions[1].offset, 13);
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.records[0].1, good);
}
