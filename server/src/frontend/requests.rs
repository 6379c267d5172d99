//! Checks and conversions of WorkflowService requests and responses that need no state.

use devserver_persistence::NamespaceRow;
use temporalio_protos::temporal::api::common::v1::{Callback, callback};
use temporalio_protos::temporal::api::enums::v1::{
    ArchivalState, NamespaceState, ReplicationState, UpdateWorkflowExecutionLifecycleStage,
};
use temporalio_protos::temporal::api::namespace::v1::{
    NamespaceConfig, NamespaceInfo, namespace_info,
};
use temporalio_protos::temporal::api::replication::v1::{
    ClusterReplicationConfig, NamespaceReplicationConfig,
};
use temporalio_protos::temporal::api::update::v1::WaitPolicy;
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceResponse, RegisterNamespaceRequest, SignalWithStartWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
};

use crate::engine::{CronSchedule, SYSTEM_CALLBACK_URL, duration};
use crate::error::{ServiceError, ServiceResult};
use crate::nexus_endpoints::go_url;

/// The real server's payload limits, advertised so the SDK enforces them client-side.
const BLOB_SIZE_LIMIT: i64 = 2 * 1024 * 1024;
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

/// The longest workflow id, type or task queue name the real server takes.
pub const MAX_ID_LENGTH: usize = 1000;

/// What a start request must satisfy whatever the namespace: the real server's checks and
/// messages.
pub fn check_start(request: &StartWorkflowExecutionRequest) -> ServiceResult<()> {
    let workflow_id = required(&request.workflow_id, "WorkflowId")?;
    let workflow_type = required(
        request
            .workflow_type
            .as_ref()
            .map_or("", |t| t.name.as_str()),
        "WorkflowType",
    )?;
    let task_queue = required(
        request.task_queue.as_ref().map_or("", |q| q.name.as_str()),
        "TaskQueue",
    )?;
    // The real server's limits (in bytes), and its words.
    if workflow_id.len() > MAX_ID_LENGTH {
        return Err(ServiceError::InvalidArgument(format!(
            "WorkflowId exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            workflow_id.len()
        )));
    }
    if workflow_type.len() > MAX_ID_LENGTH {
        return Err(ServiceError::InvalidArgument(
            "WorkflowType length exceeds limit.".into(),
        ));
    }
    if task_queue.len() > MAX_ID_LENGTH {
        return Err(ServiceError::InvalidArgument(
            "taskQueue length exceeds limit".into(),
        ));
    }
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
    if !request.cron_schedule.is_empty() && CronSchedule::parse(&request.cron_schedule).is_none() {
        return Err(ServiceError::InvalidArgument(
            "invalid CronSchedule.".into(),
        ));
    }
    if request
        .workflow_start_delay
        .as_ref()
        .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
    {
        return Err(ServiceError::InvalidArgument(
            "Invalid WorkflowStartDelay.".into(),
        ));
    }
    check_completion_callbacks(&request.completion_callbacks)?;
    if request
        .on_conflict_options
        .as_ref()
        .is_some_and(|o| o.attach_completion_callbacks && !o.attach_request_id)
    {
        return Err(ServiceError::InvalidArgument(
            "attaching request ID is required for attaching completion callbacks".into(),
        ));
    }
    Ok(())
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
                blob_size_limit_error: BLOB_SIZE_LIMIT,
                memo_size_limit_error: BLOB_SIZE_LIMIT,
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

    fn refusal(result: ServiceResult<impl std::fmt::Debug>) -> String {
        match result {
            Err(ServiceError::InvalidArgument(message)) => message,
            other => panic!("not refused: {other:?}"),
        }
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
