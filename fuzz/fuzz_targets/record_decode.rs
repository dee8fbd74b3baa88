//! Fuzzes the WAL record decoders (FORMATS.md §2) with invariants, not just "no panic":
//!
//! * the streaming decoders never yield more entries than the input could hold, honour
//!   their `size_hint`, stay fused after an error, and report error offsets inside the
//!   record;
//! * borrowed labels and strings point into the input;
//! * decoded histograms have a known schema no finer than 8, and custom bounds only at -53;
//! * whatever decodes re-encodes (Prometheus encoding) to bytes that decode to the same
//!   values bit for bit, and re-encoding those gives the same bytes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwrite::record::owned::OwnedRecord;
use ringwrite::record::{
    decode, is_known_schema, FloatHistogram, Histogram, Record, CUSTOM_BUCKETS_SCHEMA,
    EXPONENTIAL_SCHEMA_MAX,
};

fn inside(data: &[u8], s: &[u8]) -> bool {
    let (lo, hi) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
    let p = s.as_ptr() as usize;
    s.is_empty() || (p >= lo && p + s.len() <= hi)
}

/// Drains an iterator decoder, checking count bounds, fusing and error offsets.
fn drain<T, I: Iterator<Item = Result<T, ringwrite::record::DecodeError>>>(
    data: &[u8],
    mut it: I,
    min_entry: usize,
    mut check: impl FnMut(&T),
) {
    let bound = data.len() / min_entry + 1;
    let (_, upper) = it.size_hint();
    let upper = upper.expect("decoders give an upper bound");
    let mut n = 0;
    while let Some(r) = it.next() {
        match r {
            Ok(v) => {
                n += 1;
                check(&v);
            }
            Err(e) => {
                assert!(
                    e.offset <= data.len(),
                    "offset {} > len {}",
                    e.offset,
                    data.len()
                );
                assert!(it.next().is_none(), "not fused after error");
                assert!(it.next().is_none(), "not fused after error");
                break;
            }
        }
    }
    assert!(n <= bound, "{n} entries from {} bytes", data.len());
    assert!(n <= upper, "{n} entries, size_hint upper {upper}");
}

fn check_histograms(data: &[u8]) {
    match decode(data) {
        Ok(Record::Histograms(mut d)) => {
            let mut h = Histogram::default();
            let mut n = 0u64;
            loop {
                match d.next_into(&mut h) {
                    Ok(Some(_)) => {
                        n += 1;
                        assert!(is_known_schema(h.schema) && h.schema <= EXPONENTIAL_SCHEMA_MAX);
                        assert!(h.schema == CUSTOM_BUCKETS_SCHEMA || h.custom_values.is_empty());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        assert!(e.offset <= data.len());
                        assert_eq!(d.next_into(&mut h), Ok(None), "not fused");
                        break;
                    }
                }
            }
            // Header (2 bytes) + smallest body (24 bytes).
            assert!((n + d.skipped_unknown_schema()) as usize <= data.len() / 26 + 1);
        }
        Ok(Record::FloatHistograms(mut d)) => {
            let mut h = FloatHistogram::default();
            let mut n = 0u64;
            loop {
                match d.next_into(&mut h) {
                    Ok(Some(_)) => {
                        n += 1;
                        assert!(is_known_schema(h.schema) && h.schema <= EXPONENTIAL_SCHEMA_MAX);
                        assert!(h.schema == CUSTOM_BUCKETS_SCHEMA || h.custom_values.is_empty());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        assert!(e.offset <= data.len());
                        assert_eq!(d.next_into(&mut h), Ok(None), "not fused");
                        break;
                    }
                }
            }
            assert!((n + d.skipped_unknown_schema()) as usize <= data.len() / 40 + 1);
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Err(e) => assert!(e.offset <= data.len()),
        Ok(Record::Series(d)) => drain(data, d, 9, |(_, l)| {
            assert!(inside(data, l.raw()));
            assert_eq!(l.iter().count(), l.len());
        }),
        Ok(Record::Samples(d)) => drain(data, d, 10, |_| {}),
        Ok(Record::Exemplars(d)) => drain(data, d, 11, |e| {
            assert!(inside(data, e.labels.raw()));
            assert_eq!(e.labels.iter().count(), e.labels.len());
        }),
        Ok(Record::Metadata(d)) => drain(data, d, 3, |m| {
            assert!(inside(data, m.unit) && inside(data, m.help));
        }),
        Ok(Record::Histograms(_) | Record::FloatHistograms(_)) => check_histograms(data),
        Ok(Record::Tombstones | Record::MmapMarkers | Record::Unknown(_)) => {}
    }

    let Ok(first) = OwnedRecord::decode(data) else {
        return;
    };
    let mut bytes = Vec::new();
    first.encode(&mut bytes);
    let second = OwnedRecord::decode(&bytes).expect("re-encoded record must decode");
    assert!(
        second.same_bits(&first),
        "re-encoded record decodes differently:\n{first:?}\n{second:?}"
    );
    let mut again = Vec::new();
    second.encode(&mut again);
    assert_eq!(again, bytes, "encoding is not a fixpoint");
});
