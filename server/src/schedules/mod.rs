//! Schedules: when a schedule acts (`spec`, the pure core: a spec's canonical form and the
//! times it names, with its parts `cron`, `calendar` and `duration`), its state and rules
//! (`state`, with overlap policies in `buffer`), and the service here, which keeps each
//! schedule in the store, wakes it through the timer queue at its next action (so a skipping
//! clock drives schedules too), starts its workflows through `history` and watches them
//! close.
//!
//! Each change of a schedule is one pass under its lock: load it, apply the change, let time
//! pass up to now (`advance`), take what the buffer allows, write it with its next wake-up.
//! Started workflows get request ids derived from the start, so a pass repeated after a crash
//! finds the workflows it started instead of starting them twice.

mod buffer;
mod calendar;
mod cron;
mod duration;
mod spec;
mod state;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devserver_persistence::{ScheduleRow, Store};
use temporalio_protos::temporal::api::common::v1::{Memo, SearchAttributes, WorkflowExecution};
use temporalio_protos::temporal::api::enums::v1::{
    HistoryEventFilterType, WorkflowExecutionStatus,
};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::schedule::v1::{Schedule, ScheduleListEntry, SchedulePatch};
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeScheduleResponse, GetWorkflowExecutionHistoryRequest,
};

use crate::engine::{CancelRequest, Millis};
use crate::error::{ServiceError, ServiceResult};
use crate::history::{History, StartWith};
use crate::timers::{Clock, Timer, TimerKey, Timers};
pub use spec::canonicalize;
pub use state::conflict_token;
use state::{Closed, ScheduleState};

/// How long a watcher's history long poll waits before asking again.
const WATCH_POLL: Duration = Duration::from_secs(3600);

type ScheduleKey = (String, String);

pub struct Scheduler {
    store: Store,
    history: Arc<History>,
    timers: Arc<Timers>,
    clock: Arc<dyn Clock>,
    /// One lock per schedule: its changes happen one at a time.
    locks: Mutex<HashMap<ScheduleKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A schedule as CreateSchedule gives it, checked by the frontend.
pub struct NewSchedule {
    pub namespace: String,
    pub namespace_id: String,
    pub schedule_id: String,
    pub schedule: Schedule,
    pub initial_patch: Option<SchedulePatch>,
    pub memo: Option<Memo>,
    pub search_attributes: Option<SearchAttributes>,
}

/// A page of ListSchedules.
pub struct SchedulePage {
    pub schedules: Vec<ScheduleListEntry>,
    /// The last id of a full page, to continue after.
    pub last_id: Option<String>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        history: Arc<History>,
        timers: Arc<Timers>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            store,
            history,
            timers,
            clock,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// After a restart: every schedule's wake-up back in the timer queue, and a watcher on
    /// every workflow it has running.
    pub async fn recover(self: &Arc<Self>) -> ServiceResult<()> {
        for row in self.store.all_schedules().await? {
            let state = decode(&row)?;
            self.set_timer(&row.namespace, &row.schedule_id, row.wake_at);
            for execution in state.running_workflows() {
                self.watch(&row.namespace, &row.schedule_id, execution.clone());
            }
        }
        Ok(())
    }

    fn lock(&self, namespace: &str, schedule_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("schedule locks poisoned")
            .entry((namespace.into(), schedule_id.into()))
            .or_default()
            .clone()
    }

    async fn load(&self, namespace: &str, schedule_id: &str) -> ServiceResult<ScheduleState> {
        match self.store.schedule(namespace, schedule_id).await? {
            Some(row) => decode(&row),
            None => Err(not_found(schedule_id)),
        }
    }

