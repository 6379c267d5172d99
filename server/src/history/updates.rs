//! Update requests from clients, and waiting for an update to reach a lifecycle stage.

use temporalio_protos::temporal::api::common::v1::WorkflowExecution;
use temporalio_protos::temporal::api::enums::v1::UpdateWorkflowExecutionLifecycleStage as Stage;
use temporalio_protos::temporal::api::update::v1::{Outcome, Request, UpdateRef, outcome};
use temporalio_protos::temporal::api::workflowservice::v1::{
    StartWorkflowExecutionRequest, StartWorkflowExecutionResponse,
};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{History, StartWith};
use crate::engine::UpdateStatus;
use crate::error::{ServiceError, ServiceResult};

/// Which operation of an update-with-start failed.
pub enum MultiOperationError {
    Start(ServiceError),
    Update(ServiceError),
}

/// Where an update stood when a wait ended: its stage, and its outcome once it has one.
pub struct UpdateProgress {
    pub update_ref: UpdateRef,
    pub stage: Stage,
    pub outcome: Option<Outcome>,
}

impl History {
    /// Admits an update (or finds the one with its id) and waits until it reaches `wanted`,
    /// or until `deadline`, when it answers with the stage reached so far.
    pub async fn update_workflow(
        &self,
        namespace: &str,
        execution: &WorkflowExecution,
        request: Request,
        wanted: Stage,
        deadline: Instant,
    ) -> ServiceResult<UpdateProgress> {
        let update_id = checked_update_id(&request)?;
        let slot = self.slot(namespace, &execution.workflow_id);
        let changed = slot.changed.subscribe();
        let run_id = self
            .update(
                namespace,
                &execution.workflow_id,
                &execution.run_id,
                |state, now| {
                    let (effects, _) = state.admit_update(request, now)?;
                    Ok((effects, state.run_id.clone()))
                },
            )
            .await?;
        let execution = WorkflowExecution {
            workflow_id: execution.workflow_id.clone(),
            run_id,
        };
        self.wait_for_update(namespace, &execution, &update_id, wanted, deadline, changed)
            .await
    }

    /// Update-with-start: starts the workflow (or, as its conflict policy allows, uses the
    /// running one) with the update admitted in the same change, so the first workflow task
    /// carries it; then waits for the update like `update_workflow`.
    pub async fn update_with_start(
        &self,
        start: &StartWorkflowExecutionRequest,
        request: Request,
        wanted: Stage,
        deadline: Instant,
    ) -> Result<(StartWorkflowExecutionResponse, UpdateProgress), MultiOperationError> {
        let update_id = checked_update_id(&request).map_err(MultiOperationError::Update)?;
        let slot = self.slot(&start.namespace, &start.workflow_id);
        let changed = slot.changed.subscribe();
        let with = StartWith {
            update: Some(request),
            ..Default::default()
        };
        let started = self
            .start_workflow(start, with)
            .await
            .map_err(MultiOperationError::Start)?;
        let execution = WorkflowExecution {
            workflow_id: start.workflow_id.clone(),
            run_id: started.run_id.clone(),
        };
        let progress = self
            .wait_for_update(
                &start.namespace,
                &execution,
                &update_id,
                wanted,
                deadline,
                changed,
            )
            .await
            .map_err(MultiOperationError::Update)?;
        Ok((started, progress))
    }

    /// Waits for an update the run already knows (PollWorkflowExecutionUpdate).
    pub async fn poll_update(
        &self,
        namespace: &str,
        update_ref: &UpdateRef,
        wanted: Stage,
        deadline: Instant,
    ) -> ServiceResult<UpdateProgress> {
        let execution = update_ref.workflow_execution.clone().unwrap_or_default();
        let slot = self.slot(namespace, &execution.workflow_id);
        let changed = slot.changed.subscribe();
        self.wait_for_update(
            namespace,
            &execution,
            &update_ref.update_id,
            wanted,
            deadline,
            changed,
        )
        .await
    }

    async fn wait_for_update(
        &self,
        namespace: &str,
        execution: &WorkflowExecution,
        update_id: &str,
        wanted: Stage,
        deadline: Instant,
        mut changed: watch::Receiver<u64>,
    ) -> ServiceResult<UpdateProgress> {
        // Waiting for an outcome lets a skipping clock move, as waiting for a result does.
        let _waiting = match (&self.skipper, wanted) {
            (Some(skipper), Stage::Completed) => Some(skipper.client_waiting()),
            _ => None,
        };
        loop {
            let state = self
                .run_state(namespace, &execution.workflow_id, &execution.run_id)
                .await?;
            let update_ref = UpdateRef {
                workflow_execution: Some(state.execution()),
                update_id: update_id.to_owned(),
            };
            let progress = |stage, outcome| UpdateProgress {
                update_ref: update_ref.clone(),
                stage,
                outcome,
            };
            let stage = match state.update_status(update_id) {
                UpdateStatus::Completed(outcome) => {
                    return Ok(progress(Stage::Completed, Some(outcome)));
                }
                UpdateStatus::Rejected(failure) => {
                    let rejected = Outcome {
                        value: Some(outcome::Value::Failure(failure)),
                    };
                    return Ok(progress(Stage::Completed, Some(rejected)));
                }
                UpdateStatus::Accepted => Stage::Accepted,
                UpdateStatus::Admitted if state.is_open() => Stage::Admitted,
                UpdateStatus::Admitted => return Err(ServiceError::WorkflowClosed),
                UpdateStatus::Unknown => {
                    return Err(ServiceError::NotFound(format!(
                        "update \"{update_id}\" not found"
                    )));
                }
            };
            if stage as i32 >= wanted as i32 {
                return Ok(progress(stage, None));
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(progress(stage, None)),
            }
        }
    }
}

/// The id of a well-formed update request.
fn checked_update_id(request: &Request) -> ServiceResult<String> {
    let update_id = request
        .meta
        .as_ref()
        .map(|m| m.update_id.clone())
        .unwrap_or_default();
    if update_id.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "Update id is not set on request.".into(),
        ));
    }
    if request.input.as_ref().is_none_or(|i| i.name.is_empty()) {
        return Err(ServiceError::InvalidArgument(
            "Update name is not set on request.".into(),
        ));
    }
    Ok(update_id)
}
