//! Fuzzes the WAL page/fragment parser and record reassembly.
//!
//! Two properties per input:
//! 1. Arbitrary bytes as a sealed segment: reading terminates, positions strictly increase
//!    and stay inside the file, every record is non-empty... or reported as corruption;
//!    the number of events is bounded by the file size (no endless loop).
//! 2. Records written with the Prometheus-layout writer (compression chosen by the input),
//!    then bytes flipped at input-chosen places: every record read back is one that was
//!    written, in the original order (corruption may lose records, never invent them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::reader::{Read, SegmentReader};
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::PathBuf;

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringwrite-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

fn read_sealed(path: &std::path::Path) -> (Vec<(u64, Vec<u8>)>, usize) {
    let size = std::fs::metadata(path).unwrap().len();
    let mut r = SegmentReader::open(path, 0, None, 0).unwrap();
    r.seal();
    let mut recs = Vec::new();
    let mut corrupt = 0usize;
    let mut events = 0usize;
    let mut last: Option<u64> = None;
    loop {
        events += 1;
        assert!(events <= size as usize / 7 + 3, "too many events: endless loop?");
        match r.next_read() {
            Read::Record { offset, bytes } => {
                assert!(offset < size.max(1));
                assert!(last.is_none_or(|l| offset > l), "positions must increase");
                last = Some(offset);
                recs.push((offset, bytes.to_vec()));
            }
            Read::Corrupt(c) => {
                assert!(c.offset <= size);
                corrupt += 1;
            }
            Read::Pending => break,
        }
    }
    (recs, corrupt)
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    // 1. Raw bytes.
    let raw = dir.join("00000000");
    std::fs::write(&raw, data).unwrap();
    let _ = read_sealed(&raw);

    // 2. Structured round trip with corruption.
    if data.len() < 4 {
        return;
    }
    let comp = match data[0] % 3 {
        0 => Compression::None,
        1 => Compression::Snappy,
        _ => Compression::Zstd,
    };
    let flips = (data[1] % 4) as usize;
    let body = &data[2..];
    // Split the body into records: each starts with a length byte (x 97 to reach
    // multi-page sizes).
    let mut recs: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let n = body[i] as usize * 97 % 70_000;
        i += 1;
        let mut r = vec![2u8];
        for k in 0..n {
            r.push(body.get(i + k % body.len().max(1)).copied().unwrap_or(k as u8));
        }
        i += (n / 97).max(1);
        recs.push(r);
    }
    let wdir = dir.join("w");
    let _ = std::fs::remove_dir_all(&wdir);
    let mut w = WalWriter::create(&wdir, 0, 1000 * PAGE_SIZE, comp).unwrap();
    for r in &recs {
        w.log(&[r.as_slice()]).unwrap();
    }
    w.close().unwrap();
    let seg = wdir.join("00000000");
    let mut bytes = std::fs::read(&seg).unwrap();
    for f in 0..flips {
        if bytes.is_empty() {
            break;
        }
        let at = (u32::from_le_bytes([
            *data.get(2 + 4 * f).unwrap_or(&0),
            *data.get(3 + 4 * f).unwrap_or(&0),
            *data.get(4 + 4 * f).unwrap_or(&0),
            *data.get(5 + 4 * f).unwrap_or(&0),
        ]) as usize)
            % bytes.len();
        bytes[at] ^= 0x5a;
    }
    std::fs::write(&seg, &bytes).unwrap();
    let (got, corrupt) = read_sealed(&seg);
    let mut j = 0;
    for (_, g) in &got {
        while j < recs.len() && &recs[j] != g {
            j += 1;
        }
        assert!(j < recs.len(), "a record that was never written came back");
        j += 1;
    }
    if flips == 0 {
        assert_eq!(corrupt, 0);
        assert_eq!(got.len(), recs.len());
    }
});
