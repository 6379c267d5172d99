//! Transfer tasks: what one run's change asks of another workflow (start a child, deliver a
//! signal or a cancellation request, report a child's close, apply a parent close policy)
//! or of a Nexus handler (`nexus`: send a request, deliver completion callbacks).
//!
//! Each task is a durable row written with the change that made it, and deleted only in the
//! transaction that records its outcome; after a crash, `recover` queues the rows again.
//! Every step is idempotent (children start under a request id derived from the task,
//! signals carry one), so running a task twice changes nothing more.

use std::sync::Arc;
use std::time::Duration;

use devserver_persistence::{TaskKind, TaskRow};
use temporalio_protos::temporal::api::common::v1::WorkflowExecution;
use tokio::sync::mpsc;

use super::{History, StartWith};
use crate::engine::{
    CancelRequest, CloseAction, Effects, ExternalRequest, MutableState, SERVER_IDENTITY, Signal,
    close_policy_task_id,
};
use crate::error::{ServiceError, ServiceResult};
use crate::timers::Hold;

/// How long a transfer task that failed (the store refused a commit) waits to run again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

pub type TransferQueue = mpsc::UnboundedSender<Transfer>;

/// A transfer task on its way to being carried out.
pub struct Transfer {
    pub task: TaskRow,
    /// When time skips, the task holds the clock until it is done.
    pub hold: Option<Hold>,
}

impl History {
    /// Runs transfer tasks as they come, each in a task of its own.
    pub async fn run_transfers(self: Arc<Self>, mut transfers: mpsc::UnboundedReceiver<Transfer>) {
        while let Some(transfer) = transfers.recv().await {
            let history = self.clone();
            tokio::spawn(async move {
                let task = &transfer.task;
                if let Err(error) = history.transfer(task).await {
                    tracing::warn!(run_id = %task.run_id, kind = ?task.kind, %error, "transfer task failed; retrying");
                    tokio::time::sleep(RETRY_DELAY).await;
                    let _ = history.transfers.send(transfer);
                }
            });
        }
    }

    async fn transfer(&self, task: &TaskRow) -> ServiceResult<()> {
        let source = match self
            .run_state(&task.namespace, &task.workflow_id, &task.run_id)
            .await
        {
            Ok(state) => state,
            Err(ServiceError::NotFound(_)) => return self.drop_transfer(task).await,
            Err(error) => return Err(error),
        };
        let id = task.scheduled_event_id;
        let done = match task.kind {
            TaskKind::StartChild => self.start_child(&source, id).await,
            TaskKind::SignalExternal | TaskKind::CancelExternal => {
                self.deliver_external(&source, id).await
            }
            TaskKind::ChildClosed => self.report_child_closed(&source, id).await,
            TaskKind::ParentClosePolicy => self.apply_close_policy(&source, id).await,
            TaskKind::NexusStart => self.start_nexus_operation(&source, id).await,
            TaskKind::NexusCancel => self.cancel_nexus_operation(&source, id).await,
            TaskKind::CompletionCallbacks => self.deliver_completion_callbacks(&source, id).await,
            TaskKind::Workflow | TaskKind::Activity => return Ok(()),
        };
        match done {
            Ok(true) => Ok(()),
            // Nothing left to do (the source closed, or it was done before a crash).
            Ok(false) | Err(ServiceError::WorkflowClosed | ServiceError::NotFound(_)) => {
                self.drop_transfer(task).await
            }
            Err(error) => Err(error),
        }
    }

    async fn drop_transfer(&self, task: &TaskRow) -> ServiceResult<()> {
        Ok(self
            .store
            .delete_task(&task.run_id, task.scheduled_event_id)
            .await?)
    }

    /// Returns false if the task has nothing left to do.
    async fn start_child(
        &self,
        parent: &MutableState,
        initiated_event_id: i64,
    ) -> ServiceResult<bool> {
        let Some((request, parent_info, inherited_time_skipping)) =
            parent.child_start_request(initiated_event_id)
        else {
            return Ok(false);
        };
        let with = StartWith {
            parent: Some(parent_info),
            inherited_time_skipping,
            ..Default::default()
        };
        let started = self.start_workflow(&request, with).await;
        let run_id = match started {
            Ok(response) => Some(response.run_id),
            Err(ServiceError::WorkflowAlreadyStarted { .. }) => None,
            Err(error) => return Err(error),
        };
        self.update(
            &parent.namespace,
            &parent.workflow_id,
            &parent.run_id,
            |state, now| {
                let effects = match &run_id {
                    Some(run_id) => state.record_child_started(initiated_event_id, run_id, now)?,
                    None => state.record_child_start_failed(initiated_event_id, now)?,
                };
                Ok((effects, true))
            },
        )
        .await
    }

