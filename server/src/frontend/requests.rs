//! Checks and conversions of WorkflowService requests and responses that need no state.

use devserver_persistence::NamespaceRow;
use prost::Message;
use temporalio_protos::temporal::api::common::v1::{
    Callback, Payloads, RetryPolicy as RetryPolicyProto, callback,
};
use temporalio_protos::temporal::api::enums::v1::{
    ArchivalState, NamespaceState, ReplicationState, UpdateWorkflowExecutionLifecycleStage,
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
};
use temporalio_protos::temporal::api::failure::v1::{
    ApplicationFailureInfo, Failure, ServerFailureInfo, failure::FailureInfo,
};
use temporalio_protos::temporal::api::namespace::v1::{
    NamespaceConfig, NamespaceInfo, namespace_info,
};
use temporalio_protos::temporal::api::replication::v1::{
    ClusterReplicationConfig, NamespaceReplicationConfig,
};
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::update::v1::WaitPolicy;
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceResponse, RegisterNamespaceRequest, SignalWithStartWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest, StartWorkflowExecutionRequest,
};

pub use crate::engine::MAX_ID_LENGTH;
use crate::engine::{
    BLOB_SIZE_LIMIT, CronSchedule, RetryPolicy, SYSTEM_CALLBACK_URL, duration, duration_error,
};
use crate::error::{ServiceError, ServiceResult};
use crate::history::ActivityReportKind;
use crate::nexus_endpoints::go_url;

/// The real server's limit on a workflow task completion, which it advertises (as it does
/// the payload limit) so that the SDK enforces it client-side.
const WORKFLOW_TASK_COMPLETION_SIZE_LIMIT: i64 = 40 * 1024 * 1024;
const CLUSTER_NAME: &str = "active";
/// The shortest retention the real server accepts for a local namespace.
const MIN_RETENTION_SECONDS: i64 = 60 * 60;
/// The real server caps durations at 100 years.
const MAX_RETENTION_SECONDS: i64 = 100 * 365 * 24 * 60 * 60;
/// The real server's limits on a completion callback (frontend.callback*).
const MAX_CALLBACK_URL_LENGTH: usize = 1000;
const MAX_CALLBACK_HEADER_SIZE: usize = 8192;
/// The callback address the real server reserves for its own use (CHASM's).
const INTERNAL_CALLBACK_URL: &str = "temporal://internal";

pub fn required<'a>(value: &'a str, what: &str) -> ServiceResult<&'a str> {
    if value.is_empty() {
        Err(ServiceError::InvalidArgument(format!(
            "{what} is not set on request."
        )))
    } else {
        Ok(value)
    }
}

/// A run id, when given, is a UUID (the real server refuses anything else).
pub fn valid_run_id(run_id: &str) -> ServiceResult<()> {
    if run_id.is_empty() || uuid::Uuid::parse_str(run_id).is_ok() {
        Ok(())
    } else {
        Err(ServiceError::InvalidArgument("Invalid RunId.".into()))
    }
}

/// What a start request must satisfy whatever the namespace: the real server's checks, in
/// its order and with its messages. The search attributes and the payload sizes come after
/// (`check_start_payloads`), as on the real server.
pub fn check_start(request: &StartWorkflowExecutionRequest) -> ServiceResult<()> {
    check_workflow_id(&request.workflow_id)?;
    check_retry_policy(request.retry_policy.as_ref())?;
    check_start_delay(
        &request.cron_schedule,
        request.workflow_start_delay.as_ref(),
    )?;
    check_cron_schedule(&request.cron_schedule)?;
    let workflow_type = required(
        request
            .workflow_type
            .as_ref()
            .map_or("", |t| t.name.as_str()),
        "WorkflowType",
    )?;
    if workflow_type.len() > MAX_ID_LENGTH {
        return invalid("WorkflowType length exceeds limit.");
    }
    task_queue_name(request.task_queue.as_ref())?;
    check_workflow_timeouts([
        &request.workflow_execution_timeout,
        &request.workflow_run_timeout,
        &request.workflow_task_timeout,
    ])?;
    if request.request_id.len() > MAX_ID_LENGTH {
        return invalid("RequestId length exceeds limit.");
    }
    check_id_policy_pair(
        request.workflow_id_reuse_policy,
        request.workflow_id_conflict_policy,
    )?;
    if request
        .on_conflict_options
        .as_ref()
        .is_some_and(|o| o.attach_completion_callbacks && !o.attach_request_id)
    {
        return invalid("attaching request ID is required for attaching completion callbacks");
    }
    check_completion_callbacks(&request.completion_callbacks)
}

