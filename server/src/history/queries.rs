//! Queries: read-only questions answered by a workflow worker, never written to history.
//!
//! Like the real server, a query waits until the run has no workflow task in flight (so it
//! sees every event before it, a signal just sent included), then goes to the worker as a
//! query task: to the sticky queue, with no history, when a worker has the run cached, else
//! to the normal queue with the whole history to replay. Pending queries live in memory.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use temporalio_protos::temporal::api::common::v1::Payloads;
use temporalio_protos::temporal::api::enums::v1::{
    QueryRejectCondition, QueryResultType, WorkflowExecutionStatus,
};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::history::v1::History as HistoryProto;
use temporalio_protos::temporal::api::query::v1::QueryRejected;
use temporalio_protos::temporal::api::workflowservice::v1::{
    PollWorkflowTaskQueueResponse, QueryWorkflowRequest, QueryWorkflowResponse,
    RespondQueryTaskCompletedRequest,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::History;
use super::reads::TASK_HISTORY_PAGE_SIZE;
use super::token::{self, TaskToken};
use crate::engine::{MutableState, timestamp};
use crate::error::{ServiceError, ServiceResult};
use crate::matching::QueryTask;
use crate::timers::TimeSkipper;

/// A worker's answer to a query.
#[derive(Debug)]
pub enum QueryAnswer {
    Answered(Option<Payloads>),
    Failed {
        message: String,
        failure: Option<Box<Failure>>,
    },
}

impl History {
    pub async fn query(
        &self,
        request: &QueryWorkflowRequest,
        deadline: Instant,
    ) -> ServiceResult<QueryWorkflowResponse> {
        let execution = request.execution.clone().unwrap_or_default();
        let Some(query) = request.query.clone() else {
            return Err(ServiceError::InvalidArgument(
                "WorkflowQuery is not set on request.".into(),
            ));
        };
        if query.query_type.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "QueryType is not set on request.".into(),
            ));
        }
        let slot = self.slot(&request.namespace, &execution.workflow_id);
        // Subscribe before reading, so a commit in between still wakes us.
        let mut changed = slot.changed.subscribe();
        let state = loop {
            let state = self
                .run_state(
                    &request.namespace,
                    &execution.workflow_id,
                    &execution.run_id,
                )
                .await?;
            if let Some(status) = rejection(&state, request.query_reject_condition) {
                return Ok(QueryWorkflowResponse {
                    query_rejected: Some(QueryRejected { status }),
                    ..Default::default()
                });
            }
            if !state.is_open() || state.workflow_task.is_none() {
                break state;
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep_until(deadline) => return Err(query_timed_out()),
            }
        };

        // A query task in flight holds a skipping clock, like any task given to a worker.
        let _hold = self.skipper.as_ref().map(TimeSkipper::hold);
        let id = self.next_query_id.fetch_add(1, Ordering::Relaxed);
        let (answer_sender, mut answer) = oneshot::channel();
        self.pending_queries
            .lock()
            .expect("queries poisoned")
            .insert(id, answer_sender);
        let _forget = ForgetQuery { history: self, id };
        let task = Arc::new(QueryTask::new(
            id,
            state.namespace.clone(),
            state.workflow_id.clone(),
            state.run_id.clone(),
            query,
        ));
        match state.sticky.as_ref().filter(|_| state.is_open()) {
            Some(sticky) => {
                self.matching.add_query(task.clone(), sticky.name.clone());
                // If the sticky worker does not take it in time, any worker may answer.
                let fallback = tokio::time::sleep(std::time::Duration::from_millis(
                    sticky.schedule_to_start_timeout as u64,
                ));
                tokio::select! {
                    answer = &mut answer => return answered(answer),
                    _ = tokio::time::sleep_until(deadline) => return Err(query_timed_out()),
                    _ = fallback => {}
                }
                if !task.is_claimed() {
                    self.matching.add_query(task, state.task_queue.clone());
                }
            }
            None => self.matching.add_query(task, state.task_queue.clone()),
        }
        tokio::select! {
            answer = answer => answered(answer),
            _ = tokio::time::sleep_until(deadline) => Err(query_timed_out()),
        }
    }

    /// The query task a poller of `task_queue` received; `None` if another poller got it
    /// first or its client gave up.
    pub async fn start_query_task(
        &self,
        task: &QueryTask,
        task_queue: &str,
    ) -> ServiceResult<Option<PollWorkflowTaskQueueResponse>> {
        let waiting = self
            .pending_queries
            .lock()
            .expect("queries poisoned")
            .contains_key(&task.id);
        if !waiting || !task.claim() {
            return Ok(None);
        }
        let state = self
            .run_state(&task.namespace, &task.workflow_id, &task.run_id)
            .await?;
        // The sticky worker has the run cached; any other replays the whole history.
        let sticky = state.is_open() && state.sticky.as_ref().is_some_and(|s| s.name == task_queue);
        let (events, next_page_token) = if sticky {
            (Vec::new(), Vec::new())
        } else {
            self.task_history_page(
                &state.run_id,
                1..state.next_event_id,
                &[],
                TASK_HISTORY_PAGE_SIZE,
            )
            .await?
        };
        Ok(Some(PollWorkflowTaskQueueResponse {
            task_token: token::encode(&TaskToken {
                namespace: state.namespace.clone(),
                workflow_id: state.workflow_id.clone(),
                run_id: state.run_id.clone(),
                scheduled_event_id: 0,
                attempt: 1,
                query_id: Some(task.id),
            }),
            workflow_execution: Some(state.execution()),
            workflow_type: Some(state.workflow_type.clone().into()),
            previous_started_event_id: state.previous_started_event_id,
            attempt: 1,
            history: Some(HistoryProto { events }),
            next_page_token,
            query: Some(task.query.clone()),
            workflow_execution_task_queue: Some(state.task_queue_proto()),
            scheduled_time: Some(timestamp(state.now_at(self.clock.now()))),
            ..Default::default()
        }))
    }

    /// A worker answered a query task.
    pub fn answer_query(&self, request: &RespondQueryTaskCompletedRequest) -> ServiceResult<()> {
        let task: TaskToken = token::decode_task_token(&request.task_token)?;
        let id = task.query_id.ok_or_else(|| {
            ServiceError::InvalidArgument("Error deserializing task token.".into())
        })?;
        let sender = self
            .pending_queries
            .lock()
            .expect("queries poisoned")
            .remove(&id)
            .ok_or_else(|| ServiceError::NotFound("query task not found".into()))?;
        let answer = if request.completed_type == QueryResultType::Answered as i32 {
            QueryAnswer::Answered(request.query_result.clone())
        } else {
            QueryAnswer::Failed {
                message: request.error_message.clone(),
                failure: request.failure.clone().map(Box::new),
            }
        };
        // The client may have given up meanwhile; nobody else wants the answer then.
        let _ = sender.send(answer);
        Ok(())
    }
}

