//! `grpc.health.v1.Health`: SERVING for the server as a whole and for its services.

use devserver_proto::health::health_server::Health;
use temporalio_protos::grpc::health::v1::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
};
use tonic::{Request, Response, Status};

const SERVICES: &[&str] = &[
    "",
    "temporal.api.workflowservice.v1.WorkflowService",
    "temporal.api.operatorservice.v1.OperatorService",
];

pub struct HealthFrontend;

#[tonic::async_trait]
impl Health for HealthFrontend {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        if !SERVICES.contains(&service.as_str()) {
            // grpc-go's words; the name is not echoed, a huge one would not fit in a header.
            return Err(Status::not_found("unknown service"));
        }
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }
}
