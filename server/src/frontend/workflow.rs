//! `temporal.api.workflowservice.v1.WorkflowService`: decode, validate, call, map the error.
//! RPCs not listed here answer UNIMPLEMENTED (the generated default).

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use devserver_persistence::{NamespaceRow, TaskKind, TaskRow};
use devserver_proto::workflowservice::workflow_service_server::WorkflowService;
use temporalio_protos::temporal::api::enums::v1::{ArchivalState, NamespaceState};
use temporalio_protos::temporal::api::namespace::v1::{
    NamespaceConfig, NamespaceInfo, namespace_info,
};
use temporalio_protos::temporal::api::replication::v1::{
    ClusterReplicationConfig, NamespaceReplicationConfig,
};
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::status::status;
use crate::engine::{duration, millis_of};
use crate::error::{ServiceError, ServiceResult};
use crate::history::History;
use crate::matching::{Matching, QueueKey};
use crate::namespaces::Namespaces;

/// The Temporal server release whose API and behaviour devserver follows (tools parse it).
const EMULATED_SERVER_VERSION: &str = "1.32.0";
/// Task polls end empty before this (the real matching service uses one minute).
const TASK_POLL_TIMEOUT: Duration = Duration::from_secs(60);
/// History long polls end with an empty page and a token after this (as the real server).
const HISTORY_POLL_TIMEOUT: Duration = Duration::from_secs(20);
/// Long polls answer this long before the client's own deadline, so it never expires.
const CLIENT_DEADLINE_MARGIN: Duration = Duration::from_secs(1);
/// The real server's payload limits, advertised so the SDK enforces them client-side.
const BLOB_SIZE_LIMIT: i64 = 2 * 1024 * 1024;
const WORKFLOW_TASK_COMPLETION_SIZE_LIMIT: i64 = 40 * 1024 * 1024;
const CLUSTER_NAME: &str = "active";

pub struct WorkflowFrontend {
    pub history: Arc<History>,
    pub matching: Matching,
    pub namespaces: Arc<Namespaces>,
}

type RpcResult<T> = Result<Response<T>, Status>;

fn respond<T>(result: ServiceResult<T>) -> RpcResult<T> {
    result.map(Response::new).map_err(status)
}

/// When a long poll must answer: `cap` from now, or just before the client gives up.
fn long_poll_deadline<T>(request: &Request<T>, cap: Duration) -> Instant {
    let client_timeout = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout);
    let wait = match client_timeout {
        Some(timeout) => cap.min(timeout.saturating_sub(CLIENT_DEADLINE_MARGIN)),
        None => cap,
    };
    Instant::now() + wait
}

/// Parses the `grpc-timeout` header: an integer and a unit letter.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (amount, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

fn required<'a>(value: &'a str, what: &str) -> ServiceResult<&'a str> {
    if value.is_empty() {
        Err(ServiceError::InvalidArgument(format!(
            "{what} is not set on request."
        )))
    } else {
        Ok(value)
    }
}

