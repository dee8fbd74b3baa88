//! Finding segments and checkpoints in a WAL directory (FORMATS.md §1.1).

use super::error::WalError;
use std::path::{Path, PathBuf};

/// A numbered segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    pub index: u64,
    pub path: PathBuf,
}

/// A `checkpoint.N` directory. Its index `N` is the last WAL segment it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRef {
    pub index: u64,
    pub path: PathBuf,
}

/// What a directory listing found besides segments and checkpoints.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    pub segments: Vec<SegmentRef>,
    pub checkpoints: Vec<CheckpointRef>,
    /// Entries that are neither (e.g. `00000003.repair`, editor files): ignored.
    pub ignored: Vec<PathBuf>,
}

/// Resolves what the user passed: the WAL directory itself, or a Prometheus data
/// directory holding `wal/` (server) — agent data directories have the same layout.
pub fn resolve_wal_dir(path: &Path) -> Result<PathBuf, WalError> {
    let meta = std::fs::metadata(path).map_err(|e| WalError::NotAWalDir {
        path: path.to_path_buf(),
        why: format!("cannot read it: {e}"),
    })?;
    if !meta.is_dir() {
        return Err(WalError::NotAWalDir {
            path: path.to_path_buf(),
            why: "it is not a directory".into(),
        });
    }
    let nested = path.join("wal");
    if nested.is_dir() && !looks_like_wal(path)? {
        return Ok(nested);
    }
    if !looks_like_wal(path)? {
        return Err(WalError::NotAWalDir {
            path: path.to_path_buf(),
            why: "it holds no numbered segment file and no checkpoint.N directory".into(),
        });
    }
    Ok(path.to_path_buf())
}

fn looks_like_wal(dir: &Path) -> Result<bool, WalError> {
    let l = list(dir)?;
    Ok(!l.segments.is_empty() || !l.checkpoints.is_empty())
}