/// The payload limits of a start request (the real history service's, checked last).
pub fn check_start_payloads(request: &StartWorkflowExecutionRequest) -> ServiceResult<()> {
    check_blob_size(request.input.as_ref())?;
    if request
        .memo
        .as_ref()
        .is_some_and(|memo| memo.encoded_len() > BLOB_SIZE_LIMIT)
    {
        return invalid("Memo size exceeds limit.");
    }
    Ok(())
}

/// What a SignalWithStart request must satisfy: the real server checks it with checks and
/// words of its own (not a start's followed by a signal's).
pub fn check_signal_with_start(
    request: &SignalWithStartWorkflowExecutionRequest,
) -> ServiceResult<()> {
    check_cron_schedule(&request.cron_schedule)?;
    check_workflow_id(&request.workflow_id)?;
    if request.signal_name.is_empty() {
        return invalid("signal not set");
    }
    if request.signal_name.len() > MAX_ID_LENGTH {
        return invalid(&format!(
            "signal name exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            request.signal_name.len()
        ));
    }
    let workflow_type = request
        .workflow_type
        .as_ref()
        .map_or("", |t| t.name.as_str());
    if workflow_type.is_empty() {
        return invalid("workflow type not set");
    }
    if workflow_type.len() > MAX_ID_LENGTH {
        return invalid(&format!(
            "workflow type name exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            workflow_type.len()
        ));
    }
    task_queue_name(request.task_queue.as_ref())?;
    if request.request_id.len() > MAX_ID_LENGTH {
        return invalid(&format!(
            "Request ID exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            request.request_id.len()
        ));
    }
    check_workflow_timeouts([
        &request.workflow_execution_timeout,
        &request.workflow_run_timeout,
        &request.workflow_task_timeout,
    ])?;
    check_retry_policy(request.retry_policy.as_ref())?;
    check_start_delay(
        &request.cron_schedule,
        request.workflow_start_delay.as_ref(),
    )?;
    check_id_policy_pair(
        request.workflow_id_reuse_policy,
        request.workflow_id_conflict_policy,
    )?;
    check_blob_size(request.signal_input.as_ref())
}

/// What a signal request must satisfy beyond naming a workflow (`execution_of`).
pub fn check_signal(request: &SignalWorkflowExecutionRequest) -> ServiceResult<()> {
    required(&request.signal_name, "SignalName")?;
    if request.signal_name.len() > MAX_ID_LENGTH {
        return invalid("SignalName length exceeds limit.");
    }
    if request.request_id.len() > MAX_ID_LENGTH {
        return invalid("RequestId length exceeds limit.");
    }
    check_blob_size(request.input.as_ref())
}

/// The identity a worker or client gives, at most as long as an id: the real server checks
/// it on polls and on the reports of workflow and activity tasks.
pub fn check_identity(identity: &str) -> ServiceResult<()> {
    if identity.len() > MAX_ID_LENGTH {
        return invalid("Identity length exceeds limit.");
    }
    Ok(())
}

/// The failure a worker reports for an activity attempt (by task token) is an application
/// failure: the real server refuses any other kind.
pub fn check_activity_failure(failure: Option<&Failure>) -> ServiceResult<()> {
    if failure
        .is_some_and(|f| !matches!(f.failure_info, Some(FailureInfo::ApplicationFailureInfo(_))))
    {
        return invalid("Failure must have ApplicationFailureInfo.");
    }
    Ok(())
}

/// The name of a task queue a request gives, checked like the real server's.
pub fn task_queue_name(task_queue: Option<&TaskQueue>) -> ServiceResult<&str> {
    let Some(task_queue) = task_queue else {
        return invalid("taskQueue is not set");
    };
    if task_queue.name.is_empty() {
        return invalid("missing task queue name");
    }
    if task_queue.name.len() > MAX_ID_LENGTH {
        return invalid("taskQueue length exceeds limit");
    }
    Ok(&task_queue.name)
}

