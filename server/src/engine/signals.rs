//! Signals: messages from clients and other workflows, delivered in the next workflow task.

use temporalio_protos::temporal::api::common::v1::{Header, Payloads, WorkflowExecution};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_protos::temporal::api::history::v1::WorkflowExecutionSignaledEventAttributes;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;

use super::{Effects, EngineError, Millis, MutableState};

/// A signal as it enters a run's history.
#[derive(Debug, Clone, Default)]
pub struct Signal {
    pub name: String,
    pub input: Option<Payloads>,
    pub header: Option<Header>,
    pub identity: String,
    /// Deduplicates retries of the same request; empty means no deduplication.
    pub request_id: String,
    /// The workflow that sent it (SignalExternalWorkflowExecution).
    pub external: Option<WorkflowExecution>,
}

impl MutableState {
    pub fn signal(&mut self, signal: Signal, now: Millis) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        if !signal.request_id.is_empty()
            && !self.signal_request_ids.insert(signal.request_id.clone())
        {
            return Ok(fx);
        }
        self.append_external(&mut fx, now, vec![signaled_event(signal)]);
        self.state_transitions += 1;
        Ok(fx)
    }
}

pub(super) fn signaled_event(signal: Signal) -> (EventType, Attributes) {
    (
        EventType::WorkflowExecutionSignaled,
        Attributes::WorkflowExecutionSignaledEventAttributes(
            WorkflowExecutionSignaledEventAttributes {
                signal_name: signal.name,
                input: signal.input,
                identity: signal.identity,
                header: signal.header,
                external_workflow_execution: signal.external,
                request_id: signal.request_id,
                ..Default::default()
            },
        ),
    )
}
