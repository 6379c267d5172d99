//! Starting a run, and what the workflow id reuse and conflict policies decide.

use std::collections::BTreeMap;

use temporalio_protos::temporal::api::enums::v1::{
    ContinueAsNewInitiator, EventType, WorkflowExecutionStatus, WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
};
use temporalio_protos::temporal::api::history::v1::WorkflowExecutionStartedEventAttributes;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;

use temporalio_protos::temporal::api::common::v1::{
    TimeSkippingStatePropagation, WorkflowExecution,
};

use super::activity::RetryPolicy;
use super::children::ParentInfo;
use super::continuation::Continuation;
use super::cron::CronSchedule;
use super::nexus::normalized_callbacks;
use super::signals::{Signal, signaled_event};
use super::time_skipping::TimeSkipping;
use super::{
    Effects, Millis, MutableState, Proto, duration, millis_of, new_event, normal_queue, timestamp,
};

/// The real server's default when a start request leaves the workflow task timeout unset.
const DEFAULT_WORKFLOW_TASK_TIMEOUT: Millis = 10_000;
/// The real server caps the workflow task timeout at two minutes.
const MAX_WORKFLOW_TASK_TIMEOUT: Millis = 120_000;

/// What a start request does to a workflow id that already has runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowIdPolicy {
    StartNew,
    /// The same request arrived again: answer with the run it started.
    Deduplicated,
    /// Answer with the running run (conflict policy USE_EXISTING).
    UseExisting,
    TerminateThenStart,
    /// ALREADY_EXISTS with this message.
    Reject(String),
}

/// Decides a start request against the current run of its workflow id.
// TERMINATE_IF_RUNNING is deprecated in favour of the conflict policy but still accepted.
#[allow(deprecated)]
pub fn check_id_policies(
    current: Option<&MutableState>,
    request_id: &str,
    reuse_policy: i32,
    conflict_policy: i32,
) -> WorkflowIdPolicy {
    let Some(current) = current else {
        return WorkflowIdPolicy::StartNew;
    };
    if current.start_request_id == request_id {
        return WorkflowIdPolicy::Deduplicated;
    }
    let reuse = WorkflowIdReusePolicy::try_from(reuse_policy).unwrap_or_default();
    if current.is_open() {
        let conflict = WorkflowIdConflictPolicy::try_from(conflict_policy).unwrap_or_default();
        return match (conflict, reuse) {
            (WorkflowIdConflictPolicy::UseExisting, _) => WorkflowIdPolicy::UseExisting,
            (WorkflowIdConflictPolicy::TerminateExisting, _)
            | (_, WorkflowIdReusePolicy::TerminateIfRunning) => {
                WorkflowIdPolicy::TerminateThenStart
            }
            _ => WorkflowIdPolicy::Reject(format!(
                "Workflow execution is already running. WorkflowId: {}, RunId: {}.",
                current.workflow_id, current.run_id
            )),
        };
    }
    let succeeded = current.status == WorkflowExecutionStatus::Completed as i32;
    match reuse {
        WorkflowIdReusePolicy::RejectDuplicate => WorkflowIdPolicy::Reject(format!(
            "Workflow execution already finished and the workflow id reuse policy rejects duplicates. WorkflowId: {}, RunId: {}.",
            current.workflow_id, current.run_id
        )),
        WorkflowIdReusePolicy::AllowDuplicateFailedOnly if succeeded => {
            WorkflowIdPolicy::Reject(format!(
                "Workflow execution already finished successfully. WorkflowId: {}, RunId: {}. Workflow id reuse policy: allow duplicate workflow id if last run failed.",
                current.workflow_id, current.run_id
            ))
        }
        _ => WorkflowIdPolicy::StartNew,
    }
}

/// Identifiers the caller chose for a new run, and what else enters its history first.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub run_id: String,
    pub request_id: String,
    /// SignalWithStart: the signal, written before the first workflow task.
    pub signal: Option<Signal>,
    /// Set when the run continues an earlier one of the same workflow id.
    pub continued: Option<Continuation>,
    /// Set when the run is a child workflow.
    pub parent: Option<ParentInfo>,
    /// The clock and time skipping state the parent or the previous run hands down.
    pub inherited_time_skipping: Option<TimeSkippingStatePropagation>,
}

