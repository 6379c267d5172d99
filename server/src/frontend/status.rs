//! Every error that reaches a client becomes a gRPC status here, worded like the real server
//! and carrying the Temporal error details the SDK unpacks.

use prost::Message;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::errordetails::v1::{
    NamespaceAlreadyExistsFailure, NamespaceNotFoundFailure, NotFoundFailure, QueryFailedFailure,
    WorkflowExecutionAlreadyStartedFailure,
};
use tonic::{Code, Status};

use crate::error::ServiceError;

/// The cluster name the real dev server reports.
const CLUSTER_NAME: &str = "active";

pub fn status(error: ServiceError) -> Status {
    let message = error.to_string();
    match error {
        ServiceError::InvalidArgument(_) => Status::invalid_argument(message),
        ServiceError::NamespaceNotFound(namespace) => with_details(
            Code::NotFound,
            message,
            NamespaceNotFoundFailure { namespace },
        ),
        ServiceError::NamespaceAlreadyExists(_) => with_details(
            Code::AlreadyExists,
            message,
            NamespaceAlreadyExistsFailure {},
        ),
        ServiceError::NotFound(_) | ServiceError::WorkflowClosed => with_details(
            Code::NotFound,
            message,
            NotFoundFailure {
                current_cluster: CLUSTER_NAME.into(),
                active_cluster: CLUSTER_NAME.into(),
            },
        ),
        ServiceError::WorkflowAlreadyStarted {
            start_request_id,
            run_id,
            first_execution_run_id,
            ..
        } => with_details(
            Code::AlreadyExists,
            message,
            WorkflowExecutionAlreadyStartedFailure {
                start_request_id,
                run_id,
                first_execution_run_id,
            },
        ),
        ServiceError::QueryFailed { failure, .. } => with_details(
            Code::InvalidArgument,
            message,
            QueryFailedFailure {
                failure: failure.map(|f| *f),
            },
        ),
        ServiceError::DeadlineExceeded(_) => Status::deadline_exceeded(message),
        ServiceError::Unimplemented(_) => Status::unimplemented(message),
        ServiceError::Internal(_) => {
            tracing::error!(%message, "request failed");
            Status::internal(message)
        }
    }
}

fn with_details<D: Message + prost::Name>(code: Code, message: String, detail: D) -> Status {
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![prost_types::Any {
            type_url: format!("type.googleapis.com/{}", D::full_name()),
            value: detail.encode_to_vec(),
        }],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_started_carries_the_sdk_detail() {
        let status = status(ServiceError::WorkflowAlreadyStarted {
            message: "Workflow execution is already running.".into(),
            start_request_id: "req".into(),
            run_id: "run".into(),
            first_execution_run_id: "run".into(),
        });
        assert_eq!(status.code(), Code::AlreadyExists);
        let details = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(
            details.details[0].type_url,
            "type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure"
        );
        let detail =
            WorkflowExecutionAlreadyStartedFailure::decode(details.details[0].value.as_slice())
                .unwrap();
        assert_eq!(detail.run_id, "run");
    }

    #[test]
    fn store_failures_are_internal_so_clients_retry() {
        assert_eq!(
            status(ServiceError::Internal("disk".into())).code(),
            Code::Internal
        );
        assert_eq!(
            status(ServiceError::NamespaceNotFound("x".into())).message(),
            "Namespace x is not found."
        );
    }
}
