//! Parsers for the two sample dumps the integration tests compare, and a multiset diff.
//!
//! * `promtool tsdb dump` (Prometheus 2.42): one line per float sample,
//!   `{__name__="up", instance="x", job="y"} 1 1700000000000`: Go `labels.Labels.String()`
//!   (names sorted, `name=strconv.Quote(value)`, joined by `", "`), the value printed with Go
//!   `%g` (shortest round-trip digits, exponent form such as `1e+21`, `NaN`, `+Inf`, `-Inf`;
//!   a staleness marker is just `NaN`), then the timestamp in milliseconds. It prints only float
//!   samples.
//! * `ringwrite wal inspect --dump` (README "Dump format"): the same label syntax; float samples
//!   are `{..} <value> <ts>[ st=<ms>]` with the value as the shortest decimal that parses back to
//!   the same bits, in exponent form below 1e-5 and from 1e16 (`1`, `0.25`, `0.00001`, `1e21`,
//!   `6.186914632966696e-6`), `+Inf`, `-Inf`, `StaleNaN`,
//!   `NaN` or `NaN(0x<16 hex>)`; other lines are `{..} histogram ..`, `{..} float_histogram ..`,
//!   `{..} exemplar {..} <value> <ts>` and `{..} metadata ..`.
//!
//! Both sides intern their label sets in one [`SeriesTable`], so a sample is three integers and a
//! dump of a few million samples fits comfortably in memory. Values compare bit for bit, except
//! that every NaN is one class: promtool cannot show the NaN payload.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::BufRead;

/// Bits of Prometheus's staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// Bits of Go's `math.NaN()`, what Prometheus stores for a scraped `NaN`.
pub const GO_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// A label set: (name, value) pairs in the order printed; values are raw bytes because Go's
/// quoting can express invalid UTF-8 (`\xff`).
pub type Labels = Vec<(String, Vec<u8>)>;

/// Value class used for comparison: exact bits, or "some NaN".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueKey {
    Bits(u64),
    NaN,
}

impl ValueKey {
    pub fn from_f64(v: f64) -> ValueKey {
        if v.is_nan() {
            ValueKey::NaN
        } else {
            ValueKey::Bits(v.to_bits())
        }
    }
}

/// One float sample: interned series id, timestamp (ms), value class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sample {
    pub series: u32,
    pub t: i64,
    pub v: ValueKey,
}

/// Interns label sets. Lines of one series repeat the same label text, so the raw text is
/// cached and parsed once; parsed sets are interned too, so two dumps that quote the same
/// labels differently (a formatting bug) still map to the same id.
#[derive(Default)]
pub struct SeriesTable {
    by_raw: HashMap<String, u32, FnvBuild>,
    by_labels: HashMap<Labels, u32, FnvBuild>,
    labels: Vec<Labels>,
}

/// FNV-1a. The tests run unoptimised, where std's SipHash spends most of its time in debug
/// assertions of its unaligned loads; a byte loop is several times faster there.
#[derive(Default)]
pub struct Fnv(u64);

