//! `ringwrite wal inspect`: read a WAL directory with the same reader the sender uses,
//! and summarise or dump what is in it.

use super::format::{format_float, write_labels, write_quoted};
use super::InspectArgs;
use crate::record::{
    self, FloatHistogram, Histogram, HistogramHeader, Record, RecordType, SeriesRef, Span,
};
use crate::wal::dir;
use crate::wal::tail::{Event, TailOptions, Tailer};
use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::time::Duration;

/// What the summary reports.
#[derive(Debug, Default)]
struct Summary {
    records_by_type: [u64; 14],
    unknown_types: u64,
    series_refs: u64,
    samples: u64,
    histograms: u64,
    float_histograms: u64,
    exemplars: u64,
    metadata: u64,
    histograms_skipped_schema: u64,
    min_t: Option<i64>,
    max_t: Option<i64>,
    corruptions: u64,
    decode_errors: u64,
    unknown_ref_items: u64,
    checkpoint: Option<u64>,
    checkpoint_records: u64,
    first_segment: Option<u64>,
    last_segment: Option<u64>,
    segments_lost: u64,
    distinct: u64,
}

impl Summary {
    fn time(&mut self, t: i64) {
        self.min_t = Some(self.min_t.map_or(t, |m| m.min(t)));
        self.max_t = Some(self.max_t.map_or(t, |m| m.max(t)));
    }
}

struct Inspector<W: Write> {
    dump: bool,
    out: W,
    /// Label text per series ref, `{a="x", ...}`, formatted once per series.
    series: HashMap<SeriesRef, Box<[u8]>>,
    sum: Summary,
    hist: Histogram,
    fhist: FloatHistogram,
    errors_logged: u64,
}

const MAX_LOGGED_ERRORS: u64 = 100;

pub fn run(args: &InspectArgs) -> anyhow::Result<i32> {
    let opts = TailOptions {
        follow: args.follow,
        from: args.from,
        ..TailOptions::default()
    };
    let mut tailer = Tailer::open(&args.wal_dir, opts)?;
    if args.follow {
        super::signal::install();
    }
    let stdout = io::stdout();
    let mut ins = Inspector {
        dump: args.dump,
        out: BufWriter::with_capacity(1 << 16, stdout.lock()),
        series: HashMap::new(),
        sum: Summary::default(),
        hist: Histogram::default(),
        fhist: FloatHistogram::default(),
        errors_logged: 0,
    };
    loop {
        if super::signal::interrupted() {
            break;
        }
        match tailer.next_event(Duration::from_millis(200))? {
            Event::Record(r) => {
                if let Some(cp) = r.checkpoint {
                    ins.sum.checkpoint = Some(cp);
                    ins.sum.checkpoint_records += 1;
                }
                ins.record(r.bytes, r.replay, r.pos)?;
            }
            Event::Corruption(c) => {
                ins.sum.corruptions += 1;
                ins.log_error(format_args!("corruption: {c}"));
            }
            Event::SegmentStart { index, .. } => {
                ins.sum.first_segment.get_or_insert(index);
                ins.sum.last_segment = Some(index);
            }
            Event::SegmentsLost { first, last } => {
                ins.sum.segments_lost += last - first + 1;
                ins.log_error(format_args!(
                    "segments {first:08}..{last:08} were deleted before they could be read"
                ));
            }
            Event::SegmentReplaced { index, offset } => {
                ins.log_error(format_args!(
                    "segment {index:08} was replaced while being read; continuing at offset {offset}"
                ));
            }
            Event::NewCheckpoint { index, .. } => {
                tracing::info!(checkpoint = index, "New checkpoint written by Prometheus.");
            }
            Event::Idle => ins.out.flush()?,
            Event::End => break,
            Event::CheckpointStart { .. }
            | Event::CheckpointEnd { .. }
            | Event::SegmentEnd { .. } => {}
        }
    }
    ins.out.flush()?;
    ins.sum.distinct = ins.series.len() as u64;
    let listing = dir::list(tailer.dir())?;
    let summary = render_summary(&ins.sum, tailer.dir(), &listing);
    if args.dump {
        eprint!("{summary}");
    } else {
        write!(ins.out, "{summary}")?;
        ins.out.flush()?;
    }
    let bad = ins.sum.corruptions + ins.sum.decode_errors + ins.sum.segments_lost;
    Ok(if bad > 0 { 1 } else { 0 })
}