    pub async fn create(self: &Arc<Self>, new: NewSchedule) -> ServiceResult<()> {
        let lock = self.lock(&new.namespace, &new.schedule_id);
        let _guard = lock.lock().await;
        if self
            .store
            .schedule(&new.namespace, &new.schedule_id)
            .await?
            .is_some()
        {
            return Err(ServiceError::WorkflowAlreadyStarted {
                message: format!("schedule {:?} is already registered", new.schedule_id),
                start_request_id: String::new(),
                run_id: String::new(),
                first_execution_run_id: String::new(),
            });
        }
        let now = self.clock.now();
        let mut schedule = new.schedule;
        ScheduleState::normalize(&mut schedule);
        let mut state = ScheduleState::new(
            &new.namespace,
            &new.namespace_id,
            &new.schedule_id,
            schedule,
            new.memo,
            new.search_attributes,
            now,
        );
        if let Some(patch) = &new.initial_patch {
            state.patch(patch, now);
        }
        self.act(&mut state).await?;
        let row = encode(&state);
        if !self.store.insert_schedule(&row).await? {
            return Err(ServiceError::Internal(format!(
                "schedule {:?} appeared while being created",
                new.schedule_id
            )));
        }
        self.set_timer(&row.namespace, &row.schedule_id, row.wake_at);
        Ok(())
    }

    pub async fn describe(
        &self,
        namespace: &str,
        schedule_id: &str,
    ) -> ServiceResult<DescribeScheduleResponse> {
        Ok(self.load(namespace, schedule_id).await?.describe())
    }

    /// Applies `change` to a schedule, then lets it act and writes it.
    async fn change(
        self: &Arc<Self>,
        namespace: &str,
        schedule_id: &str,
        change: impl FnOnce(&mut ScheduleState, Millis),
    ) -> ServiceResult<()> {
        let lock = self.lock(namespace, schedule_id);
        let _guard = lock.lock().await;
        let mut state = self.load(namespace, schedule_id).await?;
        change(&mut state, self.clock.now());
        self.act(&mut state).await?;
        let row = encode(&state);
        if !self.store.update_schedule(&row).await? {
            return Err(not_found(schedule_id));
        }
        self.set_timer(namespace, schedule_id, row.wake_at);
        Ok(())
    }

    /// UpdateSchedule; an update with a stale conflict token is ignored, like the real
    /// server does.
    pub async fn update(
        self: &Arc<Self>,
        namespace: &str,
        schedule_id: &str,
        mut schedule: Schedule,
        search_attributes: Option<SearchAttributes>,
        conflict_token: Option<i64>,
    ) -> ServiceResult<()> {
        ScheduleState::normalize(&mut schedule);
        self.change(namespace, schedule_id, |state, now| {
            state.update(schedule, search_attributes, conflict_token, now);
        })
        .await
    }

    pub async fn patch(
        self: &Arc<Self>,
        namespace: &str,
        schedule_id: &str,
        patch: SchedulePatch,
    ) -> ServiceResult<()> {
        self.change(namespace, schedule_id, |state, now| {
            state.patch(&patch, now)
        })
        .await
    }

    /// The schedule's timer fired.
    pub async fn wake(self: &Arc<Self>, namespace: &str, schedule_id: &str) -> ServiceResult<()> {
        self.change_if_present(namespace, schedule_id, |_, _| {})
            .await
    }

    /// `change`, for what happens to a schedule by itself (its timer, a close it watched):
    /// a schedule deleted meanwhile has nothing left to do.
    async fn change_if_present(
        self: &Arc<Self>,
        namespace: &str,
        schedule_id: &str,
        change: impl FnOnce(&mut ScheduleState, Millis),
    ) -> ServiceResult<()> {
        match self.change(namespace, schedule_id, change).await {
            Err(ServiceError::NotFound(_)) => Ok(()),
            other => other,
        }
    }

    /// Deletes a schedule; the workflows it started go on.
    pub async fn delete(&self, namespace: &str, schedule_id: &str) -> ServiceResult<()> {
        let lock = self.lock(namespace, schedule_id);
        let _guard = lock.lock().await;
        if !self.store.delete_schedule(namespace, schedule_id).await? {
            return Err(not_found(schedule_id));
        }
        self.timers.clear(&timer_key(namespace, schedule_id));
        self.locks
            .lock()
            .expect("schedule locks poisoned")
            .remove(&(namespace.to_string(), schedule_id.to_string()));
        Ok(())
    }

