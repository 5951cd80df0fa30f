//! Generates the tonic/prost code for `loadlab.proto` with `protox`, a protobuf
//! compiler written in Rust, so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=loadlab.proto");
    let descriptors = protox::compile(["loadlab.proto"], ["."])?;
    // An assignment is large beside the stream's other messages (heartbeats
    // every second): boxed, it does not size them all.
    tonic_prost_build::configure()
        .boxed(".loadlab.v1.CoordinatorMessage.kind.assignment")
        .compile_fds(descriptors)?;
    Ok(())
}
