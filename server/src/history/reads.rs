//! Reading runs: DescribeWorkflowExecution, and history pages with their long polls.

use std::ops::Range;

use prost::Message;
use temporalio_protos::temporal::api::enums::v1::{EventType, HistoryEventFilterType};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    History as HistoryProto, HistoryEvent, WorkflowExecutionContinuedAsNewEventAttributes,
};
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeWorkflowExecutionResponse, GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryResponse, GetWorkflowExecutionHistoryReverseRequest,
    GetWorkflowExecutionHistoryReverseResponse,
};
use tokio::time::Instant;

use super::History;
use super::token::{self, HistoryPageToken, ReverseHistoryPageToken};
use crate::engine::Proto;
use crate::error::{ServiceError, ServiceResult};

/// Events per history page when the client does not say.
const DEFAULT_HISTORY_PAGE_SIZE: i64 = 1000;
/// Events sent with a task; the worker fetches the rest. The real server's page size.
pub(super) const TASK_HISTORY_PAGE_SIZE: i64 = 256;
/// Events per page of a history read backwards: the real server's default, and its cap.
const REVERSE_HISTORY_PAGE_SIZE: i64 = 256;

impl History {
    pub async fn describe(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ServiceResult<DescribeWorkflowExecutionResponse> {
        let state = self.run_state(namespace, workflow_id, run_id).await?;
        let mut response = state.describe();
        if let Some(info) = state.time_skipping_info(self.clock.now()) {
            response
                .workflow_extended_info
                .get_or_insert_default()
                .time_skipping_info = Some(info);
        }
        Ok(response)
    }

    /// A page of a run's history, newest event first: the first page ends with the newest
    /// event written, each token names where the next, older page ends. Never waits.
    pub async fn history_reverse(
        &self,
        request: &GetWorkflowExecutionHistoryReverseRequest,
    ) -> ServiceResult<GetWorkflowExecutionHistoryReverseResponse> {
        let execution = request.execution.clone().unwrap_or_default();
        let (run_id, before) = if request.next_page_token.is_empty() {
            (execution.run_id, None)
        } else {
            // The real server's words for a token it cannot read.
            let page: ReverseHistoryPageToken =
                token::decode(&request.next_page_token, "next page token")
                    .map_err(|_| ServiceError::InvalidArgument("Invalid NextPageToken.".into()))?;
            if !execution.run_id.is_empty() && execution.run_id != page.run_id {
                return Err(ServiceError::InvalidArgument(
                    "RunId in the request does not match the NextPageToken.".into(),
                ));
            }
            (page.run_id, Some(page.before_event_id))
        };
        let state = self
            .run_state(&request.namespace, &execution.workflow_id, &run_id)
            .await?;
        let page_size = match i64::from(request.maximum_page_size) {
            size if size > 0 => size.min(REVERSE_HISTORY_PAGE_SIZE),
            _ => REVERSE_HISTORY_PAGE_SIZE,
        };
        let before = before.unwrap_or(state.next_event_id);
        let events = self
            .store
            .events_before(&state.run_id, before, page_size)
            .await?
            .into_iter()
            .map(|data| decode_event(&state.run_id, &data))
            .collect::<ServiceResult<Vec<_>>>()?;
        // Event 1 is the oldest: a page that reached it is the last.
        let next_page_token = match events.last() {
            Some(oldest) if oldest.event_id > 1 => token::encode(&ReverseHistoryPageToken {
                run_id: state.run_id.clone(),
                before_event_id: oldest.event_id,
            }),
            _ => Vec::new(),
        };
        Ok(GetWorkflowExecutionHistoryReverseResponse {
            history: Some(HistoryProto { events }),
            next_page_token,
        })
    }

    /// A page of the history a worker replays for a task: the stored events in `stored`,
    /// then `unrecorded` (a workflow task attempt not written yet). If they do not fit in
    /// `page_size`, the token names the rest, for GetWorkflowExecutionHistory; the real
    /// server pages task histories the same way, so a long one is neither read nor sent
    /// whole in one response.
    pub(super) async fn task_history_page(
        &self,
        run_id: &str,
        stored: Range<i64>,
        unrecorded: &[HistoryEvent],
        page_size: i64,
    ) -> ServiceResult<(Vec<HistoryEvent>, Vec<u8>)> {
        let mut events = self
            .read_events(run_id, stored.start, stored.end, page_size)
            .await?;
        let next_event_id = stored.start + events.len() as i64;
        if next_event_id < stored.end {
            let token = token::encode(&HistoryPageToken {
                run_id: run_id.to_owned(),
                next_event_id,
                task_end: Some(stored.end),
                unrecorded: unrecorded.iter().cloned().map(Proto).collect(),
            });
            return Ok((events, token));
        }
        events.extend_from_slice(unrecorded);
        Ok((events, Vec::new()))
    }

    pub(super) async fn read_events(
        &self,
        run_id: &str,
        first: i64,
        end: i64,
        limit: i64,
    ) -> ServiceResult<Vec<HistoryEvent>> {
        self.store
            .events(run_id, first, end, limit)
            .await?
            .into_iter()
            .map(|data| decode_event(run_id, &data))
            .collect()
    }

    /// A page of a run's history. With `wait_new_event`, waits until there is something new
    /// (or, with the close-event filter, until the run closes), but not past `wait_until`:
    /// then it answers an empty page with a token to poll again. Without it, and
    /// `with_unrecorded`, the last page of an open run ends with its workflow task attempt
    /// that is not written yet, as the real server sends it to SDKs: the history a worker
    /// would replay.
    pub async fn history(
        &self,
        request: &GetWorkflowExecutionHistoryRequest,
        wait_until: Instant,
        with_unrecorded: bool,
    ) -> ServiceResult<GetWorkflowExecutionHistoryResponse> {
        let execution = request.execution.clone().unwrap_or_default();
        if execution.workflow_id.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "WorkflowId is not set on request.".into(),
            ));
        }
        let slot = self.slot(&request.namespace, &execution.workflow_id);
        // Subscribe before reading, so a commit in between still wakes us.
        let mut changed = slot.changed.subscribe();
        let page_size = match i64::from(request.maximum_page_size) {
            size if size > 0 => size,
            _ => DEFAULT_HISTORY_PAGE_SIZE,
        };
        let (mut run_id, mut next_event_id) = if request.next_page_token.is_empty() {
            (execution.run_id.clone(), 1)
        } else {
            let page: HistoryPageToken =
                token::decode(&request.next_page_token, "next page token")?;
            if let Some(task_end) = page.task_end {
                let state = self
                    .run_state(&request.namespace, &execution.workflow_id, &page.run_id)
                    .await?;
                let unrecorded: Vec<HistoryEvent> =
                    page.unrecorded.into_iter().map(|event| event.0).collect();
                let (events, next_page_token) = self
                    .task_history_page(
                        &state.run_id,
                        page.next_event_id..task_end,
                        &unrecorded,
                        page_size,
                    )
                    .await?;
                return Ok(history_page(events, next_page_token));
            }
            (page.run_id, page.next_event_id)
        };
        let close_only =
            request.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
        loop {
            let state = self
                .run_state(&request.namespace, &execution.workflow_id, &run_id)
                .await?;
            // Stay on the run first read, even if a newer run of the workflow id starts.
            run_id.clone_from(&state.run_id);
            let page_token = |next_event_id| {
                token::encode(&HistoryPageToken {
                    run_id: state.run_id.clone(),
                    next_event_id,
                    task_end: None,
                    unrecorded: Vec::new(),
                })
            };
            if close_only {
                if let Some(close_event_id) = state.close_event_id {
                    let events = self
                        .read_events(&state.run_id, close_event_id, close_event_id + 1, 1)
                        .await?;
                    let events = events.into_iter().map(as_continued_as_new).collect();
                    return Ok(history_page(events, Vec::new()));
                }
            } else if next_event_id < state.next_event_id {
                let mut events = self
                    .read_events(&state.run_id, next_event_id, state.next_event_id, page_size)
                    .await?;
                next_event_id += events.len() as i64;
                let more = next_event_id < state.next_event_id
                    || (request.wait_new_event && state.is_open());
                if !more && with_unrecorded && state.is_open() {
                    events.extend(state.unrecorded_events().cloned());
                }
                return Ok(history_page(
                    events,
                    if more {
                        page_token(next_event_id)
                    } else {
                        Vec::new()
                    },
                ));
            }
            if !request.wait_new_event || !state.is_open() {
                return Ok(history_page(Vec::new(), Vec::new()));
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep_until(wait_until) => {
                    return Ok(history_page(Vec::new(), page_token(next_event_id)));
                }
            }
        }
    }
}

