//! Zero-copy reading of RW 1.0 / 2.0 request bodies for the benchmark's receivers: only
//! the fields the verifier looks at, borrowed from the body. prost's decoders allocate a
//! `String` per label, which at a million samples per second costs the receiver's core
//! more than ringwrite spends sending; the unit tests hold this reader to prost.

/// Label pairs borrowed from a body.
pub type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// One time series of a request, protocol-neutral.
#[derive(Debug, Default, PartialEq)]
pub struct Series<'a> {
    pub labels: Pairs<'a>,
    /// (timestamp, value)
    pub samples: Vec<(i64, f64)>,
    /// (timestamp, integer count); float-count histograms give `None`.
    pub histograms: Vec<(i64, Option<u64>)>,
    /// (timestamp, value, labels)
    pub exemplars: Vec<(i64, f64, Pairs<'a>)>,
    /// RW 2.0: the series carried metadata with a type.
    pub metadata: bool,
}

/// The body is not valid protobuf of the expected shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// One field's payload.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

pub(super) fn varint(b: &[u8], i: &mut usize) -> Result<u64, Malformed> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*i).ok_or(Malformed)?;
        *i += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return Ok(v);
        }
    }
    Err(Malformed)
}

/// Calls `f(field number, payload)` for every field of a message.
fn fields<'a>(
    b: &'a [u8],
    mut f: impl FnMut(u64, Value<'a>) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        let value = match key & 7 {
            0 => Value::Varint(varint(b, &mut i)?),
            1 => {
                let w = b.get(i..i + 8).ok_or(Malformed)?;
                i += 8;
                let mut a = [0u8; 8];
                a.copy_from_slice(w);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let n = usize::try_from(varint(b, &mut i)?).map_err(|_| Malformed)?;
                let end = i.checked_add(n).ok_or(Malformed)?;
                let payload = b.get(i..end).ok_or(Malformed)?;
                i = end;
                Value::Bytes(payload)
            }
            5 => {
                b.get(i..i + 4).ok_or(Malformed)?;
                i += 4;
                Value::Fixed32
            }
            _ => return Err(Malformed),
        };
        f(key >> 3, value)?;
    }
    Ok(())
}

