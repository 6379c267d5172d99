//! The gRPC surface: one module per service. Handlers decode, validate, call the history
//! service or matching, and turn errors into statuses (`status`), nothing more.

mod deadlines;
mod health;
mod nexus;
mod operator;
mod request_size;
mod requests;
mod schedules;
mod status;
mod test_service;
mod workflow;

use std::sync::Arc;

use devserver_proto::health::health_server::HealthServer;
use devserver_proto::operatorservice::operator_service_server::OperatorServiceServer;
use devserver_proto::testservice::test_service_server::TestServiceServer;
use devserver_proto::workflowservice::workflow_service_server::WorkflowServiceServer;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;

use crate::history::History;
use crate::matching::Matching;
use crate::namespaces::Namespaces;
use crate::nexus_endpoints::NexusEndpointRegistry;
use crate::schedules::Scheduler;
use crate::timers::{Clock, TimeSkipper};

pub use request_size::layer as request_size_layer;

/// The largest response: what the SDK accepts (the real server sets no limit of its own).
const MAX_RESPONSE_SIZE: usize = 128 * 1024 * 1024;

/// All services, each accepting gzip (the SDK compresses every request). Responses go out
/// uncompressed: on loopback, compressing costs more CPU than it saves time. TestService is
/// served only when time skips globally, as only the test server has it.
pub fn routes(
    history: Arc<History>,
    scheduler: Arc<Scheduler>,
    matching: Matching,
    namespaces: Arc<Namespaces>,
    nexus_endpoints: Arc<NexusEndpointRegistry>,
    clock: Arc<dyn Clock>,
    skipper: Option<Arc<TimeSkipper>>,
) -> Routes {
    let operator = OperatorServiceServer::new(operator::OperatorFrontend {
        namespaces: namespaces.clone(),
        nexus_endpoints,
        clock,
    })
    .accept_compressed(CompressionEncoding::Gzip);
    let workflow = WorkflowServiceServer::new(workflow::WorkflowFrontend {
        history,
        scheduler,
        matching,
        namespaces,
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .max_decoding_message_size(request_size::MAX_REQUEST_SIZE)
    .max_encoding_message_size(MAX_RESPONSE_SIZE);
    let health =
        HealthServer::new(health::HealthFrontend).accept_compressed(CompressionEncoding::Gzip);
    let routes = Routes::new(workflow)
        .add_service(operator)
        .add_service(health);
    match skipper {
        Some(skipper) => routes.add_service(
            TestServiceServer::new(test_service::TestFrontend { skipper })
                .accept_compressed(CompressionEncoding::Gzip),
        ),
        None => routes,
    }
}
