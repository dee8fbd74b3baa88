//! The error every record decoder returns.

use super::types::RecordType;
use super::varint::Fault;

/// A record failed to decode. Carries the record type byte and the offset (within the whole
/// record, type byte at 0) of the field that could not be read, so a corrupt record can be
/// found with a hex dump of the reassembled record.
///
/// Prometheus treats any such error as corruption of the record: the watcher logs it and
/// skips the rest of the segment in replay, or restarts when tailing (FORMATS.md §1.7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("decode {} record (type {record_type}) at byte {offset}: {kind}", type_name(*.record_type))]
pub struct DecodeError {
    /// Byte 0 of the record (0 for an empty record).
    pub record_type: u8,
    /// Offset of the failing field within the record.
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

/// What went wrong. Messages follow Prometheus's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The reassembled record has no bytes at all, not even a type byte.
    #[error("empty record: no type byte")]
    EmptyRecord,
    /// The record ends inside a varint.
    #[error("truncated varint (invalid size)")]
    TruncatedVarint,
    /// A varint longer than 10 bytes or above `u64::MAX`.
    #[error("varint overflows 64 bits (invalid size)")]
    VarintOverflow,
    /// A fixed-size field, a string or a declared number of elements needs more bytes than
    /// the record has left.
    #[error("unexpected end of record: need {need} bytes, {have} left (invalid size)")]
    UnexpectedEnd { need: usize, have: usize },
    /// A label set whose pairs run past the end of the record.
    #[error("invalid labels: pair {pair} of {count} does not fit in the record ({fault})")]
    InvalidLabels {
        count: u64,
        pair: u64,
        fault: PrimitiveFault,
    },
    /// A histogram counter reset hint byte other than 0..=3.
    #[error("bad counter reset hint {0}, want 0 (unknown), 1 (reset), 2 (no reset) or 3 (gauge)")]
    BadResetHint(u8),
    /// A V2 histogram record whose first entry header is not followed by a histogram body.
    /// (Prometheus's decoder returns no histograms and no error here; the encoder never
    /// writes this, so ringwrite treats it as corruption.)
    #[error("V2 histogram record ends after the first entry header")]
    MissingHistogramBody,
    /// A histogram with schema 9..=52 could not be reduced to schema 8, as Prometheus's
    /// `ReduceResolution` fails for it too (Prometheus then rejects the whole record).
    #[error("error reducing resolution of histogram #{index} with schema {schema}: {reason}")]
    ReduceResolution {
        index: usize,
        schema: i32,
        reason: &'static str,
    },
}

/// The primitive read that failed inside a compound field (labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrimitiveFault {
    #[error("truncated varint")]
    TruncatedVarint,
    #[error("varint overflow")]
    VarintOverflow,
    #[error("string needs {need} bytes, {have} left")]
    UnexpectedEnd { need: usize, have: usize },
}

impl From<Fault> for PrimitiveFault {
    fn from(f: Fault) -> Self {
        match f {
            Fault::TruncatedVarint => PrimitiveFault::TruncatedVarint,
            Fault::VarintOverflow => PrimitiveFault::VarintOverflow,
            Fault::UnexpectedEnd { need, have } => PrimitiveFault::UnexpectedEnd { need, have },
        }
    }
}

impl From<Fault> for DecodeErrorKind {
    fn from(f: Fault) -> Self {
        match f {
            Fault::TruncatedVarint => DecodeErrorKind::TruncatedVarint,
            Fault::VarintOverflow => DecodeErrorKind::VarintOverflow,
            Fault::UnexpectedEnd { need, have } => DecodeErrorKind::UnexpectedEnd { need, have },
        }
    }
}

impl DecodeError {
    pub(crate) fn new(record_type: u8, offset: usize, kind: impl Into<DecodeErrorKind>) -> Self {
        DecodeError {
            record_type,
            offset,
            kind: kind.into(),
        }
    }
}

fn type_name(b: u8) -> &'static str {
    RecordType::from_byte(b).map_or("unknown", RecordType::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_type_offset_and_cause() {
        let cases = [
            (
                DecodeError::new(2, 17, Fault::TruncatedVarint),
                "decode samples record (type 2) at byte 17: truncated varint (invalid size)",
            ),
            (
                DecodeError::new(1, 9, Fault::UnexpectedEnd { need: 8, have: 3 }),
                "decode series record (type 1) at byte 9: unexpected end of record: need 8 bytes, 3 left (invalid size)",
            ),
            (
                DecodeError::new(0, 0, DecodeErrorKind::EmptyRecord),
                "decode unknown record (type 0) at byte 0: empty record: no type byte",
            ),
            (
                DecodeError::new(7, 40, DecodeErrorKind::BadResetHint(9)),
                "decode histogram_samples record (type 7) at byte 40: bad counter reset hint 9, want 0 (unknown), 1 (reset), 2 (no reset) or 3 (gauge)",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }
}