/// Parses a name the way Go's `strconv.Atoi` would for a segment: an optional `+`, then
/// decimal digits. Negative numbers are not segments.
fn parse_index(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('+').unwrap_or(name);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Lists segments (sorted by index) and checkpoints (sorted by index) of `dir`.
/// Checkpoints still being written (`checkpoint.N.tmp`) are skipped. A segment gap is
/// not checked here: see [`check_sequential`].
pub fn list(dir: &Path) -> Result<Listing, WalError> {
    let rd = std::fs::read_dir(dir).map_err(|e| WalError::io(dir, "read directory", e))?;
    let mut out = Listing::default();
    for ent in rd {
        let ent = ent.map_err(|e| WalError::io(dir, "read directory", e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            out.ignored.push(ent.path());
            continue;
        };
        if let Some(index) = parse_index(name) {
            out.segments.push(SegmentRef {
                index,
                path: ent.path(),
            });
        } else if let Some(rest) = name.strip_prefix("checkpoint.") {
            match parse_index(rest) {
                Some(index) => {
                    let ft = ent
                        .file_type()
                        .map_err(|e| WalError::io(ent.path(), "stat", e))?;
                    if !ft.is_dir() {
                        return Err(WalError::CheckpointNotDir { path: ent.path() });
                    }
                    out.checkpoints.push(CheckpointRef {
                        index,
                        path: ent.path(),
                    });
                }
                None => out.ignored.push(ent.path()),
            }
        } else {
            out.ignored.push(ent.path());
        }
    }
    out.segments.sort_by_key(|s| s.index);
    out.checkpoints.sort_by_key(|c| c.index);
    Ok(out)
}

/// Adds to `into` the segments and checkpoints of `extra` that `into` lacks (by index):
/// the WAL's own files win over a spool's copies.
pub fn merge_listing(into: &mut Listing, extra: Listing) {
    for s in extra.segments {
        if !into.segments.iter().any(|x| x.index == s.index) {
            into.segments.push(s);
        }
    }
    for c in extra.checkpoints {
        if !into.checkpoints.iter().any(|x| x.index == c.index) {
            into.checkpoints.push(c);
        }
    }
    into.segments.sort_by_key(|s| s.index);
    into.checkpoints.sort_by_key(|c| c.index);
}

/// The lowest segment index in `wal` or (if given) `fallback`.
pub fn first_segment(wal: &Path, fallback: Option<&Path>) -> Result<Option<u64>, WalError> {
    let mut l = list(wal)?;
    if let Some(fb) = fallback.filter(|f| f.is_dir()) {
        merge_listing(&mut l, list(fb)?);
    }
    Ok(l.segments.first().map(|s| s.index))
}

/// Errors naming the first missing index if `segments` (sorted) has a gap.
pub fn check_sequential(dir: &Path, segments: &[SegmentRef]) -> Result<(), WalError> {
    for w in segments.windows(2) {
        if w[1].index != w[0].index + 1 {
            return Err(WalError::SegmentGap {
                dir: dir.to_path_buf(),
                missing: w[0].index + 1,
                before: w[0].index,
                after: w[1].index,
            });
        }
    }
    Ok(())
}

/// The directory name Prometheus gives checkpoint `index`.
pub fn checkpoint_name(index: u64) -> String {
    format!("checkpoint.{index:08}")
}

/// The file name Prometheus gives segment `index`.
pub fn segment_name(index: u64) -> String {
    format!("{index:08}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_prefers_the_wal_and_keeps_order() {
        let seg = |d: &str, i: u64| SegmentRef {
            index: i,
            path: PathBuf::from(d).join(segment_name(i)),
        };
        let mut wal = Listing {
            segments: vec![seg("wal", 5), seg("wal", 6)],
            ..Listing::default()
        };
        let spool = Listing {
            segments: vec![seg("spool", 3), seg("spool", 4), seg("spool", 5)],
            checkpoints: vec![CheckpointRef {
                index: 2,
                path: PathBuf::from("spool/checkpoint.00000002"),
            }],
            ..Listing::default()
        };
        merge_listing(&mut wal, spool);
        let got: Vec<_> = wal.segments.iter().map(|s| s.path.clone()).collect();
        assert_eq!(
            got,
            vec![
                seg("spool", 3).path,
                seg("spool", 4).path,
                seg("wal", 5).path,
                seg("wal", 6).path
            ]
        );
        assert_eq!(wal.checkpoints.len(), 1);
    }

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), b"").unwrap();
    }

    #[test]
    fn parse_index_like_atoi() {
        for (s, want) in [
            ("00000000", Some(0)),
            ("00000123", Some(123)),
            ("123456789", Some(123456789)),
            ("+7", Some(7)),
            ("-1", None),
            ("", None),
            ("0000001a", None),
            ("00000003.repair", None),
        ] {
            assert_eq!(parse_index(s), want, "{s:?}");
        }
    }

    #[test]
    fn lists_segments_and_checkpoints_sorted() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "00000012",
            "00000010",
            "00000011",
            "junk",
            "00000009.repair",
        ] {
            touch(d.path(), n);
        }
        std::fs::create_dir(d.path().join("checkpoint.00000009")).unwrap();
        std::fs::create_dir(d.path().join("checkpoint.00000005")).unwrap();
        std::fs::create_dir(d.path().join("checkpoint.00000011.tmp")).unwrap();
        let l = list(d.path()).unwrap();
        let idx: Vec<u64> = l.segments.iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![10, 11, 12]);
        let cps: Vec<u64> = l.checkpoints.iter().map(|c| c.index).collect();
        assert_eq!(cps, vec![5, 9]);
        assert_eq!(l.ignored.len(), 3);
        check_sequential(d.path(), &l.segments).unwrap();
    }

    #[test]
    fn gap_names_the_missing_index() {
        let d = tempfile::tempdir().unwrap();
        for n in ["00000001", "00000002", "00000005"] {
            touch(d.path(), n);
        }
        let l = list(d.path()).unwrap();
        let err = check_sequential(d.path(), &l.segments).unwrap_err();
        assert!(
            matches!(
                err,
                WalError::SegmentGap {
                    missing: 3,
                    before: 2,
                    after: 5,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("segment 3 is missing"));
    }

    #[test]
    fn checkpoint_file_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "checkpoint.00000001");
        assert!(matches!(
            list(d.path()),
            Err(WalError::CheckpointNotDir { .. })
        ));
    }

    #[test]
    fn resolves_data_dir_and_rejects_others() {
        let d = tempfile::tempdir().unwrap();
        let wal = d.path().join("wal");
        std::fs::create_dir(&wal).unwrap();
        touch(&wal, "00000000");
        assert_eq!(resolve_wal_dir(d.path()).unwrap(), wal);
        assert_eq!(resolve_wal_dir(&wal).unwrap(), wal);
        let empty = tempfile::tempdir().unwrap();
        let e = resolve_wal_dir(empty.path()).unwrap_err().to_string();
        assert!(e.contains("expected `<data>/wal`"), "{e}");
        let e = resolve_wal_dir(&d.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
    }
}
