//! What DescribeWorkflowExecution shows of a run.

use temporalio_protos::temporal::api::common::v1::WorkflowExecution;
use temporalio_protos::temporal::api::enums::v1::{
    EventType, PendingActivityState, PendingWorkflowTaskState,
};
use temporalio_protos::temporal::api::workflow::v1::{
    PendingActivityInfo, PendingChildExecutionInfo, PendingWorkflowTaskInfo, RequestIdInfo,
    WorkflowExecutionConfig, WorkflowExecutionExtendedInfo, WorkflowExecutionInfo,
};
use temporalio_protos::temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse;

use super::{MutableState, duration, timestamp};

impl MutableState {
    /// What DescribeWorkflowExecution and visibility listings show of the run itself.
    pub fn execution_info(&self) -> WorkflowExecutionInfo {
        WorkflowExecutionInfo {
            execution: Some(self.execution()),
            r#type: Some(self.workflow_type.clone().into()),
            start_time: Some(timestamp(self.start_time)),
            close_time: self.close_time.map(timestamp),
            status: self.status,
            history_length: self.next_event_id - 1,
            execution_time: Some(timestamp(self.execution_time())),
            task_queue: self.task_queue.clone(),
            state_transition_count: self.state_transitions,
            history_size_bytes: self.history_size_bytes,
            execution_duration: self
                .close_time
                .map(|close| duration(close - self.start_time)),
            first_run_id: self.first_execution_run_id.clone(),
            parent_execution: self.parent.as_ref().map(|p| WorkflowExecution {
                workflow_id: p.workflow_id.clone(),
                run_id: p.run_id.clone(),
            }),
            root_execution: Some(match &self.parent {
                Some(p) => WorkflowExecution {
                    workflow_id: p.root.0.clone(),
                    run_id: p.root.1.clone(),
                },
                None => self.execution(),
            }),
            memo: self.memo.clone().map(|m| m.0),
            search_attributes: self.search_attributes.clone().map(|s| s.0),
            ..Default::default()
        }
    }

    /// What the run's mutable state adds to its execution info (time skipping aside, which
    /// needs the server's clock).
    fn extended_info(&self) -> WorkflowExecutionExtendedInfo {
        // Runs that continue a chain start under their first run's request id, which
        // describes only that first run.
        let first_run = self.run_id == self.first_execution_run_id;
        let request_id_infos = (first_run && !self.start_request_id.is_empty())
            .then(|| {
                let started = RequestIdInfo {
                    event_type: EventType::WorkflowExecutionStarted as i32,
                    event_id: 1,
                    buffered: false,
                };
                (self.start_request_id.clone(), started)
            })
            .into_iter()
            .collect();
        WorkflowExecutionExtendedInfo {
            execution_expiration_time: self.execution_expiration.map(timestamp),
            run_expiration_time: self.run_expiration.map(timestamp),
            cancel_requested: self.cancel_requested,
            // The time of this run's started event.
            original_start_time: Some(timestamp(self.start_time)),
            request_id_infos,
            ..Default::default()
        }
    }

    pub fn describe(&self) -> DescribeWorkflowExecutionResponse {
        let pending_activities = self
            .activities
            .values()
            .map(|activity| PendingActivityInfo {
                activity_id: activity.activity_id.clone(),
                activity_type: activity.scheduled.0.activity_type.clone(),
                state: if activity.started.is_some() {
                    PendingActivityState::Started
                } else {
                    PendingActivityState::Scheduled
                } as i32,
                last_started_time: activity.started.as_ref().map(|s| timestamp(s.time)),
                attempt: activity.attempt,
                maximum_attempts: activity.retry_policy.maximum_attempts,
                scheduled_time: Some(timestamp(activity.scheduled_time)),
                expiration_time: (activity.schedule_to_close_timeout > 0).then(|| {
                    timestamp(activity.scheduled_time + activity.schedule_to_close_timeout)
                }),
                last_failure: activity.last_failure.clone().map(|f| f.0),
                last_worker_identity: activity
                    .started
                    .as_ref()
                    .map(|s| s.identity.clone())
                    .unwrap_or_default(),
                next_attempt_schedule_time: activity.retry_at.map(timestamp),
                heartbeat_details: activity.heartbeat_details.clone().map(|d| d.0),
                last_heartbeat_time: activity.last_heartbeat.map(timestamp),
                ..Default::default()
            })
            .collect();
        let pending_workflow_task =
            self.workflow_task
                .as_ref()
                .map(|task| PendingWorkflowTaskInfo {
                    state: if task.started.is_some() {
                        PendingWorkflowTaskState::Started
                    } else {
                        PendingWorkflowTaskState::Scheduled
                    } as i32,
                    scheduled_time: Some(timestamp(task.scheduled_time)),
                    original_scheduled_time: Some(timestamp(task.scheduled_time)),
                    started_time: task.started.as_ref().map(|s| timestamp(s.time)),
                    attempt: task.attempt,
                });
        DescribeWorkflowExecutionResponse {
            execution_config: Some(WorkflowExecutionConfig {
                task_queue: Some(self.task_queue_proto()),
                // Zero when unlimited, as the real server shows them.
                workflow_execution_timeout: Some(duration(self.workflow_execution_timeout)),
                workflow_run_timeout: Some(duration(self.workflow_run_timeout)),
                default_workflow_task_timeout: Some(duration(self.workflow_task_timeout)),
                user_metadata: self.user_metadata.clone().map(|m| m.0),
            }),
            workflow_execution_info: Some(self.execution_info()),
            workflow_extended_info: Some(self.extended_info()),
            pending_activities,
            pending_children: self
                .pending_children()
                .map(|(initiated_id, child)| {
                    let initiated = &child.initiated.0;
                    PendingChildExecutionInfo {
                        workflow_id: initiated.workflow_id.clone(),
                        run_id: child
                            .started
                            .as_ref()
                            .map(|(run_id, _)| run_id.clone())
                            .unwrap_or_default(),
                        workflow_type_name: initiated
                            .workflow_type
                            .as_ref()
                            .map(|t| t.name.clone())
                            .unwrap_or_default(),
                        initiated_id: *initiated_id,
                        parent_close_policy: initiated.parent_close_policy,
                    }
                })
                .collect(),
            pending_workflow_task,
            pending_nexus_operations: self.pending_nexus_operations(),
            ..Default::default()
        }
    }
}