/// Removes a query from the pending ones however its wait ends.
struct ForgetQuery<'a> {
    history: &'a History,
    id: u64,
}

impl Drop for ForgetQuery<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.history.pending_queries.lock() {
            pending.remove(&self.id);
        }
    }
}

/// The status a closed run is rejected with, under the request's reject condition.
fn rejection(state: &MutableState, condition: i32) -> Option<i32> {
    if state.is_open() {
        return None;
    }
    let rejected = match QueryRejectCondition::try_from(condition) {
        Ok(QueryRejectCondition::NotOpen) => true,
        Ok(QueryRejectCondition::NotCompletedCleanly) => {
            state.status != WorkflowExecutionStatus::Completed as i32
        }
        _ => false,
    };
    rejected.then_some(state.status)
}

fn answered(
    answer: Result<QueryAnswer, oneshot::error::RecvError>,
) -> ServiceResult<QueryWorkflowResponse> {
    match answer {
        Ok(QueryAnswer::Answered(query_result)) => Ok(QueryWorkflowResponse {
            query_result,
            ..Default::default()
        }),
        Ok(QueryAnswer::Failed { message, failure }) => {
            Err(ServiceError::QueryFailed { message, failure })
        }
        Err(_) => Err(query_timed_out()),
    }
}

fn query_timed_out() -> ServiceError {
    ServiceError::DeadlineExceeded("query timed out before a worker answered it".into())
}
