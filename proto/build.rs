//! Compiles `yimen/v1/*.proto` with protox (pure Rust: no system `protoc`) and keeps the file
//! descriptor set for server reflection.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "yimen/v1/common.proto",
        "yimen/v1/intake.proto",
        "yimen/v1/dispatch.proto",
        "yimen/v1/mediation.proto",
        "yimen/v1/analysis.proto",
        "yimen/v1/assessment.proto",
        "yimen/v1/audit.proto",
        "yimen/v1/events.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("yimen_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // prost's codec, but a malformed request is the caller's error (src/codec.rs).
        .codec_path("crate::codec::Codec")
        .compile_fds(descriptors)?;
    Ok(())
}
