//! Runs that continue a chain under the same workflow id: continue-as-new, workflow retries
//! and cron. The closing run names its successor in its close event; the successor is created
//! in the same change (`Effects::next_run`) so both are committed together.

use temporalio_protos::temporal::api::command::v1::ContinueAsNewWorkflowExecutionCommandAttributes;
use temporalio_protos::temporal::api::common::v1::Payloads;
use temporalio_protos::temporal::api::enums::v1::{
    ContinueAsNewInitiator, EventType, RetryState, WorkflowExecutionStatus,
};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    WorkflowExecutionCompletedEventAttributes, WorkflowExecutionContinuedAsNewEventAttributes,
    WorkflowExecutionFailedEventAttributes, WorkflowExecutionTimedOutEventAttributes,
};
use temporalio_protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;

use super::cron::CronSchedule;
use super::start::StartOptions;
use super::{Effects, Millis, MutableState, duration, millis_of, normal_queue};

/// How a new run continues the one before it.
#[derive(Debug, Clone)]
pub struct Continuation {
    pub previous_run_id: String,
    pub initiator: ContinueAsNewInitiator,
    pub first_execution_run_id: String,
    pub attempt: i32,
    pub failure: Option<Failure>,
    pub last_completion_result: Option<Payloads>,
    /// How long the new run waits before its first workflow task.
    pub backoff: Millis,
    /// The deadline of the whole chain (the workflow execution timeout).
    pub execution_expiration: Option<Millis>,
}

/// How a run ends, before retry policy and cron schedule have had their say.
pub(super) enum Ending {
    Completed(Option<Payloads>),
    Failed(Box<Failure>),
    TimedOut,
}

impl MutableState {
    /// Closes the run as `ending` says, unless its retry policy retries it or its cron
    /// schedule starts the next run: then the close event names the run that follows.
    pub(super) fn close_or_continue(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        ending: Ending,
        completed_event_id: i64,
    ) {
        let retry = match &ending {
            Ending::Failed(failure) => Some(self.workflow_retry_delay((**failure).clone(), now)),
            // A timeout that is not retried reports TIMEOUT, policy or not (as the real server).
            Ending::TimedOut => Some(self.workflow_retry_delay(timeout_failure(), now).map_err(
                |state| match state {
                    RetryState::RetryPolicyNotSet => RetryState::Timeout,
                    other => other,
                },
            )),
            Ending::Completed(_) => None,
        };
        let cron_backoff = CronSchedule::parse(&self.cron_schedule)
            .map(|cron| cron.next_after(now) - now)
            .filter(|backoff| {
                self.execution_expiration
                    .is_none_or(|expires| now + backoff < expires)
            });
        let (next, retry_state) = match retry {
            Some(Ok(delay)) => (
                Some((ContinueAsNewInitiator::Retry, delay, self.attempt + 1)),
                RetryState::InProgress,
            ),
            Some(Err(state)) => (
                cron_backoff.map(|b| (ContinueAsNewInitiator::CronSchedule, b, 1)),
                state,
            ),
            None => (
                cron_backoff.map(|b| (ContinueAsNewInitiator::CronSchedule, b, 1)),
                RetryState::RetryPolicyNotSet,
            ),
        };
        let new_execution_run_id = next
            .as_ref()
            .map(|_| successor_run_id(&self.run_id))
            .unwrap_or_default();
        let (status, event_type, attributes, failure, result) = match ending {
            Ending::Completed(result) => (
                WorkflowExecutionStatus::Completed,
                EventType::WorkflowExecutionCompleted,
                Attributes::WorkflowExecutionCompletedEventAttributes(
                    WorkflowExecutionCompletedEventAttributes {
                        result: result.clone(),
                        workflow_task_completed_event_id: completed_event_id,
                        new_execution_run_id: new_execution_run_id.clone(),
                    },
                ),
                None,
                result,
            ),
            Ending::Failed(failure) => (
                WorkflowExecutionStatus::Failed,
                EventType::WorkflowExecutionFailed,
                Attributes::WorkflowExecutionFailedEventAttributes(
                    WorkflowExecutionFailedEventAttributes {
                        failure: Some((*failure).clone()),
                        retry_state: retry_state as i32,
                        workflow_task_completed_event_id: completed_event_id,
                        new_execution_run_id: new_execution_run_id.clone(),
                    },
                ),
                Some(*failure),
                None,
            ),
            Ending::TimedOut => (
                WorkflowExecutionStatus::TimedOut,
                EventType::WorkflowExecutionTimedOut,
                Attributes::WorkflowExecutionTimedOutEventAttributes(
                    WorkflowExecutionTimedOutEventAttributes {
                        retry_state: retry_state as i32,
                        new_execution_run_id: new_execution_run_id.clone(),
                    },
                ),
                Some(timeout_failure()),
                None,
            ),
        };
        self.close(fx, now, status, event_type, attributes);
        let (Some((initiator, backoff, attempt)), Some(request)) =
            (next, self.start_request.clone())
        else {
            self.report_chain_end(fx);
            return;
        };
        let continuation = Continuation {
            previous_run_id: self.run_id.clone(),
            initiator,
            first_execution_run_id: self.first_execution_run_id.clone(),
            attempt,
            failure,
            // Cron runs see the last successful result, retries the one before them.
            last_completion_result: result
                .or_else(|| self.last_completion_result.clone().map(|r| r.0)),
            backoff,
            execution_expiration: self.execution_expiration,
        };
        fx.next_run = Some(Box::new(self.successor(
            new_execution_run_id,
            request.0,
            continuation,
            now,
        )));
    }

