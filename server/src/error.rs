//! The errors a request can end in, before they become gRPC statuses (`frontend::status`).

use crate::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("Namespace {0} is not found.")]
    NamespaceNotFound(String),
    #[error("Namespace {} already exists", crate::go_format::go_quote(.0))]
    NamespaceAlreadyExists(String),
    /// Something the request creates exists already (errors without a detail the SDK
    /// unpacks, unlike a namespace's or a workflow's).
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is valid but what it refers to is not in the state it needs.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A workflow, run or task the request names does not exist (any more).
    #[error("{0}")]
    NotFound(String),
    /// The run the request names has closed.
    #[error("workflow execution already completed")]
    WorkflowClosed,
    #[error("{message}")]
    WorkflowAlreadyStarted {
        message: String,
        start_request_id: String,
        run_id: String,
        first_execution_run_id: String,
    },
    /// The workflow's query handler failed.
    #[error("{message}")]
    QueryFailed {
        message: String,
        failure: Option<Box<temporalio_protos::temporal::api::failure::v1::Failure>>,
    },
    /// Nothing answered before the client's deadline.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A valid request for something devserver does not do yet.
    #[error("{0}")]
    Unimplemented(String),
    /// The store has no room for the change; nothing was written. Clients retry these, so a
    /// test waits out a disk that is freed meanwhile.
    #[error("{0}")]
    StorageFull(String),
    /// The store failed; clients retry these.
    #[error("{0}")]
    Internal(String),
}

impl From<EngineError> for ServiceError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Stale(message) => ServiceError::NotFound(message),
            EngineError::InvalidArgument(message) => ServiceError::InvalidArgument(message),
            EngineError::AlreadyCompleted => ServiceError::WorkflowClosed,
        }
    }
}

impl From<devserver_persistence::StoreError> for ServiceError {
    fn from(error: devserver_persistence::StoreError) -> Self {
        match error {
            devserver_persistence::StoreError::Full { .. } => {
                ServiceError::StorageFull(error.to_string())
            }
            _ => ServiceError::Internal(error.to_string()),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
