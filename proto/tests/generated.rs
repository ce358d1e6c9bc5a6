//! The committed generated code (`src/generated/fleetbench.v1.rs`) is what tonic-prost-build makes
//! of `proto/fleetbench/v1/control.proto` today. After changing the .proto, run
//! `FLEETBENCH_REGENERATE=1 cargo test -p fleetbench-proto` to rewrite it.

use std::path::Path;

#[test]
fn the_committed_code_is_generated_from_the_current_proto() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("fleetbench-proto-gen-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temporary directory");
    let descriptors = protox::compile(
        [root.join("proto/fleetbench/v1/control.proto")],
        [root.join("proto")],
    )
    .expect("control.proto compiles");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(&out)
        .compile_fds(descriptors)
        .expect("code generation");
    let fresh = std::fs::read_to_string(out.join("fleetbench.v1.rs")).expect("generated file");
    let _ = std::fs::remove_dir_all(&out);
    let committed_path = root.join("src/generated/fleetbench.v1.rs");
    if std::env::var_os("FLEETBENCH_REGENERATE").is_some() {
        std::fs::write(&committed_path, &fresh).expect("rewrite the committed code");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).expect("committed file");
    assert!(
        committed == fresh,
        "{} is not what control.proto generates now: run `FLEETBENCH_REGENERATE=1 cargo test -p fleetbench-proto` and commit the result",
        committed_path.display()
    );
}
