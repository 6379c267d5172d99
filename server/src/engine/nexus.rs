//! Nexus operations a workflow calls, and the completion callbacks of runs that back
//! operations of other workflows.
//!
//! ScheduleNexusOperation writes NexusOperationScheduled and a durable NexusStart transfer
//! task; the history service sends the StartOperation request to the endpoint's worker and
//! reports its answer back here: the operation started (asynchronous, with a token), completed,
//! failed or was canceled, or the attempt failed and is retried after a backoff, as the real
//! server's `components/nexusoperations` state machine does. An asynchronous operation ends
//! when the run that backs it ends: that run's completion callbacks, stored with it, become a
//! CompletionCallbacks task when its chain of runs closes, and the caller records the outcome.
//! RequestCancelNexusOperation sends a CancelOperation request (NexusCancel) once the
//! operation has started; the operation itself still ends through its callback.

use std::collections::{BTreeMap, HashSet};

use devserver_persistence::TaskKind;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::command::v1::{
    RequestCancelNexusOperationCommandAttributes, ScheduleNexusOperationCommandAttributes,
};
use temporalio_protos::temporal::api::common::v1::{Callback, Link, Payload, callback};
use temporalio_protos::temporal::api::enums::v1::{
    EventType, NexusHandlerErrorRetryBehavior, NexusOperationCancellationState,
    PendingNexusOperationState, TimeoutType, WorkflowTaskFailedCause,
};
use temporalio_protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_protos::temporal::api::failure::v1::{
    CanceledFailureInfo, Failure, NexusHandlerFailureInfo, NexusOperationFailureInfo,
    TerminatedFailureInfo, TimeoutFailureInfo,
};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::*;
use temporalio_protos::temporal::api::workflow::v1::{
    NexusOperationCancellationInfo, PendingNexusOperationInfo,
};
use temporalio_protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;

use super::{
    Effects, EngineError, Millis, MutableState, Proto, Task, duration, millis_of, new_event,
    timestamp,
};
use crate::go_format::go_quote;

/// The real server's limits on a workflow's operations (component.nexusoperations.limit.*).
const MAX_PENDING_OPERATIONS: usize = 30;
const MAX_NAME_LENGTH: usize = 1000;
const MAX_HEADER_SIZE: usize = 8192;
/// Header keys a workflow may not set: the server sets them itself.
const DISALLOWED_HEADERS: [&str; 8] = [
    "request-timeout",
    "xdc-redirection-api",
    "xdc-redirection",
    "caller-name",
    "caller-type",
    "call-initiation",
    "temporal-principal-type",
    "temporal-principal-name",
];
/// The real server's retry policy for StartOperation and CancelOperation requests:
/// exponential from one second, at most an hour apart, with no end.
const RETRY_INITIAL_INTERVAL: Millis = 1_000;
const RETRY_MAX_INTERVAL: Millis = 3_600_000;
/// The callback URL of operations whose caller is a workflow on this server: the outcome
/// is delivered in-process, like the real server's for worker targets.
pub const SYSTEM_CALLBACK_URL: &str = "temporal://system";

/// An operation from its NexusOperationScheduled event until its outcome is in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NexusOperation {
    pub endpoint: String,
    /// Empty if the endpoint was gone when the command was applied.
    pub endpoint_id: String,
    pub service: String,
    pub operation: String,
    /// The StartOperation request's idempotency key, and how the callback finds this attempt.
    pub request_id: String,
    pub scheduled_time: Millis,
    /// 0: none.
    pub schedule_to_close_timeout: Millis,
    pub schedule_to_start_timeout: Millis,
    pub start_to_close_timeout: Millis,
    pub state: OperationState,
    /// StartOperation attempts that came back (the real server's count).
    pub attempt: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_failure: Option<Proto<Failure>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_complete_time: Option<Millis>,
    /// Set when it started asynchronously.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_time: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationState {
    /// A StartOperation request is due or on its way (a NexusStart task exists).
    Scheduled,
    /// The last attempt failed and may be retried: the next one is due then.
    BackingOff { until: Millis },
    /// Started asynchronously: waiting for the completion callback.
    Started,
}

/// The workflow asked to cancel the operation (NexusOperationCancelRequested).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancellation {
    pub requested_event_id: i64,
    pub requested_time: Millis,
    pub state: CancellationState,
    pub attempt: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_failure: Option<Proto<Failure>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancellationState {
    /// The operation has not started: the request goes out once it does.
    Waiting,
    /// A CancelOperation request is due or on its way (a NexusCancel task exists).
    Scheduled,
    BackingOff {
        until: Millis,
    },
    /// The handler accepted the request; the operation's own outcome is still to come.
    Succeeded,
    Failed,
}

/// Operations by scheduled event id.
pub type NexusOperations = BTreeMap<i64, NexusOperation>;

/// How a StartOperation request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    /// The handler started the operation and will complete it through the callback.
    Started {
        token: String,
        links: Vec<Link>,
    },
    /// A synchronous result.
    Completed {
        result: Option<Payload>,
        links: Vec<Link>,
    },
    /// The operation failed (or was canceled): the cause the caller sees.
    Failed(Failure),
    Canceled(Failure),
    /// The attempt failed and may be retried (a retryable handler error, no answer in time).
    AttemptFailed(Failure),
    /// Not enough time is left for a request before this timeout.
    TimedOut(TimeoutType),
}