/// Whether one payload field (an input, a result, details) is over the real server's
/// per-blob limit, which counts its encoded size.
fn over_blob_size_limit(payloads: Option<&Payloads>) -> bool {
    payloads.is_some_and(|p| p.encoded_len() > BLOB_SIZE_LIMIT)
}

/// What an activity's completion reports: a result over the blob size limit fails the
/// activity instead, for good (a retry would produce it again), as on the real server.
pub fn completion_report(result: Option<Payloads>) -> ActivityReportKind {
    if over_blob_size_limit(result.as_ref()) {
        return server_failure_report("Complete result exceeds size limit.");
    }
    ActivityReportKind::Completed(result)
}

/// What a heartbeat reports, and whether it failed the activity: details over the blob size
/// limit fail it for good, and the worker is told to stop (cancel requested), as on the real
/// server.
pub fn heartbeat_report(details: Option<Payloads>) -> (ActivityReportKind, bool) {
    if over_blob_size_limit(details.as_ref()) {
        return (
            server_failure_report("Heartbeat details exceed size limit."),
            true,
        );
    }
    (ActivityReportKind::Heartbeat(details), false)
}

/// What an activity's failure reports, and the failures the worker is told of: heartbeat
/// details over the blob size limit are dropped, and a failure over it is replaced by the real
/// server's own (for good), which keeps the start of the original as its cause.
pub fn failure_report(
    failure: Option<Failure>,
    last_heartbeat_details: Option<Payloads>,
) -> (ActivityReportKind, Vec<Failure>) {
    let mut replaced = Vec::new();
    let last_heartbeat_details = if over_blob_size_limit(last_heartbeat_details.as_ref()) {
        replaced.push(server_failure("Heartbeat details exceed size limit."));
        None
    } else {
        last_heartbeat_details
    };
    let mut failure = failure.unwrap_or_default();
    if failure.encoded_len() > BLOB_SIZE_LIMIT {
        let mut server = server_failure("Failure exceeds size limit.");
        server.cause = Some(Box::new(truncated(
            &failure,
            BLOB_SIZE_WARN_LIMIT as isize,
            MAX_TRUNCATED_CAUSES,
        )));
        replaced.push(server.clone());
        failure = server;
    }
    let kind = ActivityReportKind::Failed {
        failure: Box::new(failure),
        last_heartbeat_details,
    };
    (kind, replaced)
}

/// The real server's warning limit on a blob: how much of a failure over the limit it keeps.
const BLOB_SIZE_WARN_LIMIT: usize = 512 * 1024;
/// How deep the real server follows a truncated failure's causes.
const MAX_TRUNCATED_CAUSES: u32 = 20;

/// A failure cut to about `budget` bytes the real server's way: its kind (application or
/// server, with the non-retryable flag and type), then source, message and stack trace,
/// then its causes, each field cut at a character boundary, counting a few bytes of
/// encoding for each.
fn truncated(failure: &Failure, mut budget: isize, depth: u32) -> Failure {
    fn take(text: &str, budget: &mut isize) -> String {
        let mut end = text.len().min(usize::try_from(*budget).unwrap_or(0));
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let kept = &text[..end];
        *budget -= kept.len() as isize;
        if !kept.is_empty() {
            *budget -= 4;
        }
        kept.to_owned()
    }
    let failure_info = match &failure.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) => {
            let r#type = take(&info.r#type, &mut budget);
            budget -= 8;
            Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    non_retryable: info.non_retryable,
                    r#type,
                    ..Default::default()
                },
            ))
        }
        Some(FailureInfo::ServerFailureInfo(info)) => {
            budget -= 4;
            Some(FailureInfo::ServerFailureInfo(*info))
        }
        _ => None,
    };
    let source = take(&failure.source, &mut budget);
    let message = take(&failure.message, &mut budget);
    let stack_trace = take(&failure.stack_trace, &mut budget);
    let cause = match &failure.cause {
        Some(cause) if budget > 4 && depth > 0 => {
            Some(Box::new(truncated(cause, budget - 4, depth - 1)))
        }
        _ => None,
    };
    Failure {
        message,
        source,
        stack_trace,
        cause,
        failure_info,
        ..Default::default()
    }
}