type FnvBuild = BuildHasherDefault<Fnv>;

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl SeriesTable {
    /// Parses the label set at the start of `line`, returns its id and the rest of the line
    /// (after the closing brace).
    pub fn intern_prefix<'a>(&mut self, line: &'a str) -> Result<(u32, &'a str), String> {
        // Fast path for sample lines of known series: nothing after the labels of a sample line
        // contains '}', so the last '}' closes them. Only complete, valid label sets are ever
        // cached, so a hit cannot be a prefix such as `{..} exemplar {..}`.
        if let Some(p) = line.rfind('}') {
            if let Some(&id) = self.by_raw.get(&line[..=p]) {
                return Ok((id, &line[p + 1..]));
            }
        }
        let end = labels_end(line)?;
        let (raw, rest) = line.split_at(end);
        if let Some(&id) = self.by_raw.get(raw) {
            return Ok((id, rest));
        }
        let labels = parse_labels(raw)?;
        let id = match self.by_labels.get(&labels) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.labels.len()).map_err(|_| "too many series")?;
                self.by_labels.insert(labels.clone(), id);
                self.labels.push(labels);
                id
            }
        };
        self.by_raw.insert(raw.to_owned(), id);
        Ok((id, rest))
    }

    pub fn labels(&self, id: u32) -> &Labels {
        &self.labels[id as usize]
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The label set in dump syntax, for failure messages.
    pub fn render(&self, id: u32) -> String {
        render_labels(self.labels(id))
    }

    /// Interns every label set of `other` into `self`; returns `other`'s id -> `self`'s id, so
    /// dumps parsed on different threads (with their own tables) can be compared.
    pub fn absorb(&mut self, other: &SeriesTable) -> Vec<u32> {
        other
            .labels
            .iter()
            .map(|labels| match self.by_labels.get(labels) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(self.labels.len()).expect("fewer than 2^32 series");
                    self.by_labels.insert(labels.clone(), id);
                    self.labels.push(labels.clone());
                    id
                }
            })
            .collect()
    }

    /// Label sets that were printed with more than one spelling (e.g. promtool's `\u00a0`
    /// against a raw U+00A0), with every spelling seen, sorted.
    pub fn several_spellings(&self) -> Vec<(u32, Vec<String>)> {
        let mut by_id: HashMap<u32, Vec<String>, FnvBuild> = HashMap::default();
        for (raw, &id) in &self.by_raw {
            by_id.entry(id).or_default().push(raw.clone());
        }
        let mut out: Vec<(u32, Vec<String>)> = by_id
            .into_iter()
            .filter(|(_, raws)| raws.len() > 1)
            .map(|(id, mut raws)| {
                raws.sort();
                (id, raws)
            })
            .collect();
        out.sort();
        out
    }

    pub fn name_of(&self, id: u32) -> Option<&[u8]> {
        self.labels(id)
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.as_slice())
    }
}

impl std::fmt::Display for ValueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueKey::Bits(b) => write!(f, "{} (bits {b:#018x})", f64::from_bits(*b)),
            ValueKey::NaN => f.write_str("NaN (any payload)"),
        }
    }
}

/// What one dump contained.
#[derive(Default, Debug)]
pub struct Dump {
    /// Float samples in the order printed.
    pub floats: Vec<Sample>,
    /// ringwrite only: float samples printed as `StaleNaN`.
    pub stale_markers: usize,
    /// ringwrite only: float samples printed as `NaN` (Go's quiet NaN).
    pub plain_nans: usize,
    /// ringwrite only: float samples with some other NaN payload.
    pub other_nans: usize,
    /// ringwrite only: samples that carried ` st=<ms>`.
    pub with_start_timestamp: usize,
    /// ringwrite only: metadata entries.
    pub metadata: usize,
    pub histograms: usize,
    pub float_histograms: usize,
    pub exemplars: usize,
    /// Lines that do not start with `{` (headers, summaries); ignored.
    pub ignored_lines: usize,
    /// ringwrite only: every `histogram` / `float_histogram` line, parsed into fields.
    pub histogram_lines: Vec<HistogramLine>,
}

/// One `{..} histogram|float_histogram <ts> key=value ...` line of ringwrite's dump.
#[derive(Debug, Clone)]
pub struct HistogramLine {
    pub series: u32,
    pub float: bool,
    pub t: i64,
    /// `key=value` pairs in printed order (`schema`, `count`, `sum`, `positive_spans`, ...).
    pub fields: Vec<(String, String)>,
}

impl HistogramLine {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A value field (`count`, `sum`, ...) as exact bits, in ringwrite's float syntax.
    pub fn value_bits(&self, key: &str) -> Result<u64, String> {
        let v = self.field(key).ok_or_else(|| format!("no {key}="))?;
        parse_ringwrite_value(v)
    }