impl<W: Write> Inspector<W> {
    fn log_error(&mut self, msg: std::fmt::Arguments<'_>) {
        self.errors_logged += 1;
        if self.errors_logged <= MAX_LOGGED_ERRORS {
            eprintln!("ringwrite: {msg}");
        } else if self.errors_logged == MAX_LOGGED_ERRORS + 1 {
            eprintln!("ringwrite: more errors; only the counts are reported from here on");
        }
    }

    fn record(
        &mut self,
        bytes: &[u8],
        replay: bool,
        pos: crate::wal::Position,
    ) -> anyhow::Result<()> {
        let rec = match record::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.sum.decode_errors += 1;
                self.log_error(format_args!("segment {pos}: {e}"));
                return Ok(());
            }
        };
        match rec.record_type() {
            Some(t) => self.sum.records_by_type[t as usize] += 1,
            None => self.sum.unknown_types += 1,
        }
        let res = match rec {
            Record::Series(it) => {
                let mut res = Ok(());
                for s in it {
                    match s {
                        Ok((sref, labels)) => {
                            self.sum.series_refs += 1;
                            let mut text = Vec::with_capacity(labels.raw().len() + 16);
                            write_labels(&mut text, labels)?;
                            self.series.insert(sref, text.into_boxed_slice());
                        }
                        Err(e) => res = Err(e),
                    }
                }
                res
            }
            Record::Metadata(it) => {
                let mut res = Ok(());
                for m in it {
                    match m {
                        Ok(m) if !replay => {
                            self.sum.metadata += 1;
                            if self.dump {
                                self.labels(m.sref)?;
                                write!(self.out, " metadata type={} unit=", m.mtype.name())?;
                                write_quoted(&mut self.out, m.unit)?;
                                self.out.write_all(b" help=")?;
                                write_quoted(&mut self.out, m.help)?;
                                self.out.write_all(b"\n")?;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => res = Err(e),
                    }
                }
                res
            }
            _ if replay => Ok(()),
            Record::Samples(it) => {
                let mut res = Ok(());
                for s in it {
                    match s {
                        Ok(s) => {
                            self.sum.samples += 1;
                            self.sum.time(s.t);
                            if self.dump {
                                self.labels(s.sref)?;
                                self.out.write_all(b" ")?;
                                format_float(&mut self.out, s.v)?;
                                write!(self.out, " {}", s.t)?;
                                if s.st != 0 {
                                    write!(self.out, " st={}", s.st)?;
                                }
                                self.out.write_all(b"\n")?;
                            } else {
                                self.check_ref(s.sref);
                            }
                        }
                        Err(e) => res = Err(e),
                    }
                }
                res
            }
            Record::Exemplars(it) => {
                let mut res = Ok(());
                for e in it {
                    match e {
                        Ok(e) => {
                            self.sum.exemplars += 1;
                            self.check_ref(e.sref);
                            if self.dump {
                                self.labels(e.sref)?;
                                self.out.write_all(b" exemplar ")?;
                                write_labels(&mut self.out, e.labels)?;
                                self.out.write_all(b" ")?;
                                format_float(&mut self.out, e.v)?;
                                writeln!(self.out, " {}", e.t)?;
                            }
                        }
                        Err(err) => res = Err(err),
                    }
                }
                res
            }
            Record::Histograms(mut d) => {
                let mut h = std::mem::take(&mut self.hist);
                let res = loop {
                    match d.next_into(&mut h) {
                        Ok(Some(hdr)) => {
                            self.sum.histograms += 1;
                            self.sum.time(hdr.t);
                            if self.dump {
                                self.dump_histogram(&hdr, &h)?;
                            } else {
                                self.check_ref(hdr.sref);
                            }
                        }
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                };
                self.sum.histograms_skipped_schema += d.skipped_unknown_schema();
                self.hist = h;
                res
            }
            Record::FloatHistograms(mut d) => {
                let mut h = std::mem::take(&mut self.fhist);
                let res = loop {
                    match d.next_into(&mut h) {
                        Ok(Some(hdr)) => {
                            self.sum.float_histograms += 1;
                            self.sum.time(hdr.t);
                            if self.dump {
                                self.dump_float_histogram(&hdr, &h)?;
                            } else {
                                self.check_ref(hdr.sref);
                            }
                        }
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                };
                self.sum.histograms_skipped_schema += d.skipped_unknown_schema();
                self.fhist = h;
                res
            }
            Record::Tombstones | Record::MmapMarkers | Record::Unknown(_) => Ok(()),
        };
        if let Err(e) = res {
            self.sum.decode_errors += 1;
            self.log_error(format_args!("segment {pos}: {e}"));
        }
        Ok(())
    }

    /// Counts an item whose series ref was never announced (without dumping it).
    fn check_ref(&mut self, sref: SeriesRef) {
        if !self.dump && !self.series.contains_key(&sref) {
            self.sum.unknown_ref_items += 1;
        }
    }

    /// Writes the label text of `sref`, or `{__unknown_series_ref__="N"}` (counted).
    fn labels(&mut self, sref: SeriesRef) -> io::Result<()> {
        match self.series.get(&sref) {
            Some(text) => self.out.write_all(text),
            None => {
                self.sum.unknown_ref_items += 1;
                write!(self.out, "{{__unknown_series_ref__=\"{sref}\"}}")
            }
        }
    }

    fn dump_histogram(&mut self, hdr: &HistogramHeader, h: &Histogram) -> io::Result<()> {
        self.labels(hdr.sref)?;
        write!(
            self.out,
            " histogram {} schema={} count={} sum=",
            hdr.t, h.schema, h.count
        )?;
        format_float(&mut self.out, h.sum)?;
        self.out.write_all(b" zero_threshold=")?;
        format_float(&mut self.out, h.zero_threshold)?;
        write!(
            self.out,
            " zero_count={} reset_hint={}",
            h.zero_count, h.reset_hint as u8
        )?;
        write_spans(&mut self.out, "positive_spans", &h.positive_spans)?;
        write_ints(&mut self.out, "positive_deltas", &h.positive_deltas)?;
        write_spans(&mut self.out, "negative_spans", &h.negative_spans)?;
        write_ints(&mut self.out, "negative_deltas", &h.negative_deltas)?;
        if !h.custom_values.is_empty() {
            write_floats(&mut self.out, "custom_values", &h.custom_values)?;
        }
        if hdr.st != 0 {
            write!(self.out, " st={}", hdr.st)?;
        }
        self.out.write_all(b"\n")
    }

    fn dump_float_histogram(
        &mut self,
        hdr: &HistogramHeader,
        h: &FloatHistogram,
    ) -> io::Result<()> {
        self.labels(hdr.sref)?;
        write!(
            self.out,
            " float_histogram {} schema={} count=",
            hdr.t, h.schema
        )?;
        format_float(&mut self.out, h.count)?;
        self.out.write_all(b" sum=")?;
        format_float(&mut self.out, h.sum)?;
        self.out.write_all(b" zero_threshold=")?;
        format_float(&mut self.out, h.zero_threshold)?;
        self.out.write_all(b" zero_count=")?;
        format_float(&mut self.out, h.zero_count)?;
        write!(self.out, " reset_hint={}", h.reset_hint as u8)?;
        write_spans(&mut self.out, "positive_spans", &h.positive_spans)?;
        write_floats(&mut self.out, "positive_counts", &h.positive_counts)?;
        write_spans(&mut self.out, "negative_spans", &h.negative_spans)?;
        write_floats(&mut self.out, "negative_counts", &h.negative_counts)?;
        if !h.custom_values.is_empty() {
            write_floats(&mut self.out, "custom_values", &h.custom_values)?;
        }
        if hdr.st != 0 {
            write!(self.out, " st={}", hdr.st)?;
        }
        self.out.write_all(b"\n")
    }
}

fn write_spans(out: &mut impl Write, name: &str, spans: &[Span]) -> io::Result<()> {
    write!(out, " {name}=[")?;
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write!(out, "{}:{}", s.offset, s.length)?;
    }
    out.write_all(b"]")
}

fn write_ints(out: &mut impl Write, name: &str, v: &[i64]) -> io::Result<()> {
    write!(out, " {name}=[")?;
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write!(out, "{x}")?;
    }
    out.write_all(b"]")
}

