//! Generates the tonic server traits of the Temporal services from the descriptor set that
//! `temporalio-protos` exports. Only services are generated: every message maps back to the
//! crate's own types through `extern_path`, so there is one definition of each message.
//! The gRPC path of every method goes to `rpc_paths.rs`, for the metrics of each RPC.

use prost::Message;
use prost_build_types::FileDescriptorSet;

/// The proto files whose services the devserver implements.
const SERVICE_FILES: &[&str] = &[
    "temporal/api/workflowservice/v1/service.proto",
    "temporal/api/operatorservice/v1/service.proto",
    "temporal/api/testservice/v1/service.proto",
    "health/v1/health.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Set by temporalio-protos' build script (its `links` key) for its direct dependents.
    let descriptor_path = std::env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")?;
    println!("cargo:rerun-if-changed={descriptor_path}");
    let all = FileDescriptorSet::decode(std::fs::read(&descriptor_path)?.as_slice())?;
    let services = FileDescriptorSet {
        file: all
            .file
            .into_iter()
            .filter(|file| {
                let name = file.name();
                SERVICE_FILES.iter().any(|wanted| name.ends_with(wanted))
            })
            .collect(),
    };
    let found: Vec<&str> = services.file.iter().map(|f| f.name()).collect();
    if found.len() != SERVICE_FILES.len() {
        return Err(
            format!("expected {SERVICE_FILES:?} in the descriptor set, found {found:?}").into(),
        );
    }
    write_rpc_paths(&services)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        // Unimplemented RPCs answer UNIMPLEMENTED (never INTERNAL, which clients retry).
        .generate_default_stubs(true)
        // Undecodable requests answer INVALID_ARGUMENT (src/codec.rs says why).
        .codec_path("crate::codec::RequestCodec")
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".grpc", "::temporalio_protos::grpc")
        .compile_fds(services)?;
    Ok(())
}

/// Writes `RPC_PATHS`, the `/package.Service/Method` path of every method of `services`.
fn write_rpc_paths(services: &FileDescriptorSet) -> Result<(), Box<dyn std::error::Error>> {
    let mut paths = String::from("pub const RPC_PATHS: &[&str] = &[\n");
    for file in &services.file {
        for service in &file.service {
            for method in &service.method {
                paths.push_str(&format!(
                    "    \"/{}.{}/{}\",\n",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    paths.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR")?;
    std::fs::write(std::path::Path::new(&out_dir).join("rpc_paths.rs"), paths)?;
    Ok(())
}
