//! RW 1.0 `prometheus.WriteRequest` (FORMATS.md §3.1).
//!
//! Layout written, field numbers in brackets:
//!
//! ```text
//! WriteRequest: timeseries[1]* metadata[3]*
//! TimeSeries:   labels[1]* (memcpy of EncodedSeries::rw1_labels)
//!               samples[2]* | histograms[4]*, exemplars[3]*
//! ```
//!
//! proto3 zero values are omitted (a double only when its bits are +0.0, so -0.0 and
//! every NaN payload survive); the histogram `count`/`zero_count` oneofs are always
//! written. The `TimeSeries` length is reserved from the first item's exact size and
//! patched when the `TimeSeries` is closed.

use super::group::{Item, OpenSeries};
use super::histogram::HistogramView;
use super::series::{label_body_len, put_label};
use super::wire::{
    len_field_size, put_f64, put_varint, tag, varint_len, LenSlot, TimestampCache, WIRE_FIXED64,
    WIRE_LEN, WIRE_VARINT,
};
use super::{BatchStats, DropReason, EncodeError, Encoded, EncodedSeries, Pushed};
use crate::record::{FloatHistogram, Histogram, MetricType, RefSample, CUSTOM_BUCKETS_SCHEMA};

const KEY_TIMESERIES: u8 = tag(1, WIRE_LEN);
const KEY_METADATA: u8 = tag(3, WIRE_LEN);
const KEY_SAMPLE: u8 = tag(2, WIRE_LEN);
const KEY_EXEMPLAR: u8 = tag(3, WIRE_LEN);
const KEY_HISTOGRAM: u8 = tag(4, WIRE_LEN);

/// Reusable state for RW 1.0 requests: one buffer that grows to the largest request
/// and is then reused without allocating.
#[derive(Debug, Default)]
pub struct Rw1Encoder {
    buf: Vec<u8>,
    open: Option<OpenSeries>,
    stats: BatchStats,
    timestamp: TimestampCache,
}

impl Rw1Encoder {
    pub fn new() -> Rw1Encoder {
        Rw1Encoder::default()
    }

    /// Starts a new request, discarding the previous one.
    pub fn begin(&mut self) -> Rw1Request<'_> {
        self.buf.clear();
        self.open = None;
        self.stats = BatchStats::default();
        Rw1Request { enc: self }
    }
}

/// One RW 1.0 request being built; see [`super`] for the grouping rule.
#[derive(Debug)]
pub struct Rw1Request<'a> {
    enc: &'a mut Rw1Encoder,
}

impl<'a> Rw1Request<'a> {
    /// Adds a float sample (`sample.st` is ignored: RW 1.0 has no start timestamp).
    #[inline]
    pub fn push_sample(&mut self, series: &EncodedSeries, sample: &RefSample) {
        let n = self.enc.timestamp.sample_len(sample.v, sample.t, 0);
        self.open_for(series, Item::Sample, sample.t, n);
        let enc = &mut *self.enc;
        enc.timestamp
            .put_sample(&mut enc.buf, KEY_SAMPLE, sample.v, 0, n);
        enc.stats.samples += 1;
    }

    /// Adds an integer native histogram; NHCB (schema -53) is dropped.
    pub fn push_histogram(&mut self, series: &EncodedSeries, t: i64, h: &Histogram) -> Pushed {
        if h.schema == CUSTOM_BUCKETS_SCHEMA {
            return self.drop_nhcb();
        }
        self.push_histogram_view(series, HistogramView::int(h, t, None))
    }

    /// Adds a float native histogram; NHCB (schema -53) is dropped.
    pub fn push_float_histogram(
        &mut self,
        series: &EncodedSeries,
        t: i64,
        h: &FloatHistogram,
    ) -> Pushed {
        if h.schema == CUSTOM_BUCKETS_SCHEMA {
            return self.drop_nhcb();
        }
        self.push_histogram_view(series, HistogramView::float(h, t, None))
    }

    /// Adds an exemplar with its own labels (name, value pairs).
    pub fn push_exemplar<'l, I>(&mut self, series: &EncodedSeries, t: i64, v: f64, labels: I)
    where
        I: Iterator<Item = (&'l [u8], &'l [u8])> + Clone,
    {
        let labels_len: usize = labels
            .clone()
            .map(|(n, v)| len_field_size(label_body_len(n, v)))
            .sum();
        let body = labels_len + sample_body_len(v, t);
        self.open_for(series, Item::Exemplar, t, len_field_size(body));
        let buf = &mut self.enc.buf;
        buf.push(KEY_EXEMPLAR);
        put_varint(buf, body as u64);
        for (name, value) in labels {
            put_label(buf, tag(1, WIRE_LEN), name, value);
        }
        // Exemplar: value = 2 (double), timestamp = 3, i.e. the Sample fields shifted by one.
        if v.to_bits() != 0 {
            buf.push(tag(2, WIRE_FIXED64));
            put_f64(buf, v);
        }
        if t != 0 {
            buf.push(tag(3, WIRE_VARINT));
            put_varint(buf, t as u64);
        }
        self.enc.stats.exemplars += 1;
    }

