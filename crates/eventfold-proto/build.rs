//! Generates the protocol code from `proto/` at build time. The files are
//! parsed by `protox` (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/shared.proto",
        "proto/code.proto",
        "proto/status.proto",
        "proto/streams.proto",
        "proto/serverfeatures.proto",
        "proto/gossip.proto",
        "proto/persistent.proto",
        "proto/operations.proto",
        "proto/projections.proto",
        "proto/users.proto",
        "proto/v2streams.proto",
        "proto/v2errors.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    // Our codec: a request that does not decode is the client's fault.
    tonic_prost_build::configure()
        .bytes(".")
        .codec_path("crate::codec::ProtoCodec")
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
