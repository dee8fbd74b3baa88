//! The top-level `ringwrite:` section: ringwrite's own settings, all optional. Command-line
//! flags override them (the CLI merges; this module only parses and checks them).
//!
//! ```yaml
//! ringwrite:
//!   wal_dir: /prometheus/wal          # the WAL to tail (or the Prometheus data dir)
//!   storage_path: /var/lib/ringwrite  # progress ledger and other state
//!   cores: 4                          # how many cores to pin, or a list: [2, 3, 4, 5]
//!   web_listen_address: ":9095"       # /metrics, /-/healthy, /-/ready, /-/reload
//!   wal_on_truncation: keep           # keep segments Prometheus deletes (or `ignore`)
//!   max_spool_bytes: 8GB              # disk the kept segments may use (B, KB, MB, GB, TB; base 1024)
//! ```
//!
//! Relative paths are taken relative to the config file's directory.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::http_client::{de_opt_path, resolve};

/// The `ringwrite:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RingwriteConfig {
    #[serde(default, deserialize_with = "de_opt_path")]
    pub wal_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_opt_path")]
    pub storage_path: Option<PathBuf>,
    #[serde(default)]
    pub cores: Option<Cores>,
    /// `host:port`, `:port` or `[v6]:port`, as Prometheus's `--web.listen-address`.
    #[serde(default)]
    pub web_listen_address: Option<String>,
    /// What to do when Prometheus deletes segments an endpoint has not finished:
    /// `keep` them in the spool under `storage_path` (default) or `ignore` (lose them).
    #[serde(default)]
    pub wal_on_truncation: OnTruncation,
    /// Disk the spool may use for segments only it still holds (default 8GB).
    #[serde(default, deserialize_with = "de_opt_bytes")]
    pub max_spool_bytes: Option<u64>,
}

/// `wal_on_truncation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTruncation {
    #[default]
    Keep,
    Ignore,
}

/// Default `max_spool_bytes`: 8 GiB.
pub const DEFAULT_MAX_SPOOL_BYTES: u64 = 8 << 30;

/// Parses a size like Prometheus's `--storage.tsdb.retention.size`: a number with an
/// optional unit B, KB, MB, GB, TB, PB (powers of 1024; `KiB`.. accepted too).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (want e.g. 512MB or 8GB)"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" | "K" => 1 << 10,
        "MB" | "MIB" | "M" => 1 << 20,
        "GB" | "GIB" | "G" => 1 << 30,
        "TB" | "TIB" | "T" => 1 << 40,
        "PB" | "PIB" | "P" => 1 << 50,
        u => {
            return Err(format!(
                "{s:?}: unknown unit {u:?} (use B, KB, MB, GB, TB or PB)"
            ))
        }
    };
    Ok((n * mult as f64) as u64)
}

fn de_opt_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::N(n)) => Ok(Some(n)),
        Some(Raw::S(s)) => parse_bytes(&s).map(Some).map_err(de::Error::custom),
    }
}

/// `cores`: how many cores to run on, or exactly which ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cores {
    /// Use this many cores (the runtime picks them).
    Count(usize),
    /// Pin to exactly these core ids.
    List(Vec<usize>),
}

impl<'de> Deserialize<'de> for Cores {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CoresVisitor;
        impl<'de> Visitor<'de> for CoresVisitor {
            type Value = Cores;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of cores (4) or a list of core ids ([0, 1, 2])")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cores, E> {
                usize::try_from(v)
                    .map(Cores::Count)
                    .map_err(|_| E::custom("core count too large"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cores, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<usize>()? {
                    ids.push(id);
                }
                Ok(Cores::List(ids))
            }
        }
        d.deserialize_any(CoresVisitor)
    }
}