    async fn deliver_external(
        &self,
        source: &MutableState,
        initiated_event_id: i64,
    ) -> ServiceResult<bool> {
        let Some(request) = source.external_request(initiated_event_id).cloned() else {
            return Ok(false);
        };
        // Like the real server, a workflow neither signals nor cancels itself, whatever the
        // run id: the request fails as if its target were not found.
        let delivered = if request.targets(&source.namespace, &source.workflow_id) {
            false
        } else {
            match self
                .send_external(source, initiated_event_id, request)
                .await
            {
                Ok(()) => true,
                Err(ServiceError::NotFound(_) | ServiceError::WorkflowClosed) => false,
                Err(error) => return Err(error),
            }
        };
        self.update(
            &source.namespace,
            &source.workflow_id,
            &source.run_id,
            |state, now| {
                let effects = state.record_external_outcome(initiated_event_id, delivered, now)?;
                Ok((effects, true))
            },
        )
        .await
    }

    /// Signals or asks to cancel the target of `request`, sent by `source`.
    async fn send_external(
        &self,
        source: &MutableState,
        initiated_event_id: i64,
        request: ExternalRequest,
    ) -> ServiceResult<()> {
        let sender = source.execution();
        match request {
            ExternalRequest::Signal(initiated) => {
                let initiated = initiated.0;
                let target = initiated.workflow_execution.unwrap_or_default();
                let signal = Signal {
                    name: initiated.signal_name,
                    input: initiated.input,
                    header: initiated.header,
                    identity: SERVER_IDENTITY.into(),
                    // Delivered once, however often this task runs.
                    request_id: format!("{}:{initiated_event_id}", source.run_id),
                    external: Some(sender),
                };
                self.signal(
                    &initiated.namespace,
                    &target.workflow_id,
                    &target.run_id,
                    signal,
                )
                .await
            }
            ExternalRequest::Cancel(initiated) => {
                let initiated = initiated.0;
                let target = initiated.workflow_execution.unwrap_or_default();
                let cancel = CancelRequest {
                    reason: initiated.reason,
                    identity: SERVER_IDENTITY.into(),
                    external: Some((initiated_event_id, sender)),
                };
                self.request_cancel(
                    &initiated.namespace,
                    &target.workflow_id,
                    &target.run_id,
                    cancel,
                )
                .await
            }
        }
    }

    /// `child` is the last run of a child's chain; its parent records how it closed.
    async fn report_child_closed(
        &self,
        child: &MutableState,
        close_event_id: i64,
    ) -> ServiceResult<bool> {
        let Some(parent) = child.parent.clone() else {
            return Ok(false);
        };
        let close_event = self
            .read_events(&child.run_id, close_event_id, close_event_id + 1, 1)
            .await?
            .pop()
            .ok_or_else(|| {
                ServiceError::Internal(format!("close event of run {} is missing", child.run_id))
            })?;
        self.update(
            &parent.namespace,
            &parent.workflow_id,
            &parent.run_id,
            |state, now| {
                let mut effects: Effects = state.record_child_closed(
                    parent.initiated_event_id,
                    &child.run_id,
                    &close_event,
                    now,
                )?;
                // The child's task row goes with the parent's change.
                effects
                    .removed_tasks_of_other_runs
                    .push((child.run_id.clone(), close_event_id));
                Ok((effects, true))
            },
        )
        .await
    }

    async fn apply_close_policy(&self, parent: &MutableState, task_id: i64) -> ServiceResult<bool> {
        let initiated_event_id = close_policy_task_id(task_id);
        let Some(policy) = parent.close_policy(initiated_event_id).cloned() else {
            return Ok(false);
        };
        let reached = match policy.action {
            CloseAction::Terminate => {
                self.terminate(
                    &policy.namespace,
                    &policy.workflow_id,
                    &policy.run_id,
                    "by parent close policy",
                    None,
                    SERVER_IDENTITY,
                )
                .await
            }
            CloseAction::RequestCancel => {
                let cancel = CancelRequest {
                    reason: "by parent close policy".into(),
                    identity: SERVER_IDENTITY.into(),
                    external: Some((
                        0,
                        WorkflowExecution {
                            workflow_id: parent.workflow_id.clone(),
                            run_id: parent.run_id.clone(),
                        },
                    )),
                };
                self.request_cancel(
                    &policy.namespace,
                    &policy.workflow_id,
                    &policy.run_id,
                    cancel,
                )
                .await
            }
        };
        match reached {
            Ok(()) | Err(ServiceError::NotFound(_) | ServiceError::WorkflowClosed) => Ok(false),
            Err(error) => Err(error),
        }
    }
}