/// How a CancelOperation request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The handler accepted it (the operation's own outcome comes through its callback).
    Delivered,
    Failed(Failure),
    /// The attempt failed and may be retried.
    AttemptFailed(Failure),
}

/// How an asynchronous operation ended, as its completion callback reports.
#[derive(Debug, Clone, PartialEq)]
pub struct NexusCompletion {
    pub outcome: Outcome,
    /// From the callback: the token and start of the backing run, with a link to it, in case
    /// the callback arrives before the StartOperation answer.
    pub operation_token: String,
    pub start_time: Millis,
    pub start_links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(Option<Payload>),
    Failed(Failure),
    Canceled(Failure),
}

/// What the history service needs to send an operation's StartOperation request.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    pub endpoint: String,
    pub endpoint_id: String,
    pub service: String,
    pub operation: String,
    pub request_id: String,
    /// Which attempt this is, to tell its answer from a stale one.
    pub attempt: i32,
    /// Until when a request may take, and what times out then (schedule-to-start takes
    /// precedence over schedule-to-close, as it is capped by it).
    pub deadline: Option<(Millis, TimeoutType)>,
    /// When the operation as a whole times out, and how long it may run once started:
    /// the handler learns the sooner of the two.
    pub schedule_to_close_deadline: Option<Millis>,
    pub start_to_close_timeout: Millis,
}

/// What the history service needs to send an operation's CancelOperation request.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelRequest {
    pub scheduled_event_id: i64,
    pub endpoint: String,
    pub endpoint_id: String,
    pub service: String,
    pub operation: String,
    pub operation_token: String,
    pub attempt: i32,
    pub deadline: Option<Millis>,
}