fn server_failure_report(message: &str) -> ActivityReportKind {
    ActivityReportKind::Failed {
        failure: Box::new(server_failure(message)),
        last_heartbeat_details: None,
    }
}

/// A failure of the server's own, which says whether a retry could help.
fn server_failure(message: &str) -> Failure {
    Failure {
        message: message.to_owned(),
        failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo {
            non_retryable: true,
        })),
        ..Default::default()
    }
}

fn check_blob_size(payloads: Option<&Payloads>) -> ServiceResult<()> {
    if over_blob_size_limit(payloads) {
        return invalid("Blob data size exceeds limit.");
    }
    Ok(())
}

fn check_workflow_id(workflow_id: &str) -> ServiceResult<()> {
    required(workflow_id, "WorkflowId")?;
    if workflow_id.len() > MAX_ID_LENGTH {
        return invalid(&format!(
            "WorkflowId exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            workflow_id.len()
        ));
    }
    Ok(())
}

/// A start's execution, run and task timeouts, in that order.
fn check_workflow_timeouts(timeouts: [&Option<prost_types::Duration>; 3]) -> ServiceResult<()> {
    let names = [
        "WorkflowExecutionTimeoutSeconds",
        "WorkflowRunTimeoutSeconds",
        "WorkflowTaskTimeoutSeconds",
    ];
    for (timeout, name) in timeouts.into_iter().zip(names) {
        if let Some(error) = duration_error(timeout.as_ref()) {
            return invalid(&format!(
                "An invalid {name} is set on request. cause: {error}"
            ));
        }
    }
    Ok(())
}

fn check_start_delay(
    cron_schedule: &str,
    delay: Option<&prost_types::Duration>,
) -> ServiceResult<()> {
    if !cron_schedule.is_empty() && delay.is_some() {
        return invalid("CronSchedule and WorkflowStartDelay may not be used together.");
    }
    if let Some(error) = duration_error(delay) {
        return invalid(&format!(
            "An invalid WorkflowStartDelaySeconds is set on request. cause: {error}"
        ));
    }
    Ok(())
}

fn check_cron_schedule(cron_schedule: &str) -> ServiceResult<()> {
    if !cron_schedule.is_empty() && CronSchedule::parse(cron_schedule).is_none() {
        return invalid("invalid CronSchedule.");
    }
    Ok(())
}

fn check_retry_policy(policy: Option<&RetryPolicyProto>) -> ServiceResult<()> {
    policy
        .map_or(Ok(()), RetryPolicy::check)
        .map_err(ServiceError::InvalidArgument)
}

/// The reuse and conflict policies that contradict each other.
// TERMINATE_IF_RUNNING is deprecated in favour of the conflict policy but still accepted.
#[allow(deprecated)]
fn check_id_policy_pair(reuse: i32, conflict: i32) -> ServiceResult<()> {
    let conflict_set = conflict != WorkflowIdConflictPolicy::Unspecified as i32;
    if conflict_set && reuse == WorkflowIdReusePolicy::TerminateIfRunning as i32 {
        return invalid(
            "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used together with a WorkflowIDConflictPolicy",
        );
    }
    if conflict == WorkflowIdConflictPolicy::TerminateExisting as i32
        && reuse == WorkflowIdReusePolicy::RejectDuplicate as i32
    {
        return invalid(
            "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE cannot be used together with WorkflowIdConflictPolicy WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING",
        );
    }
    Ok(())
}

fn invalid<T>(message: &str) -> ServiceResult<T> {
    Err(ServiceError::InvalidArgument(message.to_owned()))
}

