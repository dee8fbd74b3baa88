//! Value types decoded from WAL records (FORMATS.md §2).
//!
//! Everything here is either borrowed from the record bytes (`Labels`) or a reusable
//! buffer that a decoder fills in place (`Histogram`, `FloatHistogram`), so decoding a
//! record never allocates per sample once the buffers have grown.

/// A Prometheus `HeadSeriesRef`: the id a Series record gives a label set.
pub type SeriesRef = u64;

/// WAL record type byte (FORMATS.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RecordType {
    Series = 1,
    Samples = 2,
    Tombstones = 3,
    Exemplars = 4,
    MmapMarkers = 5,
    Metadata = 6,
    HistogramSamples = 7,
    FloatHistogramSamples = 8,
    CustomBucketsHistogramSamples = 9,
    CustomBucketsFloatHistogramSamples = 10,
    SamplesV2 = 11,
    HistogramSamplesV2 = 12,
    FloatHistogramSamplesV2 = 13,
}

impl RecordType {
    /// All known types, in numeric order.
    pub const ALL: [RecordType; 13] = [
        RecordType::Series,
        RecordType::Samples,
        RecordType::Tombstones,
        RecordType::Exemplars,
        RecordType::MmapMarkers,
        RecordType::Metadata,
        RecordType::HistogramSamples,
        RecordType::FloatHistogramSamples,
        RecordType::CustomBucketsHistogramSamples,
        RecordType::CustomBucketsFloatHistogramSamples,
        RecordType::SamplesV2,
        RecordType::HistogramSamplesV2,
        RecordType::FloatHistogramSamplesV2,
    ];

    pub fn from_byte(b: u8) -> Option<RecordType> {
        match b {
            1..=13 => Some(Self::ALL[(b - 1) as usize]),
            _ => None,
        }
    }

    /// The name Prometheus's `Type.String()` gives this type.
    pub fn name(self) -> &'static str {
        match self {
            RecordType::Series => "series",
            RecordType::Samples => "samples",
            RecordType::Tombstones => "tombstones",
            RecordType::Exemplars => "exemplars",
            RecordType::MmapMarkers => "mmapmarkers",
            RecordType::Metadata => "metadata",
            RecordType::HistogramSamples => "histogram_samples",
            RecordType::FloatHistogramSamples => "float_histogram_samples",
            RecordType::CustomBucketsHistogramSamples => "custom_buckets_histogram_samples",
            RecordType::CustomBucketsFloatHistogramSamples => {
                "custom_buckets_float_histogram_samples"
            }
            RecordType::SamplesV2 => "samples_v2",
            RecordType::HistogramSamplesV2 => "histogram_samples_v2",
            RecordType::FloatHistogramSamplesV2 => "float_histogram_samples_v2",
        }
    }
}

/// One float sample. `v` keeps the exact IEEE-754 bits of the WAL (staleness markers
/// are NaNs with a specific payload; nothing here does arithmetic on it).
/// `st` is the start timestamp of V2 records, 0 when absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub sref: SeriesRef,
    pub t: i64,
    pub st: i64,
    pub v: f64,
}

/// Prometheus's staleness marker `StaleNaN` (`model/value/value.go`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The ordinary NaN Prometheus writes (`math.NaN()` in Go).
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// A label set borrowed from a record: `n` pairs of (uvarintStr name, uvarintStr value),
/// validated when the record was decoded, so iteration cannot fail.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a> {
    /// Number of label pairs.
    pub(crate) count: usize,
    /// The encoded pairs (without the leading count).
    pub(crate) bytes: &'a [u8],
}

impl<'a> Labels<'a> {
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The raw encoded pairs, without the leading count (WAL encoding).
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn iter(&self) -> LabelsIter<'a> {
        LabelsIter {
            remaining: self.count,
            bytes: self.bytes,
        }
    }
    /// Value of the label `name`, if present.
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl std::fmt::Debug for Labels<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(n), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

/// Iterator over a validated label set.
#[derive(Clone)]
pub struct LabelsIter<'a> {
    remaining: usize,
    bytes: &'a [u8],
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let name = take_str(&mut self.bytes)?;
        let value = take_str(&mut self.bytes)?;
        Some((name, value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// Reads a uvarint-length-prefixed string from already validated bytes.
fn take_str<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let byte = *b.get(i)?;
        i += 1;
        len |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let len = usize::try_from(len).ok()?;
    let s = b.get(i..i.checked_add(len)?)?;
    *b = &b[i + len..];
    Some(s)
}

/// One exemplar with borrowed labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefExemplar<'a> {
    pub sref: SeriesRef,
    pub t: i64,
    pub v: f64,
    pub labels: Labels<'a>,
}

/// Metric type of a Metadata record; numerically equal to the RW 1.0/2.0 enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    GaugeHistogram = 4,
    Summary = 5,
    Info = 6,
    StateSet = 7,
}

impl MetricType {
    /// Unknown bytes map to `Unknown`, as Prometheus's decoder does.
    pub fn from_byte(b: u8) -> MetricType {
        match b {
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }
}

/// One metadata entry with borrowed strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefMetadata<'a> {
    pub sref: SeriesRef,
    pub mtype: MetricType,
    pub unit: &'a [u8],
    pub help: &'a [u8],
}

/// A bucket span: `offset` buckets skipped since the previous span, then `length` buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// Counter reset hint byte; numerically equal to RW's `ResetHint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetHint {
    #[default]
    Unknown = 0,
    Yes = 1,
    No = 2,
    Gauge = 3,
}

impl ResetHint {
    pub fn from_byte(b: u8) -> Option<ResetHint> {
        match b {
            0 => Some(ResetHint::Unknown),
            1 => Some(ResetHint::Yes),
            2 => Some(ResetHint::No),
            3 => Some(ResetHint::Gauge),
            _ => None,
        }
    }
}

/// Schema value of native histograms with custom buckets (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// An integer native histogram. Decoders overwrite it in place (the vectors are cleared
/// and refilled), so one value can be reused for every histogram of a segment.
/// Bucket counts are **delta-encoded** as in the WAL and in RW (`*_deltas`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    pub reset_hint: ResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub count: u64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    pub positive_deltas: Vec<i64>,
    pub negative_deltas: Vec<i64>,
    /// Upper bounds of custom buckets, present exactly when `schema == -53`.
    pub custom_values: Vec<f64>,
}

/// A float native histogram, filled in place like [`Histogram`]. Counts are absolute.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub reset_hint: ResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    pub positive_counts: Vec<f64>,
    pub negative_counts: Vec<f64>,
    pub custom_values: Vec<f64>,
}
