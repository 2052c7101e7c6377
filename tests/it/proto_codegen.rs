//! The committed Rust types of the Prometheus protobuf format
//! (`src/export/proto/io.prometheus.client.rs`) are what prost-build
//! generates from `src/export/proto/metrics.proto` (the official
//! `io.prometheus.client` messages), compiled by protox: building
//! tailwatch never needs `protoc`.
//!
//! To regenerate after changing the .proto (or prost):
//! `TAILWATCH_WRITE_PROTO=1 cargo test --test it proto_codegen`.

use std::path::PathBuf;

fn generate() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/export/proto");
    let files =
        protox::compile([dir.join("metrics.proto")], [&dir]).expect("metrics.proto compiles");
    let out = std::env::temp_dir().join(format!("tailwatch-proto-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(files)
        .expect("prost-build generates the messages");
    let code = std::fs::read_to_string(out.join("io.prometheus.client.rs")).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    code
}

/// The code without whitespace: formatting (rustfmt) may differ, tokens may not.
fn tokens(code: &str) -> String {
    code.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//"))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

#[test]
fn committed_messages_are_the_generated_ones() {
    let generated = generate();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/export/proto/io.prometheus.client.rs");
    if std::env::var_os("TAILWATCH_WRITE_PROTO").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        tokens(&committed) == tokens(&generated),
        "{} is not what prost-build generates from metrics.proto; regenerate with \
         TAILWATCH_WRITE_PROTO=1 cargo test --test it proto_codegen",
        path.display()
    );
}