fn write_floats(out: &mut impl Write, name: &str, v: &[f64]) -> io::Result<()> {
    write!(out, " {name}=[")?;
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        format_float(out, *x)?;
    }
    out.write_all(b"]")
}

fn fmt_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

fn render_summary(s: &Summary, wal: &std::path::Path, listing: &dir::Listing) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "WAL directory:      {}", wal.display());
    let bytes: u64 = listing
        .segments
        .iter()
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum();
    match (listing.segments.first(), listing.segments.last()) {
        (Some(a), Some(b)) => {
            let _ = writeln!(
                o,
                "Segments:           {:08}..{:08} ({} files, {} bytes)",
                a.index,
                b.index,
                listing.segments.len(),
                bytes
            );
        }
        _ => {
            let _ = writeln!(o, "Segments:           none");
        }
    }
    match s.checkpoint {
        Some(cp) => {
            let _ = writeln!(
                o,
                "Checkpoint:         {} ({} records)",
                dir::checkpoint_name(cp),
                s.checkpoint_records
            );
        }
        None => {
            let _ = writeln!(o, "Checkpoint:         none read");
        }
    }
    let _ = write!(o, "Records by type:   ");
    for t in RecordType::ALL {
        let n = s.records_by_type[t as usize];
        if n > 0 {
            let _ = write!(o, " {}={}", t.name(), n);
        }
    }
    if s.unknown_types > 0 {
        let _ = write!(o, " unknown={}", s.unknown_types);
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Series records:     {} (series refs announced)",
        s.series_refs
    );
    let _ = writeln!(o, "Distinct series:    {}", s.distinct);
    let _ = writeln!(o, "Samples:            {}", s.samples);
    let _ = writeln!(o, "Histograms:         {}", s.histograms);
    let _ = writeln!(o, "Float histograms:   {}", s.float_histograms);
    let _ = writeln!(o, "Exemplars:          {}", s.exemplars);
    let _ = writeln!(o, "Metadata entries:   {}", s.metadata);
    match (s.min_t, s.max_t) {
        (Some(a), Some(b)) => {
            let _ = writeln!(
                o,
                "Time range:         {a} .. {b} ({} .. {})",
                fmt_time(a),
                fmt_time(b)
            );
        }
        _ => {
            let _ = writeln!(o, "Time range:         no samples");
        }
    }
    let _ = writeln!(o, "Corruptions:        {}", s.corruptions);
    let _ = writeln!(o, "Decode errors:      {}", s.decode_errors);
    let _ = writeln!(o, "Unknown-series refs: {}", s.unknown_ref_items);
    if s.histograms_skipped_schema > 0 {
        let _ = writeln!(
            o,
            "Histograms skipped (unknown schema): {}",
            s.histograms_skipped_schema
        );
    }
    if s.segments_lost > 0 {
        let _ = writeln!(o, "Segments lost:      {}", s.segments_lost);
    }
    o
}