    /// Schedules of a namespace by id, after `after`.
    pub async fn list(
        &self,
        namespace: &str,
        after: &str,
        page_size: usize,
    ) -> ServiceResult<SchedulePage> {
        // One more than a page tells whether another page follows.
        let rows = self
            .store
            .schedules(namespace, after, page_size as i64 + 1)
            .await?;
        let more = rows.len() > page_size;
        let schedules = rows
            .iter()
            .take(page_size)
            .map(|row| decode(row).map(|state| state.list_entry()))
            .collect::<ServiceResult<Vec<_>>>()?;
        let last_id = more.then(|| rows[page_size - 1].schedule_id.clone());
        Ok(SchedulePage { schedules, last_id })
    }

    pub async fn count(&self, namespace: &str) -> ServiceResult<i64> {
        Ok(self.store.count_schedules(namespace).await?)
    }

    pub async fn matching_times(
        &self,
        namespace: &str,
        schedule_id: &str,
        start: Millis,
        end: Millis,
    ) -> ServiceResult<Vec<prost_types::Timestamp>> {
        Ok(self
            .load(namespace, schedule_id)
            .await?
            .matching_times(start, end))
    }

    /// Lets time pass up to now and takes the actions the buffer allows: starts, and
    /// cancellations or terminations the overlap policy asks for.
    async fn act(self: &Arc<Self>, state: &mut ScheduleState) -> ServiceResult<()> {
        state.advance(self.clock.now());
        // A watcher may not have reported a close yet (and a skipping clock does not wait
        // for it): the buffer is decided on what is running now, like the real scheduler's
        // refresh before it takes starts.
        if !state.buffer.is_empty() {
            for execution in state.running_workflows().to_vec() {
                if let Some(closed) = self.outcome(&state.namespace, &execution, false).await? {
                    state.closed(&execution.workflow_id, &closed);
                }
            }
        }
        loop {
            let actions = state.take_buffer();
            let mut again = actions.again;
            for start in &actions.starts {
                match self
                    .history
                    .start_workflow(&start.request, StartWith::default())
                    .await
                {
                    Ok(started) => {
                        state.started(start, &started.run_id, self.clock.now());
                        let execution = WorkflowExecution {
                            workflow_id: start.request.workflow_id.clone(),
                            run_id: started.run_id,
                        };
                        self.watch(&state.namespace, &state.schedule_id, execution);
                    }
                    // The store failed: the pass fails and is repeated.
                    Err(error @ (ServiceError::Internal(_) | ServiceError::StorageFull(_))) => {
                        return Err(error);
                    }
                    // Like the real scheduler, a start the server refuses (its id is taken)
                    // is dropped, and the buffer is looked at again.
                    Err(error) => {
                        tracing::warn!(schedule_id = %state.schedule_id, %error, "scheduled start refused");
                        again = true;
                    }
                }
            }
            let identity = state.identity();
            for execution in &actions.terminate {
                self.history
                    .terminate(
                        &state.namespace,
                        &execution.workflow_id,
                        &execution.run_id,
                        "terminated by schedule overlap policy",
                        None,
                        &identity,
                    )
                    .await
                    .ok();
            }
            for execution in &actions.cancel {
                let request = CancelRequest {
                    reason: "cancelled by schedule overlap policy".into(),
                    identity: identity.clone(),
                    external: None,
                };
                self.history
                    .request_cancel(
                        &state.namespace,
                        &execution.workflow_id,
                        &execution.run_id,
                        request,
                    )
                    .await
                    .ok();
            }
            if !again || state.buffer.is_empty() {
                return Ok(());
            }
        }
    }

    fn set_timer(&self, namespace: &str, schedule_id: &str, wake_at: Option<Millis>) {
        match wake_at {
            Some(fire_at) => self.timers.set(Timer::Schedule {
                namespace: namespace.into(),
                schedule_id: schedule_id.into(),
                fire_at,
            }),
            None => self.timers.clear(&timer_key(namespace, schedule_id)),
        }
    }