    /// Adds a `MetricMetadata` entry (`WriteRequest.metadata`, field 3).
    pub fn push_metadata(&mut self, family: &[u8], mtype: MetricType, help: &[u8], unit: &[u8]) {
        self.close();
        let str_len = |s: &[u8]| {
            if s.is_empty() {
                0
            } else {
                len_field_size(s.len())
            }
        };
        let type_len = if mtype as u8 == 0 { 0 } else { 2 };
        let body = type_len + str_len(family) + str_len(help) + str_len(unit);
        let buf = &mut self.enc.buf;
        buf.push(KEY_METADATA);
        put_varint(buf, body as u64);
        if type_len != 0 {
            buf.push(tag(1, WIRE_VARINT));
            buf.push(mtype as u8);
        }
        for (field, s) in [(2, family), (4, help), (5, unit)] {
            if !s.is_empty() {
                buf.push(tag(field, WIRE_LEN));
                put_varint(buf, s.len() as u64);
                buf.extend_from_slice(s);
            }
        }
        self.enc.stats.metadata += 1;
    }

    /// Closes the request and returns its bytes.
    pub fn finish(mut self) -> Result<Encoded<'a>, EncodeError> {
        self.close();
        let enc = self.enc;
        Ok(Encoded {
            bytes: &enc.buf,
            stats: enc.stats,
        })
    }

    fn drop_nhcb(&mut self) -> Pushed {
        self.enc.stats.nhcb_dropped += 1;
        Pushed::Dropped(DropReason::NhcbInRw1NotSupported)
    }

    fn push_histogram_view(&mut self, series: &EncodedSeries, view: HistogramView<'_>) -> Pushed {
        let body = view.body_len();
        let t = view.timestamp();
        self.open_for(series, Item::Histogram, t, len_field_size(body));
        let buf = &mut self.enc.buf;
        buf.push(KEY_HISTOGRAM);
        put_varint(buf, body as u64);
        view.write_body(buf);
        self.enc.stats.histograms += 1;
        Pushed::Added
    }

    /// Makes sure a `TimeSeries` of `series` that accepts `item` is open.
    /// `item_len` is the exact encoded size of the item, key included.
    #[inline]
    fn open_for(&mut self, series: &EncodedSeries, item: Item, t: i64, item_len: usize) {
        if let Some(open) = &mut self.enc.open {
            if open.accepts(series.id(), item, t) {
                open.record(item, t);
                return;
            }
        }
        self.close();
        let buf = &mut self.enc.buf;
        let labels = series.rw1_labels();
        let body_len = labels.len() + item_len;
        buf.reserve(1 + varint_len(body_len as u64) + body_len);
        buf.push(KEY_TIMESERIES);
        let slot = LenSlot::reserve(buf, body_len);
        buf.extend_from_slice(labels);
        self.enc.open = Some(OpenSeries::new(series.id(), slot, item, t));
        self.enc.stats.timeseries += 1;
    }

    fn close(&mut self) {
        if let Some(open) = self.enc.open.take() {
            open.slot.patch(&mut self.enc.buf);
        }
    }
}

