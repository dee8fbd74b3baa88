//! Everything in a Prometheus WAL, read with ringwrite's own reader, keyed by label set
//! (for comparing what a receiver stored with what a writer wrote).
#![allow(dead_code)]

use ringwrite::record::{FloatHistogram, Histogram, Labels, Record};
use ringwrite::wal::tail::{Event, TailOptions, Tailer};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

pub type LabelSet = Vec<(String, String)>;

/// Everything in a WAL, keyed by label set.
#[derive(Default, Debug, PartialEq)]
pub struct WalContent {
    pub floats: BTreeMap<LabelSet, Vec<(i64, u64)>>,
    pub histograms: BTreeMap<LabelSet, Vec<(i64, Histogram)>>,
    pub float_histograms: BTreeMap<LabelSet, Vec<(i64, FloatHistogram)>>,
    pub exemplars: BTreeMap<LabelSet, Vec<(i64, u64, LabelSet)>>,
}

pub fn owned(l: Labels<'_>) -> LabelSet {
    l.iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// Reads `<data_dir>/wal` (checkpoint and segments); keeps the series `keep` accepts.
/// Float samples per series are sorted and deduplicated.
pub fn read_wal(data_dir: &Path, keep: impl Fn(&LabelSet) -> bool) -> WalContent {
    let mut t = Tailer::open(&data_dir.join("wal"), TailOptions::default()).expect("open WAL");
    let mut labels: HashMap<u64, LabelSet> = HashMap::new();
    let mut c = WalContent::default();
    let mut h = Histogram::default();
    let mut fh = FloatHistogram::default();
    loop {
        match t.next_event(Duration::ZERO).expect("read WAL") {
            Event::Record(r) => match ringwrite::record::decode(r.bytes).expect("decode") {
                Record::Series(it) => {
                    for s in it {
                        let (sref, l) = s.unwrap();
                        labels.insert(sref, owned(l));
                    }
                }
                Record::Samples(it) => {
                    for s in it {
                        let s = s.unwrap();
                        let l = &labels[&s.sref];
                        if keep(l) {
                            c.floats
                                .entry(l.clone())
                                .or_default()
                                .push((s.t, s.v.to_bits()));
                        }
                    }
                }
                Record::Histograms(mut d) => {
                    while let Some(hdr) = d.next_into(&mut h).unwrap() {
                        let l = &labels[&hdr.sref];
                        if keep(l) {
                            c.histograms
                                .entry(l.clone())
                                .or_default()
                                .push((hdr.t, h.clone()));
                        }
                    }
                }
                Record::FloatHistograms(mut d) => {
                    while let Some(hdr) = d.next_into(&mut fh).unwrap() {
                        let l = &labels[&hdr.sref];
                        if keep(l) {
                            c.float_histograms
                                .entry(l.clone())
                                .or_default()
                                .push((hdr.t, fh.clone()));
                        }
                    }
                }
                Record::Exemplars(it) => {
                    for e in it {
                        let e = e.unwrap();
                        let l = &labels[&e.sref];
                        if keep(l) {
                            c.exemplars.entry(l.clone()).or_default().push((
                                e.t,
                                e.v.to_bits(),
                                owned(e.labels),
                            ));
                        }
                    }
                }
                _ => {}
            },
            Event::End => break,
            Event::Corruption(c) => panic!("corrupt WAL: {c}"),
            _ => {}
        }
    }
    for v in c.floats.values_mut() {
        v.sort();
        v.dedup();
    }
    c
}