    /// The ContinueAsNewWorkflowExecution command: this run ends and a new one starts with
    /// the command's arguments, inheriting what the command leaves out.
    pub(super) fn continue_as_new(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &ContinueAsNewWorkflowExecutionCommandAttributes,
        completed_event_id: i64,
    ) {
        let new_execution_run_id = successor_run_id(&self.run_id);
        let workflow_type = attrs
            .workflow_type
            .clone()
            .filter(|t| !t.name.is_empty())
            .unwrap_or_else(|| self.workflow_type.clone().into());
        let task_queue = attrs
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| self.task_queue.clone());
        let run_timeout = match millis_of(attrs.workflow_run_timeout.as_ref()) {
            0 => self.workflow_run_timeout,
            timeout => timeout,
        };
        let task_timeout = match millis_of(attrs.workflow_task_timeout.as_ref()) {
            0 => self.workflow_task_timeout,
            timeout => timeout,
        };
        let backoff = millis_of(attrs.backoff_start_interval.as_ref());
        let memo = attrs
            .memo
            .clone()
            .or_else(|| self.memo.clone().map(|m| m.0));
        let search_attributes = attrs
            .search_attributes
            .clone()
            .or_else(|| self.search_attributes.clone().map(|s| s.0));
        #[allow(deprecated)] // inherit_build_id is still what SDKs send and read
        let event = WorkflowExecutionContinuedAsNewEventAttributes {
            new_execution_run_id: new_execution_run_id.clone(),
            workflow_type: Some(workflow_type.clone()),
            task_queue: Some(normal_queue(&task_queue)),
            input: attrs.input.clone(),
            workflow_run_timeout: Some(duration(run_timeout)),
            workflow_task_timeout: Some(duration(task_timeout)),
            workflow_task_completed_event_id: completed_event_id,
            backoff_start_interval: attrs.backoff_start_interval,
            header: attrs.header.clone(),
            memo: memo.clone(),
            search_attributes: search_attributes.clone(),
            inherit_build_id: attrs.inherit_build_id,
            ..Default::default()
        };
        self.close(
            fx,
            now,
            WorkflowExecutionStatus::ContinuedAsNew,
            EventType::WorkflowExecutionContinuedAsNew,
            Attributes::WorkflowExecutionContinuedAsNewEventAttributes(event),
        );
        let inherited = self.start_request.clone().map(|r| r.0).unwrap_or_default();
        let request = StartWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_id: self.workflow_id.clone(),
            workflow_type: Some(workflow_type),
            task_queue: Some(normal_queue(&task_queue)),
            input: attrs.input.clone(),
            workflow_run_timeout: (run_timeout > 0).then(|| duration(run_timeout)),
            workflow_task_timeout: Some(duration(task_timeout)),
            retry_policy: attrs.retry_policy.clone().or(inherited.retry_policy),
            cron_schedule: if attrs.cron_schedule.is_empty() {
                self.cron_schedule.clone()
            } else {
                attrs.cron_schedule.clone()
            },
            memo,
            search_attributes,
            header: attrs.header.clone(),
            ..inherited
        };
        let continuation = Continuation {
            previous_run_id: self.run_id.clone(),
            initiator: ContinueAsNewInitiator::Workflow,
            first_execution_run_id: self.first_execution_run_id.clone(),
            attempt: 1,
            failure: None,
            last_completion_result: attrs.last_completion_result.clone(),
            backoff,
            execution_expiration: self.execution_expiration,
        };
        fx.next_run = Some(Box::new(self.successor(
            new_execution_run_id,
            request,
            continuation,
            now,
        )));
    }

    fn successor(
        &self,
        run_id: String,
        mut request: StartWorkflowExecutionRequest,
        continuation: Continuation,
        now: Millis,
    ) -> (MutableState, Effects) {
        let (time_skipping_config, inherited_time_skipping) = self.time_skipping_for_next_run();
        request.time_skipping_config = time_skipping_config;
        // Like the real server, only the run a client started carries its summary and details.
        request.user_metadata = None;
        // The operations the chain backs wait for its end, not this run's.
        request.completion_callbacks = self
            .completion_callbacks
            .iter()
            .map(|callback| callback.0.clone())
            .collect();
        let options = StartOptions {
            run_id,
            request_id: self.start_request_id.clone(),
            signal: None,
            continued: Some(continuation),
            parent: self.parent.clone(),
            inherited_time_skipping,
        };
        MutableState::start(&request, options, now)
    }

    /// The delay before the next attempt of this workflow, or why there is none.
    fn workflow_retry_delay(&self, failure: Failure, now: Millis) -> Result<Millis, RetryState> {
        let policy = self
            .retry_policy
            .as_ref()
            .ok_or(RetryState::RetryPolicyNotSet)?;
        let delay = policy.delay_after(self.attempt, &failure)?;
        if self
            .execution_expiration
            .is_some_and(|expires| now + delay >= expires)
        {
            return Err(RetryState::Timeout);
        }
        Ok(delay)
    }
}

/// The id of the run that follows `run_id`: derived, so the engine needs no randomness and
/// a replayed change names the same run.
pub fn successor_run_id(run_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, run_id.as_bytes()).to_string()
}

fn timeout_failure() -> Failure {
    use temporalio_protos::temporal::api::enums::v1::TimeoutType;
    use temporalio_protos::temporal::api::failure::v1::{TimeoutFailureInfo, failure::FailureInfo};
    Failure {
        message: "workflow timeout".into(),
        source: "Server".into(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: TimeoutType::StartToClose as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
}