/// A start request's completion callbacks, checked like the real dev server's: the only
/// address it allows is its own (`temporal://system`), where callers that are workflows of
/// this server get the outcome.
fn check_completion_callbacks(callbacks: &[Callback]) -> ServiceResult<()> {
    let invalid = |message: String| Err(ServiceError::InvalidArgument(message));
    for callback in callbacks {
        let Some(callback::Variant::Nexus(nexus)) = &callback.variant else {
            return Err(ServiceError::Unimplemented(
                "devserver accepts only Nexus completion callbacks".into(),
            ));
        };
        let url = nexus.url.as_str();
        if url.len() > MAX_CALLBACK_URL_LENGTH {
            return invalid(format!(
                "invalid url: url length longer than max length allowed of {MAX_CALLBACK_URL_LENGTH}"
            ));
        }
        if url == INTERNAL_CALLBACK_URL {
            return Err(ServiceError::Unimplemented(format!(
                "devserver does not deliver callbacks to {INTERNAL_CALLBACK_URL}"
            )));
        }
        if url != SYSTEM_CALLBACK_URL {
            let host_missing = url
                .split_once("://")
                .is_none_or(|(_, rest)| rest.is_empty() || rest.starts_with('/'));
            return match go_url::scheme(url) {
                Err(error) => invalid(format!("invalid callback url: {error}")),
                Ok(scheme) if scheme != "http" && scheme != "https" => {
                    invalid(format!("invalid url: unknown scheme: {url}"))
                }
                Ok(_) if host_missing => invalid("invalid url: missing host".into()),
                // The dev server allows no other callback address.
                Ok(_) => invalid(format!(
                    "invalid url: url does not match any configured callback address: {url}"
                )),
            };
        }
        let size: usize = nexus.header.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_CALLBACK_HEADER_SIZE {
            return invalid(format!(
                "invalid header: header size longer than max allowed size of {MAX_CALLBACK_HEADER_SIZE}"
            ));
        }
    }
    Ok(())
}

/// The namespace a RegisterNamespace request asks for, after the checks the real server
/// makes before it looks for a namespace of that name.
pub fn namespace_to_register(request: &RegisterNamespaceRequest) -> ServiceResult<NamespaceRow> {
    let invalid = |message: &str| Err(ServiceError::InvalidArgument(message.into()));
    if request.namespace.is_empty() {
        return invalid("Namespace not set on request.");
    }
    if request.namespace.len() > MAX_ID_LENGTH {
        return invalid("Namespace length exceeds limit.");
    }
    if request.is_global_namespace {
        return invalid("Cannot register global namespace when not enabled");
    }
    let retention = request
        .workflow_execution_retention_period
        .unwrap_or_default();
    let mixed_signs = (retention.seconds > 0 && retention.nanos < 0)
        || (retention.seconds < 0 && retention.nanos > 0);
    // Absent reads as zero, which is below the minimum too.
    if mixed_signs || retention.seconds < MIN_RETENTION_SECONDS {
        return invalid("A valid retention period is not set on request.");
    }
    Ok(NamespaceRow {
        name: request.namespace.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        description: request.description.clone(),
        owner_email: request.owner_email.clone(),
        retention_seconds: retention.seconds.min(MAX_RETENTION_SECONDS),
        data: request.data.clone().into_iter().collect(),
        replication_state: ReplicationState::Normal as i32,
    })
}

/// A namespace is local to the one cluster there is: a request may name only that one.
pub fn check_local_clusters(request: &RegisterNamespaceRequest) -> ServiceResult<()> {
    let active = match request.active_cluster_name.as_str() {
        "" => CLUSTER_NAME,
        name => name,
    };
    let named = std::iter::once(active).chain(
        request
            .clusters
            .iter()
            .map(|cluster| cluster.cluster_name.as_str()),
    );
    for name in named {
        if name != CLUSTER_NAME {
            return Err(ServiceError::InvalidArgument(format!(
                "Invalid cluster name: {name}"
            )));
        }
    }
    if request.clusters.len() > 1 {
        return Err(ServiceError::InvalidArgument(
            "Invalid local namespace clusters".into(),
        ));
    }
    Ok(())
}

pub fn describe_namespace(row: &NamespaceRow) -> DescribeNamespaceResponse {
    DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name: row.name.clone(),
            state: NamespaceState::Registered as i32,
            description: row.description.clone(),
            owner_email: row.owner_email.clone(),
            id: row.id.clone(),
            data: row.data.clone().into_iter().collect(),
            // Only what devserver implements; the SDK turns features on from these.
            capabilities: Some(namespace_info::Capabilities {
                sync_update: true,
                async_update: true,
                ..Default::default()
            }),
            supports_schedules: true,
            limits: Some(namespace_info::Limits {
                blob_size_limit_error: BLOB_SIZE_LIMIT as i64,
                memo_size_limit_error: BLOB_SIZE_LIMIT as i64,
                workflow_task_completion_size_limit_error: WORKFLOW_TASK_COMPLETION_SIZE_LIMIT,
            }),
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
            state: row.replication_state,
        }),
        ..Default::default()
    }
}

