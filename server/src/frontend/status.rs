//! Every error that reaches a client becomes a gRPC status here, worded like the real server
//! and carrying the Temporal error details the SDK unpacks.

use prost::Message;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope};
use temporalio_protos::temporal::api::errordetails::v1::multi_operation_execution_failure::OperationStatus;
use temporalio_protos::temporal::api::errordetails::v1::{
    MultiOperationExecutionFailure, NamespaceAlreadyExistsFailure, NamespaceNotFoundFailure,
    NotFoundFailure, QueryFailedFailure, ResourceExhaustedFailure,
    WorkflowExecutionAlreadyStartedFailure,
};
use temporalio_protos::temporal::api::failure::v1::MultiOperationExecutionAborted;
use tonic::{Code, Status};

use crate::error::ServiceError;

/// The cluster name the real dev server reports.
const CLUSTER_NAME: &str = "active";
/// Messages are cut to this many bytes, as the real server cuts them: one that echoes a huge
/// input would not fit in the response's headers, and the client would see only a
/// transport error.
const MAX_MESSAGE_BYTES: usize = 4000;

pub fn status(error: ServiceError) -> Status {
    let message = bounded(error.to_string());
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
        ServiceError::AlreadyExists(_) => Status::already_exists(message),
        ServiceError::FailedPrecondition(_) => Status::failed_precondition(message),
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
        ServiceError::StorageFull(_) => {
            tracing::error!(%message, "request failed");
            with_details(
                Code::ResourceExhausted,
                message,
                ResourceExhaustedFailure {
                    cause: ResourceExhaustedCause::PersistenceStorageLimit.into(),
                    scope: ResourceExhaustedScope::System.into(),
                },
            )
        }
        ServiceError::Internal(_) => {
            tracing::error!(%message, "request failed");
            Status::internal(message)
        }
    }
}

fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}

/// The error of a multi-operation request (update-with-start) whose operation `failed`
/// went wrong: the real server's MultiOperationExecutionFailure, with that operation's own
/// status and the others marked aborted, which the SDK unpacks into its usual errors.
pub fn multi_operation_status(failed: usize, operations: usize, error: ServiceError) -> Status {
    let failed_status = status(error);
    let failed_details = RpcStatus::decode(failed_status.details())
        .map(|s| s.details)
        .unwrap_or_default();
    let statuses = (0..operations)
        .map(|index| {
            if index == failed {
                OperationStatus {
                    code: failed_status.code() as i32,
                    message: failed_status.message().to_owned(),
                    details: failed_details.clone(),
                }
            } else {
                OperationStatus {
                    code: Code::Aborted as i32,
                    message: "Operation was aborted.".into(),
                    details: vec![any(&MultiOperationExecutionAborted {})],
                }
            }
        })
        .collect();
    with_details(
        failed_status.code(),
        format!(
            "Update-with-Start could not be executed: {}",
            failed_status.message()
        ),
        MultiOperationExecutionFailure { statuses },
    )
}

fn any<D: Message + prost::Name>(detail: &D) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{}", D::full_name()),
        value: detail.encode_to_vec(),
    }
}

fn with_details<D: Message + prost::Name>(code: Code, message: String, detail: D) -> Status {
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![any(&detail)],
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

    #[test]
    fn a_full_disk_is_resource_exhausted_with_the_storage_cause() {
        let status = status(ServiceError::StorageFull(
            "the disk holding x.db is full".into(),
        ));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "the disk holding x.db is full");
        let details = RpcStatus::decode(status.details()).unwrap();
        let detail = ResourceExhaustedFailure::decode(details.details[0].value.as_slice()).unwrap();
        assert_eq!(
            detail.cause(),
            ResourceExhaustedCause::PersistenceStorageLimit
        );
        assert_eq!(detail.scope(), ResourceExhaustedScope::System);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = format!("{}é{}", "x".repeat(MAX_MESSAGE_BYTES - 1), "y".repeat(10));
        let cut = status(ServiceError::InvalidArgument(long));
        assert_eq!(cut.message(), "x".repeat(MAX_MESSAGE_BYTES - 1));
        let short = status(ServiceError::InvalidArgument("short".into()));
        assert_eq!(short.message(), "short");
    }
}
