//! Errors and corruption reports of the WAL reader.

use std::path::PathBuf;

/// A failure that stops reading a WAL directory (as opposed to [`Corruption`], which is
/// counted and skipped).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    #[error("{path}: not a Prometheus WAL directory: {why} (expected `<data>/wal` holding numbered segment files such as 00000000, 00000001, ...)")]
    NotAWalDir { path: PathBuf, why: String },
    #[error("{dir}: segments are not sequential: segment {missing} is missing between {before} and {after}")]
    SegmentGap {
        dir: PathBuf,
        missing: u64,
        before: u64,
        after: u64,
    },
    #[error("{path}: checkpoint entry is not a directory")]
    CheckpointNotDir { path: PathBuf },
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("position {pos} is not in the WAL: {why}")]
    BadPosition { pos: String, why: String },
}

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

/// Why a stretch of a segment could not be read. Each one is counted, reported with its
/// position, and skipped; reading goes on at the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionReason {
    /// CRC32C of the fragment data does not match its header.
    Crc { expected: u32, actual: u32 },
    /// The low three bits of a non-zero header byte are not 1..=4.
    InvalidFragmentType(u8),
    /// `7 + length` exceeds the 32 KiB page.
    FragmentTooLarge(usize),
    /// A `full`/`first` fragment while a record was being assembled, or a
    /// `middle`/`last` one without a preceding `first`.
    UnexpectedFragment { got: &'static str, in_record: bool },
    /// Zero padding up to a page boundary contains a non-zero byte.
    NonZeroPadding,
    /// A sealed segment ends inside a fragment or inside a multi-fragment record.
    TornTail,
    /// The record's compressed bytes did not decompress.
    Decompress { codec: &'static str, msg: String },
    /// The record decompresses to more than the allowed maximum.
    RecordTooLarge(usize),
}

impl CorruptionReason {
    /// Short stable label for counters (`reason="..."`).
    pub fn label(&self) -> &'static str {
        match self {
            CorruptionReason::Crc { .. } => "crc_mismatch",
            CorruptionReason::InvalidFragmentType(_) => "invalid_fragment_type",
            CorruptionReason::FragmentTooLarge(_) => "fragment_too_large",
            CorruptionReason::UnexpectedFragment { .. } => "unexpected_fragment",
            CorruptionReason::NonZeroPadding => "non_zero_padding",
            CorruptionReason::TornTail => "torn_tail",
            CorruptionReason::Decompress { .. } => "decompress",
            CorruptionReason::RecordTooLarge(_) => "record_too_large",
        }
    }
}

impl std::fmt::Display for CorruptionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorruptionReason::Crc { expected, actual } => write!(
                f,
                "checksum mismatch: header says {expected:#010x}, data has {actual:#010x}"
            ),
            CorruptionReason::InvalidFragmentType(b) => {
                write!(f, "invalid fragment header byte {b:#04x}")
            }
            CorruptionReason::FragmentTooLarge(n) => {
                write!(f, "fragment of {n} bytes does not fit in a 32 KiB page")
            }
            CorruptionReason::UnexpectedFragment { got, in_record } => {
                if *in_record {
                    write!(f, "unexpected {got} fragment inside a record")
                } else {
                    write!(
                        f,
                        "unexpected {got} fragment without a preceding first fragment"
                    )
                }
            }
            CorruptionReason::NonZeroPadding => {
                write!(f, "unexpected non-zero byte in padded page")
            }
            CorruptionReason::TornTail => write!(f, "last record is torn"),
            CorruptionReason::Decompress { codec, msg } => {
                write!(f, "{codec} decompression failed: {msg}")
            }
            CorruptionReason::RecordTooLarge(n) => {
                write!(f, "record decompresses to {n} bytes, over the limit")
            }
        }
    }
}

/// A corrupt stretch of a segment: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Index of the checkpoint the segment belongs to, if it is a checkpoint segment.
    pub checkpoint: Option<u64>,
    pub segment: u64,
    pub offset: u64,
    pub reason: CorruptionReason,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.checkpoint {
            Some(cp) => write!(
                f,
                "checkpoint.{cp:08} segment {:08} offset {}: {}",
                self.segment, self.offset, self.reason
            ),
            None => write!(
                f,
                "segment {:08} offset {}: {}",
                self.segment, self.offset, self.reason
            ),
        }
    }
}