    /// A `[a,b,...]` list field, each element parsed with `parse`.
    pub fn list<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let v = self.field(key).ok_or_else(|| format!("no {key}="))?;
        let inner = v
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .ok_or_else(|| format!("{key}={v} is not a [..] list"))?;
        if inner.is_empty() {
            return Ok(Vec::new());
        }
        inner.split(',').map(parse).collect()
    }
}

fn parse_histogram_line(series: u32, float: bool, rest: &str) -> Result<HistogramLine, String> {
    let mut parts = rest.split(' ');
    let t = parts.next().ok_or("no histogram timestamp")?;
    let t: i64 = t
        .parse()
        .map_err(|e| format!("histogram timestamp {t:?}: {e}"))?;
    let mut fields = Vec::new();
    for part in parts {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("histogram field {part:?} is not key=value"))?;
        fields.push((k.to_owned(), v.to_owned()));
    }
    Ok(HistogramLine {
        series,
        float,
        t,
        fields,
    })
}

/// Parses promtool 2.42 `tsdb dump` output.
pub fn parse_promtool<R: BufRead>(input: R, table: &mut SeriesTable) -> Result<Dump, String> {
    let mut dump = Dump::default();
    for_each_line(input, "promtool", |line| {
        parse_promtool_line(line, table, &mut dump)
    })?;
    Ok(dump)
}

/// Calls `f` on every line (without its `\n`), reusing one buffer: these dumps run to millions
/// of lines and the tests are built without optimisation.
pub fn for_each_line<R: BufRead>(
    mut input: R,
    what: &str,
    mut f: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    let mut buf = Vec::with_capacity(512);
    let mut no = 0usize;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("reading {what} output: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        no += 1;
        let line =
            std::str::from_utf8(&buf).map_err(|e| format!("{what} line {no} is not UTF-8: {e}"))?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        f(line).map_err(|e| format!("{what} line {no}: {e}: {line:?}"))?;
    }
}

pub fn parse_promtool_line(
    line: &str,
    table: &mut SeriesTable,
    dump: &mut Dump,
) -> Result<(), String> {
    if !line.starts_with('{') {
        dump.ignored_lines += 1;
        return Ok(());
    }
    let (series, rest) = table.intern_prefix(line)?;
    let rest = rest.strip_prefix(' ').ok_or("no space after labels")?;
    let (value, t) = rest.rsplit_once(' ').ok_or("no timestamp")?;
    if value.starts_with('{') {
        // Newer promtools print native histograms as `{count:.., sum:.., ..}`; not compared.
        dump.histograms += 1;
        return Ok(());
    }
    let v = parse_go_float(value)?;
    let t: i64 = t.parse().map_err(|e| format!("timestamp {t:?}: {e}"))?;
    dump.floats.push(Sample {
        series,
        t,
        v: ValueKey::from_f64(v),
    });
    Ok(())
}

/// Parses `ringwrite wal inspect --dump` output.
pub fn parse_ringwrite<R: BufRead>(input: R, table: &mut SeriesTable) -> Result<Dump, String> {
    let mut dump = Dump::default();
    for_each_line(input, "ringwrite", |line| {
        parse_ringwrite_line(line, table, &mut dump)
    })?;
    Ok(dump)
}