impl RingwriteConfig {
    /// Checks the values and makes paths absolute against `base_dir`. On error returns the
    /// key and the reason.
    pub(crate) fn validate(
        &mut self,
        base_dir: Option<&Path>,
    ) -> Result<(), (&'static str, String)> {
        match &self.cores {
            Some(Cores::Count(0)) => return Err(("cores", "must be at least 1".into())),
            Some(Cores::List(ids)) if ids.is_empty() => {
                return Err(("cores", "the list of core ids is empty".into()))
            }
            Some(Cores::List(ids)) => {
                let mut seen = BTreeSet::new();
                if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
                    return Err(("cores", format!("core {dup} is listed twice")));
                }
            }
            _ => {}
        }
        if let Some(addr) = &self.web_listen_address {
            check_listen_address(addr).map_err(|r| ("web_listen_address", r))?;
        }
        resolve(&mut self.wal_dir, base_dir);
        resolve(&mut self.storage_path, base_dir);
        Ok(())
    }
}

/// `[host]:port` with a numeric port; the host may be empty (all interfaces), a name, an
/// IPv4 address or a bracketed IPv6 address.
fn check_listen_address(addr: &str) -> Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("{addr:?} has no port (want host:port or :port)"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("{addr:?}: port {port:?} is not a number 0..65535"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{addr:?}: write an IPv6 host in brackets, [::1]:9095"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_prometheus() {
        for (s, want) in [
            ("0", Some(0)),
            ("512", Some(512)),
            ("512B", Some(512)),
            ("4KB", Some(4096)),
            ("8GB", Some(8 << 30)),
            ("1.5MB", Some(3 << 19)),
            ("2TiB", Some(2 << 40)),
            ("8 GB", Some(8 << 30)),
            ("8XB", None),
            ("GB", None),
        ] {
            assert_eq!(parse_bytes(s).ok(), want, "{s}");
        }
    }

    fn parse(yaml: &str) -> Result<RingwriteConfig, String> {
        let mut c: RingwriteConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        c.validate(Some(Path::new("/etc/rw")))
            .map_err(|(k, r)| format!("{k}: {r}"))?;
        Ok(c)
    }

    #[test]
    fn full_section() {
        let c = parse(
            "wal_dir: data/wal\nstorage_path: /var/lib/rw\ncores: [2, 3]\nweb_listen_address: ':9095'\nwal_on_truncation: ignore\nmax_spool_bytes: 2GB",
        );
        assert_eq!(
            c,
            Ok(RingwriteConfig {
                wal_dir: Some(PathBuf::from("/etc/rw/data/wal")),
                storage_path: Some(PathBuf::from("/var/lib/rw")),
                cores: Some(Cores::List(vec![2, 3])),
                web_listen_address: Some(":9095".into()),
                wal_on_truncation: OnTruncation::Ignore,
                max_spool_bytes: Some(2 << 30),
            })
        );
        assert_eq!(
            parse("cores: 4").map(|c| c.cores),
            Ok(Some(Cores::Count(4)))
        );
        assert_eq!(parse("{}"), Ok(RingwriteConfig::default()));
    }

    #[test]
    fn errors_table() {
        let cases = [
            ("cores: 0", "cores: must be at least 1"),
            ("cores: []", "cores: the list of core ids is empty"),
            ("cores: [1, 1]", "cores: core 1 is listed twice"),
            ("cores: many", "expected a number of cores"),
            ("web_listen_address: localhost", "has no port"),
            ("web_listen_address: 'a:b'", "is not a number"),
            ("web_listen_address: '::1:80'", "in brackets"),
            ("wal: /x", "unknown field `wal`"),
        ];
        for (yaml, want) in cases {
            match parse(yaml) {
                Err(e) => assert!(e.contains(want), "{yaml}: {e}"),
                Ok(c) => panic!("{yaml}: accepted {c:?}"),
            }
        }
        assert!(parse("web_listen_address: '[::1]:9095'").is_ok());
        assert!(parse("web_listen_address: '0.0.0.0:9095'").is_ok());
    }
}
