//! `temporal.api.workflowservice.v1.WorkflowService`: decode, validate, call, map the error.
//! RPCs not listed here answer UNIMPLEMENTED (the generated default).

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use devserver_proto::workflowservice::workflow_service_server::WorkflowService;
use temporalio_protos::temporal::api::common::v1::WorkflowExecution;
use temporalio_protos::temporal::api::enums::v1::TaskQueueType;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionOptions;
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::deadlines::{client_deadline, long_poll_deadline};
use super::requests::{
    check_activity_failure, check_identity, check_local_clusters, check_signal,
    check_signal_with_start, check_start, check_start_payloads, completion_report,
    describe_namespace, failure_report, heartbeat_report, namespace_to_register, required,
    start_request_of_signal_with_start, task_queue_name, valid_run_id, wait_stage,
};
use super::status::{multi_operation_status, status};
use crate::engine::{CancelRequest, Signal};
use crate::error::{ServiceError, ServiceResult};
use crate::history::{
    ActivityRef, ActivityReport, ActivityReportKind, History, MultiOperationError, StartWith,
};
use crate::matching::{Matching, QueueKey, QueuedTask};
use crate::namespaces::Namespaces;
use crate::schedules::Scheduler;
use crate::visibility;

/// The activity a `*ById` request names. A macro, not a function: it borrows only these
/// fields, so the handler can move the payloads out of the same request.
macro_rules! activity_by_id {
    ($request:ident) => {
        ActivityRef::Id {
            namespace: &$request.namespace,
            workflow_id: &$request.workflow_id,
            run_id: &$request.run_id,
            activity_id: &$request.activity_id,
        }
    };
}

/// The Temporal server release whose API and behaviour devserver follows (tools parse it).
const EMULATED_SERVER_VERSION: &str = "1.32.0";
/// Task polls end empty before this (the real matching service uses one minute).
const TASK_POLL_TIMEOUT: Duration = Duration::from_secs(60);
/// History long polls end with an empty page and a token after this (as the real server).
const HISTORY_POLL_TIMEOUT: Duration = Duration::from_secs(20);
/// A query with no answer by then fails (the client's own deadline usually comes first).
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// The one field of workflow execution options that UpdateWorkflowExecutionOptions changes.
const TIME_SKIPPING_CONFIG_PATH: &str = "time_skipping_config";

pub struct WorkflowFrontend {
    pub history: Arc<History>,
    pub scheduler: Arc<Scheduler>,
    pub matching: Matching,
    pub namespaces: Arc<Namespaces>,
}

type RpcResult<T> = Result<Response<T>, Status>;

fn respond<T>(result: ServiceResult<T>) -> RpcResult<T> {
    result.map(Response::new).map_err(status)
}

impl WorkflowFrontend {
    /// Checks a start request; one that passes gets its search attribute values typed.
    fn admit_start(&self, request: &mut StartWorkflowExecutionRequest) -> ServiceResult<()> {
        self.namespaces.get(&request.namespace)?;
        check_start(request)?;
        self.admit_start_attributes(request)
    }

    /// What any start must satisfy after the checks of its own request type: its search
    /// attributes, then its payload limits (the real history service's checks). One that
    /// passes gets its search attribute values typed.
    fn admit_start_attributes(
        &self,
        request: &mut StartWorkflowExecutionRequest,
    ) -> ServiceResult<()> {
        let search_attributes = self.namespaces.search_attributes();
        search_attributes.validate(&request.namespace, request.search_attributes.as_ref())?;
        check_start_payloads(request)?;
        search_attributes.set_types(&request.namespace, request.search_attributes.as_mut());
        Ok(())
    }

    /// A visibility query of a namespace that exists, as SQL.
    fn visibility_query(&self, namespace: &str, query: &str) -> ServiceResult<visibility::Sql> {
        self.namespaces.get(namespace)?;
        let custom = self.namespaces.search_attributes().custom(namespace);
        visibility::parse(query, &|name| custom.get(name).copied())
            .map(|query| query.to_sql())
            .map_err(|error| ServiceError::InvalidArgument(error.to_string()))
    }

