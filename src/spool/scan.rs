//! Counting what a segment holds, so a segment released over budget is lost with an
//! exact count.

use crate::record::{self, Record};
use crate::wal::reader::{Read, SegmentReader};
use std::path::Path;

/// Samples, histograms and exemplars in a segment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DataCounts {
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
}

impl DataCounts {
    pub fn add(&mut self, o: &DataCounts) {
        self.samples += o.samples;
        self.histograms += o.histograms;
        self.exemplars += o.exemplars;
    }
}

/// Reads the sealed segment at `path` and counts its data (undecodable records count as
/// nothing).
pub fn count_data(path: &Path) -> std::io::Result<DataCounts> {
    let mut r = SegmentReader::open(path, 0, None, 0)?;
    r.seal();
    let mut c = DataCounts::default();
    loop {
        match r.next_read() {
            Read::Record { bytes, .. } => match record::decode(bytes) {
                Ok(Record::Samples(it)) => c.samples += it.count() as u64,
                Ok(Record::Exemplars(it)) => c.exemplars += it.count() as u64,
                Ok(Record::Histograms(mut d)) => {
                    let mut h = record::Histogram::default();
                    while let Ok(Some(_)) = d.next_into(&mut h) {
                        c.histograms += 1;
                    }
                }
                Ok(Record::FloatHistograms(mut d)) => {
                    let mut h = record::FloatHistogram::default();
                    while let Ok(Some(_)) = d.next_into(&mut h) {
                        c.histograms += 1;
                    }
                }
                _ => {}
            },
            Read::Corrupt(_) => {}
            Read::Pending => return Ok(c),
        }
    }
}
