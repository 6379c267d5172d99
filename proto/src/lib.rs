//! Server traits of the Temporal gRPC services, generated at build time.
//!
//! Messages are the `temporalio-protos` types (re-exported as [`protos`]); this crate adds only
//! the `*Server` wrappers and the traits a server implements.

pub use temporalio_protos as protos;

pub mod codec;

macro_rules! service {
    ($name:ident, $package:literal) => {
        #[allow(clippy::all, missing_docs)]
        pub mod $name {
            tonic::include_proto!($package);
        }
    };
}

service!(workflowservice, "temporal.api.workflowservice.v1");
service!(operatorservice, "temporal.api.operatorservice.v1");
service!(testservice, "temporal.api.testservice.v1");
service!(health, "grpc.health.v1");

/// The gRPC path (`/package.Service/Method`) of every method of these services.
mod rpc_paths {
    include!(concat!(env!("OUT_DIR"), "/rpc_paths.rs"));
}
pub use rpc_paths::RPC_PATHS;
