//! Generates the tonic/prost code for `loadlab.proto` with `protox`, a protobuf
//! compiler written in Rust, so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=loadlab.proto");
    let descriptors = protox::compile(["loadlab.proto"], ["."])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