fn decode_event(run_id: &str, data: &[u8]) -> ServiceResult<HistoryEvent> {
    HistoryEvent::decode(data)
        .map_err(|e| ServiceError::Internal(format!("corrupt event of run {run_id}: {e}")))
}

/// A run closed by a retry or a cron schedule is followed by a new run; like the real
/// server, a client asking only for the close event sees it as continued-as-new, which tells
/// SDKs to follow the chain to its result.
fn as_continued_as_new(event: HistoryEvent) -> HistoryEvent {
    let (new_execution_run_id, failure, last_completion_result) = match &event.attributes {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
            (&a.new_execution_run_id, None, a.result.clone())
        }
        Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
            (&a.new_execution_run_id, a.failure.clone(), None)
        }
        Some(Attributes::WorkflowExecutionTimedOutEventAttributes(a)) => {
            (&a.new_execution_run_id, None, None)
        }
        _ => return event,
    };
    if new_execution_run_id.is_empty() {
        return event;
    }
    #[allow(deprecated)] // the real server still fills `failure` here
    let continued = WorkflowExecutionContinuedAsNewEventAttributes {
        new_execution_run_id: new_execution_run_id.clone(),
        failure,
        last_completion_result,
        ..Default::default()
    };
    HistoryEvent {
        event_type: EventType::WorkflowExecutionContinuedAsNew as i32,
        attributes: Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(
            continued,
        )),
        ..event
    }
}

fn history_page(
    events: Vec<HistoryEvent>,
    next_page_token: Vec<u8>,
) -> GetWorkflowExecutionHistoryResponse {
    GetWorkflowExecutionHistoryResponse {
        history: Some(HistoryProto { events }),
        next_page_token,
        ..Default::default()
    }
}