impl MutableState {
    /// A new run: WorkflowExecutionStarted and its first workflow task on the normal queue.
    pub fn start(
        request: &StartWorkflowExecutionRequest,
        options: StartOptions,
        now: Millis,
    ) -> (MutableState, Effects) {
        let task_queue = request
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_default();
        let workflow_type = request
            .workflow_type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let workflow_execution_timeout = millis_of(request.workflow_execution_timeout.as_ref());
        let workflow_run_timeout = match millis_of(request.workflow_run_timeout.as_ref()) {
            0 => workflow_execution_timeout,
            run if workflow_execution_timeout > 0 => run.min(workflow_execution_timeout),
            run => run,
        };
        let workflow_task_timeout = match millis_of(request.workflow_task_timeout.as_ref()) {
            0 => DEFAULT_WORKFLOW_TASK_TIMEOUT,
            requested => requested.min(MAX_WORKFLOW_TASK_TIMEOUT),
        };
        // A task may not outlast its run.
        let workflow_task_timeout = match workflow_run_timeout {
            0 => workflow_task_timeout,
            run => workflow_task_timeout.min(run),
        };
        let cron = CronSchedule::parse(&request.cron_schedule);
        let continued = options.continued;
        let (initiator, backoff) = match &continued {
            Some(continuation) => (continuation.initiator, continuation.backoff),
            // A cron workflow's first run waits for the schedule too.
            None => match &cron {
                Some(cron) => (
                    ContinueAsNewInitiator::CronSchedule,
                    cron.next_after(now) - now,
                ),
                None => (
                    ContinueAsNewInitiator::Unspecified,
                    millis_of(request.workflow_start_delay.as_ref()),
                ),
            },
        };
        let first_execution_run_id = continued
            .as_ref()
            .map_or(&options.run_id, |c| &c.first_execution_run_id)
            .clone();
        let attempt = continued.as_ref().map_or(1, |c| c.attempt);
        let execution_expiration = match &continued {
            Some(continuation) => continuation.execution_expiration,
            None => (workflow_execution_timeout > 0).then_some(now + workflow_execution_timeout),
        };
        let execution_time = now + backoff;
        let run_expiration = [
            (workflow_run_timeout > 0).then_some(execution_time + workflow_run_timeout),
            execution_expiration,
        ]
        .into_iter()
        .flatten()
        .min();
        let retry_policy = request
            .retry_policy
            .as_ref()
            .map(|policy| RetryPolicy::normalized(Some(policy)));
        // Retries and cron runs start from the same request again.
        let keeps_request = retry_policy.is_some() || cron.is_some();
        let callbacks = normalized_callbacks(&request.completion_callbacks);
        let mut state = MutableState {
            namespace: request.namespace.clone(),
            workflow_id: request.workflow_id.clone(),
            run_id: options.run_id.clone(),
            first_execution_run_id: first_execution_run_id.clone(),
            workflow_type,
            task_queue: task_queue.clone(),
            start_request_id: options.request_id,
            status: WorkflowExecutionStatus::Running as i32,
            start_time: now,
            close_time: None,
            close_event_id: None,
            next_event_id: 1,
            workflow_task_timeout,
            workflow_run_timeout,
            workflow_execution_timeout,
            run_expiration,
            previous_started_event_id: 0,
            sticky: None,
            workflow_task: None,
            buffered_events: Vec::new(),
            activities: BTreeMap::new(),
            timers: BTreeMap::new(),
            history_size_bytes: 0,
            state_transitions: 1,
            cancel_requested: false,
            signal_request_ids: Default::default(),
            memo: request.memo.clone().map(Proto),
            search_attributes: request.search_attributes.clone().map(Proto),
            attempt,
            retry_policy: retry_policy.clone(),
            cron_schedule: request.cron_schedule.clone(),
            execution_expiration,
            first_workflow_task_backoff: backoff,
            first_workflow_task_at: (backoff > 0).then_some(execution_time),
            start_request: keeps_request.then(|| Proto(request.clone())),
            parent: options.parent.clone(),
            children: Default::default(),
            external_requests: Default::default(),
            close_policies: Default::default(),
            updates: Default::default(),
            admitted_updates: Default::default(),
            rejected_updates: Default::default(),
            time_skipping: TimeSkipping::new(
                request.time_skipping_config.as_ref(),
                options.inherited_time_skipping.as_ref(),
                now,
            ),
            last_completion_result: continued
                .as_ref()
                .and_then(|c| c.last_completion_result.clone())
                .filter(|_| cron.is_some())
                .map(Proto),
            nexus_operations: Default::default(),
            completion_callbacks: callbacks.iter().cloned().map(Proto).collect(),
            attached_request_ids: Default::default(),
            user_metadata: request.user_metadata.clone().map(Proto),
        };
        let mut fx = Effects {
            search_attributes_changed: state.search_attributes.is_some(),
            ..Effects::default()
        };
        let parent = options.parent.as_ref();
        let (continued_execution_run_id, continued_failure, last_completion_result) =
            match continued {
                Some(c) => (c.previous_run_id, c.failure, c.last_completion_result),
                // A schedule passes its last run's outcome to the next one this way.
                None => (
                    String::new(),
                    request.continued_failure.clone(),
                    request.last_completion_result.clone(),
                ),
            };
        let started = WorkflowExecutionStartedEventAttributes {
            workflow_type: request.workflow_type.clone(),
            task_queue: Some(normal_queue(&task_queue)),
            input: request.input.clone(),
            workflow_execution_timeout: (workflow_execution_timeout > 0)
                .then(|| duration(workflow_execution_timeout)),
            workflow_run_timeout: (workflow_run_timeout > 0)
                .then(|| duration(workflow_run_timeout)),
            workflow_task_timeout: Some(duration(workflow_task_timeout)),
            continued_execution_run_id,
            initiator: initiator as i32,
            continued_failure,
            last_completion_result,
            original_execution_run_id: options.run_id.clone(),
            identity: request.identity.clone(),
            first_execution_run_id,
            retry_policy: retry_policy.map(|policy| policy.to_proto()),
            attempt,
            workflow_execution_expiration_time: execution_expiration.map(timestamp),
            cron_schedule: request.cron_schedule.clone(),
            first_workflow_task_backoff: Some(duration(backoff)),
            memo: request.memo.clone(),
            search_attributes: request.search_attributes.clone(),
            header: request.header.clone(),
            workflow_id: request.workflow_id.clone(),
            priority: request.priority.clone(),
            time_skipping_config: state.time_skipping_config(),
            time_skipping_state_propagation: options.inherited_time_skipping,
            completion_callbacks: callbacks,
            parent_workflow_namespace: parent.map_or_else(String::new, |p| p.namespace.clone()),
            parent_workflow_execution: parent.map(|p| WorkflowExecution {
                workflow_id: p.workflow_id.clone(),
                run_id: p.run_id.clone(),
            }),
            parent_initiated_event_id: parent.map_or(0, |p| p.initiated_event_id),
            root_workflow_execution: Some(match parent {
                Some(p) => WorkflowExecution {
                    workflow_id: p.root.0.clone(),
                    run_id: p.root.1.clone(),
                },
                None => WorkflowExecution {
                    workflow_id: request.workflow_id.clone(),
                    run_id: state.run_id.clone(),
                },
            }),
            ..Default::default()
        };
        let mut started = new_event(
            now,
            EventType::WorkflowExecutionStarted,
            Attributes::WorkflowExecutionStartedEventAttributes(started),
        );
        started.user_metadata = request.user_metadata.clone();
        state.push_event(&mut fx, started);
        if let Some(signal) = options.signal {
            if !signal.request_id.is_empty() {
                state.signal_request_ids.insert(signal.request_id.clone());
            }
            let (event_type, attributes) = signaled_event(signal);
            state.append(&mut fx, now, event_type, attributes);
        }
        if state.first_workflow_task_at.is_none() {
            state.schedule_workflow_task(&mut fx, now);
        }
        (state, fx)
    }
}
