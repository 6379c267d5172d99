//! Per-workflow time skipping requests: a new configuration (with a fast-forward), and
//! waiting for a fast-forward to complete.

use temporalio_protos::temporal::api::common::v1::{TimeSkippingConfig, WorkflowExecution};
use temporalio_protos::temporal::api::enums::v1::FastForwardPollingResult;
use temporalio_protos::temporal::api::workflowservice::v1::PollWorkflowExecutionTimeSkippingResponse;
use tokio::time::Instant;

use super::History;
use crate::engine::FastForwardProgress;
use crate::error::ServiceResult;

impl History {
    /// Sets a run's time skipping configuration; answers with the configuration in effect.
    pub async fn set_time_skipping_config(
        &self,
        namespace: &str,
        execution: &WorkflowExecution,
        config: TimeSkippingConfig,
        identity: &str,
    ) -> ServiceResult<Option<TimeSkippingConfig>> {
        self.update(
            namespace,
            &execution.workflow_id,
            &execution.run_id,
            |state, now| {
                let effects = state.set_time_skipping_config(config, identity, now)?;
                Ok((effects, state.time_skipping_config()))
            },
        )
        .await
    }

    /// Waits until the fast-forward `fast_forward_id` of a workflow completes or can no
    /// longer complete, or until `deadline` (then the client polls again).
    pub async fn poll_time_skipping(
        &self,
        namespace: &str,
        execution: &WorkflowExecution,
        fast_forward_id: &str,
        deadline: Instant,
    ) -> ServiceResult<PollWorkflowExecutionTimeSkippingResponse> {
        let slot = self.slot(namespace, &execution.workflow_id);
        // Subscribe before reading, so a commit in between still wakes us.
        let mut changed = slot.changed.subscribe();
        loop {
            let state = self
                .run_state(namespace, &execution.workflow_id, &execution.run_id)
                .await?;
            let (progress, fast_forward_info) = state.fast_forward_progress(fast_forward_id);
            let answer = |result: FastForwardPollingResult, failed_reason: &str| {
                PollWorkflowExecutionTimeSkippingResponse {
                    fast_forward_polling_result: result as i32,
                    failed_reason: failed_reason.to_owned(),
                    fast_forward_info: fast_forward_info.clone(),
                }
            };
            match progress {
                FastForwardProgress::Completed => {
                    return Ok(answer(FastForwardPollingResult::FastForwardCompleted, ""));
                }
                FastForwardProgress::Failed(reason) => {
                    return Ok(answer(FastForwardPollingResult::FastForwardFailed, reason));
                }
                FastForwardProgress::Pending => {}
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Ok(answer(FastForwardPollingResult::PollTimeout, ""));
                }
            }
        }
    }
}