/// Size of a `Sample` body: `value = 1` (double) and `timestamp = 2`.
#[inline]
pub(crate) fn sample_body_len(v: f64, t: i64) -> usize {
    let mut n = 0;
    if v.to_bits() != 0 {
        n += 9;
    }
    if t != 0 {
        n += 1 + varint_len(t as u64);
    }
    n
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::encode::proto::v1;
    use crate::encode::SymbolInterner;
    use crate::record::STALE_NAN_BITS;

    fn series(interner: &mut SymbolInterner, job: &str) -> std::sync::Arc<EncodedSeries> {
        EncodedSeries::new(
            [(&b"__name__"[..], &b"up"[..]), (b"job", job.as_bytes())],
            interner,
        )
        .unwrap()
    }

    fn sample(t: i64, v: f64) -> RefSample {
        RefSample {
            sref: 0,
            t,
            st: 0,
            v,
        }
    }

    #[test]
    fn one_sample_is_byte_identical_to_prost() {
        let mut interner = SymbolInterner::new();
        let s = series(&mut interner, "node");
        let mut enc = Rw1Encoder::new();
        let mut req = enc.begin();
        req.push_sample(&s, &sample(1_700_000_000_123, 1.5));
        let body = req.finish().unwrap();
        let decoded = v1::WriteRequest::decode(body.bytes).unwrap();
        assert_eq!(decoded.encode_to_vec(), body.bytes);
        assert_eq!(decoded.timeseries[0].labels[1].value, "node");
        assert_eq!(body.stats.samples, 1);
        assert_eq!(body.stats.timeseries, 1);
    }

    #[test]
    fn consecutive_samples_merge_and_backwards_time_splits() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let b = series(&mut interner, "b");
        let mut enc = Rw1Encoder::new();
        let mut req = enc.begin();
        req.push_sample(&a, &sample(1, 1.0));
        req.push_sample(&a, &sample(2, f64::from_bits(STALE_NAN_BITS)));
        req.push_sample(&b, &sample(2, 3.0));
        req.push_sample(&b, &sample(1, 4.0));
        let body = req.finish().unwrap();
        let got = v1::WriteRequest::decode(body.bytes).unwrap();
        let shape: Vec<(String, Vec<i64>)> = got
            .timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels[1].value.clone(),
                    ts.samples.iter().map(|s| s.timestamp).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("a".into(), vec![1, 2]),
                ("b".into(), vec![2]),
                ("b".into(), vec![1])
            ]
        );
        assert_eq!(got.timeseries[0].samples[1].value.to_bits(), STALE_NAN_BITS);
        assert_eq!(body.stats.timeseries, 3);
    }

    #[test]
    fn merged_series_longer_than_16_kib_is_exact() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let mut enc = Rw1Encoder::new();
        let mut req = enc.begin();
        for t in 0..2000 {
            req.push_sample(&a, &sample(1_700_000_000_000 + t, t as f64));
        }
        let body = req.finish().unwrap();
        assert!(body.bytes.len() > 16_384 + 100);
        let got = v1::WriteRequest::decode(body.bytes).unwrap();
        assert_eq!(got.timeseries.len(), 1);
        assert_eq!(got.timeseries[0].samples.len(), 2000);
        assert_eq!(got.encode_to_vec(), body.bytes, "byte-identical to prost");
    }

    #[test]
    fn nhcb_is_dropped_and_counted() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let mut enc = Rw1Encoder::new();
        let mut req = enc.begin();
        let nhcb = Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            ..Histogram::default()
        };
        let fnhcb = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            ..FloatHistogram::default()
        };
        let want = Pushed::Dropped(DropReason::NhcbInRw1NotSupported);
        assert_eq!(req.push_histogram(&a, 1, &nhcb), want);
        assert_eq!(req.push_float_histogram(&a, 1, &fnhcb), want);
        assert_eq!(
            req.push_histogram(&a, 1, &Histogram::default()),
            Pushed::Added
        );
        let body = req.finish().unwrap();
        assert_eq!(body.stats.nhcb_dropped, 2);
        assert_eq!(body.stats.histograms, 1);
        let got = v1::WriteRequest::decode(body.bytes).unwrap();
        assert_eq!(got.timeseries.len(), 1);
        assert_eq!(got.timeseries[0].histograms.len(), 1);
    }

    #[test]
    fn metadata_goes_to_field_3() {
        let mut enc = Rw1Encoder::new();
        let mut req = enc.begin();
        req.push_metadata(b"http_requests", MetricType::Counter, b"Requests.", b"");
        req.push_metadata(b"x", MetricType::Unknown, b"", b"seconds");
        let body = req.finish().unwrap();
        let got = v1::WriteRequest::decode(body.bytes).unwrap();
        assert!(got.timeseries.is_empty());
        let m: Vec<(i32, &str, &str, &str)> = got
            .metadata
            .iter()
            .map(|m| {
                (
                    m.r#type,
                    m.metric_family_name.as_str(),
                    m.help.as_str(),
                    m.unit.as_str(),
                )
            })
            .collect();
        assert_eq!(
            m,
            vec![
                (1, "http_requests", "Requests.", ""),
                (0, "x", "", "seconds")
            ]
        );
        assert_eq!(body.stats.metadata, 2);
    }

    #[test]
    fn begin_discards_the_previous_request() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let mut enc = Rw1Encoder::new();
        let mut req = enc.begin();
        req.push_sample(&a, &sample(1, 1.0));
        let first = req.finish().unwrap().bytes.to_vec();
        let mut req = enc.begin();
        req.push_sample(&a, &sample(1, 1.0));
        let second = req.finish().unwrap();
        assert_eq!(second.bytes, first);
        assert_eq!(second.stats.samples, 1);
    }
}
