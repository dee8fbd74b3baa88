//! One small text file per endpoint under `<storage.path>/progress/`, replaced atomically.
//!
//! ```text
//! # ringwrite progress: every sample before this WAL position was acknowledged.
//! endpoint=mimir
//! url=https://mimir.example/api/v1/push
//! segment=12
//! offset=65536
//! updated_unix_ms=1700000000000
//! ```

use crate::wal::reader::Position;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A failure to read or write saved progress.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error("cannot {op} {}: {source} (check that --storage.path is writable and has free space)", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: {why} (delete the file to start this endpoint afresh)", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
}

/// What is saved for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub endpoint: String,
    /// Redacted URL, for people reading the file.
    pub url: String,
    pub position: Position,
    pub updated_unix_ms: i64,
}

/// The `progress/` directory.
#[derive(Debug, Clone)]
pub struct ProgressStore {
    dir: PathBuf,
}

impl ProgressStore {
    /// Opens (creating) `<storage>/progress`.
    pub fn open(storage: &Path) -> Result<ProgressStore, ProgressError> {
        let dir = storage.join("progress");
        std::fs::create_dir_all(&dir).map_err(|source| ProgressError::Io {
            op: "create directory",
            path: dir.clone(),
            source,
        })?;
        Ok(ProgressStore { dir })
    }

    /// The file name for an endpoint: its configured name when it has one (stable across
    /// config edits), else a hash of its URL (a generated name changes with any edit).
    pub fn key(explicit_name: Option<&str>, url: &str) -> String {
        match explicit_name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let clean: String = n
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                format!("name-{clean}")
            }
            None => {
                let d = ring::digest::digest(&ring::digest::SHA256, url.as_bytes());
                let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("url-{hex}")
            }
        }
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.progress"))
    }

    /// The saved progress of `key`, if any.
    pub fn load(&self, key: &str) -> Result<Option<Saved>, ProgressError> {
        let path = self.path(key);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ProgressError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        parse(&text, &path).map(Some)
    }

    /// Replaces the saved progress of `key`: temp file, fsync, rename, fsync directory.
    pub fn save(&self, key: &str, saved: &Saved) -> Result<(), ProgressError> {
        let path = self.path(key);
        let tmp = self.dir.join(format!("{key}.progress.tmp"));
        let io = |op: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| ProgressError::Io {
                op,
                path: p,
                source,
            }
        };
        let text = format!(
            "# ringwrite progress: every sample before this WAL position was acknowledged.\n\
             endpoint={}\nurl={}\nsegment={}\noffset={}\nupdated_unix_ms={}\n",
            one_line(&saved.endpoint),
            one_line(&saved.url),
            saved.position.segment,
            saved.position.offset,
            saved.updated_unix_ms
        );
        let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io("rename into place", &path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory", &self.dir))?;
        Ok(())
    }
}

/// An endpoint about to start, for [`ProgressStore::adopt_renamed`].
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Its progress key ([`ProgressStore::key`]).
    pub key: String,
    /// Its redacted URL, as saved in progress files.
    pub url: String,
}

