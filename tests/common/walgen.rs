//! Test WALs in Prometheus's layout, written with ringwrite's WAL writer: one Series
//! record for the test series (refs 1, 2, ...), then one Samples record per scrape.
#![allow(dead_code)]

use ringwrite::record::{encode, RefSample};
use ringwrite::wal::writer::WalWriter;

/// Labels of `n` test series: `__name__` = `name`, the `extra` pairs, and `i` = the
/// series' index zero-padded to `width` digits, sorted by name as Prometheus keeps them.
pub fn indexed_labels(
    name: &str,
    extra: &[(&str, &str)],
    n: u64,
    width: usize,
) -> Vec<Vec<(String, String)>> {
    (0..n)
        .map(|i| {
            let mut l = vec![
                ("__name__".to_string(), name.to_string()),
                ("i".to_string(), format!("{i:0width$}")),
            ];
            l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            l.sort();
            l
        })
        .collect()
}

/// Logs one Series record giving `labels[k]` the ref `k + 1`.
pub fn log_series(w: &mut WalWriter, labels: &[Vec<(String, String)>]) {
    let mut b = Vec::new();
    encode::series(
        &mut b,
        labels.iter().enumerate().map(|(i, l)| (i as u64 + 1, l)),
    );
    w.log(&[&b]).unwrap();
}

/// Logs one scrape of the series with refs `1..=n` at `t`, the series of index `i`
/// (ref `i + 1`) valued `v(i)`; returns the samples logged.
pub fn log_scrape(w: &mut WalWriter, n: u64, t: i64, v: impl Fn(u64) -> f64) -> Vec<RefSample> {
    let batch: Vec<RefSample> = (0..n)
        .map(|i| RefSample {
            sref: i + 1,
            t,
            st: 0,
            v: v(i),
        })
        .collect();
    log_samples(w, &batch);
    batch
}

/// Logs one Samples record.
pub fn log_samples(w: &mut WalWriter, batch: &[RefSample]) {
    let mut b = Vec::new();
    encode::samples_v1(&mut b, batch);
    w.log(&[&b]).unwrap();
}