impl NexusOperation {
    fn deadline(&self) -> Option<Millis> {
        let close = (self.schedule_to_close_timeout > 0)
            .then_some(self.scheduled_time + self.schedule_to_close_timeout);
        let start = (self.schedule_to_start_timeout > 0 && self.state != OperationState::Started)
            .then_some(self.scheduled_time + self.schedule_to_start_timeout);
        let run = self
            .started_time
            .filter(|_| self.start_to_close_timeout > 0)
            .map(|started| started + self.start_to_close_timeout);
        let backoff = match self.state {
            OperationState::BackingOff { until } => Some(until),
            _ => None,
        };
        let cancel_backoff = match self.cancellation.as_ref().map(|c| c.state) {
            Some(CancellationState::BackingOff { until }) => Some(until),
            _ => None,
        };
        [close, start, run, backoff, cancel_backoff]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether a timeout of the operation has passed, and which.
    fn timed_out(&self, now: Millis) -> Option<TimeoutType> {
        if self.schedule_to_close_timeout > 0
            && self.scheduled_time + self.schedule_to_close_timeout <= now
        {
            Some(TimeoutType::ScheduleToClose)
        } else if self.schedule_to_start_timeout > 0
            && self.state != OperationState::Started
            && self.scheduled_time + self.schedule_to_start_timeout <= now
        {
            Some(TimeoutType::ScheduleToStart)
        } else if self.start_to_close_timeout > 0
            && self
                .started_time
                .is_some_and(|started| started + self.start_to_close_timeout <= now)
        {
            Some(TimeoutType::StartToClose)
        } else {
            None
        }
    }

    /// The failure the caller sees: the cause, wrapped in what identifies the operation.
    fn failure(&self, scheduled_event_id: i64, cause: Failure) -> Failure {
        #[allow(deprecated)] // the real server still fills operation_id with the token
        let info = NexusOperationFailureInfo {
            scheduled_event_id,
            endpoint: self.endpoint.clone(),
            service: self.service.clone(),
            operation: self.operation.clone(),
            operation_id: self.operation_token.clone(),
            operation_token: self.operation_token.clone(),
        };
        Failure {
            message: "nexus operation completed unsuccessfully".into(),
            failure_info: Some(FailureInfo::NexusOperationExecutionFailureInfo(info)),
            cause: Some(Box::new(cause)),
            ..Default::default()
        }
    }

    /// An answer to the current StartOperation attempt came back: the next one is another.
    fn attempt_answered(&mut self, now: Millis, failure: Option<Failure>) {
        self.attempt += 1;
        self.last_attempt_complete_time = Some(now);
        self.last_attempt_failure = failure.map(Proto);
    }

    /// The Nexus task rows of this operation that wait to run.
    fn waiting_tasks(&self, scheduled_event_id: i64) -> Vec<i64> {
        let start = (self.state == OperationState::Scheduled).then_some(scheduled_event_id);
        let cancel = self
            .cancellation
            .as_ref()
            .filter(|c| c.state == CancellationState::Scheduled)
            .map(|c| c.requested_event_id);
        start.into_iter().chain(cancel).collect()
    }
}

impl Cancellation {
    fn info(&self) -> NexusOperationCancellationInfo {
        let (state, next_attempt) = match self.state {
            // Not sent before the operation starts: the real server's machine has no state yet.
            CancellationState::Waiting => (NexusOperationCancellationState::Unspecified, None),
            CancellationState::Scheduled => (NexusOperationCancellationState::Scheduled, None),
            CancellationState::BackingOff { until } => {
                (NexusOperationCancellationState::BackingOff, Some(until))
            }
            CancellationState::Succeeded => (NexusOperationCancellationState::Succeeded, None),
            CancellationState::Failed => (NexusOperationCancellationState::Failed, None),
        };
        NexusOperationCancellationInfo {
            requested_time: Some(timestamp(self.requested_time)),
            state: state as i32,
            attempt: self.attempt,
            last_attempt_failure: self.last_attempt_failure.clone().map(|f| f.0),
            next_attempt_schedule_time: next_attempt.map(timestamp),
            ..Default::default()
        }
    }
}

/// The delay before retry `attempt` (the first retry is attempt 1).
fn retry_delay(attempt: i32) -> Millis {
    let exponent = attempt.clamp(1, 32) - 1;
    RETRY_INITIAL_INTERVAL
        .saturating_mul(1 << exponent)
        .min(RETRY_MAX_INTERVAL)
}

fn timeout_cause(timeout_type: TimeoutType) -> Failure {
    Failure {
        message: "operation timed out".into(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: timeout_type as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn nexus_task(kind: TaskKind, id: i64) -> Task {
    Task {
        kind,
        task_queue: String::new(),
        scheduled_event_id: id,
    }
}

/// Whether a handler error of this type may be retried when the handler did not say
/// (the Nexus specification's predefined handler errors).
pub fn handler_error_retryable(failure: &Failure) -> bool {
    let Some(FailureInfo::NexusHandlerFailureInfo(info)) = &failure.failure_info else {
        return true;
    };
    match NexusHandlerErrorRetryBehavior::try_from(info.retry_behavior) {
        Ok(NexusHandlerErrorRetryBehavior::Retryable) => true,
        Ok(NexusHandlerErrorRetryBehavior::NonRetryable) => false,
        _ => !matches!(
            info.r#type.as_str(),
            "BAD_REQUEST"
                | "UNAUTHENTICATED"
                | "UNAUTHORIZED"
                | "NOT_FOUND"
                | "CONFLICT"
                | "NOT_IMPLEMENTED"
        ),
    }
}

/// A handler error the server raises itself (the handler never saw the request).
pub fn handler_error(error_type: &str, message: &str) -> Failure {
    Failure {
        message: message.to_owned(),
        failure_info: Some(FailureInfo::NexusHandlerFailureInfo(
            NexusHandlerFailureInfo {
                r#type: error_type.to_owned(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The outcome a closed run's callback reports, from its close event: its result, or the
/// failure its caller sees (only failure messages leave the run, like the real server's).
pub fn outcome_of_close(close_event: &HistoryEvent) -> Outcome {
    let cause = |message: &str, info: FailureInfo| Failure {
        message: message.to_owned(),
        failure_info: Some(info),
        ..Default::default()
    };
    match &close_event.attributes {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => Outcome::Completed(
            // Nexus carries one value: the workflow's first result.
            a.result.as_ref().and_then(|r| r.payloads.first().cloned()),
        ),
        Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
            Outcome::Failed(a.failure.clone().unwrap_or_default())
        }
        Some(Attributes::WorkflowExecutionCanceledEventAttributes(a)) => Outcome::Canceled(cause(
            "operation canceled",
            FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
                details: a.details.clone(),
                ..Default::default()
            }),
        )),
        Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => Outcome::Failed(cause(
            "operation exceeded internal timeout",
            FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo::default()),
        )),
        _ => Outcome::Failed(cause(
            "operation terminated",
            FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo::default()),
        )),
    }
}

/// Completion callbacks as a run keeps them: header keys in lower case, as the real server
/// stores them.
pub(super) fn normalized_callbacks(callbacks: &[Callback]) -> Vec<Callback> {
    let mut callbacks = callbacks.to_vec();
    for callback in &mut callbacks {
        if let Some(callback::Variant::Nexus(nexus)) = &mut callback.variant {
            nexus.header = std::mem::take(&mut nexus.header)
                .into_iter()
                .map(|(k, v)| (k.to_lowercase(), v))
                .collect();
        }
    }
    callbacks
}

impl MutableState {
    /// Checks a ScheduleNexusOperation command; `pending` counts the operations scheduled
    /// by earlier commands of the same completion.
    pub(super) fn check_schedule_nexus_operation(
        &self,
        attrs: &ScheduleNexusOperationCommandAttributes,
        endpoint_id: &dyn Fn(&str) -> Option<String>,
        pending: &mut usize,
    ) -> Result<(), (WorkflowTaskFailedCause, String)> {
        let bad = |message: String| {
            Err((
                WorkflowTaskFailedCause::BadScheduleNexusOperationAttributes,
                message,
            ))
        };
        if endpoint_id(&attrs.endpoint).is_none() {
            return bad(format!("endpoint {} not found", go_quote(&attrs.endpoint)));
        }
        if attrs.service.len() > MAX_NAME_LENGTH {
            return bad(format!(
                "ScheduleNexusOperationCommandAttributes.Service exceeds length limit of {MAX_NAME_LENGTH}"
            ));
        }
        if attrs.operation.len() > MAX_NAME_LENGTH {
            return bad(format!(
                "ScheduleNexusOperationCommandAttributes.Operation exceeds length limit of {MAX_NAME_LENGTH}"
            ));
        }
        for (name, timeout) in [
            ("ScheduleToCloseTimeout", &attrs.schedule_to_close_timeout),
            ("ScheduleToStartTimeout", &attrs.schedule_to_start_timeout),
            ("StartToCloseTimeout", &attrs.start_to_close_timeout),
        ] {
            if timeout
                .as_ref()
                .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
            {
                return bad(format!(
                    "ScheduleNexusOperationCommandAttributes.{name} is invalid: negative duration"
                ));
            }
        }
        let mut size = 0;
        for (key, value) in &attrs.nexus_header {
            let key_lower = key.to_lowercase();
            size += key_lower.len() + value.len();
            if DISALLOWED_HEADERS.contains(&key_lower.as_str()) {
                return bad(format!(
                    "ScheduleNexusOperationCommandAttributes.NexusHeader contains a disallowed header key: {}",
                    go_quote(key)
                ));
            }
        }
        if size > MAX_HEADER_SIZE {
            return bad(
                "ScheduleNexusOperationCommandAttributes.NexusHeader exceeds size limit".into(),
            );
        }
        if self.nexus_operations.len() + *pending >= MAX_PENDING_OPERATIONS {
            return Err((
                WorkflowTaskFailedCause::PendingNexusOperationsLimitExceeded,
                format!(
                    "workflow has reached the pending nexus operation limit of {MAX_PENDING_OPERATIONS} for this namespace"
                ),
            ));
        }
        *pending += 1;
        Ok(())
    }

    /// Checks a RequestCancelNexusOperation command; `requested` holds the operations that
    /// earlier commands of the same completion cancel.
    pub(super) fn check_cancel_nexus_operation(
        &self,
        attrs: &RequestCancelNexusOperationCommandAttributes,
        requested: &mut HashSet<i64>,
    ) -> Result<(), (WorkflowTaskFailedCause, String)> {
        let id = attrs.scheduled_event_id;
        let bad = |message: String| {
            Err((
                WorkflowTaskFailedCause::BadRequestCancelNexusOperationAttributes,
                message,
            ))
        };
        match self.nexus_operations.get(&id) {
            // Its outcome may wait in the buffer: the workflow could not know it yet.
            None if self.has_buffered_nexus_outcome(id) => {}
            None => {
                return bad(format!(
                    "requested cancelation for a non-existing or already completed operation with scheduled event ID of {id}"
                ));
            }
            Some(op) if op.cancellation.is_some() || requested.contains(&id) => {
                return bad(format!(
                    "cancelation was already requested for an operation with scheduled event ID {id}"
                ));
            }
            Some(_) => {}
        }
        requested.insert(id);
        Ok(())
    }

    fn has_buffered_nexus_outcome(&self, scheduled_event_id: i64) -> bool {
        self.buffered_events.iter().any(|e| {
            let id = match &e.0.attributes {
                Some(Attributes::NexusOperationCompletedEventAttributes(a)) => a.scheduled_event_id,
                Some(Attributes::NexusOperationFailedEventAttributes(a)) => a.scheduled_event_id,
                Some(Attributes::NexusOperationCanceledEventAttributes(a)) => a.scheduled_event_id,
                Some(Attributes::NexusOperationTimedOutEventAttributes(a)) => a.scheduled_event_id,
                _ => return false,
            };
            id == scheduled_event_id
        })
    }

    /// The ScheduleNexusOperation command (checked by `check_schedule_nexus_operation`).
    pub(super) fn schedule_nexus_operation(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &ScheduleNexusOperationCommandAttributes,
        endpoint_id: String,
        completed_event_id: i64,
        request_id: String,
    ) {
        let mut schedule_to_close = attrs.schedule_to_close_timeout;
        let mut schedule_to_close_ms = millis_of(schedule_to_close.as_ref());
        // No operation outlives the run that waits for it.
        if self.workflow_run_timeout > 0
            && (schedule_to_close_ms == 0 || schedule_to_close_ms > self.workflow_run_timeout)
        {
            schedule_to_close_ms = self.workflow_run_timeout;
            schedule_to_close = Some(duration(schedule_to_close_ms));
        }
        // The other timeouts fit in the schedule-to-close one.
        let capped = |timeout: Option<prost_types::Duration>| {
            let ms = millis_of(timeout.as_ref());
            if schedule_to_close_ms > 0 && ms > schedule_to_close_ms {
                (schedule_to_close_ms, schedule_to_close)
            } else {
                (ms, timeout)
            }
        };
        let (schedule_to_start_ms, schedule_to_start) = capped(attrs.schedule_to_start_timeout);
        let (start_to_close_ms, start_to_close) = capped(attrs.start_to_close_timeout);
        let scheduled = NexusOperationScheduledEventAttributes {
            endpoint: attrs.endpoint.clone(),
            service: attrs.service.clone(),
            operation: attrs.operation.clone(),
            input: attrs.input.clone(),
            schedule_to_close_timeout: schedule_to_close,
            nexus_header: attrs
                .nexus_header
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect(),
            workflow_task_completed_event_id: completed_event_id,
            request_id: request_id.clone(),
            endpoint_id: endpoint_id.clone(),
            schedule_to_start_timeout: schedule_to_start,
            start_to_close_timeout: start_to_close,
        };
        let scheduled_event_id = self.append(
            fx,
            now,
            EventType::NexusOperationScheduled,
            Attributes::NexusOperationScheduledEventAttributes(scheduled),
        );
        self.nexus_operations.insert(
            scheduled_event_id,
            NexusOperation {
                endpoint: attrs.endpoint.clone(),
                endpoint_id,
                service: attrs.service.clone(),
                operation: attrs.operation.clone(),
                request_id,
                scheduled_time: now,
                schedule_to_close_timeout: schedule_to_close_ms,
                schedule_to_start_timeout: schedule_to_start_ms,
                start_to_close_timeout: start_to_close_ms,
                state: OperationState::Scheduled,
                attempt: 0,
                last_attempt_failure: None,
                last_attempt_complete_time: None,
                operation_token: String::new(),
                started_time: None,
                cancellation: None,
            },
        );
        fx.new_tasks
            .push(nexus_task(TaskKind::NexusStart, scheduled_event_id));
    }

    /// The RequestCancelNexusOperation command (checked by `check_cancel_nexus_operation`).
    pub(super) fn request_cancel_nexus_operation(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        scheduled_event_id: i64,
        completed_event_id: i64,
    ) {
        // Written even when the outcome is already buffered: the SDK expects it on replay.
        let requested_event_id = self.append(
            fx,
            now,
            EventType::NexusOperationCancelRequested,
            Attributes::NexusOperationCancelRequestedEventAttributes(
                NexusOperationCancelRequestedEventAttributes {
                    scheduled_event_id,
                    workflow_task_completed_event_id: completed_event_id,
                },
            ),
        );
        let Some(op) = self.nexus_operations.get_mut(&scheduled_event_id) else {
            return;
        };
        let started = op.state == OperationState::Started;
        op.cancellation = Some(Cancellation {
            requested_event_id,
            requested_time: now,
            state: if started {
                CancellationState::Scheduled
            } else {
                CancellationState::Waiting
            },
            attempt: 0,
            last_attempt_failure: None,
        });
        if started {
            fx.new_tasks
                .push(nexus_task(TaskKind::NexusCancel, requested_event_id));
        }
    }

    /// The StartOperation request of operation `scheduled_event_id`, if one is due.
    pub fn nexus_start_request(&self, scheduled_event_id: i64) -> Option<StartRequest> {
        let op = self
            .nexus_operations
            .get(&scheduled_event_id)
            .filter(|op| op.state == OperationState::Scheduled && self.is_open())?;
        let at = |timeout: Millis| op.scheduled_time + timeout;
        let deadline = if op.schedule_to_start_timeout > 0 {
            Some((
                at(op.schedule_to_start_timeout),
                TimeoutType::ScheduleToStart,
            ))
        } else {
            (op.schedule_to_close_timeout > 0).then(|| {
                (
                    at(op.schedule_to_close_timeout),
                    TimeoutType::ScheduleToClose,
                )
            })
        };
        Some(StartRequest {
            endpoint: op.endpoint.clone(),
            endpoint_id: op.endpoint_id.clone(),
            service: op.service.clone(),
            operation: op.operation.clone(),
            request_id: op.request_id.clone(),
            attempt: op.attempt,
            deadline,
            schedule_to_close_deadline: (op.schedule_to_close_timeout > 0)
                .then(|| at(op.schedule_to_close_timeout)),
            start_to_close_timeout: op.start_to_close_timeout,
        })
    }

    /// The CancelOperation request that the cancellation `requested_event_id` sends, if due.
    pub fn nexus_cancel_request(&self, requested_event_id: i64) -> Option<CancelRequest> {
        let (scheduled_event_id, op, cancellation) = self.nexus_cancellation(requested_event_id)?;
        if cancellation.state != CancellationState::Scheduled || !self.is_open() {
            return None;
        }
        Some(CancelRequest {
            scheduled_event_id,
            endpoint: op.endpoint.clone(),
            endpoint_id: op.endpoint_id.clone(),
            service: op.service.clone(),
            operation: op.operation.clone(),
            operation_token: op.operation_token.clone(),
            attempt: cancellation.attempt,
            deadline: (op.schedule_to_close_timeout > 0)
                .then_some(op.scheduled_time + op.schedule_to_close_timeout),
        })
    }

    fn nexus_cancellation(
        &self,
        requested_event_id: i64,
    ) -> Option<(i64, &NexusOperation, &Cancellation)> {
        self.nexus_operations.iter().find_map(|(id, op)| {
            let c = op.cancellation.as_ref()?;
            (c.requested_event_id == requested_event_id).then_some((*id, op, c))
        })
    }

    /// The answer to attempt `attempt` of operation `scheduled_event_id`'s StartOperation
    /// request. An answer to an attempt that is no longer current changes nothing.
    pub fn record_nexus_start_outcome(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        outcome: StartOutcome,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        let mut fx = Effects::default();
        let current =
            |op: &NexusOperation| op.state == OperationState::Scheduled && op.attempt == attempt;
        let Some(op) = self.current_nexus_operation(scheduled_event_id, current)? else {
            return Ok(fx);
        };
        let ended = match outcome {
            StartOutcome::Started { token, links } => {
                fx.removed_tasks.push(scheduled_event_id);
                op.attempt_answered(now, None);
                let event = started_event(scheduled_event_id, &token, &op.request_id, now, links);
                self.mark_nexus_started(&mut fx, now, scheduled_event_id, &token);
                self.append_external_events(&mut fx, now, vec![event]);
                None
            }
            StartOutcome::Completed { result, links } => Some((Outcome::Completed(result), links)),
            StartOutcome::Failed(cause) => Some((Outcome::Failed(cause), Vec::new())),
            StartOutcome::Canceled(cause) => Some((Outcome::Canceled(cause), Vec::new())),
            StartOutcome::AttemptFailed(failure) => {
                fx.removed_tasks.push(scheduled_event_id);
                op.attempt_answered(now, Some(failure));
                op.state = OperationState::BackingOff {
                    until: now + retry_delay(op.attempt),
                };
                None
            }
            StartOutcome::TimedOut(timeout_type) => {
                self.time_out_nexus_operation(&mut fx, now, scheduled_event_id, timeout_type);
                None
            }
        };
        if let Some((outcome, links)) = ended {
            let mut event = self.close_nexus_operation(&mut fx, now, scheduled_event_id, outcome);
            event.links = links;
            self.append_external_events(&mut fx, now, vec![event]);
        }
        self.state_transitions += 1;
        Ok(fx)
    }

    /// Operation `scheduled_event_id` if it is pending and an answer or callback for it
    /// is `current` (one for another attempt changes nothing).
    fn current_nexus_operation(
        &mut self,
        scheduled_event_id: i64,
        current: impl FnOnce(&NexusOperation) -> bool,
    ) -> Result<Option<&mut NexusOperation>, EngineError> {
        self.require_open()?;
        Ok(self
            .nexus_operations
            .get_mut(&scheduled_event_id)
            .filter(|op| current(op)))
    }

    /// The operation started: a cancellation that waited for the start goes out now.
    fn mark_nexus_started(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        scheduled_event_id: i64,
        token: &str,
    ) {
        let op = self
            .nexus_operations
            .get_mut(&scheduled_event_id)
            .expect("the caller found it");
        op.state = OperationState::Started;
        op.operation_token = token.to_owned();
        op.started_time = Some(now);
        if let Some(c) = op
            .cancellation
            .as_mut()
            .filter(|c| c.state == CancellationState::Waiting)
        {
            c.state = CancellationState::Scheduled;
            c.requested_time = now;
            fx.new_tasks
                .push(nexus_task(TaskKind::NexusCancel, c.requested_event_id));
        }
    }

    /// The operation is no longer pending: its task rows that wait to run are dropped.
    fn take_nexus_operation(
        &mut self,
        fx: &mut Effects,
        scheduled_event_id: i64,
    ) -> NexusOperation {
        let op = self
            .nexus_operations
            .remove(&scheduled_event_id)
            .expect("the caller found it");
        fx.removed_tasks
            .extend(op.waiting_tasks(scheduled_event_id));
        op
    }

    /// The operation ended: it is no longer pending; returns its outcome event.
    fn close_nexus_operation(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        scheduled_event_id: i64,
        outcome: Outcome,
    ) -> HistoryEvent {
        let op = self.take_nexus_operation(fx, scheduled_event_id);
        let request_id = op.request_id.clone();
        let (event_type, attributes) = match outcome {
            Outcome::Completed(result) => (
                EventType::NexusOperationCompleted,
                Attributes::NexusOperationCompletedEventAttributes(
                    NexusOperationCompletedEventAttributes {
                        scheduled_event_id,
                        result,
                        request_id,
                    },
                ),
            ),
            Outcome::Failed(cause) => (
                EventType::NexusOperationFailed,
                Attributes::NexusOperationFailedEventAttributes(
                    NexusOperationFailedEventAttributes {
                        scheduled_event_id,
                        failure: Some(op.failure(scheduled_event_id, cause)),
                        request_id,
                    },
                ),
            ),
            Outcome::Canceled(cause) => (
                EventType::NexusOperationCanceled,
                Attributes::NexusOperationCanceledEventAttributes(
                    NexusOperationCanceledEventAttributes {
                        scheduled_event_id,
                        failure: Some(op.failure(scheduled_event_id, canceled(cause))),
                        request_id,
                    },
                ),
            ),
        };
        new_event(now, event_type, attributes)
    }

    fn time_out_nexus_operation(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        scheduled_event_id: i64,
        timeout_type: TimeoutType,
    ) {
        let op = self.take_nexus_operation(fx, scheduled_event_id);
        let attributes = NexusOperationTimedOutEventAttributes {
            scheduled_event_id,
            failure: Some(op.failure(scheduled_event_id, timeout_cause(timeout_type))),
            request_id: op.request_id.clone(),
        };
        self.append_external(
            fx,
            now,
            vec![(
                EventType::NexusOperationTimedOut,
                Attributes::NexusOperationTimedOutEventAttributes(attributes),
            )],
        );
    }

    /// The completion callback of operation `scheduled_event_id` (started under
    /// `request_id`) reports how the operation ended. A callback for an operation that is
    /// no longer pending, or for another attempt of its id, changes nothing.
    pub fn complete_nexus_operation(
        &mut self,
        scheduled_event_id: i64,
        request_id: &str,
        completion: NexusCompletion,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        let mut fx = Effects::default();
        let current = |op: &NexusOperation| op.request_id == request_id;
        let Some(op) = self.current_nexus_operation(scheduled_event_id, current)? else {
            return Ok(fx);
        };
        let mut events = Vec::new();
        if op.state != OperationState::Started {
            // The callback came before the StartOperation answer: the operation started
            // when the run that backs it did.
            events.push(started_event(
                scheduled_event_id,
                &completion.operation_token,
                &op.request_id,
                completion.start_time,
                completion.start_links,
            ));
            op.operation_token = completion.operation_token;
        }
        events.push(self.close_nexus_operation(
            &mut fx,
            now,
            scheduled_event_id,
            completion.outcome,
        ));
        self.append_external_events(&mut fx, now, events);
        self.state_transitions += 1;
        Ok(fx)
    }

    /// The answer to attempt `attempt` of the CancelOperation request of cancellation
    /// `requested_event_id`.
    pub fn record_nexus_cancel_outcome(
        &mut self,
        requested_event_id: i64,
        attempt: i32,
        outcome: CancelOutcome,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        let Some(scheduled_event_id) = self
            .nexus_cancellation(requested_event_id)
            .filter(|(_, _, c)| c.state == CancellationState::Scheduled && c.attempt == attempt)
            .map(|(id, _, _)| id)
        else {
            return Ok(fx);
        };
        fx.removed_tasks.push(requested_event_id);
        let cancellation = self
            .nexus_operations
            .get_mut(&scheduled_event_id)
            .and_then(|op| op.cancellation.as_mut())
            .expect("found above");
        cancellation.attempt += 1;
        let event = match outcome {
            CancelOutcome::Delivered => {
                cancellation.state = CancellationState::Succeeded;
                cancellation.last_attempt_failure = None;
                new_event(
                    now,
                    EventType::NexusOperationCancelRequestCompleted,
                    Attributes::NexusOperationCancelRequestCompletedEventAttributes(
                        NexusOperationCancelRequestCompletedEventAttributes {
                            requested_event_id,
                            scheduled_event_id,
                            ..Default::default()
                        },
                    ),
                )
            }
            CancelOutcome::AttemptFailed(failure) => {
                cancellation.state = CancellationState::BackingOff {
                    until: now + retry_delay(cancellation.attempt),
                };
                cancellation.last_attempt_failure = Some(Proto(failure));
                self.state_transitions += 1;
                return Ok(fx);
            }
            CancelOutcome::Failed(failure) => {
                cancellation.state = CancellationState::Failed;
                cancellation.last_attempt_failure = Some(Proto(failure.clone()));
                new_event(
                    now,
                    EventType::NexusOperationCancelRequestFailed,
                    Attributes::NexusOperationCancelRequestFailedEventAttributes(
                        NexusOperationCancelRequestFailedEventAttributes {
                            requested_event_id,
                            scheduled_event_id,
                            failure: Some(failure),
                            ..Default::default()
                        },
                    ),
                )
            }
        };
        // Older SDKs do not know these events; like the real server, workers may ignore them.
        let event = HistoryEvent {
            worker_may_ignore: true,
            ..event
        };
        self.append_external_events(&mut fx, now, vec![event]);
        self.state_transitions += 1;
        Ok(fx)
    }

    /// The earliest deadline of the run's operations: timeouts and retries.
    pub(super) fn nexus_deadline(&self) -> Option<Millis> {
        self.nexus_operations
            .values()
            .filter_map(NexusOperation::deadline)
            .min()
    }

    /// Acts on the operations' deadlines at or before `now`.
    pub(super) fn fire_nexus_deadlines(&mut self, fx: &mut Effects, now: Millis) {
        let due: Vec<i64> = self
            .nexus_operations
            .iter()
            .filter(|(_, op)| op.deadline().is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for scheduled_event_id in due {
            let op = self
                .nexus_operations
                .get_mut(&scheduled_event_id)
                .expect("listed above");
            if let Some(timeout_type) = op.timed_out(now) {
                self.time_out_nexus_operation(fx, now, scheduled_event_id, timeout_type);
                self.state_transitions += 1;
                continue;
            }
            if matches!(op.state, OperationState::BackingOff { until } if until <= now) {
                op.state = OperationState::Scheduled;
                fx.new_tasks
                    .push(nexus_task(TaskKind::NexusStart, scheduled_event_id));
            }
            if let Some(c) = op.cancellation.as_mut()
                && matches!(c.state, CancellationState::BackingOff { until } if until <= now)
            {
                c.state = CancellationState::Scheduled;
                fx.new_tasks
                    .push(nexus_task(TaskKind::NexusCancel, c.requested_event_id));
            }
            self.state_transitions += 1;
        }
    }

    /// A start found this run running and uses it (conflict policy USE_EXISTING): what its
    /// `on_conflict_options` attach (its request id, its completion callbacks, its links)
    /// arrives in a WorkflowExecutionOptionsUpdated event, as on the real server. A request
    /// id attached before attaches nothing more.
    pub fn attach_on_conflict(
        &mut self,
        request: &StartWorkflowExecutionRequest,
        request_id: &str,
        now: Millis,
    ) -> Effects {
        let mut fx = Effects::default();
        let Some(options) = &request.on_conflict_options else {
            return fx;
        };
        if options.attach_request_id && self.attached_request_ids.contains(request_id) {
            return fx;
        }
        let callbacks = if options.attach_completion_callbacks {
            normalized_callbacks(&request.completion_callbacks)
        } else {
            Vec::new()
        };
        let mut event = new_event(
            now,
            EventType::WorkflowExecutionOptionsUpdated,
            Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(
                WorkflowExecutionOptionsUpdatedEventAttributes {
                    attached_request_id: if options.attach_request_id {
                        request_id.to_owned()
                    } else {
                        String::new()
                    },
                    attached_completion_callbacks: callbacks.clone(),
                    ..Default::default()
                },
            ),
        );
        if options.attach_links {
            event.links = request.links.clone();
        }
        event.worker_may_ignore = true;
        // Workers may ignore it: it needs no workflow task of its own.
        if self.workflow_task_running() {
            self.buffered_events.push(Proto(event));
        } else {
            self.record_workflow_task_events(&mut fx);
            self.push_event(&mut fx, event);
        }
        self.completion_callbacks
            .extend(callbacks.into_iter().map(Proto));
        if options.attach_request_id {
            self.attached_request_ids.insert(request_id.to_owned());
        }
        self.state_transitions += 1;
        fx
    }

    /// The pending operations, for describe.
    pub(super) fn pending_nexus_operations(&self) -> Vec<PendingNexusOperationInfo> {
        let optional_duration = |millis: Millis| (millis > 0).then(|| duration(millis));
        self.nexus_operations
            .iter()
            .map(|(scheduled_event_id, op)| {
                let (state, next_attempt) = match op.state {
                    OperationState::Scheduled => (PendingNexusOperationState::Scheduled, None),
                    OperationState::BackingOff { until } => {
                        (PendingNexusOperationState::BackingOff, Some(until))
                    }
                    OperationState::Started => (PendingNexusOperationState::Started, None),
                };
                #[allow(deprecated)] // the real server still fills operation_id with the token
                PendingNexusOperationInfo {
                    endpoint: op.endpoint.clone(),
                    service: op.service.clone(),
                    operation: op.operation.clone(),
                    operation_id: op.operation_token.clone(),
                    schedule_to_close_timeout: optional_duration(op.schedule_to_close_timeout),
                    scheduled_time: Some(timestamp(op.scheduled_time)),
                    state: state as i32,
                    attempt: op.attempt,
                    last_attempt_complete_time: op.last_attempt_complete_time.map(timestamp),
                    last_attempt_failure: op.last_attempt_failure.clone().map(|f| f.0),
                    next_attempt_schedule_time: next_attempt.map(timestamp),
                    cancellation_info: op.cancellation.as_ref().map(Cancellation::info),
                    scheduled_event_id: *scheduled_event_id,
                    operation_token: op.operation_token.clone(),
                    schedule_to_start_timeout: optional_duration(op.schedule_to_start_timeout),
                    start_to_close_timeout: optional_duration(op.start_to_close_timeout),
                    ..Default::default()
                }
            })
            .collect()
    }

    /// The run closed: its operations are abandoned (the real server sends no requests
    /// for the operations of a closed workflow).
    pub(super) fn abandon_nexus_operations(&mut self, fx: &mut Effects) {
        for (id, op) in std::mem::take(&mut self.nexus_operations) {
            fx.removed_tasks.extend(op.waiting_tasks(id));
        }
    }

    /// The chain of runs ended: the operations this run backs must hear how.
    pub(super) fn notify_callers(&mut self, fx: &mut Effects) {
        if !self.completion_callbacks.is_empty() {
            let close_event_id = self.close_event_id.expect("called on a closed run");
            fx.new_tasks.push(nexus_task(
                TaskKind::CompletionCallbacks,
                completion_callbacks_task_id(close_event_id),
            ));
        }
    }
}

fn started_event(
    scheduled_event_id: i64,
    token: &str,
    request_id: &str,
    time: Millis,
    links: Vec<Link>,
) -> HistoryEvent {
    #[allow(deprecated)] // the real server still fills operation_id with the token
    let attributes = NexusOperationStartedEventAttributes {
        scheduled_event_id,
        operation_id: token.to_owned(),
        request_id: request_id.to_owned(),
        operation_token: token.to_owned(),
    };
    let mut event = new_event(
        time,
        EventType::NexusOperationStarted,
        Attributes::NexusOperationStartedEventAttributes(attributes),
    );
    event.links = links;
    event
}

/// The CompletionCallbacks task of a run uses its close event id negated: a child's
/// ChildClosed task has the positive one. (The same function reads it back.)
pub fn completion_callbacks_task_id(close_event_id: i64) -> i64 {
    -close_event_id
}

/// A canceled operation's cause is a CanceledFailure (older SDKs send an application
/// failure; the real server converts it).
fn canceled(cause: Failure) -> Failure {
    if matches!(
        cause.failure_info,
        Some(FailureInfo::CanceledFailureInfo(_))
    ) {
        return cause;
    }
    Failure {
        message: cause.message,
        stack_trace: cause.stack_trace,
        failure_info: Some(FailureInfo::CanceledFailureInfo(
            CanceledFailureInfo::default(),
        )),
        cause: cause.cause,
        ..Default::default()
    }
}