pub fn parse_ringwrite_line(
    line: &str,
    table: &mut SeriesTable,
    dump: &mut Dump,
) -> Result<(), String> {
    if !line.starts_with('{') {
        dump.ignored_lines += 1;
        return Ok(());
    }
    let (series, rest) = table.intern_prefix(line)?;
    let rest = rest.strip_prefix(' ').ok_or("no space after labels")?;
    let mut fields = rest.split(' ');
    let value = fields.next().ok_or("no value")?;
    match value {
        "histogram" | "float_histogram" => {
            let float = value == "float_histogram";
            let rest = &rest[value.len()..];
            let rest = rest
                .strip_prefix(' ')
                .ok_or("nothing after the histogram keyword")?;
            dump.histogram_lines
                .push(parse_histogram_line(series, float, rest)?);
            if float {
                dump.float_histograms += 1;
            } else {
                dump.histograms += 1;
            }
            return Ok(());
        }
        "exemplar" => {
            dump.exemplars += 1;
            return Ok(());
        }
        "metadata" => {
            dump.metadata += 1;
            return Ok(());
        }
        _ => {}
    }
    let t = fields.next().ok_or("no timestamp")?;
    let t: i64 = t.parse().map_err(|e| format!("timestamp {t:?}: {e}"))?;
    if let Some(st) = fields.next() {
        let st = st
            .strip_prefix("st=")
            .ok_or("unexpected field after timestamp")?;
        st.parse::<i64>()
            .map_err(|e| format!("start timestamp {st:?}: {e}"))?;
        dump.with_start_timestamp += 1;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    let bits = parse_ringwrite_value(value)?;
    match bits {
        STALE_NAN_BITS => dump.stale_markers += 1,
        GO_NAN_BITS => dump.plain_nans += 1,
        b if f64::from_bits(b).is_nan() => dump.other_nans += 1,
        _ => {}
    }
    dump.floats.push(Sample {
        series,
        t,
        v: ValueKey::from_f64(f64::from_bits(bits)),
    });
    Ok(())
}

/// Byte offset just past the `}` that closes the label set at the start of `line`.
fn labels_end(line: &str) -> Result<usize, String> {
    let bytes = line.as_bytes();
    if bytes.first() != Some(&b'{') {
        return Err("label set must start with '{'".into());
    }
    let mut in_quotes = false;
    let mut i = 1;
    while i < bytes.len() {
        match (in_quotes, bytes[i]) {
            (true, b'\\') => i += 1,
            (_, b'"') => in_quotes = !in_quotes,
            (false, b'}') => return Ok(i + 1),
            _ => {}
        }
        i += 1;
    }
    Err("unterminated label set".into())
}

/// Parses `{a="x", b="y"}` (exactly; the caller has cut the text at the closing brace).
pub fn parse_labels(raw: &str) -> Result<Labels, String> {
    let inner = raw
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or("label set must be enclosed in braces")?;
    let mut out = Labels::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').ok_or("label without '='")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("bad label name {name:?}"));
        }
        let (value, after) = go_unquote_prefix(after)?;
        out.push((name.to_owned(), value));
        rest = match after.strip_prefix(", ") {
            Some(r) if !r.is_empty() => r,
            Some(_) => return Err("trailing separator".into()),
            None if after.is_empty() => after,
            None => return Err(format!("expected \", \" between labels, found {after:?}")),
        };
    }
    Ok(out)
}

/// Decodes the Go double-quoted string literal at the start of `s` (as written by
/// `strconv.Quote`), returning its bytes and the text after the closing quote.
pub fn go_unquote_prefix(s: &str) -> Result<(Vec<u8>, &str), String> {
    let body = s
        .strip_prefix('"')
        .ok_or("label value must start with '\"'")?;
    let mut out = Vec::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = chars.next().ok_or("dangling backslash")?;
                let simple = match e {
                    'a' => Some(0x07),
                    'b' => Some(0x08),
                    'f' => Some(0x0c),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(0x0b),
                    '\\' => Some(b'\\'),
                    '"' => Some(b'"'),
                    '\'' => Some(b'\''),
                    _ => None,
                };
                if let Some(b) = simple {
                    out.push(b);
                    continue;
                }
                let digits = match e {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    _ => return Err(format!("unknown escape \\{e}")),
                };
                let mut code = 0u32;
                for _ in 0..digits {
                    let (_, h) = chars.next().ok_or("short hex escape")?;
                    code = code * 16 + h.to_digit(16).ok_or("bad hex digit in escape")?;
                }
                if e == 'x' {
                    out.push(code as u8);
                } else {
                    let ch = char::from_u32(code).ok_or("escape is not a Unicode scalar")?;
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    Err("unterminated label value".into())
}

/// Go `strconv.Quote`, for rendering labels in messages and tests.
pub fn go_quote(value: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c if c < ' ' || c == '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if go_is_print(c) => out.push(c),
                c if (c as u32) < 0x10000 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `unicode.IsPrint` for the characters the fixtures use: everything except
/// controls, format characters (Cf), separators other than ASCII space, and private/unassigned
/// ranges we know of. Only used to render messages and to test the parser on round trips.
fn go_is_print(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u,
        0x00ad | 0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0xe000..=0xf8ff | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..=0x10ffff)
}

pub fn render_labels(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
        out.push('=');
        out.push_str(&go_quote(v));
    }
    out.push('}');
    out
}

