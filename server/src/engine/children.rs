//! Child workflows and requests to other workflows (signal, cancel).
//!
//! A command writes its "initiated" event and a durable transfer task of the source run; the
//! history service carries the task out against the other workflow and reports the outcome
//! back here, where it becomes an event the workflow sees. A child reports its close to its
//! parent the same way, and a closing parent applies its close policy to running children.

// `namespace` and `control` are deprecated in these messages, but SDKs still send them and
// the real server still copies them into the events.
#![allow(deprecated)]

use std::collections::BTreeMap;

use devserver_persistence::TaskKind;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::command::v1::{
    RequestCancelExternalWorkflowExecutionCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes, StartChildWorkflowExecutionCommandAttributes,
};
use temporalio_protos::temporal::api::common::v1::{
    TimeSkippingStatePropagation, WorkflowExecution,
};
use temporalio_protos::temporal::api::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause, EventType, ParentClosePolicy,
    SignalExternalWorkflowExecutionFailedCause, StartChildWorkflowExecutionFailedCause,
};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::*;
use temporalio_protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;

use super::{Effects, EngineError, Millis, MutableState, Proto, Task};

/// The run that started this one as its child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentInfo {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub initiated_event_id: i64,
    /// The first workflow of the tree this run belongs to.
    pub root: (String, String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Child {
    pub initiated: Proto<StartChildWorkflowExecutionInitiatedEventAttributes>,
    /// Run id and ChildWorkflowExecutionStarted event id, once started.
    pub started: Option<(String, i64)>,
}

/// A signal or cancellation request to another workflow, until it is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExternalRequest {
    Signal(Proto<SignalExternalWorkflowExecutionInitiatedEventAttributes>),
    Cancel(Proto<RequestCancelExternalWorkflowExecutionInitiatedEventAttributes>),
}

impl ExternalRequest {
    /// Whether the request is for workflow `workflow_id` of `namespace` (any of its runs).
    pub fn targets(&self, namespace: &str, workflow_id: &str) -> bool {
        let (target_namespace, target) = match self {
            ExternalRequest::Signal(a) => (&a.0.namespace, &a.0.workflow_execution),
            ExternalRequest::Cancel(a) => (&a.0.namespace, &a.0.workflow_execution),
        };
        target_namespace == namespace
            && target
                .as_ref()
                .is_some_and(|t| t.workflow_id == workflow_id)
    }
}

/// Transfer tasks that carry out a parent close policy use the child's initiated event id,
/// negated: the same child may still have its start task under the positive id. (Negation
/// is its own inverse: the same function reads the initiated id back from the task id.)
pub fn close_policy_task_id(initiated_event_id: i64) -> i64 {
    -initiated_event_id
}

impl MutableState {
    pub(super) fn start_child(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &StartChildWorkflowExecutionCommandAttributes,
        completed_event_id: i64,
    ) {
        let namespace = if attrs.namespace.is_empty() {
            self.namespace.clone()
        } else {
            attrs.namespace.clone()
        };
        let task_queue = attrs
            .task_queue
            .clone()
            .filter(|q| !q.name.is_empty())
            .unwrap_or_else(|| self.task_queue_proto());
        let (time_skipping_config, time_skipping_state_propagation) =
            self.time_skipping_for_child();
        let initiated = StartChildWorkflowExecutionInitiatedEventAttributes {
            namespace,
            workflow_id: attrs.workflow_id.clone(),
            workflow_type: attrs.workflow_type.clone(),
            task_queue: Some(task_queue),
            input: attrs.input.clone(),
            workflow_execution_timeout: attrs.workflow_execution_timeout,
            workflow_run_timeout: attrs.workflow_run_timeout,
            workflow_task_timeout: attrs.workflow_task_timeout,
            parent_close_policy: attrs.parent_close_policy,
            control: attrs.control.clone(),
            workflow_task_completed_event_id: completed_event_id,
            workflow_id_reuse_policy: attrs.workflow_id_reuse_policy,
            retry_policy: attrs.retry_policy.clone(),
            cron_schedule: attrs.cron_schedule.clone(),
            header: attrs.header.clone(),
            memo: attrs.memo.clone(),
            search_attributes: attrs.search_attributes.clone(),
            inherit_build_id: attrs.inherit_build_id,
            priority: attrs.priority.clone(),
            time_skipping_config,
            time_skipping_state_propagation,
            ..Default::default()
        };
        let initiated_event_id = self.append(
            fx,
            now,
            EventType::StartChildWorkflowExecutionInitiated,
            Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(initiated.clone()),
        );
        self.children.insert(
            initiated_event_id,
            Child {
                initiated: Proto(initiated),
                started: None,
            },
        );
        fx.new_tasks
            .push(transfer_task(TaskKind::StartChild, initiated_event_id));
    }