    /// Waits, in a task of its own, for a started workflow to close (following the runs
    /// that continue it), then tells its schedule.
    fn watch(self: &Arc<Self>, namespace: &str, schedule_id: &str, execution: WorkflowExecution) {
        let scheduler = self.clone();
        let (namespace, schedule_id) = (namespace.to_string(), schedule_id.to_string());
        tokio::spawn(async move {
            let closed = match scheduler.outcome(&namespace, &execution, true).await {
                Ok(Some(closed)) => closed,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(%schedule_id, %error, "watching a scheduled workflow failed");
                    return;
                }
            };
            let workflow_id = execution.workflow_id;
            let reported = scheduler
                .change_if_present(&namespace, &schedule_id, |state, _| {
                    state.closed(&workflow_id, &closed);
                })
                .await;
            if let Err(error) = reported {
                tracing::warn!(%schedule_id, %error, "a scheduled workflow's close was not recorded");
            }
        });
    }

    /// How a started workflow (and the runs that continued it) ended: at once if it has,
    /// else with `wait` when it does, without `wait` None.
    async fn outcome(
        &self,
        namespace: &str,
        execution: &WorkflowExecution,
        wait: bool,
    ) -> ServiceResult<Option<Closed>> {
        let mut execution = execution.clone();
        loop {
            let request = GetWorkflowExecutionHistoryRequest {
                namespace: namespace.into(),
                execution: Some(execution.clone()),
                wait_new_event: wait,
                history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
                ..Default::default()
            };
            let page = match self
                .history
                .history(&request, tokio::time::Instant::now() + WATCH_POLL, false)
                .await
            {
                Ok(page) => page,
                // Deleted: it is not running any more.
                Err(ServiceError::NotFound(_)) => {
                    return Ok(Some(Closed {
                        status: WorkflowExecutionStatus::Unspecified,
                        result: None,
                        failure: None,
                    }));
                }
                Err(error) => return Err(error),
            };
            let Some(event) = page.history.and_then(|h| h.events.into_iter().next()) else {
                if wait {
                    continue;
                }
                return Ok(None);
            };
            let closed = |status, result, failure| Closed {
                status,
                result,
                failure,
            };
            return Ok(Some(match event.attributes {
                Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a)) => {
                    execution.run_id = a.new_execution_run_id;
                    continue;
                }
                Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                    closed(WorkflowExecutionStatus::Completed, a.result, None)
                }
                Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
                    closed(WorkflowExecutionStatus::Failed, None, a.failure)
                }
                Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
                    closed(WorkflowExecutionStatus::TimedOut, None, None)
                }
                Some(Attributes::WorkflowExecutionCanceledEventAttributes(_)) => {
                    closed(WorkflowExecutionStatus::Canceled, None, None)
                }
                _ => closed(WorkflowExecutionStatus::Terminated, None, None),
            }));
        }
    }
}

fn timer_key(namespace: &str, schedule_id: &str) -> TimerKey {
    TimerKey::Schedule {
        namespace: namespace.into(),
        schedule_id: schedule_id.into(),
    }
}

/// The real server's words: a schedule is a workflow of its own there.
fn not_found(schedule_id: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "workflow not found for ID: temporal-sys-scheduler:{schedule_id}"
    ))
}

fn encode(state: &ScheduleState) -> ScheduleRow {
    ScheduleRow {
        namespace: state.namespace.clone(),
        schedule_id: state.schedule_id.clone(),
        state: serde_json::to_vec(state).expect("schedule state always serializes"),
        wake_at: state.next_wake(),
    }
}

fn decode(row: &ScheduleRow) -> ServiceResult<ScheduleState> {
    serde_json::from_slice(&row.state).map_err(|error| {
        ServiceError::Internal(format!(
            "corrupt state of schedule {}: {error}",
            row.schedule_id
        ))
    })
}
