//! Schema reduction for native histograms written by a newer Prometheus with a finer
//! resolution than remote write accepts (schemas 9..=52 → 8), with the semantics of
//! Prometheus's `reduceResolution` (`model/histogram/generic.go`): bucket `i` of the origin
//! schema lands in bucket `((i - 1) >> (origin - target)) + 1` of the target schema, and
//! buckets that land in the same target bucket are summed.
//!
//! Integer histograms carry delta-encoded buckets, float histograms absolute counts. This
//! is the only place where ringwrite does arithmetic on sample values; it mirrors what
//! Prometheus itself does when it reads such a record.

use super::types::Span;

/// A bucket count type: delta-encoded `i64` or absolute `f64`.
pub(crate) trait BucketCount: Copy {
    /// Whether the buckets are deltas against the previous bucket.
    const DELTA: bool;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
}

impl BucketCount for i64 {
    const DELTA: bool = true;
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    fn sub(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
}

impl BucketCount for f64 {
    const DELTA: bool = false;
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn sub(self, other: Self) -> Self {
        self - other
    }
}

/// Prometheus's messages for the two ways the input can be inconsistent.
pub(crate) const ERR_NEGATIVE_OFFSET: &str = "histogram has a span whose offset is negative";
pub(crate) const ERR_SPANS_BUCKETS_MISMATCH: &str =
    "histogram spans specify different number of buckets than provided";

/// Index of the target-schema bucket that origin bucket `idx` falls into. Go's `>>` on an
/// int32 with a count of 32 or more yields 0 or -1, which `min(31)` reproduces.
fn target_idx(idx: i32, origin: i32, target: i32) -> i32 {
    let shift = (origin.wrapping_sub(target)).clamp(0, 31) as u32;
    (idx.wrapping_sub(1) >> shift).wrapping_add(1)
}

/// Reduces `spans`/`buckets` from schema `origin` to `target` (< origin) into the cleared
/// `out_spans`/`out_buckets`.
pub(crate) fn reduce_resolution<C: BucketCount>(
    spans: &[Span],
    buckets: &[C],
    origin: i32,
    target: i32,
    out_spans: &mut Vec<Span>,
    out_buckets: &mut Vec<C>,
) -> Result<(), &'static str> {
    out_spans.clear();
    out_buckets.clear();
    let mut bucket_idx: i32 = 0; // index in the origin schema
    let mut consumed = 0usize; // position in `buckets`
    let mut last_target: i32 = 0; // index of the last target bucket written
                                  // Delta mode: absolute count of the last origin bucket, and of the last target bucket.
    let mut last_abs = None::<C>;
    let mut last_target_abs = None::<C>;