impl ProgressStore {
    /// Progress left by a renamed endpoint: for each wanted endpoint with no file of its
    /// own, a file that no configured endpoint owns and that was saved for the same URL
    /// becomes its file (renamed), when exactly one such file and one such endpoint exist.
    /// Without this a renamed endpoint would start as on a first start, at the end of the
    /// WAL, and skip what arrived while it was down. Returns the adoptions (old key, new
    /// key); the caller logs them.
    pub fn adopt_renamed(&self, wanted: &[Wanted]) -> Vec<(String, String)> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let owned: std::collections::HashSet<&str> =
            wanted.iter().map(|w| w.key.as_str()).collect();
        // Orphaned files by URL.
        let mut orphans: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key) = name.strip_suffix(".progress") else {
                continue;
            };
            if owned.contains(key) {
                continue;
            }
            if let Ok(Some(saved)) = self.load(key) {
                orphans.entry(saved.url).or_default().push(key.to_string());
            }
        }
        let mut adopted = Vec::new();
        for w in wanted {
            if self.path(&w.key).exists() {
                continue;
            }
            let same_url = wanted
                .iter()
                .filter(|o| o.url == w.url && !self.path(&o.key).exists())
                .count();
            let Some([old]) = orphans.get(&w.url).map(Vec::as_slice) else {
                continue;
            };
            if same_url == 1 && std::fs::rename(self.path(old), self.path(&w.key)).is_ok() {
                let _ = File::open(&self.dir).and_then(|d| d.sync_all());
                adopted.push((old.clone(), w.key.clone()));
            }
        }
        adopted
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn parse(text: &str, path: &Path) -> Result<Saved, ProgressError> {
    let bad = |line: usize, why: String| ProgressError::Corrupt {
        path: path.to_path_buf(),
        line,
        why,
    };
    let mut saved = Saved {
        endpoint: String::new(),
        url: String::new(),
        position: Position::default(),
        updated_unix_ms: 0,
    };
    let (mut seg, mut off) = (None, None);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(bad(i + 1, format!("expected key=value, got {line:?}")));
        };
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| bad(i + 1, format!("{k} is not a number: {v:?}")))
        };
        match k {
            "endpoint" => saved.endpoint = v.to_string(),
            "url" => saved.url = v.to_string(),
            "segment" => seg = Some(num(v)?),
            "offset" => off = Some(num(v)?),
            "updated_unix_ms" => saved.updated_unix_ms = num(v)? as i64,
            _ => {} // newer versions may add keys
        }
    }
    match (seg, off) {
        (Some(segment), Some(offset)) => {
            saved.position = Position { segment, offset };
            Ok(saved)
        }
        _ => Err(bad(0, "segment= and offset= are required".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(name: &str, url: &str, segment: u64) -> Saved {
        Saved {
            endpoint: name.into(),
            url: url.into(),
            position: Position { segment, offset: 0 },
            updated_unix_ms: 1,
        }
    }

    #[test]
    fn a_renamed_endpoint_adopts_its_old_progress() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProgressStore::open(dir.path()).unwrap();
        let (old, new) = ("name-old", "name-new");
        store.save(old, &saved("old", "http://a/push", 7)).unwrap();
        store
            .save("name-b", &saved("b", "http://b/push", 3))
            .unwrap();
        let wanted = [
            Wanted {
                key: new.into(),
                url: "http://a/push".into(),
            },
            Wanted {
                key: "name-b".into(),
                url: "http://b/push".into(),
            },
        ];
        assert_eq!(
            store.adopt_renamed(&wanted),
            vec![(old.to_string(), new.to_string())]
        );
        assert_eq!(store.load(new).unwrap().unwrap().position.segment, 7);
        assert_eq!(store.load(old).unwrap(), None);
        // Done once: nothing left to adopt.
        assert!(store.adopt_renamed(&wanted).is_empty());
    }

    #[test]
    fn ambiguous_or_owned_progress_is_not_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProgressStore::open(dir.path()).unwrap();
        store
            .save("name-x", &saved("x", "http://a/push", 1))
            .unwrap();
        store
            .save("name-y", &saved("y", "http://a/push", 2))
            .unwrap();
        // Two orphans for one URL: which one is the old name is unknown.
        let one = [Wanted {
            key: "name-z".into(),
            url: "http://a/push".into(),
        }];
        assert!(store.adopt_renamed(&one).is_empty());
        // Two new endpoints for one orphan: same.
        std::fs::remove_file(store.path("name-y")).unwrap();
        let two = [
            Wanted {
                key: "name-z".into(),
                url: "http://a/push".into(),
            },
            Wanted {
                key: "name-w".into(),
                url: "http://a/push".into(),
            },
        ];
        assert!(store.adopt_renamed(&two).is_empty());
        // A file whose endpoint is still configured is never taken.
        let owned = [
            Wanted {
                key: "name-x".into(),
                url: "http://a/push".into(),
            },
            Wanted {
                key: "name-z".into(),
                url: "http://a/push".into(),
            },
        ];
        assert!(store.adopt_renamed(&owned).is_empty());
        assert!(store.path("name-x").exists());
    }

    #[test]
    fn save_then_load_round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProgressStore::open(dir.path()).unwrap();
        let key = ProgressStore::key(Some("mimir prod"), "http://x");
        assert_eq!(key, "name-mimir_prod");
        assert_eq!(store.load(&key).unwrap(), None);
        let mut s = Saved {
            endpoint: "mimir prod".into(),
            url: "http://x".into(),
            position: Position {
                segment: 3,
                offset: 777,
            },
            updated_unix_ms: 5,
        };
        store.save(&key, &s).unwrap();
        assert_eq!(store.load(&key).unwrap(), Some(s.clone()));
        s.position.offset = 900;
        store.save(&key, &s).unwrap();
        assert_eq!(store.load(&key).unwrap().unwrap().position.offset, 900);
        // No temp file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("progress"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn url_keys_differ_per_url_and_corrupt_files_say_where() {
        let a = ProgressStore::key(None, "http://a/push");
        let b = ProgressStore::key(Some(""), "http://b/push");
        assert!(a.starts_with("url-") && b.starts_with("url-") && a != b);
        let dir = tempfile::tempdir().unwrap();
        let store = ProgressStore::open(dir.path()).unwrap();
        std::fs::write(store.path("k"), "segment=x\noffset=1\n").unwrap();
        let e = store.load("k").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("segment"), "{e}");
        std::fs::write(store.path("k"), "offset=1\n").unwrap();
        assert!(store.load("k").is_err());
    }
}
