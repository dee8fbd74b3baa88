//! Keeps the committed prost types in `src/encode/proto/` in sync with `proto/`.
//!
//! The reference types are generated once and committed, so building ringwrite needs
//! neither protoc nor a build script. This test regenerates them with the pure-Rust
//! `protox` compiler and `prost-build` and fails if the committed files differ.
//! To update them after editing `proto/`, run
//! `RINGWRITE_BLESS_PROTO=1 cargo test --test encode_proto_sync`.

use std::path::{Path, PathBuf};

/// (generated file name, committed file name)
const OUTPUTS: [(&str, &str); 2] = [
    ("prometheus.rs", "v1_generated.rs"),
    ("io.prometheus.write.v2.rs", "v2_generated.rs"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate(out: &Path) {
    let proto = root().join("proto");
    let files = [
        proto.join("prompb/remote.proto"),
        proto.join("io/prometheus/write/v2/types.proto"),
    ];
    let includes = [proto.join("prompb"), proto.clone()];
    let fds = protox::compile(files, includes).expect("proto/ must compile");
    prost_build::Config::new()
        .out_dir(out)
        .compile_fds(fds)
        .expect("prost-build must generate code");
}

#[test]
fn committed_proto_types_match_proto_files() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path());
    let committed_dir = root().join("src/encode/proto");
    let bless = std::env::var_os("RINGWRITE_BLESS_PROTO").is_some();
    for (generated, committed) in OUTPUTS {
        let fresh = std::fs::read_to_string(tmp.path().join(generated)).unwrap();
        let path = committed_dir.join(committed);
        if bless {
            std::fs::write(&path, &fresh).unwrap();
            continue;
        }
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            old == fresh,
            "{} is stale: regenerate with RINGWRITE_BLESS_PROTO=1 cargo test --test encode_proto_sync",
            path.display()
        );
    }
}