    for (n, span) in spans.iter().enumerate() {
        if n > 0 && span.offset < 0 {
            return Err(ERR_NEGATIVE_OFFSET);
        }
        bucket_idx = bucket_idx.wrapping_add(span.offset);
        for _ in 0..span.length {
            let Some(&b) = buckets.get(consumed) else {
                return Err(ERR_SPANS_BUCKETS_MISMATCH);
            };
            let t = target_idx(bucket_idx, origin, target);
            // Delta mode tracks absolute counts to re-derive deltas between target buckets.
            let abs = match last_abs {
                Some(prev) if C::DELTA => prev.add(b),
                _ => b,
            };
            match (out_spans.last_mut(), last_target_abs) {
                (None, _) | (_, None) => {
                    out_spans.push(Span {
                        offset: t,
                        length: 1,
                    });
                    out_buckets.push(b);
                    last_target = t;
                    last_abs = Some(b);
                    last_target_abs = Some(b);
                }
                (Some(_), Some(target_abs)) if t == last_target => {
                    // Same target bucket as the previous origin bucket: add to it.
                    let top = out_buckets.len() - 1;
                    if C::DELTA {
                        out_buckets[top] = out_buckets[top].add(abs);
                        last_target_abs = Some(target_abs.add(abs));
                        last_abs = Some(abs);
                    } else {
                        out_buckets[top] = out_buckets[top].add(b);
                    }
                }
                (Some(last_span), Some(target_abs)) => {
                    let next = last_target.wrapping_add(1);
                    if t == next {
                        // Adjacent target bucket: extend the current span.
                        last_span.length += 1;
                    } else if next < t {
                        // Gap: start a new span.
                        out_spans.push(Span {
                            offset: t.wrapping_sub(last_target).wrapping_sub(1),
                            length: 1,
                        });
                    } else {
                        // Only reachable with wrapped indices (corrupt input); Prometheus
                        // drops such a bucket too.
                        consumed += 1;
                        bucket_idx = bucket_idx.wrapping_add(1);
                        continue;
                    }
                    last_target = t;
                    if C::DELTA {
                        out_buckets.push(abs.sub(target_abs));
                        last_target_abs = Some(abs);
                        last_abs = Some(abs);
                    } else {
                        out_buckets.push(b);
                    }
                }
            }
            consumed += 1;
            bucket_idx = bucket_idx.wrapping_add(1);
        }
    }
    if consumed != buckets.len() {
        return Err(ERR_SPANS_BUCKETS_MISMATCH);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    /// Absolute counts per bucket index, for checking results independently of encoding.
    fn expand(spans: &[Span], abs: &[f64]) -> Vec<(i32, f64)> {
        let mut out = Vec::new();
        let mut idx = 0;
        let mut k = 0;
        for s in spans {
            idx += s.offset;
            for _ in 0..s.length {
                out.push((idx, abs[k]));
                idx += 1;
                k += 1;
            }
        }
        out
    }

    #[test]
    fn target_idx_table() {
        // (idx, origin, target, want): schema s+1 → s merges index pairs (2k-1, 2k) → k.
        let cases = [
            (1, 9, 8, 1),
            (2, 9, 8, 1),
            (3, 9, 8, 2),
            (0, 9, 8, 0),
            (-1, 9, 8, 0),
            (-2, 9, 8, -1),
            (5, 10, 8, 2),
            (i32::MAX, 52, 8, 1),
            // Go int32 arithmetic wraps: MIN - 1 == MAX.
            (i32::MIN, 52, 8, 1),
            (-5, 52, 8, 0),
        ];
        for (idx, o, t, want) in cases {
            assert_eq!(target_idx(idx, o, t), want, "idx {idx} {o}->{t}");
        }
    }

    #[test]
    fn float_buckets_merge_by_target_index() {
        // Indices 1,2,3 | gap | 7,8 at schema 9 → 1,2 | 4 at schema 8.
        let spans = sp(&[(1, 3), (3, 2)]);
        let counts = [1.0, 2.0, 4.0, 8.0, 16.0];
        let (mut os, mut ob) = (Vec::new(), Vec::new());
        reduce_resolution(&spans, &counts, 9, 8, &mut os, &mut ob).unwrap();
        assert_eq!(expand(&os, &ob), vec![(1, 3.0), (2, 4.0), (4, 24.0)]);
    }

    #[test]
    fn int_deltas_are_rebuilt_from_absolute_counts() {
        // Same layout as the float test; absolute 1,2,4,8,16 as deltas.
        let spans = sp(&[(1, 3), (3, 2)]);
        let deltas = [1i64, 1, 2, 4, 8];
        let (mut os, mut ob) = (Vec::new(), Vec::new());
        reduce_resolution(&spans, &deltas, 9, 8, &mut os, &mut ob).unwrap();
        let mut acc = 0i64;
        let abs: Vec<f64> = ob
            .iter()
            .map(|d| {
                acc += d;
                acc as f64
            })
            .collect();
        assert_eq!(expand(&os, &abs), vec![(1, 3.0), (2, 4.0), (4, 24.0)]);
    }

    #[test]
    fn negative_first_offset_is_allowed_later_ones_are_not() {
        let (mut os, mut ob) = (Vec::new(), Vec::<f64>::new());
        let ok = reduce_resolution(&sp(&[(-4, 2)]), &[1.0, 1.0], 10, 8, &mut os, &mut ob);
        assert_eq!(ok, Ok(()));
        assert_eq!(expand(&os, &ob), vec![(-1, 1.0), (0, 1.0)]);
        let bad = reduce_resolution(
            &sp(&[(0, 1), (-1, 1)]),
            &[1.0, 1.0],
            10,
            8,
            &mut os,
            &mut ob,
        );
        assert_eq!(bad, Err(ERR_NEGATIVE_OFFSET));
    }

    #[test]
    fn spans_and_bucket_counts_must_agree() {
        let (mut os, mut ob) = (Vec::new(), Vec::<i64>::new());
        let few = reduce_resolution(&sp(&[(0, 3)]), &[1, 1], 9, 8, &mut os, &mut ob);
        assert_eq!(few, Err(ERR_SPANS_BUCKETS_MISMATCH));
        let many = reduce_resolution(&sp(&[(0, 1)]), &[1, 1], 9, 8, &mut os, &mut ob);
        assert_eq!(many, Err(ERR_SPANS_BUCKETS_MISMATCH));
        // A huge declared length with few buckets stops at the first missing bucket.
        let huge = reduce_resolution(&sp(&[(0, u32::MAX)]), &[1], 9, 8, &mut os, &mut ob);
        assert_eq!(huge, Err(ERR_SPANS_BUCKETS_MISMATCH));
    }

    #[test]
    fn empty_histogram_stays_empty() {
        let (mut os, mut ob) = (vec![Span::default()], vec![1.0]);
        reduce_resolution::<f64>(&[], &[], 20, 8, &mut os, &mut ob).unwrap();
        assert!(os.is_empty() && ob.is_empty());
    }
}