/// Parses a Go `%g` float as printed by promtool.
pub fn parse_go_float(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.e".contains(&b)) =>
        {
            s.parse().map_err(|e| format!("value {s:?}: {e}"))
        }
        _ => Err(format!("value {s:?} is not a Go %g float")),
    }
}

/// Parses a value printed by ringwrite into its exact bit pattern, and insists on the canonical
/// spelling (`ringwrite::cli::format_float`: shortest round-trip decimal, exponent form for
/// magnitudes below 1e-5 or from 1e16), so a formatting drift fails loudly.
pub fn parse_ringwrite_value(s: &str) -> Result<u64, String> {
    match s {
        "StaleNaN" => return Ok(STALE_NAN_BITS),
        "NaN" => return Ok(GO_NAN_BITS),
        "+Inf" => return Ok(f64::INFINITY.to_bits()),
        "-Inf" => return Ok(f64::NEG_INFINITY.to_bits()),
        _ => {}
    }
    if let Some(hex) = s.strip_prefix("NaN(0x").and_then(|h| h.strip_suffix(')')) {
        if hex.len() != 16 {
            return Err(format!("NaN payload {s:?} must have 16 hex digits"));
        }
        let bits = u64::from_str_radix(hex, 16).map_err(|e| format!("NaN payload {s:?}: {e}"))?;
        if !f64::from_bits(bits).is_nan() {
            return Err(format!("{s:?} is not a NaN bit pattern"));
        }
        return Ok(bits);
    }
    if !s.bytes().all(|b| b.is_ascii_digit() || b"-.e".contains(&b)) {
        return Err(format!("value {s:?} is not in ringwrite's float form"));
    }
    let v: f64 = s.parse().map_err(|e| format!("value {s:?}: {e}"))?;
    let mut canonical = Vec::new();
    ringwrite::cli::format_float(&mut canonical, v).map_err(|e| e.to_string())?;
    if canonical != s.as_bytes() {
        return Err(format!(
            "value {s:?} is not canonical; ringwrite prints {}",
            String::from_utf8_lossy(&canonical)
        ));
    }
    Ok(v.to_bits())
}