    /// The execution a request names, in a namespace that exists.
    fn execution_of(
        &self,
        namespace: &str,
        execution: &Option<WorkflowExecution>,
    ) -> ServiceResult<WorkflowExecution> {
        self.namespaces.get(namespace)?;
        let Some(execution) = execution.clone() else {
            return Err(ServiceError::InvalidArgument(
                "Execution is not set on request.".into(),
            ));
        };
        required(&execution.workflow_id, "WorkflowId")?;
        valid_run_id(&execution.run_id)?;
        Ok(execution)
    }

    /// Applies an activity report; answers with an empty response of the RPC's type.
    async fn report_activity<T: Default>(
        &self,
        target: ActivityRef<'_>,
        report: ActivityReport,
    ) -> RpcResult<T> {
        if let ActivityRef::Id { namespace, .. } = &target {
            self.namespaces.get(namespace).map_err(status)?;
        }
        check_identity(&report.identity).map_err(status)?;
        respond(
            self.history
                .report_activity(target, report)
                .await
                .map(|_| T::default()),
        )
    }

    /// Waits for a task in a queue and records its start with `start`; answers an empty
    /// response if none came before `deadline`, and skips tasks that turned out stale.
    pub(super) async fn poll_task<T, Started>(
        &self,
        namespace: &str,
        identity: &str,
        task_queue: Option<&TaskQueue>,
        kind: TaskQueueType,
        deadline: Instant,
        start: impl Fn(QueuedTask) -> Started,
    ) -> RpcResult<T>
    where
        T: Default + Send + 'static,
        Started: Future<Output = ServiceResult<Option<T>>> + Send + 'static,
    {
        self.namespaces.get(namespace).map_err(status)?;
        check_identity(identity).map_err(status)?;
        let key = QueueKey {
            namespace: namespace.to_owned(),
            task_queue: task_queue_name(task_queue).map_err(status)?.to_owned(),
            kind,
        };
        while let Some(lease) = self.matching.poll(&key, deadline).await {
            // The start runs to its end even if the poll is cancelled meanwhile (its worker
            // shut down): cut off mid-commit, it would leave the run's cached state ahead of
            // the store. A task started for a poller that is gone times out and is retried,
            // as on the real server.
            let starting = start(lease.task().clone());
            let started = tokio::spawn(async move {
                let started = starting.await;
                // On error the lease is dropped and the task goes back to its queue.
                if started.is_ok() {
                    lease.consume();
                }
                started
            })
            .await
            .map_err(|error| status(ServiceError::Internal(error.to_string())))?
            .map_err(status)?;
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
            let row = namespace_to_register(&request)?;
            // The real server answers "already exists" before it looks at the clusters.
            if self.namespaces.get(&row.name).is_ok() {
                return Err(ServiceError::NamespaceAlreadyExists(row.name));
            }
            check_local_clusters(&request)?;
            self.namespaces.register(row).await
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
                nexus: true,
                ..Default::default()
            }),
        }))
    }

    async fn start_workflow_execution(
        &self,
        request: Request<StartWorkflowExecutionRequest>,
    ) -> RpcResult<StartWorkflowExecutionResponse> {
        let mut request = request.into_inner();
        if let Err(error) = self.admit_start(&mut request) {
            return Err(status(error));
        }
        respond(
            self.history
                .start_workflow(&request, StartWith::default())
                .await,
        )
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
            identity,
            request.task_queue.as_ref(),
            TaskQueueType::Workflow,
            deadline,
            |task| {
                let (history, identity) = (self.history.clone(), identity.clone());
                async move {
                    match task {
                        QueuedTask::Stored(row) => {
                            history.start_workflow_task(&row, &identity).await
                        }
                        QueuedTask::Query { task, task_queue } => {
                            history.start_query_task(&task, &task_queue).await
                        }
                        // Nexus tasks never wait in workflow task queues.
                        QueuedTask::Nexus(_) => Ok(None),
                    }
                }
            },
        )
        .await
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> RpcResult<RespondWorkflowTaskCompletedResponse> {
        let request = request.get_ref();
        check_identity(&request.identity).map_err(status)?;
        respond(self.history.complete_workflow_task(request).await)
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<RespondWorkflowTaskFailedRequest>,
    ) -> RpcResult<RespondWorkflowTaskFailedResponse> {
        let request = request.get_ref();
        check_identity(&request.identity).map_err(status)?;
        respond(
            self.history
                .fail_workflow_task(request)
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
            identity,
            request.task_queue.as_ref(),
            TaskQueueType::Activity,
            deadline,
            |task| {
                let (history, identity) = (self.history.clone(), identity.clone());
                async move {
                    match task {
                        QueuedTask::Stored(row) => {
                            history.start_activity_task(&row, &identity).await
                        }
                        // Queries and Nexus tasks never wait in activity task queues.
                        QueuedTask::Query { .. } | QueuedTask::Nexus(_) => Ok(None),
                    }
                }
            },
        )
        .await
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<RespondActivityTaskCompletedRequest>,
    ) -> RpcResult<RespondActivityTaskCompletedResponse> {
        let request = request.into_inner();
        let report = ActivityReport {
            kind: completion_report(request.result),
            identity: request.identity,
        };
        self.report_activity(ActivityRef::Token(&request.task_token), report)
            .await
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        request: Request<RespondActivityTaskCompletedByIdRequest>,
    ) -> RpcResult<RespondActivityTaskCompletedByIdResponse> {
        let request = request.into_inner();
        let report = ActivityReport {
            kind: completion_report(request.result),
            identity: request.identity,
        };
        let target = activity_by_id!(request);
        self.report_activity(target, report).await
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<RespondActivityTaskFailedRequest>,
    ) -> RpcResult<RespondActivityTaskFailedResponse> {
        let request = request.into_inner();
        check_activity_failure(request.failure.as_ref()).map_err(status)?;
        let (kind, failures) = failure_report(request.failure, request.last_heartbeat_details);
        let report = ActivityReport {
            kind,
            identity: request.identity,
        };
        let reported: Response<RespondActivityTaskFailedResponse> = self
            .report_activity(ActivityRef::Token(&request.task_token), report)
            .await?;
        Ok(reported.map(|_| RespondActivityTaskFailedResponse { failures }))
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        request: Request<RespondActivityTaskFailedByIdRequest>,
    ) -> RpcResult<RespondActivityTaskFailedByIdResponse> {
        let request = request.into_inner();
        let (kind, failures) = failure_report(request.failure, request.last_heartbeat_details);
        let report = ActivityReport {
            kind,
            identity: request.identity,
        };
        let target = activity_by_id!(request);
        let reported: Response<RespondActivityTaskFailedByIdResponse> =
            self.report_activity(target, report).await?;
        Ok(reported.map(|_| RespondActivityTaskFailedByIdResponse { failures }))
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<RespondActivityTaskCanceledRequest>,
    ) -> RpcResult<RespondActivityTaskCanceledResponse> {
        let request = request.into_inner();
        let report = ActivityReport {
            kind: ActivityReportKind::Canceled(request.details),
            identity: request.identity,
        };
        self.report_activity(ActivityRef::Token(&request.task_token), report)
            .await
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        request: Request<RespondActivityTaskCanceledByIdRequest>,
    ) -> RpcResult<RespondActivityTaskCanceledByIdResponse> {
        let request = request.into_inner();
        let report = ActivityReport {
            kind: ActivityReportKind::Canceled(request.details),
            identity: request.identity,
        };
        let target = activity_by_id!(request);
        self.report_activity(target, report).await
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> RpcResult<RecordActivityTaskHeartbeatResponse> {
        let request = request.into_inner();
        let (kind, failed) = heartbeat_report(request.details);
        let report = ActivityReport {
            kind,
            identity: request.identity,
        };
        let cancel_requested = self
            .history
            .report_activity(ActivityRef::Token(&request.task_token), report)
            .await
            .map(|cancel_requested| cancel_requested || failed);
        respond(
            cancel_requested.map(|cancel_requested| RecordActivityTaskHeartbeatResponse {
                cancel_requested,
                ..Default::default()
            }),
        )
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        request: Request<RecordActivityTaskHeartbeatByIdRequest>,
    ) -> RpcResult<RecordActivityTaskHeartbeatByIdResponse> {
        let request = request.into_inner();
        let (kind, failed) = heartbeat_report(request.details);
        let report = ActivityReport {
            kind,
            identity: request.identity,
        };
        let target = activity_by_id!(request);
        let cancel_requested = async {
            self.namespaces.get(&request.namespace)?;
            let cancel_requested = self.history.report_activity(target, report).await?;
            Ok(cancel_requested || failed)
        };
        respond(cancel_requested.await.map(|cancel_requested| {
            RecordActivityTaskHeartbeatByIdResponse {
                cancel_requested,
                ..Default::default()
            }
        }))
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<SignalWorkflowExecutionRequest>,
    ) -> RpcResult<SignalWorkflowExecutionResponse> {
        let request = request.into_inner();
        let signaled = async {
            let execution = self.execution_of(&request.namespace, &request.workflow_execution)?;
            check_signal(&request)?;
            let signal = Signal {
                name: request.signal_name,
                input: request.input,
                header: request.header,
                identity: request.identity,
                request_id: request.request_id,
                external: None,
            };
            self.history
                .signal(
                    &request.namespace,
                    &execution.workflow_id,
                    &execution.run_id,
                    signal,
                )
                .await
        };
        respond(
            signaled
                .await
                .map(|()| SignalWorkflowExecutionResponse::default()),
        )
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> RpcResult<SignalWithStartWorkflowExecutionResponse> {
        let request = request.into_inner();
        let started = async {
            self.namespaces.get(&request.namespace)?;
            check_signal_with_start(&request)?;
            let signal = Signal {
                name: request.signal_name.clone(),
                input: request.signal_input.clone(),
                header: request.header.clone(),
                identity: request.identity.clone(),
                request_id: request.request_id.clone(),
                external: None,
            };
            let mut start = start_request_of_signal_with_start(request);
            self.admit_start_attributes(&mut start)?;
            self.history
                .start_workflow(
                    &start,
                    StartWith {
                        signal: Some(signal),
                        ..Default::default()
                    },
                )
                .await
        };
        respond(
            started
                .await
                .map(|started| SignalWithStartWorkflowExecutionResponse {
                    run_id: started.run_id,
                    first_execution_run_id: started.first_execution_run_id,
                    started: started.started,
                    ..Default::default()
                }),
        )
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> RpcResult<RequestCancelWorkflowExecutionResponse> {
        let request = request.into_inner();
        let requested = async {
            let execution = self.execution_of(&request.namespace, &request.workflow_execution)?;
            let cancel = CancelRequest {
                reason: request.reason,
                identity: request.identity,
                external: None,
            };
            self.history
                .request_cancel(
                    &request.namespace,
                    &execution.workflow_id,
                    &execution.run_id,
                    cancel,
                )
                .await
        };
        respond(
            requested
                .await
                .map(|()| RequestCancelWorkflowExecutionResponse {}),
        )
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<TerminateWorkflowExecutionRequest>,
    ) -> RpcResult<TerminateWorkflowExecutionResponse> {
        let request = request.into_inner();
        let terminated = async {
            let execution = self.execution_of(&request.namespace, &request.workflow_execution)?;
            self.history
                .terminate(
                    &request.namespace,
                    &execution.workflow_id,
                    &execution.run_id,
                    &request.reason,
                    request.details,
                    &request.identity,
                )
                .await
        };
        respond(
            terminated
                .await
                .map(|()| TerminateWorkflowExecutionResponse {}),
        )
    }

    async fn delete_workflow_execution(
        &self,
        request: Request<DeleteWorkflowExecutionRequest>,
    ) -> RpcResult<DeleteWorkflowExecutionResponse> {
        let request = request.into_inner();
        let deleted = async {
            let execution = self.execution_of(&request.namespace, &request.workflow_execution)?;
            self.history
                .delete(
                    &request.namespace,
                    &execution.workflow_id,
                    &execution.run_id,
                )
                .await
        };
        respond(deleted.await.map(|()| DeleteWorkflowExecutionResponse {}))
    }

    async fn query_workflow(
        &self,
        request: Request<QueryWorkflowRequest>,
    ) -> RpcResult<QueryWorkflowResponse> {
        // Like the real server, wait for a worker until the client gives up (no margin).
        let deadline = client_deadline(&request, QUERY_TIMEOUT, Duration::ZERO);
        let request = request.into_inner();
        let answered = async {
            self.execution_of(&request.namespace, &request.execution)?;
            self.history.query(&request, deadline).await
        };
        respond(answered.await)
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<RespondQueryTaskCompletedRequest>,
    ) -> RpcResult<RespondQueryTaskCompletedResponse> {
        respond(
            self.history
                .answer_query(request.get_ref())
                .map(|()| RespondQueryTaskCompletedResponse {}),
        )
    }

    async fn update_workflow_execution(
        &self,
        request: Request<UpdateWorkflowExecutionRequest>,
    ) -> RpcResult<UpdateWorkflowExecutionResponse> {
        let deadline = long_poll_deadline(&request, HISTORY_POLL_TIMEOUT);
        let request = request.into_inner();
        let updated = async {
            let execution = self.execution_of(&request.namespace, &request.workflow_execution)?;
            let wanted = wait_stage(request.wait_policy.as_ref());
            self.history
                .update_workflow(
                    &request.namespace,
                    &execution,
                    request.request.unwrap_or_default(),
                    wanted,
                    deadline,
                )
                .await
        };
        respond(
            updated
                .await
                .map(|progress| UpdateWorkflowExecutionResponse {
                    update_ref: Some(progress.update_ref),
                    outcome: progress.outcome,
                    stage: progress.stage as i32,
                    ..Default::default()
                }),
        )
    }

    /// Update-with-start: a start and an update of the same workflow id.
    async fn execute_multi_operation(
        &self,
        request: Request<ExecuteMultiOperationRequest>,
    ) -> RpcResult<ExecuteMultiOperationResponse> {
        use execute_multi_operation_request::operation::Operation as Requested;
        use execute_multi_operation_response::response::Response as Answered;
        let deadline = long_poll_deadline(&request, HISTORY_POLL_TIMEOUT);
        let request = request.into_inner();
        let mut operations = request.operations.into_iter().map(|o| o.operation);
        let (
            Some(Some(Requested::StartWorkflow(mut start))),
            Some(Some(Requested::UpdateWorkflow(update))),
            None,
        ) = (operations.next(), operations.next(), operations.next())
        else {
            return Err(status(ServiceError::InvalidArgument(
                "Operations have to be exactly [Start, Update].".into(),
            )));
        };
        if let Err(error) = self.admit_start(&mut start) {
            return Err(multi_operation_status(0, 2, error));
        }
        let wanted = wait_stage(update.wait_policy.as_ref());
        let (started, progress) = self
            .history
            .update_with_start(&start, update.request.unwrap_or_default(), wanted, deadline)
            .await
            .map_err(|error| match error {
                MultiOperationError::Start(error) => multi_operation_status(0, 2, error),
                MultiOperationError::Update(error) => multi_operation_status(1, 2, error),
            })?;
        let responses = [
            Answered::StartWorkflow(started),
            Answered::UpdateWorkflow(UpdateWorkflowExecutionResponse {
                update_ref: Some(progress.update_ref),
                outcome: progress.outcome,
                stage: progress.stage as i32,
                ..Default::default()
            }),
        ];
        Ok(Response::new(ExecuteMultiOperationResponse {
            responses: responses
                .into_iter()
                .map(|response| execute_multi_operation_response::Response {
                    response: Some(response),
                })
                .collect(),
        }))
    }

    async fn poll_workflow_execution_update(
        &self,
        request: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> RpcResult<PollWorkflowExecutionUpdateResponse> {
        let deadline = long_poll_deadline(&request, HISTORY_POLL_TIMEOUT);
        let request = request.into_inner();
        let polled = async {
            let update_ref = request.update_ref.clone().unwrap_or_default();
            self.execution_of(&request.namespace, &update_ref.workflow_execution)?;
            let wanted = wait_stage(request.wait_policy.as_ref());
            self.history
                .poll_update(&request.namespace, &update_ref, wanted, deadline)
                .await
        };
        respond(
            polled
                .await
                .map(|progress| PollWorkflowExecutionUpdateResponse {
                    update_ref: Some(progress.update_ref),
                    outcome: progress.outcome,
                    stage: progress.stage as i32,
                }),
        )
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> RpcResult<GetWorkflowExecutionHistoryResponse> {
        let wait_until = long_poll_deadline(&request, HISTORY_POLL_TIMEOUT);
        let with_unrecorded = !shows_stored_events_only(&request);
        let request = request.into_inner();
        self.namespaces.get(&request.namespace).map_err(status)?;
        respond(
            self.history
                .history(&request, wait_until, with_unrecorded)
                .await,
        )
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        request: Request<GetWorkflowExecutionHistoryReverseRequest>,
    ) -> RpcResult<GetWorkflowExecutionHistoryReverseResponse> {
        let request = request.into_inner();
        let page = async {
            self.execution_of(&request.namespace, &request.execution)?;
            self.history.history_reverse(&request).await
        };
        respond(page.await)
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<DescribeWorkflowExecutionRequest>,
    ) -> RpcResult<DescribeWorkflowExecutionResponse> {
        let request = request.into_inner();
        let described = async {
            let execution = self.execution_of(&request.namespace, &request.execution)?;
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

    async fn create_schedule(
        &self,
        request: Request<CreateScheduleRequest>,
    ) -> RpcResult<CreateScheduleResponse> {
        respond(self.schedule_create(request.into_inner()).await)
    }

    async fn describe_schedule(
        &self,
        request: Request<DescribeScheduleRequest>,
    ) -> RpcResult<DescribeScheduleResponse> {
        respond(self.schedule_describe(request.into_inner()).await)
    }

    async fn update_schedule(
        &self,
        request: Request<UpdateScheduleRequest>,
    ) -> RpcResult<UpdateScheduleResponse> {
        respond(self.schedule_update(request.into_inner()).await)
    }

    async fn patch_schedule(
        &self,
        request: Request<PatchScheduleRequest>,
    ) -> RpcResult<PatchScheduleResponse> {
        respond(self.schedule_patch(request.into_inner()).await)
    }

    async fn delete_schedule(
        &self,
        request: Request<DeleteScheduleRequest>,
    ) -> RpcResult<DeleteScheduleResponse> {
        respond(self.schedule_delete(request.into_inner()).await)
    }

    async fn list_schedules(
        &self,
        request: Request<ListSchedulesRequest>,
    ) -> RpcResult<ListSchedulesResponse> {
        respond(self.schedule_list(request.into_inner()).await)
    }

    async fn count_schedules(
        &self,
        request: Request<CountSchedulesRequest>,
    ) -> RpcResult<CountSchedulesResponse> {
        respond(self.schedule_count(request.into_inner()).await)
    }

    async fn list_schedule_matching_times(
        &self,
        request: Request<ListScheduleMatchingTimesRequest>,
    ) -> RpcResult<ListScheduleMatchingTimesResponse> {
        respond(self.schedule_matching_times(request.into_inner()).await)
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ListWorkflowExecutionsRequest>,
    ) -> RpcResult<ListWorkflowExecutionsResponse> {
        let request = request.into_inner();
        let listed = async {
            let query = self.visibility_query(&request.namespace, &request.query)?;
            self.history
                .list_workflows(
                    &request.namespace,
                    &query,
                    request.page_size,
                    &request.next_page_token,
                )
                .await
        };
        respond(listed.await)
    }

    async fn count_workflow_executions(
        &self,
        request: Request<CountWorkflowExecutionsRequest>,
    ) -> RpcResult<CountWorkflowExecutionsResponse> {
        let request = request.into_inner();
        let counted = async {
            let query = self.visibility_query(&request.namespace, &request.query)?;
            self.history
                .count_workflows(&request.namespace, &query)
                .await
        };
        respond(counted.await)
    }

    async fn update_workflow_execution_options(
        &self,
        request: Request<UpdateWorkflowExecutionOptionsRequest>,
    ) -> RpcResult<UpdateWorkflowExecutionOptionsResponse> {
        let request = request.into_inner();
        let updated = async {
            let execution = self.execution_of(&request.namespace, &request.workflow_execution)?;
            let paths = request
                .update_mask
                .map(|mask| mask.paths)
                .unwrap_or_default();
            if let Some(other) = paths.iter().find(|path| *path != TIME_SKIPPING_CONFIG_PATH) {
                return Err(ServiceError::Unimplemented(format!(
                    "devserver updates only {TIME_SKIPPING_CONFIG_PATH} of workflow execution options, not {other}"
                )));
            }
            if paths.is_empty() {
                return Err(ServiceError::InvalidArgument(
                    "UpdateMask is required.".into(),
                ));
            }
            let config = request
                .workflow_execution_options
                .and_then(|options| options.time_skipping_config)
                .unwrap_or_default();
            let effective = self
                .history
                .set_time_skipping_config(&request.namespace, &execution, config, &request.identity)
                .await?;
            Ok(UpdateWorkflowExecutionOptionsResponse {
                workflow_execution_options: Some(WorkflowExecutionOptions {
                    time_skipping_config: effective,
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        respond(updated.await)
    }

    async fn poll_workflow_execution_time_skipping(
        &self,
        request: Request<PollWorkflowExecutionTimeSkippingRequest>,
    ) -> RpcResult<PollWorkflowExecutionTimeSkippingResponse> {
        let deadline = long_poll_deadline(&request, HISTORY_POLL_TIMEOUT);
        let request = request.into_inner();
        let polled = async {
            let execution = self.execution_of(&request.namespace, &request.workflow_execution)?;
            self.history
                .poll_time_skipping(
                    &request.namespace,
                    &execution,
                    &request.fast_forward_id,
                    deadline,
                )
                .await
        };
        respond(polled.await)
    }

    async fn poll_nexus_task_queue(
        &self,
        request: Request<PollNexusTaskQueueRequest>,
    ) -> RpcResult<PollNexusTaskQueueResponse> {
        let deadline = long_poll_deadline(&request, TASK_POLL_TIMEOUT);
        self.poll_nexus(request.into_inner(), deadline)
            .await
            .map(Response::new)
    }

    async fn respond_nexus_task_completed(
        &self,
        request: Request<RespondNexusTaskCompletedRequest>,
    ) -> RpcResult<RespondNexusTaskCompletedResponse> {
        respond(
            self.complete_nexus_task(request.into_inner())
                .map(|()| RespondNexusTaskCompletedResponse {}),
        )
    }

    async fn respond_nexus_task_failed(
        &self,
        request: Request<RespondNexusTaskFailedRequest>,
    ) -> RpcResult<RespondNexusTaskFailedResponse> {
        respond(
            self.fail_nexus_task(request.into_inner())
                .map(|()| RespondNexusTaskFailedResponse {}),
        )
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

/// The real server leaves a workflow task attempt that is not written yet out of the
/// histories it sends the CLI and the UI, which show the stored history; SDKs get it.
fn shows_stored_events_only<T>(request: &Request<T>) -> bool {
    request
        .metadata()
        .get("client-name")
        .is_some_and(|name| name == "temporal-cli" || name == "temporal-ui")
}
