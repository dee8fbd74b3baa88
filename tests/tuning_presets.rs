//! The presets in tuning/presets/ load as ringwrite configs and keep the rules that
//! tuning/README.md derives from the benchmark results: capacity 3-10 x the batch size,
//! enough shards for the preset's rate at 50 ms per request, and enough cores at ~3 M
//! samples/s per core loop (bench/RESULTS.md, pipeline) kept at most 70 % busy.

use std::path::Path;

use ringwrite::config::{Config, Cores};

/// Samples/s one core loop ships (bench/RESULTS.md, pipeline, idle machine: 2.9-3.4 M).
const PER_CORE: f64 = 3.0e6;
/// Request latency the shard ceiling must cover.
const LATENCY_S: f64 = 0.05;

#[test]
fn presets_load_and_fit_their_rate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/presets");
    // (file, samples/s the preset is for)
    let presets = [
        ("node-100k.yml", 100e3),
        ("node-1m.yml", 1e6),
        ("node-10m.yml", 10e6),
    ];
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tuning/presets exists") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            presets.iter().any(|(f, _)| *f == name),
            "{name}: a preset without a rate in this test"
        );
        seen += 1;
    }
    assert_eq!(seen, presets.len());
    for (file, rate) in presets {
        let cfg = Config::load(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(cfg.remote_write.len(), 1, "{file}");
        let q = &cfg.remote_write[0].config.queue_config;
        let batch = q.max_samples_per_send;
        assert!(
            (3 * batch..=10 * batch).contains(&q.capacity),
            "{file}: capacity {} not 3-10 x max_samples_per_send {batch}",
            q.capacity
        );
        assert!(q.min_shards <= q.max_shards, "{file}");
        let shard_ceiling = q.max_shards as f64 * batch as f64 / LATENCY_S;
        assert!(
            shard_ceiling >= rate,
            "{file}: {} shards x {batch} / {LATENCY_S} s = {shard_ceiling} < {rate}",
            q.max_shards
        );
        let cores = match &cfg.ringwrite.cores {
            Some(Cores::Count(n)) => *n,
            Some(Cores::List(ids)) => ids.len(),
            None => panic!("{file}: a preset must say how many cores"),
        };
        assert!(
            cores as f64 * PER_CORE * 0.7 >= rate,
            "{file}: {cores} cores at 70 % of {PER_CORE} samples/s < {rate}"
        );
    }
}