/// The lifecycle stage a client waits for; none given means accepted, as the real server.
pub fn wait_stage(policy: Option<&WaitPolicy>) -> UpdateWorkflowExecutionLifecycleStage {
    policy
        .and_then(|p| UpdateWorkflowExecutionLifecycleStage::try_from(p.lifecycle_stage).ok())
        .filter(|stage| *stage != UpdateWorkflowExecutionLifecycleStage::Unspecified)
        .unwrap_or(UpdateWorkflowExecutionLifecycleStage::Accepted)
}

/// The start half of a SignalWithStart request.
pub fn start_request_of_signal_with_start(
    request: SignalWithStartWorkflowExecutionRequest,
) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: request.namespace,
        workflow_id: request.workflow_id,
        workflow_type: request.workflow_type,
        task_queue: request.task_queue,
        input: request.input,
        workflow_execution_timeout: request.workflow_execution_timeout,
        workflow_run_timeout: request.workflow_run_timeout,
        workflow_task_timeout: request.workflow_task_timeout,
        identity: request.identity,
        request_id: request.request_id,
        workflow_id_reuse_policy: request.workflow_id_reuse_policy,
        workflow_id_conflict_policy: request.workflow_id_conflict_policy,
        retry_policy: request.retry_policy,
        cron_schedule: request.cron_schedule,
        memo: request.memo,
        search_attributes: request.search_attributes,
        header: request.header,
        workflow_start_delay: request.workflow_start_delay,
        user_metadata: request.user_metadata,
        links: request.links,
        versioning_override: request.versioning_override,
        priority: request.priority,
        time_skipping_config: request.time_skipping_config,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Duration;
    use temporalio_protos::temporal::api::common::v1::{Memo, Payload, WorkflowType};
    use temporalio_protos::temporal::api::replication::v1::ClusterReplicationConfig;

    use super::*;

    fn register(namespace: &str, retention_seconds: i64) -> RegisterNamespaceRequest {
        RegisterNamespaceRequest {
            namespace: namespace.into(),
            workflow_execution_retention_period: Some(Duration {
                seconds: retention_seconds,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    fn start() -> StartWorkflowExecutionRequest {
        StartWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_id: "wf".into(),
            workflow_type: Some(WorkflowType { name: "W".into() }),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            request_id: "r".into(),
            ..Default::default()
        }
    }

    fn refusal<T: std::fmt::Debug>(result: ServiceResult<T>) -> String {
        match result {
            Err(ServiceError::InvalidArgument(message)) => message,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    fn payloads(size: usize) -> Payloads {
        Payloads {
            payloads: vec![Payload {
                data: vec![b'x'; size],
                ..Default::default()
            }],
        }
    }

    fn negative() -> Option<prost_types::Duration> {
        Some(prost_types::Duration {
            seconds: -1,
            nanos: 0,
        })
    }

    #[test]
    fn start_requests_are_refused_in_the_real_servers_words() {
        assert!(check_start(&start()).is_ok());
        type Spoil = fn(&mut StartWorkflowExecutionRequest);
        let cases: [(Spoil, &str); 8] = [
            (
                |r| r.workflow_id = "x".repeat(1001),
                "WorkflowId exceeds maximum allowed length (1001/1000)",
            ),
            (
                |r| r.task_queue.as_mut().unwrap().name.clear(),
                "missing task queue name",
            ),
            (|r| r.task_queue = None, "taskQueue is not set"),
            (
                |r| r.request_id = "x".repeat(1001),
                "RequestId length exceeds limit.",
            ),
            (
                |r| r.workflow_run_timeout = negative(),
                "An invalid WorkflowRunTimeoutSeconds is set on request. cause: negative duration",
            ),
            (
                |r| {
                    r.cron_schedule = "* * * * *".into();
                    r.workflow_start_delay = Some(Default::default());
                },
                "CronSchedule and WorkflowStartDelay may not be used together.",
            ),
            (
                |r| {
                    r.retry_policy = Some(RetryPolicyProto {
                        maximum_attempts: -1,
                        ..Default::default()
                    })
                },
                "MaximumAttempts cannot be negative on retry policy.",
            ),
            (
                |r| {
                    r.workflow_id_reuse_policy = WorkflowIdReusePolicy::RejectDuplicate as i32;
                    r.workflow_id_conflict_policy =
                        WorkflowIdConflictPolicy::TerminateExisting as i32;
                },
                "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE cannot be used together with WorkflowIdConflictPolicy WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING",
            ),
        ];
        for (spoil, expected) in cases {
            let mut request = start();
            spoil(&mut request);
            assert_eq!(refusal(check_start(&request)), expected);
        }
    }

    #[test]
    fn payloads_over_the_limit_are_refused_and_the_limit_itself_is_not() {
        let mut request = start();
        // A payload's encoding adds a few bytes of framing to its data.
        request.input = Some(payloads(BLOB_SIZE_LIMIT - 16));
        assert!(check_start_payloads(&request).is_ok());
        request.input = Some(payloads(BLOB_SIZE_LIMIT));
        assert_eq!(
            refusal(check_start_payloads(&request)),
            "Blob data size exceeds limit."
        );
        request.input = None;
        request.memo = Some(Memo {
            fields: [("m".to_owned(), payloads(BLOB_SIZE_LIMIT).payloads.remove(0))].into(),
        });
        assert_eq!(
            refusal(check_start_payloads(&request)),
            "Memo size exceeds limit."
        );
    }

    #[test]
    fn signal_with_start_has_words_of_its_own() {
        let request = SignalWithStartWorkflowExecutionRequest {
            workflow_id: "wf".into(),
            signal_name: "s".into(),
            workflow_type: Some(WorkflowType { name: "W".into() }),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check_signal_with_start(&request).is_ok());
        let unnamed = SignalWithStartWorkflowExecutionRequest {
            signal_name: String::new(),
            ..request.clone()
        };
        assert_eq!(refusal(check_signal_with_start(&unnamed)), "signal not set");
        let long = SignalWithStartWorkflowExecutionRequest {
            request_id: "x".repeat(1001),
            ..request
        };
        assert_eq!(
            refusal(check_signal_with_start(&long)),
            "Request ID exceeds maximum allowed length (1001/1000)"
        );
    }

    #[test]
    fn a_reported_failure_over_the_limit_is_replaced_and_its_start_kept() {
        let (kind, told) = failure_report(
            Some(Failure {
                message: "é".repeat(BLOB_SIZE_LIMIT),
                failure_info: Some(FailureInfo::ApplicationFailureInfo(
                    ApplicationFailureInfo {
                        r#type: "Boom".into(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }),
            Some(payloads(BLOB_SIZE_LIMIT)),
        );
        let ActivityReportKind::Failed {
            failure,
            last_heartbeat_details,
        } = kind
        else {
            panic!("expected a failure")
        };
        assert!(
            last_heartbeat_details.is_none(),
            "details over the limit dropped"
        );
        assert_eq!(failure.message, "Failure exceeds size limit.");
        let cause = failure.cause.as_deref().unwrap();
        // The type and its encoding first, then as much of the message as fits, whole
        // characters only.
        let budget = BLOB_SIZE_WARN_LIMIT - ("Boom".len() + 4) - 8;
        assert_eq!(cause.message.len(), budget - budget % 2);
        assert_eq!(
            told.iter().map(|f| f.message.as_str()).collect::<Vec<_>>(),
            [
                "Heartbeat details exceed size limit.",
                "Failure exceeds size limit."
            ]
        );
        let (small, told) = failure_report(Some(Failure::default()), None);
        assert!(told.is_empty());
        assert!(matches!(small, ActivityReportKind::Failed { .. }));
    }

    #[test]
    fn identities_and_failures_of_reports_are_checked() {
        assert!(check_identity(&"x".repeat(MAX_ID_LENGTH)).is_ok());
        assert_eq!(
            refusal(check_identity(&"x".repeat(MAX_ID_LENGTH + 1))),
            "Identity length exceeds limit."
        );
        assert!(check_activity_failure(None).is_ok());
        assert_eq!(
            refusal(check_activity_failure(Some(&Failure::default()))),
            "Failure must have ApplicationFailureInfo."
        );
    }

    #[test]
    fn oversized_activity_reports_fail_the_activity_for_good() {
        let small = payloads(10);
        assert!(matches!(
            completion_report(Some(small.clone())),
            ActivityReportKind::Completed(Some(_))
        ));
        assert!(matches!(
            heartbeat_report(Some(small)),
            (ActivityReportKind::Heartbeat(Some(_)), false)
        ));
        let failure_of = |kind: ActivityReportKind| match kind {
            ActivityReportKind::Failed { failure, .. } => *failure,
            _ => panic!("expected a failure"),
        };
        let result = failure_of(completion_report(Some(payloads(BLOB_SIZE_LIMIT))));
        assert_eq!(result.message, "Complete result exceeds size limit.");
        assert_eq!(
            result.failure_info,
            Some(FailureInfo::ServerFailureInfo(ServerFailureInfo {
                non_retryable: true
            }))
        );
        let (heartbeat, stop) = heartbeat_report(Some(payloads(BLOB_SIZE_LIMIT)));
        assert!(stop, "the worker is told to stop the activity");
        assert_eq!(
            failure_of(heartbeat).message,
            "Heartbeat details exceed size limit."
        );
    }

    #[test]
    fn a_registered_namespace_keeps_its_data_and_replicates_normally() {
        let mut request = register("ns", 72 * 3600);
        request.description = "made by hand".into();
        request.owner_email = "owner@example.com".into();
        request.data = [("team".to_owned(), "payments".to_owned())].into();
        let row = namespace_to_register(&request).unwrap();
        assert_eq!(row.retention_seconds, 72 * 3600);
        assert_eq!(row.data["team"], "payments");
        assert_eq!(row.replication_state, ReplicationState::Normal as i32);
        let described = describe_namespace(&row);
        let info = described.namespace_info.unwrap();
        assert_eq!(
            (info.description.as_str(), info.owner_email.as_str()),
            ("made by hand", "owner@example.com")
        );
        assert_eq!(info.data["team"], "payments");
        assert_eq!(
            described.replication_config.unwrap().state,
            ReplicationState::Normal as i32
        );
    }

    #[test]
    fn registration_is_refused_with_the_real_servers_messages() {
        let retention = "A valid retention period is not set on request.";
        let mut global = register("ns", 86400);
        global.is_global_namespace = true;
        let mut no_retention = register("ns", 0);
        no_retention.workflow_execution_retention_period = None;
        let mut mixed_signs = register("ns", 7200);
        mixed_signs
            .workflow_execution_retention_period
            .as_mut()
            .unwrap()
            .nanos = -1;
        for (request, message) in [
            (register("", 86400), "Namespace not set on request."),
            (
                register(&"n".repeat(1001), 86400),
                "Namespace length exceeds limit.",
            ),
            (global, "Cannot register global namespace when not enabled"),
            (register("ns", 3599), retention),
            (register("ns", -86400), retention),
            (no_retention, retention),
            (mixed_signs, retention),
        ] {
            assert_eq!(refusal(namespace_to_register(&request)), message);
        }
        // An hour is enough, and a century is the most that is kept.
        assert!(namespace_to_register(&register("ns", 3600)).is_ok());
        let forever = namespace_to_register(&register("ns", i64::MAX)).unwrap();
        assert_eq!(forever.retention_seconds, MAX_RETENTION_SECONDS);
    }

    #[test]
    fn only_the_one_cluster_may_be_named() {
        let cluster = |name: &str| ClusterReplicationConfig {
            cluster_name: name.into(),
            ..Default::default()
        };
        let mut request = register("ns", 86400);
        assert!(check_local_clusters(&request).is_ok());
        request.active_cluster_name = "active".into();
        request.clusters = vec![cluster("active")];
        assert!(check_local_clusters(&request).is_ok());
        request.clusters = vec![cluster("active"), cluster("other")];
        assert_eq!(
            refusal(check_local_clusters(&request)),
            "Invalid cluster name: other"
        );
        request.clusters = vec![cluster("active"), cluster("active")];
        assert_eq!(
            refusal(check_local_clusters(&request)),
            "Invalid local namespace clusters"
        );
        request.clusters.clear();
        request.active_cluster_name = "elsewhere".into();
        assert_eq!(
            refusal(check_local_clusters(&request)),
            "Invalid cluster name: elsewhere"
        );
    }
}