/// (samples, histograms, exemplars) in an RW 2.0 `Request`, counted without decoding.
pub fn count_v2(body: &[u8]) -> Result<(u64, u64, u64), Malformed> {
    let (mut s, mut h, mut e) = (0, 0, 0);
    fields(body, |field, v| {
        if let (5, Value::Bytes(ts)) = (field, v) {
            fields(ts, |f, _| {
                match f {
                    2 => s += 1,
                    3 => h += 1,
                    4 => e += 1,
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok((s, h, e))
}

fn bytes(v: Value<'_>) -> Result<&[u8], Malformed> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(Malformed),
    }
}

fn text(v: Value<'_>) -> Result<&str, Malformed> {
    std::str::from_utf8(bytes(v)?).map_err(|_| Malformed)
}

fn int(v: Value<'_>) -> Result<u64, Malformed> {
    match v {
        Value::Varint(x) => Ok(x),
        _ => Err(Malformed),
    }
}

fn double(v: Value<'_>) -> Result<f64, Malformed> {
    match v {
        Value::Fixed64(x) => Ok(f64::from_bits(x)),
        _ => Err(Malformed),
    }
}

/// `Sample` of both versions: 1 value, 2 timestamp.
fn sample(b: &[u8]) -> Result<(i64, f64), Malformed> {
    let (mut t, mut v) = (0i64, 0.0);
    fields(b, |f, x| {
        match f {
            1 => v = double(x)?,
            2 => t = int(x)? as i64,
            _ => {}
        }
        Ok(())
    })?;
    Ok((t, v))
}

/// `Histogram` of both versions: 1 count_int, 2 count_float, 15 timestamp.
fn histogram(b: &[u8]) -> Result<(i64, Option<u64>), Malformed> {
    let (mut t, mut c) = (0i64, None);
    fields(b, |f, x| {
        match f {
            1 => c = Some(int(x)?),
            2 => c = None,
            15 => t = int(x)? as i64,
            _ => {}
        }
        Ok(())
    })?;
    Ok((t, c))
}

/// RW 1.0 `Label`: 1 name, 2 value.
fn label(b: &[u8]) -> Result<(&str, &str), Malformed> {
    let (mut n, mut v) = ("", "");
    fields(b, |f, x| {
        match f {
            1 => n = text(x)?,
            2 => v = text(x)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((n, v))
}

/// Reads an RW 1.0 `WriteRequest`: calls `f` per time series; returns the number of
/// metadata entries.
pub fn read_rw1<'a>(body: &'a [u8], mut f: impl FnMut(Series<'a>)) -> Result<u64, Malformed> {
    let mut metadata = 0;
    fields(body, |field, v| {
        match field {
            1 => {
                let mut s = Series::default();
                fields(bytes(v)?, |f, x| {
                    match f {
                        1 => s.labels.push(label(bytes(x)?)?),
                        2 => s.samples.push(sample(bytes(x)?)?),
                        3 => {
                            let (mut t, mut val, mut l) = (0i64, 0.0, Vec::new());
                            fields(bytes(x)?, |g, y| {
                                match g {
                                    1 => l.push(label(bytes(y)?)?),
                                    2 => val = double(y)?,
                                    3 => t = int(y)? as i64,
                                    _ => {}
                                }
                                Ok(())
                            })?;
                            s.exemplars.push((t, val, l));
                        }
                        4 => s.histograms.push(histogram(bytes(x)?)?),
                        _ => {}
                    }
                    Ok(())
                })?;
                f(s);
            }
            3 => metadata += 1,
            _ => {}
        }
        Ok(())
    })?;
    Ok(metadata)
}

/// Appends label refs, packed or not.
fn refs(v: Value<'_>, out: &mut Vec<u32>) -> Result<(), Malformed> {
    match v {
        Value::Varint(x) => out.push(u32::try_from(x).map_err(|_| Malformed)?),
        Value::Bytes(b) => {
            let mut i = 0;
            while i < b.len() {
                out.push(u32::try_from(varint(b, &mut i)?).map_err(|_| Malformed)?);
            }
        }
        _ => return Err(Malformed),
    }
    Ok(())
}

fn resolve<'a>(symbols: &[&'a str], refs: &[u32]) -> Result<Pairs<'a>, Malformed> {
    if refs.len() % 2 != 0 {
        return Err(Malformed);
    }
    refs.chunks(2)
        .map(|p| {
            let n = symbols.get(p[0] as usize).ok_or(Malformed)?;
            let v = symbols.get(p[1] as usize).ok_or(Malformed)?;
            Ok((*n, *v))
        })
        .collect()
}

/// Reads an RW 2.0 `Request`: calls `f` per time series, labels resolved.
pub fn read_rw2<'a>(body: &'a [u8], mut f: impl FnMut(Series<'a>)) -> Result<(), Malformed> {
    let mut symbols: Vec<&'a str> = Vec::new();
    fields(body, |field, v| {
        if field == 4 {
            symbols.push(text(v)?);
        }
        Ok(())
    })?;
    let mut label_refs = Vec::new();
    let mut ex_refs = Vec::new();
    fields(body, |field, v| {
        if field != 5 {
            return Ok(());
        }
        let mut s = Series::default();
        label_refs.clear();
        fields(bytes(v)?, |g, x| {
            match g {
                1 => refs(x, &mut label_refs)?,
                2 => s.samples.push(sample(bytes(x)?)?),
                3 => s.histograms.push(histogram(bytes(x)?)?),
                4 => {
                    let (mut t, mut val) = (0i64, 0.0);
                    ex_refs.clear();
                    fields(bytes(x)?, |h, y| {
                        match h {
                            1 => refs(y, &mut ex_refs)?,
                            2 => val = double(y)?,
                            3 => t = int(y)? as i64,
                            _ => {}
                        }
                        Ok(())
                    })?;
                    s.exemplars.push((t, val, resolve(&symbols, &ex_refs)?));
                }
                5 => {
                    fields(bytes(x)?, |h, y| {
                        if h == 1 && int(y)? != 0 {
                            s.metadata = true;
                        }
                        Ok(())
                    })?;
                }
                _ => {}
            }
            Ok(())
        })?;
        s.labels = resolve(&symbols, &label_refs)?;
        f(s);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::proto::{v1, v2};
    use prost::Message;

    fn v1_series(i: u64) -> v1::TimeSeries {
        v1::TimeSeries {
            labels: vec![
                v1::Label {
                    name: "__name__".into(),
                    value: format!("m{i}"),
                },
                v1::Label {
                    name: "id".into(),
                    value: i.to_string(),
                },
            ],
            samples: (0..i % 3)
                .map(|k| v1::Sample {
                    value: k as f64 - 1.5,
                    timestamp: -5 + k as i64,
                })
                .collect(),
            exemplars: (0..i % 2)
                .map(|k| v1::Exemplar {
                    labels: vec![v1::Label {
                        name: "trace_id".into(),
                        value: format!("t{k}"),
                    }],
                    value: 2.5,
                    timestamp: 1_700_000_000_000,
                })
                .collect(),
            histograms: (0..i % 4)
                .map(|k| v1::Histogram {
                    count: Some(if k == 2 {
                        v1::histogram::Count::CountFloat(1.0)
                    } else {
                        v1::histogram::Count::CountInt(k * 7)
                    }),
                    timestamp: 10 + k as i64,
                    sum: 3.0,
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// What prost decodes, in the reader's shape.
    fn from_prost_v1(ts: &v1::TimeSeries) -> Series<'_> {
        fn p(l: &[v1::Label]) -> Pairs<'_> {
            l.iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect()
        }
        Series {
            labels: p(&ts.labels),
            samples: ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
            histograms: ts
                .histograms
                .iter()
                .map(|h| {
                    let c = match h.count {
                        Some(v1::histogram::Count::CountInt(c)) => Some(c),
                        _ => None,
                    };
                    (h.timestamp, c)
                })
                .collect(),
            exemplars: ts
                .exemplars
                .iter()
                .map(|e| (e.timestamp, e.value, p(&e.labels)))
                .collect(),
            metadata: false,
        }
    }

    #[test]
    fn rw1_reader_agrees_with_prost() {
        let req = v1::WriteRequest {
            timeseries: (0..12).map(v1_series).collect(),
            metadata: vec![v1::MetricMetadata::default(); 2],
        };
        let body = req.encode_to_vec();
        let mut got = Vec::new();
        let meta = read_rw1(&body, |s| got.push(s)).expect("valid body");
        let want: Vec<_> = req.timeseries.iter().map(from_prost_v1).collect();
        assert_eq!(got, want);
        assert_eq!(meta, 2);
        for cut in [1, body.len() - 1] {
            assert_eq!(read_rw1(&body[..cut], |_| {}), Err(Malformed), "cut {cut}");
        }
    }

    #[test]
    fn rw2_reader_agrees_with_prost_and_counts() {
        let symbols: Vec<String> = ["", "__name__", "up", "id", "7", "trace_id", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ts = |k: i64| v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![v2::Sample {
                value: k as f64,
                timestamp: k,
                start_timestamp: 0,
            }],
            histograms: vec![v2::Histogram {
                count: Some(v2::histogram::Count::CountInt(k as u64)),
                timestamp: k + 1,
                ..Default::default()
            }],
            exemplars: vec![v2::Exemplar {
                labels_refs: vec![5, 6],
                value: 0.5,
                timestamp: k,
            }],
            metadata: Some(v2::Metadata {
                r#type: (k % 2) as i32,
                ..Default::default()
            }),
        };
        let req = v2::Request {
            symbols,
            timeseries: vec![ts(1), ts(2), ts(3)],
        };
        let body = req.encode_to_vec();
        let mut got = Vec::new();
        read_rw2(&body, |s| got.push(s)).expect("valid body");
        assert_eq!(got.len(), 3);
        for (k, s) in got.iter().enumerate() {
            let k = k as i64 + 1;
            assert_eq!(s.labels, vec![("__name__", "up"), ("id", "7")]);
            assert_eq!(s.samples, vec![(k, k as f64)]);
            assert_eq!(s.histograms, vec![(k + 1, Some(k as u64))]);
            assert_eq!(s.exemplars, vec![(k, 0.5, vec![("trace_id", "x")])]);
            assert_eq!(s.metadata, k % 2 == 1);
        }
        assert_eq!(count_v2(&body), Ok((3, 3, 3)));
        // A label ref past the symbol table is malformed, not a panic.
        let mut bad = req.clone();
        bad.timeseries[0].labels_refs[1] = 99;
        assert_eq!(read_rw2(&bad.encode_to_vec(), |_| {}), Err(Malformed));
        assert!(count_v2(&body[..body.len() - 2]).is_err());
    }
}