    pub(super) fn signal_external(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &SignalExternalWorkflowExecutionCommandAttributes,
        completed_event_id: i64,
    ) {
        let initiated = SignalExternalWorkflowExecutionInitiatedEventAttributes {
            workflow_task_completed_event_id: completed_event_id,
            namespace: self.target_namespace(&attrs.namespace),
            workflow_execution: attrs.execution.clone(),
            signal_name: attrs.signal_name.clone(),
            input: attrs.input.clone(),
            control: attrs.control.clone(),
            child_workflow_only: attrs.child_workflow_only,
            header: attrs.header.clone(),
            ..Default::default()
        };
        let initiated_event_id = self.append(
            fx,
            now,
            EventType::SignalExternalWorkflowExecutionInitiated,
            Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(initiated.clone()),
        );
        self.external_requests.insert(
            initiated_event_id,
            ExternalRequest::Signal(Proto(initiated)),
        );
        fx.new_tasks
            .push(transfer_task(TaskKind::SignalExternal, initiated_event_id));
    }

    pub(super) fn cancel_external(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &RequestCancelExternalWorkflowExecutionCommandAttributes,
        completed_event_id: i64,
    ) {
        let initiated = RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
            workflow_task_completed_event_id: completed_event_id,
            namespace: self.target_namespace(&attrs.namespace),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: attrs.workflow_id.clone(),
                run_id: attrs.run_id.clone(),
            }),
            control: attrs.control.clone(),
            child_workflow_only: attrs.child_workflow_only,
            reason: attrs.reason.clone(),
            ..Default::default()
        };
        let initiated_event_id = self.append(
            fx,
            now,
            EventType::RequestCancelExternalWorkflowExecutionInitiated,
            Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(
                initiated.clone(),
            ),
        );
        self.external_requests.insert(
            initiated_event_id,
            ExternalRequest::Cancel(Proto(initiated)),
        );
        fx.new_tasks
            .push(transfer_task(TaskKind::CancelExternal, initiated_event_id));
    }

    fn target_namespace(&self, namespace: &str) -> String {
        if namespace.is_empty() {
            self.namespace.clone()
        } else {
            namespace.to_owned()
        }
    }

    /// The start request for the child initiated by `initiated_event_id`, if it still waits
    /// to be started, with the parent it reports to and the clock it inherits.
    pub fn child_start_request(
        &self,
        initiated_event_id: i64,
    ) -> Option<(
        StartWorkflowExecutionRequest,
        ParentInfo,
        Option<TimeSkippingStatePropagation>,
    )> {
        let child = self
            .children
            .get(&initiated_event_id)
            .filter(|c| c.started.is_none() && self.is_open())?;
        let initiated = &child.initiated.0;
        let request = StartWorkflowExecutionRequest {
            namespace: initiated.namespace.clone(),
            workflow_id: initiated.workflow_id.clone(),
            workflow_type: initiated.workflow_type.clone(),
            task_queue: initiated.task_queue.clone(),
            input: initiated.input.clone(),
            workflow_execution_timeout: initiated.workflow_execution_timeout,
            workflow_run_timeout: initiated.workflow_run_timeout,
            workflow_task_timeout: initiated.workflow_task_timeout,
            // Retries of this transfer must find the child they started.
            request_id: format!("{}:{initiated_event_id}", self.run_id),
            workflow_id_reuse_policy: initiated.workflow_id_reuse_policy,
            retry_policy: initiated.retry_policy.clone(),
            cron_schedule: initiated.cron_schedule.clone(),
            memo: initiated.memo.clone(),
            search_attributes: initiated.search_attributes.clone(),
            header: initiated.header.clone(),
            priority: initiated.priority.clone(),
            time_skipping_config: initiated.time_skipping_config.clone(),
            ..Default::default()
        };
        let root = self.parent.as_ref().map_or_else(
            || (self.workflow_id.clone(), self.run_id.clone()),
            |p| p.root.clone(),
        );
        let parent = ParentInfo {
            namespace: self.namespace.clone(),
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
            initiated_event_id,
            root,
        };
        let inherited_time_skipping = initiated.time_skipping_state_propagation;
        Some((request, parent, inherited_time_skipping))
    }

    /// The external request initiated by `initiated_event_id`, while it is undelivered and
    /// this run is open: like the real server, a closed run signals and cancels nobody.
    pub fn external_request(&self, initiated_event_id: i64) -> Option<&ExternalRequest> {
        self.external_requests
            .get(&initiated_event_id)
            .filter(|_| self.is_open())
    }

    /// The child started as run `run_id`.
    pub fn record_child_started(
        &mut self,
        initiated_event_id: i64,
        run_id: &str,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        fx.removed_tasks.push(initiated_event_id);
        let Some(child) = self
            .children
            .get(&initiated_event_id)
            .filter(|c| c.started.is_none())
        else {
            return Ok(fx);
        };
        let initiated = child.initiated.0.clone();
        let event = ChildWorkflowExecutionStartedEventAttributes {
            namespace: initiated.namespace.clone(),
            initiated_event_id,
            workflow_execution: Some(WorkflowExecution {
                workflow_id: initiated.workflow_id.clone(),
                run_id: run_id.to_owned(),
            }),
            workflow_type: initiated.workflow_type.clone(),
            header: initiated.header.clone(),
            ..Default::default()
        };
        // The started event's id is known when it enters the history (it may wait in the
        // buffer first): `note_child_started` fills it in then.
        if let Some(child) = self.children.get_mut(&initiated_event_id) {
            child.started = Some((run_id.to_owned(), 0));
        }
        self.append_external(
            &mut fx,
            now,
            vec![(
                EventType::ChildWorkflowExecutionStarted,
                Attributes::ChildWorkflowExecutionStartedEventAttributes(event),
            )],
        );
        self.state_transitions += 1;
        Ok(fx)
    }

    /// The child could not be started because its workflow id is taken.
    pub fn record_child_start_failed(
        &mut self,
        initiated_event_id: i64,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        fx.removed_tasks.push(initiated_event_id);
        let Some(child) = self.children.remove(&initiated_event_id) else {
            return Ok(fx);
        };
        let initiated = child.initiated.0;
        let event = StartChildWorkflowExecutionFailedEventAttributes {
            namespace: initiated.namespace,
            workflow_id: initiated.workflow_id,
            workflow_type: initiated.workflow_type,
            cause: StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists as i32,
            control: initiated.control,
            initiated_event_id,
            ..Default::default()
        };
        self.append_external(
            &mut fx,
            now,
            vec![(
                EventType::StartChildWorkflowExecutionFailed,
                Attributes::StartChildWorkflowExecutionFailedEventAttributes(event),
            )],
        );
        self.state_transitions += 1;
        Ok(fx)
    }

    /// The child's chain of runs ended with `close_event` (of run `run_id`).
    pub fn record_child_closed(
        &mut self,
        initiated_event_id: i64,
        run_id: &str,
        close_event: &HistoryEvent,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        if !self.children.contains_key(&initiated_event_id) {
            return Ok(fx);
        }
        // A child can finish before its start was reported: report that first.
        if self.children[&initiated_event_id].started.is_none() {
            let started = self.record_child_started(initiated_event_id, run_id, now)?;
            fx.merge(started);
        }
        let child = self
            .children
            .remove(&initiated_event_id)
            .expect("checked above");
        let initiated = child.initiated.0;
        let started_event_id = child.started.map_or(0, |(_, id)| id);
        let namespace = initiated.namespace;
        let workflow_execution = Some(WorkflowExecution {
            workflow_id: initiated.workflow_id,
            run_id: run_id.to_owned(),
        });
        let workflow_type = initiated.workflow_type;
        let event = match &close_event.attributes {
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => (
                EventType::ChildWorkflowExecutionCompleted,
                Attributes::ChildWorkflowExecutionCompletedEventAttributes(
                    ChildWorkflowExecutionCompletedEventAttributes {
                        result: a.result.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                ),
            ),
            Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => (
                EventType::ChildWorkflowExecutionFailed,
                Attributes::ChildWorkflowExecutionFailedEventAttributes(
                    ChildWorkflowExecutionFailedEventAttributes {
                        failure: a.failure.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        retry_state: a.retry_state,
                        ..Default::default()
                    },
                ),
            ),
            Some(Attributes::WorkflowExecutionCanceledEventAttributes(a)) => (
                EventType::ChildWorkflowExecutionCanceled,
                Attributes::ChildWorkflowExecutionCanceledEventAttributes(
                    ChildWorkflowExecutionCanceledEventAttributes {
                        details: a.details.clone(),
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                ),
            ),
            Some(Attributes::WorkflowExecutionTimedOutEventAttributes(a)) => (
                EventType::ChildWorkflowExecutionTimedOut,
                Attributes::ChildWorkflowExecutionTimedOutEventAttributes(
                    ChildWorkflowExecutionTimedOutEventAttributes {
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        retry_state: a.retry_state,
                        ..Default::default()
                    },
                ),
            ),
            _ => (
                EventType::ChildWorkflowExecutionTerminated,
                Attributes::ChildWorkflowExecutionTerminatedEventAttributes(
                    ChildWorkflowExecutionTerminatedEventAttributes {
                        namespace,
                        workflow_execution,
                        workflow_type,
                        initiated_event_id,
                        started_event_id,
                        ..Default::default()
                    },
                ),
            ),
        };
        self.append_external(&mut fx, now, vec![event]);
        self.state_transitions += 1;
        Ok(fx)
    }

    /// The outcome of a signal or cancellation request to another workflow: delivered, or
    /// its target was not found.
    pub fn record_external_outcome(
        &mut self,
        initiated_event_id: i64,
        delivered: bool,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        fx.removed_tasks.push(initiated_event_id);
        let Some(request) = self.external_requests.remove(&initiated_event_id) else {
            return Ok(fx);
        };
        let event = match (request, delivered) {
            (ExternalRequest::Signal(Proto(a)), true) => (
                EventType::ExternalWorkflowExecutionSignaled,
                Attributes::ExternalWorkflowExecutionSignaledEventAttributes(
                    ExternalWorkflowExecutionSignaledEventAttributes {
                        initiated_event_id,
                        namespace: a.namespace,
                        workflow_execution: a.workflow_execution,
                        control: a.control,
                        ..Default::default()
                    },
                ),
            ),
            (ExternalRequest::Signal(Proto(a)), false) => (
                EventType::SignalExternalWorkflowExecutionFailed,
                Attributes::SignalExternalWorkflowExecutionFailedEventAttributes(
                    SignalExternalWorkflowExecutionFailedEventAttributes {
                        cause: SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound
                            as i32,
                        namespace: a.namespace,
                        workflow_execution: a.workflow_execution,
                        initiated_event_id,
                        control: a.control,
                        ..Default::default()
                    },
                ),
            ),
            (ExternalRequest::Cancel(Proto(a)), true) => (
                EventType::ExternalWorkflowExecutionCancelRequested,
                Attributes::ExternalWorkflowExecutionCancelRequestedEventAttributes(
                    ExternalWorkflowExecutionCancelRequestedEventAttributes {
                        initiated_event_id,
                        namespace: a.namespace,
                        workflow_execution: a.workflow_execution,
                        ..Default::default()
                    },
                ),
            ),
            (ExternalRequest::Cancel(Proto(a)), false) => (
                EventType::RequestCancelExternalWorkflowExecutionFailed,
                Attributes::RequestCancelExternalWorkflowExecutionFailedEventAttributes(
                    RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                        cause: CancelExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound
                            as i32,
                        namespace: a.namespace,
                        workflow_execution: a.workflow_execution,
                        initiated_event_id,
                        control: a.control,
                        ..Default::default()
                    },
                ),
            ),
        };
        self.append_external(&mut fx, now, vec![event]);
        self.state_transitions += 1;
        Ok(fx)
    }

    /// Records the id a ChildWorkflowExecutionStarted event got in the history.
    pub(super) fn note_child_started(&mut self, event: &HistoryEvent) {
        if let Some(Attributes::ChildWorkflowExecutionStartedEventAttributes(started)) =
            &event.attributes
            && let Some(child) = self.children.get_mut(&started.initiated_event_id)
            && let Some((_, started_event_id)) = child.started.as_mut()
        {
            *started_event_id = event.event_id;
        }
    }

    /// The chain of runs ended (no retry, cron or continue-as-new follows): the parent of a
    /// child and the callers of the Nexus operations it backs hear of it. Called after the
    /// close event is written.
    pub(super) fn report_chain_end(&mut self, fx: &mut Effects) {
        self.notify_parent(fx);
        self.notify_callers(fx);
    }

    fn notify_parent(&mut self, fx: &mut Effects) {
        if self.parent.is_some() {
            let close_event_id = self.close_event_id.expect("called on a closed run");
            fx.new_tasks
                .push(transfer_task(TaskKind::ChildClosed, close_event_id));
        }
    }

    /// Running children whose policy is to terminate or cancel them get a task that does so;
    /// the rest are abandoned.
    pub(super) fn apply_parent_close_policies(&mut self, fx: &mut Effects) {
        let children = std::mem::take(&mut self.children);
        self.close_policies = children
            .into_iter()
            .filter_map(|(initiated_event_id, child)| {
                let policy = ParentClosePolicy::try_from(child.initiated.0.parent_close_policy)
                    .unwrap_or(ParentClosePolicy::Terminate);
                let (run_id, _) = child.started?;
                let action = match policy {
                    ParentClosePolicy::Abandon => return None,
                    ParentClosePolicy::RequestCancel => CloseAction::RequestCancel,
                    _ => CloseAction::Terminate,
                };
                fx.new_tasks.push(transfer_task(
                    TaskKind::ParentClosePolicy,
                    close_policy_task_id(initiated_event_id),
                ));
                Some((
                    initiated_event_id,
                    PendingClosePolicy {
                        workflow_id: child.initiated.0.workflow_id,
                        namespace: child.initiated.0.namespace,
                        run_id,
                        action,
                    },
                ))
            })
            .collect();
        // A child the parent never heard started is abandoned: it cannot be told apart
        // from another run of its workflow id.
    }

    /// What the close policy task of child `initiated_event_id` must do, if anything.
    pub fn close_policy(&self, initiated_event_id: i64) -> Option<&PendingClosePolicy> {
        self.close_policies.get(&initiated_event_id)
    }

    /// The pending children, for describe.
    pub(super) fn pending_children(&self) -> impl Iterator<Item = (&i64, &Child)> {
        self.children.iter()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseAction {
    Terminate,
    RequestCancel,
}

/// A running child that the closed parent's close policy still has to reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingClosePolicy {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub action: CloseAction,
}

/// Children and external requests live in these maps until they are resolved.
pub type Children = BTreeMap<i64, Child>;
pub type ExternalRequests = BTreeMap<i64, ExternalRequest>;
pub type ClosePolicies = BTreeMap<i64, PendingClosePolicy>;

/// Gives a child's end the id of its started event when both waited in the buffer: the
/// started event got its id just before, in the same flush (the real server wires them
/// up the same way).
pub(super) fn wire_child_started_event_id(event: &mut HistoryEvent, written: &[HistoryEvent]) {
    let (initiated_event_id, started_event_id) = match &mut event.attributes {
        Some(Attributes::ChildWorkflowExecutionCompletedEventAttributes(a)) => {
            (a.initiated_event_id, &mut a.started_event_id)
        }
        Some(Attributes::ChildWorkflowExecutionFailedEventAttributes(a)) => {
            (a.initiated_event_id, &mut a.started_event_id)
        }
        Some(Attributes::ChildWorkflowExecutionCanceledEventAttributes(a)) => {
            (a.initiated_event_id, &mut a.started_event_id)
        }
        Some(Attributes::ChildWorkflowExecutionTimedOutEventAttributes(a)) => {
            (a.initiated_event_id, &mut a.started_event_id)
        }
        Some(Attributes::ChildWorkflowExecutionTerminatedEventAttributes(a)) => {
            (a.initiated_event_id, &mut a.started_event_id)
        }
        _ => return,
    };
    if *started_event_id != 0 {
        return;
    }
    let started = written.iter().rev().find(|e| {
        matches!(
            &e.attributes,
            Some(Attributes::ChildWorkflowExecutionStartedEventAttributes(s))
                if s.initiated_event_id == initiated_event_id
        )
    });
    if let Some(started) = started {
        *started_event_id = started.event_id;
    }
}

fn transfer_task(kind: TaskKind, id: i64) -> Task {
    Task {
        kind,
        task_queue: String::new(),
        scheduled_event_id: id,
    }
}