/// Compares two sample multisets. Returns a readable report of up to `limit` differences.
pub fn diff_multisets(
    table: &SeriesTable,
    left_name: &str,
    left: &[Sample],
    right_name: &str,
    right: &[Sample],
    limit: usize,
) -> Result<(), String> {
    let mut l = left.to_vec();
    let mut r = right.to_vec();
    l.sort_unstable();
    r.sort_unstable();
    let (mut i, mut j) = (0, 0);
    let (mut only_l, mut only_r) = (Vec::new(), Vec::new());
    let (mut n_only_l, mut n_only_r) = (0usize, 0usize);
    while i < l.len() || j < r.len() {
        match (l.get(i), r.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                n_only_l += 1;
                if only_l.len() < limit {
                    only_l.push(*a);
                }
                i += 1;
            }
            (Some(a), None) => {
                n_only_l += 1;
                if only_l.len() < limit {
                    only_l.push(*a);
                }
                i += 1;
            }
            (_, Some(b)) => {
                n_only_r += 1;
                if only_r.len() < limit {
                    only_r.push(*b);
                }
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    if n_only_l == 0 && n_only_r == 0 {
        return Ok(());
    }
    let mut msg = format!(
        "sample multisets differ: {left_name} has {} samples, {right_name} has {}; \
         {n_only_l} only in {left_name}, {n_only_r} only in {right_name}\n",
        l.len(),
        r.len()
    );
    for (name, list) in [(left_name, &only_l), (right_name, &only_r)] {
        for s in list.iter() {
            let _ = writeln!(
                msg,
                "  only in {name}: {} {} t={}",
                table.render(s.series),
                s.v,
                s.t
            );
        }
    }
    Err(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_unquote_handles_every_escape_strconv_quote_emits() {
        let cases: &[(&str, &[u8])] = &[
            (r#""plain""#, b"plain"),
            (r#""say \"hi\"""#, b"say \"hi\""),
            (r#""C:\\path""#, b"C:\\path"),
            (r#""a\tb\nc\rd""#, b"a\tb\nc\rd"),
            (r#""\a\b\f\v""#, b"\x07\x08\x0c\x0b"),
            (r#""\x00\x7f\xff""#, b"\x00\x7f\xff"),
            (r#""non\u00a0breaking""#, "non\u{a0}breaking".as_bytes()),
            (r#""lang\U000e0001tag""#, "lang\u{e0001}tag".as_bytes()),
            ("\"日本語 🦀\"", "日本語 🦀".as_bytes()),
            (r#""""#, b""),
        ];
        for (quoted, want) in cases {
            let (got, rest) = go_unquote_prefix(quoted).unwrap();
            assert_eq!(&got, want, "{quoted}");
            assert_eq!(rest, "", "{quoted}");
        }
        for bad in [
            r#""unterminated"#,
            r#""\q""#,
            r#""\u12""#,
            r#""\ud800""#,
            "noquote",
        ] {
            assert!(go_unquote_prefix(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn labels_parse_with_braces_commas_and_quotes_inside_values() {
        let line = r#"{__name__="m", a="x}, b=\"y\"", c="日"} 1 2"#;
        let mut table = SeriesTable::default();
        let (id, rest) = table.intern_prefix(line).unwrap();
        assert_eq!(rest, " 1 2");
        let labels = table.labels(id);
        assert_eq!(labels.len(), 3);
        assert_eq!(labels[1], ("a".to_owned(), br#"x}, b="y""#.to_vec()));
        assert_eq!(table.render(id), &line[..line.len() - 4]);
        for bad in [
            r#"{a="x",b="y"}"#,
            r#"{a="x", }"#,
            r#"{a=x}"#,
            r#"{="x"}"#,
            r#"{a="x""#,
        ] {
            assert!(
                SeriesTable::default().intern_prefix(bad).is_err(),
                "{bad} must be rejected"
            );
        }
    }

    #[test]
    fn same_labels_quoted_differently_intern_to_one_id() {
        let mut table = SeriesTable::default();
        let (a, _) = table.intern_prefix(r#"{v="\u00e9"} 1 1"#).unwrap();
        let (b, _) = table.intern_prefix("{v=\"é\"} 1 1").unwrap();
        let (c, _) = table.intern_prefix(r#"{v="e"} 1 1"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(table.len(), 2);
        let several = table.several_spellings();
        assert_eq!(several.len(), 1);
        assert_eq!(several[0].0, a);
        assert_eq!(several[0].1, ["{v=\"\\u00e9\"}", "{v=\"é\"}"]);
    }

    #[test]
    fn absorb_maps_ids_of_another_table_by_labels() {
        let mut a = SeriesTable::default();
        let mut b = SeriesTable::default();
        let (a_x, _) = a.intern_prefix(r#"{n="x"}"#).unwrap();
        let (b_y, _) = b.intern_prefix(r#"{n="y"}"#).unwrap();
        let (b_x, _) = b.intern_prefix(r#"{n="x"}"#).unwrap();
        let map = a.absorb(&b);
        assert_eq!(map[b_x as usize], a_x);
        assert_eq!(a.render(map[b_y as usize]), r#"{n="y"}"#);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn go_float_values_parse_exactly() {
        let cases: &[(&str, ValueKey)] = &[
            ("1", ValueKey::Bits(1f64.to_bits())),
            ("-0", ValueKey::Bits((-0f64).to_bits())),
            ("1e+21", ValueKey::Bits(1e21f64.to_bits())),
            ("1e-07", ValueKey::Bits(1e-7f64.to_bits())),
            ("5e-324", ValueKey::Bits(1)),
            (
                "9.007199254740992e+15",
                ValueKey::Bits(9007199254740992f64.to_bits()),
            ),
            (
                "1.7976931348623157e+308",
                ValueKey::Bits(f64::MAX.to_bits()),
            ),
            ("+Inf", ValueKey::Bits(f64::INFINITY.to_bits())),
            ("-Inf", ValueKey::Bits(f64::NEG_INFINITY.to_bits())),
            ("NaN", ValueKey::NaN),
        ];
        for (text, want) in cases {
            assert_eq!(
                ValueKey::from_f64(parse_go_float(text).unwrap()),
                *want,
                "{text}"
            );
        }
        for bad in ["inf", "nan", "0x10", "1,5", ""] {
            assert!(parse_go_float(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn ringwrite_values_parse_to_exact_bits_and_must_be_shortest() {
        let cases: &[(&str, u64)] = &[
            ("1", 1f64.to_bits()),
            ("0.25", 0.25f64.to_bits()),
            ("-0", (-0f64).to_bits()),
            ("1e21", 1e21f64.to_bits()),
            ("0.00001", 1e-5f64.to_bits()),
            ("6.186914632966696e-6", 6.186914632966696e-6f64.to_bits()),
            ("1.7976931348623157e308", f64::MAX.to_bits()),
            ("5e-324", 1),
            ("0.30000000000000004", (0.1f64 + 0.2).to_bits()),
            ("StaleNaN", STALE_NAN_BITS),
            ("NaN", GO_NAN_BITS),
            ("NaN(0x7ff8000000000000)", 0x7ff8_0000_0000_0000),
            ("NaN(0xfff0000000000001)", 0xfff0_0000_0000_0001),
            ("+Inf", f64::INFINITY.to_bits()),
            ("-Inf", f64::NEG_INFINITY.to_bits()),
        ];
        for (text, want) in cases {
            assert_eq!(parse_ringwrite_value(text).unwrap(), *want, "{text}");
        }
        for bad in [
            "1000000000000000000000", // positional where ringwrite uses an exponent
            "0.000001",               // likewise below 1e-5
            "0.30000000000000000",    // trailing zeros: padded
            "0.3000000000000000444",  // more digits than needed
            "0.29999999999999999",    // %.17g of 0.3: not the shortest digits
            "1e+21",                  // Go's exponent spelling
            "inf",
            "NaN(0x7ff0000000000000)",
            "NaN(0x7ff8)",
            "+1",
        ] {
            assert!(
                parse_ringwrite_value(bad).is_err(),
                "{bad} must be rejected"
            );
        }
    }

    #[test]
    fn ringwrite_lines_classify_samples_and_other_records() {
        let text = "\
{__name__=\"a\"} 1 100
{__name__=\"a\"} StaleNaN 200
{__name__=\"a\"} NaN 300 st=50
{__name__=\"h\"} histogram 400 schema=3 count=2 sum=StaleNaN positive_deltas=[1,-1] negative_deltas=[]
{__name__=\"h\"} float_histogram 401 schema=3 count=2.5 sum=1.5
{__name__=\"a\"} exemplar {trace_id=\"x\"} 0.5 100
{__name__=\"a\"} metadata type=gauge unit=\"\" help=\"h\"
# a comment line
";
        let mut table = SeriesTable::default();
        let dump = parse_ringwrite(text.as_bytes(), &mut table).unwrap();
        assert_eq!(dump.floats.len(), 3);
        assert_eq!(
            (
                dump.stale_markers,
                dump.plain_nans,
                dump.with_start_timestamp
            ),
            (1, 1, 1)
        );
        assert_eq!(
            (
                dump.histograms,
                dump.float_histograms,
                dump.exemplars,
                dump.metadata
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(dump.ignored_lines, 1);
        assert_eq!(dump.floats[1].v, ValueKey::NaN);
        let (h, fh) = (&dump.histogram_lines[0], &dump.histogram_lines[1]);
        assert_eq!((h.float, h.t, fh.float, fh.t), (false, 400, true, 401));
        assert_eq!(h.field("schema"), Some("3"));
        assert_eq!(h.value_bits("sum"), Ok(STALE_NAN_BITS));
        let deltas = h.list("positive_deltas", |v| {
            v.parse::<i64>().map_err(|e| e.to_string())
        });
        assert_eq!(deltas, Ok(vec![1, -1]));
        assert_eq!(h.list("negative_deltas", |v| Ok(v.to_owned())), Ok(vec![]));
        assert!(h.list("schema", |v| Ok(v.to_owned())).is_err());
        assert_eq!(fh.value_bits("count"), Ok(2.5f64.to_bits()));
        for bad in [
            "{a=\"b\"} 1",
            "{a=\"b\"} 1 2 3",
            "{a=\"b\"} 1.00 2",
            "{a=\"b\"}1 2",
        ] {
            assert!(
                parse_ringwrite(bad.as_bytes(), &mut table).is_err(),
                "{bad} must be rejected"
            );
        }
    }

    #[test]
    fn promtool_and_ringwrite_forms_of_one_sample_compare_equal() {
        let promtool =
            "{__name__=\"x\", v=\"\\u200b\"} 1e+21 5\n{__name__=\"x\", v=\"\\u200b\"} NaN 6\n";
        let ringwrite =
            "{__name__=\"x\", v=\"\\u200b\"} StaleNaN 6\n{__name__=\"x\", v=\"\\u200b\"} 1e21 5\n";
        let mut table = SeriesTable::default();
        let p = parse_promtool(promtool.as_bytes(), &mut table).unwrap();
        let r = parse_ringwrite(ringwrite.as_bytes(), &mut table).unwrap();
        diff_multisets(&table, "promtool", &p.floats, "ringwrite", &r.floats, 5).unwrap();
        let err = diff_multisets(
            &table,
            "promtool",
            &p.floats,
            "ringwrite",
            &r.floats[..1],
            5,
        )
        .unwrap_err();
        assert!(err.contains("1 only in promtool"), "{err}");
    }

    #[test]
    fn go_quote_round_trips_through_unquote() {
        let values: &[&[u8]] = &[
            b"plain",
            b"q\"b\\n\nt\t\x07\x7f\x00",
            "é 日本 🦀 \u{a0}\u{200b}\u{e0001}".as_bytes(),
            b"bad \xff\xfe utf8",
        ];
        for v in values {
            let quoted = go_quote(v);
            let (back, rest) = go_unquote_prefix(&quoted).unwrap();
            assert_eq!(&back, v, "{quoted}");
            assert!(rest.is_empty());
        }
        assert_eq!(
            go_quote("a\u{a0}b\u{200b}\u{e0001}".as_bytes()),
            r#""a\u00a0b\u200b\U000e0001""#
        );
    }
}
