//! Ending a run from outside (cancellation requests, termination) and cancelling activities.

use temporalio_protos::temporal::api::common::v1::{Payload, Payloads, WorkflowExecution};
use temporalio_protos::temporal::api::enums::v1::{EventType, WorkflowExecutionStatus};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    ActivityTaskCancelRequestedEventAttributes, WorkflowExecutionCancelRequestedEventAttributes,
    WorkflowExecutionCanceledEventAttributes, WorkflowExecutionTerminatedEventAttributes,
};

use super::activity::Outcome;

/// What the real server reports as the details of an activity cancelled before it started.
const NOT_STARTED_CANCEL_DETAILS: &str = "ACTIVITY_ID_NOT_STARTED";

/// A string as a `json/plain` payload, the encoding every SDK reads.
fn json_payload(text: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
        data: serde_json::to_vec(text).expect("a string always serializes"),
        ..Default::default()
    }
}
use super::{Effects, EngineError, Millis, MutableState};

/// Who asks a run to cancel, and why.
#[derive(Debug, Clone, Default)]
pub struct CancelRequest {
    pub reason: String,
    pub identity: String,
    /// The RequestCancelExternalWorkflowExecutionInitiated event of a workflow that asked.
    pub external: Option<(i64, WorkflowExecution)>,
}

impl MutableState {
    /// Records a cancellation request for the workflow code to act on. A second request is
    /// accepted and changes nothing, like the real server.
    pub fn request_cancel(
        &mut self,
        request: &CancelRequest,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        if self.cancel_requested {
            return Ok(fx);
        }
        self.cancel_requested = true;
        let (external_initiated_event_id, external_workflow_execution) =
            match request.external.clone() {
                Some((event_id, execution)) => (event_id, Some(execution)),
                None => (0, None),
            };
        self.append_external(
            &mut fx,
            now,
            vec![(
                EventType::WorkflowExecutionCancelRequested,
                Attributes::WorkflowExecutionCancelRequestedEventAttributes(
                    WorkflowExecutionCancelRequestedEventAttributes {
                        cause: request.reason.clone(),
                        external_initiated_event_id,
                        external_workflow_execution,
                        identity: request.identity.clone(),
                    },
                ),
            )],
        );
        self.state_transitions += 1;
        Ok(fx)
    }

    /// Ends the run at once: TerminateWorkflowExecution, or a start whose id policy says so.
    pub fn terminate(
        &mut self,
        now: Millis,
        reason: &str,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        self.close(
            &mut fx,
            now,
            WorkflowExecutionStatus::Terminated,
            EventType::WorkflowExecutionTerminated,
            Attributes::WorkflowExecutionTerminatedEventAttributes(
                WorkflowExecutionTerminatedEventAttributes {
                    reason: reason.to_owned(),
                    details,
                    identity: identity.to_owned(),
                },
            ),
        );
        self.report_chain_end(&mut fx);
        self.state_transitions += 1;
        Ok(fx)
    }

    /// The CancelWorkflowExecution command: the workflow accepted its cancellation.
    pub(super) fn close_canceled(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        details: Option<Payloads>,
        completed_event_id: i64,
    ) {
        self.close(
            fx,
            now,
            WorkflowExecutionStatus::Canceled,
            EventType::WorkflowExecutionCanceled,
            Attributes::WorkflowExecutionCanceledEventAttributes(
                WorkflowExecutionCanceledEventAttributes {
                    workflow_task_completed_event_id: completed_event_id,
                    details,
                },
            ),
        );
        self.report_chain_end(fx);
    }

    /// The RequestCancelActivityTask command. An activity that no worker holds is cancelled
    /// on the spot (returns true: the workflow has a new event to see), unless the same
    /// completion closes the run; a running one learns of it from its next heartbeat and
    /// reports back with RespondActivityTaskCanceled.
    pub(super) fn request_cancel_activity(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        scheduled_event_id: i64,
        completed_event_id: i64,
        identity: &str,
        run_closing: bool,
    ) -> bool {
        let requested_event_id = self.append(
            fx,
            now,
            EventType::ActivityTaskCancelRequested,
            Attributes::ActivityTaskCancelRequestedEventAttributes(
                ActivityTaskCancelRequestedEventAttributes {
                    scheduled_event_id,
                    workflow_task_completed_event_id: completed_event_id,
                },
            ),
        );
        let activity = self
            .activities
            .get_mut(&scheduled_event_id)
            .expect("validated with the command");
        activity.cancel_requested_event_id = Some(requested_event_id);
        if activity.started.is_some() || run_closing {
            return false;
        }
        let details = Payloads {
            payloads: vec![json_payload(NOT_STARTED_CANCEL_DETAILS)],
        };
        self.finish_activity(
            fx,
            now,
            scheduled_event_id,
            Outcome::Canceled {
                details: Some(details),
                identity: identity.to_owned(),
            },
            false,
        );
        true
    }

    /// RespondActivityTaskCanceled: the running attempt stopped after a cancellation request.
    pub fn cancel_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        details: Option<Payloads>,
        identity: &str,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.started_activity(scheduled_event_id, attempt)?;
        if self.activities[&scheduled_event_id]
            .cancel_requested_event_id
            .is_none()
        {
            return Err(EngineError::InvalidArgument(
                "unable to mark activity as canceled without activity being request canceled first"
                    .into(),
            ));
        }
        let mut fx = Effects::default();
        self.finish_activity(
            &mut fx,
            now,
            scheduled_event_id,
            Outcome::Canceled {
                details,
                identity: identity.to_owned(),
            },
            true,
        );
        Ok(fx)
    }
}