fn describe_namespace(row: &NamespaceRow) -> DescribeNamespaceResponse {
    DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name: row.name.clone(),
            state: NamespaceState::Registered as i32,
            description: row.description.clone(),
            owner_email: row.owner_email.clone(),
            id: row.id.clone(),
            // Only what devserver implements; the SDK turns features on from these.
            capabilities: Some(namespace_info::Capabilities::default()),
            limits: Some(namespace_info::Limits {
                blob_size_limit_error: BLOB_SIZE_LIMIT,
                memo_size_limit_error: BLOB_SIZE_LIMIT,
                workflow_task_completion_size_limit_error: WORKFLOW_TASK_COMPLETION_SIZE_LIMIT,
            }),
            ..Default::default()
        }),
        config: Some(NamespaceConfig {
            workflow_execution_retention_ttl: Some(duration(row.retention_seconds * 1000)),
            history_archival_state: ArchivalState::Disabled as i32,
            visibility_archival_state: ArchivalState::Disabled as i32,
            ..Default::default()
        }),
        replication_config: Some(NamespaceReplicationConfig {
            active_cluster_name: CLUSTER_NAME.into(),
            clusters: vec![ClusterReplicationConfig {
                cluster_name: CLUSTER_NAME.into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl WorkflowFrontend {
    fn validate_start(&self, request: &StartWorkflowExecutionRequest) -> ServiceResult<()> {
        self.namespaces.get(&request.namespace)?;
        required(&request.workflow_id, "WorkflowId")?;
        required(
            request
                .workflow_type
                .as_ref()
                .map_or("", |t| t.name.as_str()),
            "WorkflowType",
        )?;
        required(
            request.task_queue.as_ref().map_or("", |q| q.name.as_str()),
            "TaskQueue",
        )?;
        for (timeout, name) in [
            (
                &request.workflow_execution_timeout,
                "WorkflowExecutionTimeout",
            ),
            (&request.workflow_run_timeout, "WorkflowRunTimeout"),
            (&request.workflow_task_timeout, "WorkflowTaskTimeout"),
        ] {
            if timeout
                .as_ref()
                .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
            {
                return Err(ServiceError::InvalidArgument(format!("Invalid {name}.")));
            }
        }
        if !request.cron_schedule.is_empty() {
            return Err(ServiceError::Unimplemented(
                "Cron schedules are not supported by devserver yet.".into(),
            ));
        }
        if millis_of(request.workflow_start_delay.as_ref()) > 0 {
            return Err(ServiceError::Unimplemented(
                "Workflow start delay is not supported by devserver yet.".into(),
            ));
        }
        Ok(())
    }

    /// Waits for a task in a queue and records its start with `start`; answers an empty
    /// response if none came before `deadline`, and skips tasks that turned out stale.
    async fn poll_task<T, Started>(
        &self,
        namespace: &str,
        task_queue: Option<&TaskQueue>,
        kind: TaskKind,
        deadline: Instant,
        start: impl Fn(TaskRow) -> Started,
    ) -> RpcResult<T>
    where
        T: Default,
        Started: Future<Output = ServiceResult<Option<T>>>,
    {
        self.namespaces.get(namespace).map_err(status)?;
        let task_queue = task_queue.map_or("", |q| q.name.as_str());
        let key = QueueKey {
            namespace: namespace.to_owned(),
            task_queue: required(task_queue, "TaskQueue")
                .map_err(status)?
                .to_owned(),
            kind,
        };
        while let Some(lease) = self.matching.poll(&key, deadline).await {
            // On error the lease is dropped and the task goes back to its queue.
            let started = start(lease.task().clone()).await.map_err(status)?;
            lease.consume();
            if let Some(task) = started {
                return Ok(Response::new(task));
            }
        }
        Ok(Response::new(T::default()))
    }
}

#[tonic::async_trait]
impl WorkflowService for WorkflowFrontend {
    async fn register_namespace(
        &self,
        request: Request<RegisterNamespaceRequest>,
    ) -> RpcResult<RegisterNamespaceResponse> {
        let request = request.into_inner();
        let registered = async {
            required(&request.namespace, "Namespace")?;
            let retention = millis_of(request.workflow_execution_retention_period.as_ref()) / 1000;
            self.namespaces
                .register(NamespaceRow {
                    name: request.namespace.clone(),
                    id: uuid::Uuid::new_v4().to_string(),
                    description: request.description.clone(),
                    owner_email: request.owner_email.clone(),
                    retention_seconds: if retention > 0 {
                        retention
                    } else {
                        crate::namespaces::DEFAULT_RETENTION_SECONDS
                    },
                })
                .await
        };
        respond(registered.await.map(|()| RegisterNamespaceResponse {}))
    }

    async fn describe_namespace(
        &self,
        request: Request<DescribeNamespaceRequest>,
    ) -> RpcResult<DescribeNamespaceResponse> {
        let request = request.into_inner();
        let found = if request.namespace.is_empty() && !request.id.is_empty() {
            self.namespaces
                .list()
                .into_iter()
                .find(|row| row.id == request.id)
                .ok_or(ServiceError::NamespaceNotFound(request.id))
        } else {
            self.namespaces.get(&request.namespace)
        };
        respond(found.map(|row| describe_namespace(&row)))
    }

    async fn list_namespaces(
        &self,
        _request: Request<ListNamespacesRequest>,
    ) -> RpcResult<ListNamespacesResponse> {
        Ok(Response::new(ListNamespacesResponse {
            namespaces: self
                .namespaces
                .list()
                .iter()
                .map(describe_namespace)
                .collect(),
            next_page_token: Vec::new(),
        }))
    }

    async fn get_system_info(
        &self,
        _request: Request<GetSystemInfoRequest>,
    ) -> RpcResult<GetSystemInfoResponse> {
        Ok(Response::new(GetSystemInfoResponse {
            server_version: EMULATED_SERVER_VERSION.into(),
            // Only what is implemented: the SDK changes behaviour on these flags.
            capabilities: Some(get_system_info_response::Capabilities {
                internal_error_differentiation: true,
                // Failed attempts keep their last heartbeat details for the next attempt.
                activity_failure_include_heartbeat: true,
                encoded_failure_attributes: true,
                // Completions' sdk_metadata is copied into WorkflowTaskCompleted events.
                sdk_metadata: true,
                ..Default::default()
            }),
        }))
    }

    async fn start_workflow_execution(
        &self,
        request: Request<StartWorkflowExecutionRequest>,
    ) -> RpcResult<StartWorkflowExecutionResponse> {
        let request = request.into_inner();
        if let Err(error) = self.validate_start(&request) {
            return Err(status(error));
        }
        respond(self.history.start_workflow(&request).await)
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<PollWorkflowTaskQueueRequest>,
    ) -> RpcResult<PollWorkflowTaskQueueResponse> {
        let deadline = long_poll_deadline(&request, TASK_POLL_TIMEOUT);
        let request = request.into_inner();
        let identity = &request.identity;
        self.poll_task(
            &request.namespace,
            request.task_queue.as_ref(),
            TaskKind::Workflow,
            deadline,
            |task| async move { self.history.start_workflow_task(&task, identity).await },
        )
        .await
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> RpcResult<RespondWorkflowTaskCompletedResponse> {
        respond(self.history.complete_workflow_task(request.get_ref()).await)
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<RespondWorkflowTaskFailedRequest>,
    ) -> RpcResult<RespondWorkflowTaskFailedResponse> {
        respond(
            self.history
                .fail_workflow_task(request.get_ref())
                .await
                .map(|()| RespondWorkflowTaskFailedResponse {}),
        )
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<PollActivityTaskQueueRequest>,
    ) -> RpcResult<PollActivityTaskQueueResponse> {
        let deadline = long_poll_deadline(&request, TASK_POLL_TIMEOUT);
        let request = request.into_inner();
        let identity = &request.identity;
        self.poll_task(
            &request.namespace,
            request.task_queue.as_ref(),
            TaskKind::Activity,
            deadline,
            |task| async move { self.history.start_activity_task(&task, identity).await },
        )
        .await
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<RespondActivityTaskCompletedRequest>,
    ) -> RpcResult<RespondActivityTaskCompletedResponse> {
        respond(
            self.history
                .complete_activity_task(request.get_ref())
                .await
                .map(|()| RespondActivityTaskCompletedResponse {}),
        )
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<RespondActivityTaskFailedRequest>,
    ) -> RpcResult<RespondActivityTaskFailedResponse> {
        respond(
            self.history
                .fail_activity_task(request.get_ref())
                .await
                .map(|()| RespondActivityTaskFailedResponse::default()),
        )
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> RpcResult<RecordActivityTaskHeartbeatResponse> {
        // Cancellation, pause and reset are not implemented: the answer is always "go on".
        respond(
            self.history
                .record_activity_heartbeat(request.get_ref())
                .await
                .map(|()| RecordActivityTaskHeartbeatResponse::default()),
        )
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> RpcResult<GetWorkflowExecutionHistoryResponse> {
        let wait_until = long_poll_deadline(&request, HISTORY_POLL_TIMEOUT);
        let request = request.into_inner();
        self.namespaces.get(&request.namespace).map_err(status)?;
        respond(self.history.history(&request, wait_until).await)
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<DescribeWorkflowExecutionRequest>,
    ) -> RpcResult<DescribeWorkflowExecutionResponse> {
        let request = request.into_inner();
        let described = async {
            self.namespaces.get(&request.namespace)?;
            let execution = request.execution.unwrap_or_default();
            required(&execution.workflow_id, "WorkflowId")?;
            self.history
                .describe(
                    &request.namespace,
                    &execution.workflow_id,
                    &execution.run_id,
                )
                .await
        };
        respond(described.await)
    }

    async fn shutdown_worker(
        &self,
        request: Request<ShutdownWorkerRequest>,
    ) -> RpcResult<ShutdownWorkerResponse> {
        let request = request.into_inner();
        let dropped = async {
            self.namespaces.get(&request.namespace)?;
            self.history
                .drop_sticky_queue(&request.namespace, &request.sticky_task_queue)
                .await
        };
        respond(dropped.await.map(|()| ShutdownWorkerResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(
            parse_grpc_timeout("70000000u"),
            Some(Duration::from_secs(70))
        );
        assert_eq!(parse_grpc_timeout("30S"), Some(Duration::from_secs(30)));
        assert_eq!(parse_grpc_timeout("1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    #[test]
    fn long_polls_answer_before_the_client_deadline() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("grpc-timeout", "5S".parse().unwrap());
        let wait = long_poll_deadline(&request, TASK_POLL_TIMEOUT) - Instant::now();
        assert!(wait <= Duration::from_secs(4), "{wait:?}");
        let unbounded =
            long_poll_deadline(&Request::new(()), HISTORY_POLL_TIMEOUT) - Instant::now();
        assert!(unbounded > Duration::from_secs(19), "{unbounded:?}");
    }
}
