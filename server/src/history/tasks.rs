//! Workflow and activity tasks handed to workers: recording their start, the history a
//! workflow task carries, and workflow task completions and failures.

use devserver_persistence::{TaskKind, TaskRow};
use temporalio_protos::temporal::api::common::v1::SearchAttributes;
use temporalio_protos::temporal::api::history::v1::History as HistoryProto;
use temporalio_protos::temporal::api::workflowservice::v1::{
    PollActivityTaskQueueResponse, PollWorkflowTaskQueueResponse,
    RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskCompletedResponse,
    RespondWorkflowTaskFailedRequest,
};

use super::History;
use super::reads::TASK_HISTORY_PAGE_SIZE;
use super::token::{self, TaskToken};
use crate::engine::{
    Effects, EngineError, Millis, MutableState, Outside, WorkflowTaskStarted, timestamp,
};
use crate::error::{ServiceError, ServiceResult};

impl History {
    /// Records the start of a workflow task a poller received; `None` if the task is stale.
    pub async fn start_workflow_task(
        &self,
        task: &TaskRow,
        identity: &str,
    ) -> ServiceResult<Option<PollWorkflowTaskQueueResponse>> {
        let slot = self.slot(&task.namespace, &task.workflow_id);
        let mut current = self
            .lock_current(&slot, &task.namespace, &task.workflow_id)
            .await?;
        let Some(state) = current.state.as_mut().filter(|s| s.run_id == task.run_id) else {
            return Ok(None);
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let now = state.now_at(self.clock.now());
        let (effects, started) = match state.record_workflow_task_started(
            task.scheduled_event_id,
            &task.task_queue,
            identity,
            &request_id,
            now,
        ) {
            Ok(started) => started,
            Err(EngineError::Stale(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let response = workflow_task_response(state, &started);
        self.commit(&slot, &mut current, effects, false).await?;
        drop(current);
        Ok(Some(self.with_history(response, &started).await?))
    }

    /// Adds the events a worker needs to a workflow task's poll response: a sticky worker
    /// has the run cached up to its previous task, so it gets only what is new.
    async fn with_history(
        &self,
        mut response: PollWorkflowTaskQueueResponse,
        started: &WorkflowTaskStarted,
    ) -> ServiceResult<PollWorkflowTaskQueueResponse> {
        let first_event_id = if started.sticky {
            started.previous_started_event_id + 1
        } else {
            1
        };
        let run_id = response
            .workflow_execution
            .as_ref()
            .map(|e| e.run_id.clone())
            .unwrap_or_default();
        let (events, next_page_token) = self
            .task_history_page(
                &run_id,
                first_event_id..started.recorded_end,
                &started.unrecorded_events,
                TASK_HISTORY_PAGE_SIZE,
            )
            .await?;
        response.history = Some(HistoryProto { events });
        response.next_page_token = next_page_token;
        Ok(response)
    }

    pub async fn complete_workflow_task(
        &self,
        request: &RespondWorkflowTaskCompletedRequest,
    ) -> ServiceResult<RespondWorkflowTaskCompletedResponse> {
        let (completion, activity_tasks, next_task) = self
            .update_task(&request.task_token, |state, task, now| {
                let workflow_queue = state.task_queue.clone();
                // Eager dispatch only to the worker's own queue, which it is known to serve.
                let eager_ok = move |queue: &str| queue.is_empty() || queue == workflow_queue;
                let namespace = state.namespace.clone();
                let check_search_attributes = |attributes: &SearchAttributes| {
                    self.search_attributes
                        .validate(&namespace, Some(attributes))
                        .map_err(|error| error.to_string())
                };
                let nexus_endpoint_id =
                    |name: &str| self.nexus_endpoints.named(name).map(|endpoint| endpoint.id);
                let outside = Outside {
                    eager_activity_queue_ok: &eager_ok,
                    check_search_attributes: &check_search_attributes,
                    nexus_endpoint_id: &nexus_endpoint_id,
                };
                let mut completion = state.complete_workflow_task(
                    task.scheduled_event_id,
                    task.attempt,
                    request,
                    &outside,
                    now,
                )?;
                let activity_tasks: Vec<PollActivityTaskQueueResponse> = completion
                    .eager_activities
                    .iter()
                    .filter_map(|id| activity_task_response(state, *id))
                    .collect();
                let mut effects = std::mem::take(&mut completion.effects);
                let next_task = match (&completion.rejection, request.return_new_workflow_task) {
                    (None, true) => start_inline(state, &mut effects, &request.identity, now),
                    _ => None,
                };
                Ok((effects, (completion, activity_tasks, next_task)))
            })
            .await?;
        if let Some(message) = completion.rejection {
            return Err(ServiceError::InvalidArgument(message));
        }
        let workflow_task = match next_task {
            Some((response, started)) => Some(self.with_history(response, &started).await?),
            None => None,
        };
        Ok(RespondWorkflowTaskCompletedResponse {
            workflow_task,
            activity_tasks,
            reset_history_event_id: completion.reset_history_event_id,
        })
    }

    pub async fn fail_workflow_task(
        &self,
        request: &RespondWorkflowTaskFailedRequest,
    ) -> ServiceResult<()> {
        self.update_task(&request.task_token, |state, task, now| {
            let effects =
                state.fail_workflow_task(task.scheduled_event_id, task.attempt, request, now)?;
            Ok((effects, ()))
        })
        .await
    }

    /// Records the start of an activity task a poller received; `None` if the task is stale.
    pub async fn start_activity_task(
        &self,
        task: &TaskRow,
        identity: &str,
    ) -> ServiceResult<Option<PollActivityTaskQueueResponse>> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = self
            .update(
                &task.namespace,
                &task.workflow_id,
                &task.run_id,
                |state, now| match state.record_activity_task_started(
                    task.scheduled_event_id,
                    identity,
                    &request_id,
                    now,
                ) {
                    Ok(effects) => Ok((
                        effects,
                        activity_task_response(state, task.scheduled_event_id),
                    )),
                    Err(EngineError::Stale(_)) => Ok((Effects::default(), None)),
                    Err(error) => Err(error),
                },
            )
            .await;
        match started {
            Err(ServiceError::NotFound(_) | ServiceError::WorkflowClosed) => Ok(None),
            other => other,
        }
    }
}

/// The poll response of a workflow task just started, without its history.
fn workflow_task_response(
    state: &MutableState,
    started: &WorkflowTaskStarted,
) -> PollWorkflowTaskQueueResponse {
    PollWorkflowTaskQueueResponse {
        task_token: token::encode(&TaskToken {
            namespace: state.namespace.clone(),
            workflow_id: state.workflow_id.clone(),
            run_id: state.run_id.clone(),
            scheduled_event_id: started.scheduled_event_id,
            attempt: started.attempt,
            query_id: None,
        }),
        workflow_execution: Some(state.execution()),
        workflow_type: Some(state.workflow_type.clone().into()),
        previous_started_event_id: started.previous_started_event_id,
        started_event_id: started.started_event_id,
        attempt: started.attempt,
        workflow_execution_task_queue: Some(state.task_queue_proto()),
        scheduled_time: Some(timestamp(started.scheduled_time)),
        started_time: Some(timestamp(started.started_time)),
        messages: started.messages.clone(),
        ..Default::default()
    }
}

/// The request id the real server gives workflow tasks handed back in a completion's answer.
const INLINE_WORKFLOW_TASK_REQUEST_ID: &str = "request-from-RespondWorkflowTaskCompleted";

/// Starts the workflow task a completion just scheduled, for the completing worker, which
/// asked for it (`return_new_workflow_task`): it never waits in a queue.
fn start_inline(
    state: &mut MutableState,
    effects: &mut Effects,
    identity: &str,
    now: Millis,
) -> Option<(PollWorkflowTaskQueueResponse, WorkflowTaskStarted)> {
    let task = state.workflow_task.clone()?;
    let position = effects.new_tasks.iter().position(|t| {
        t.kind == TaskKind::Workflow && t.scheduled_event_id == task.scheduled_event_id
    })?;
    let (started_effects, started) = state
        .record_workflow_task_started(
            task.scheduled_event_id,
            &task.task_queue,
            identity,
            INLINE_WORKFLOW_TASK_REQUEST_ID,
            now,
        )
        .ok()?;
    // The task row was never written: neither insert it nor delete it.
    effects.new_tasks.remove(position);
    effects.events.extend(started_effects.events);
    Some((workflow_task_response(state, &started), started))
}

/// The activity task of `scheduled_event_id`, with its token.
fn activity_task_response(
    state: &MutableState,
    scheduled_event_id: i64,
) -> Option<PollActivityTaskQueueResponse> {
    let mut task = state.activity_task(scheduled_event_id)?;
    task.task_token = token::encode(&TaskToken {
        namespace: state.namespace.clone(),
        workflow_id: state.workflow_id.clone(),
        run_id: state.run_id.clone(),
        scheduled_event_id,
        attempt: task.attempt,
        query_id: None,
    });
    Some(task)
}
