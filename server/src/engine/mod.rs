//! The history engine: one workflow run's state machine.
//!
//! Each operation takes the run's [`MutableState`], an input (a start request, a worker's
//! completion, the clock reaching a deadline) and `now`, changes the state and returns the
//! [`Effects`]: the history events to append and the tasks that appear or disappear. Nothing
//! here does I/O or reads a clock, so every transition is unit-tested with plain values; the
//! `history` module persists the effects in one transaction and tells matching and timers.

mod activity;
mod cancellation;
mod children;
mod continuation;
mod cron;
mod deadlines;
mod describe;
mod nexus;
mod properties;
mod proto_serde;
mod signals;
mod start;
mod time_skipping;
mod updates;
mod workflow_task;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use devserver_persistence::TaskKind;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::common::v1::{
    Callback, Memo, Payloads, SearchAttributes, WorkflowExecution,
};
use temporalio_protos::temporal::api::enums::v1::{EventType, WorkflowExecutionStatus};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::history::v1::{HistoryEvent, history_event::Attributes};
use temporalio_protos::temporal::api::sdk::v1::UserMetadata;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;

pub use activity::RetryPolicy;
pub use cancellation::CancelRequest;
use children::wire_child_started_event_id;
pub use children::{
    CloseAction, ExternalRequest, ParentInfo, PendingClosePolicy, close_policy_task_id,
};
pub use continuation::successor_run_id;
pub use cron::{CronSchedule, expand_descriptor};
pub use nexus::{
    CancelOutcome as NexusCancelOutcome, NexusCompletion, Outcome as NexusOutcome,
    SYSTEM_CALLBACK_URL, StartOutcome as NexusStartOutcome, completion_callbacks_task_id,
    handler_error, handler_error_retryable, outcome_of_close,
};
pub use proto_serde::Proto;
pub use signals::Signal;
pub use start::{StartOptions, WorkflowIdPolicy, check_id_policies};
pub use time_skipping::{FastForwardProgress, inherited_now};
pub use updates::UpdateStatus;
pub use workflow_task::{Completion, Outside, WorkflowTaskStarted};

/// Milliseconds since the Unix epoch: the engine's only notion of time.
pub type Millis = i64;

/// Why an operation was refused. The caller maps each to a gRPC status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The task, token or timer no longer matches the run (it moved on, or the run closed).
    #[error("{0}")]
    Stale(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// The run is closed and the operation needs an open one.
    #[error("workflow execution already completed")]
    AlreadyCompleted,
}

/// What an operation changed outside the state itself.
#[derive(Debug, Default)]
pub struct Effects {
    /// Events appended to the history, with their ids.
    pub events: Vec<HistoryEvent>,
    /// Tasks that now wait in a queue.
    pub new_tasks: Vec<Task>,
    /// Scheduled-event ids of this run's tasks that no longer wait.
    pub removed_tasks: Vec<i64>,
    /// The run that continues this one (continue-as-new, retry, cron), with its own effects.
    pub next_run: Option<Box<(MutableState, Effects)>>,
    /// Transfer tasks of other runs (run id, task id) that this change carries out.
    pub removed_tasks_of_other_runs: Vec<(String, i64)>,
    /// The run's search attributes changed (visibility stores them apart).
    pub search_attributes_changed: bool,
}

impl Effects {
    /// Adds what a later step of the same change did.
    pub fn merge(&mut self, later: Effects) {
        self.events.extend(later.events);
        self.new_tasks.extend(later.new_tasks);
        self.removed_tasks.extend(later.removed_tasks);
        self.removed_tasks_of_other_runs
            .extend(later.removed_tasks_of_other_runs);
        if later.next_run.is_some() {
            self.next_run = later.next_run;
        }
        self.search_attributes_changed |= later.search_attributes_changed;
    }

    /// The task `scheduled_event_id` no longer waits. One this same change queued is never
    /// written: the store deletes before it inserts, so it would be left behind.
    fn remove_task(&mut self, scheduled_event_id: i64) {
        let queued = self.new_tasks.len();
        self.new_tasks
            .retain(|task| task.scheduled_event_id != scheduled_event_id);
        if self.new_tasks.len() == queued {
            self.removed_tasks.push(scheduled_event_id);
        }
    }
}

/// A task for matching: the event that scheduled it and the queue it waits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub kind: TaskKind,
    pub task_queue: String,
    pub scheduled_event_id: i64,
}

/// The sticky queue of the worker that has this run cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StickyQueue {
    pub name: String,
    pub schedule_to_start_timeout: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTask {
    pub scheduled_event_id: i64,
    pub attempt: i32,
    pub task_queue: String,
    pub sticky: bool,
    pub scheduled_time: Millis,
    pub started: Option<WorkflowTaskStart>,
    #[serde(default, skip_serializing_if = "WorkflowTaskKind::is_normal")]
    pub kind: WorkflowTaskKind,
    /// The task's scheduled and started events while they are not in the history yet
    /// (transient and speculative tasks): the worker gets them, the store does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecorded: Vec<Proto<HistoryEvent>>,
}

/// Whether a workflow task's own events are written to the history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowTaskKind {
    #[default]
    Normal,
    /// A retry after a failed attempt: like the real server, its events are written only
    /// when an attempt completes, so a task failing in a loop does not grow the history.
    Transient,
    /// Created only to deliver updates: if the worker rejects them all and has nothing
    /// else to say, the task leaves no trace in the history.
    Speculative,
}

impl WorkflowTaskKind {
    fn is_normal(&self) -> bool {
        *self == WorkflowTaskKind::Normal
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowTaskStart {
    pub event_id: i64,
    pub time: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserTimer {
    pub started_event_id: i64,
    pub fire_at: Millis,
}

/// Everything the engine knows about one run. Serialized whole into the executions table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutableState {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub first_execution_run_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub start_request_id: String,
    pub status: i32,
    pub start_time: Millis,
    pub close_time: Option<Millis>,
    pub close_event_id: Option<i64>,
    pub next_event_id: i64,
    pub workflow_task_timeout: Millis,
    pub workflow_run_timeout: Millis,
    pub workflow_execution_timeout: Millis,
    pub run_expiration: Option<Millis>,
    /// Started-event id of the last completed workflow task: sticky workers hold history up to it.
    pub previous_started_event_id: i64,
    pub sticky: Option<StickyQueue>,
    pub workflow_task: Option<WorkflowTask>,
    /// Events that arrived while a workflow task was running; they get ids when it ends.
    pub buffered_events: Vec<Proto<HistoryEvent>>,
    pub activities: BTreeMap<i64, activity::Activity>,
    pub timers: BTreeMap<String, UserTimer>,
    pub history_size_bytes: i64,
    pub state_transitions: i64,
    /// A cancellation was requested (WorkflowExecutionCancelRequested is in the history).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cancel_requested: bool,
    /// Request ids of the signals delivered, so a retried signal is not delivered twice.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub signal_request_ids: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<Proto<Memo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_attributes: Option<Proto<SearchAttributes>>,
    /// This run's attempt under the workflow's retry policy (1 for the first).
    #[serde(default = "first_attempt")]
    pub attempt: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cron_schedule: String,
    /// When the whole chain of runs times out (the workflow execution timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_expiration: Option<Millis>,
    /// A start delay, cron wait or retry backoff before the first workflow task.
    #[serde(default)]
    pub first_workflow_task_backoff: Millis,
    /// Until the first workflow task is scheduled: when it will be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_workflow_task_at: Option<Millis>,
    /// The start request, kept when a retry or cron run will start from it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_request: Option<Proto<StartWorkflowExecutionRequest>>,
    /// Cron runs hand the last successful result down the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_completion_result: Option<Proto<Payloads>>,
    /// Set when this run is a child workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentInfo>,
    /// Children by initiated event id, until they close.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub children: children::Children,
    /// Signals and cancellation requests to other workflows, until delivered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_requests: children::ExternalRequests,
    /// Children the close policy still has to terminate or cancel, after this run closed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub close_policies: children::ClosePolicies,
    /// Accepted updates by update id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub updates: BTreeMap<String, updates::UpdateRecord>,
    /// Updates not yet answered by the worker: memory only, like the real server's.
    #[serde(skip)]
    pub admitted_updates: Vec<Proto<temporalio_protos::temporal::api::update::v1::Request>>,
    /// Why recently rejected updates were rejected, for their waiting clients: memory only.
    #[serde(skip)]
    pub rejected_updates: BTreeMap<String, Proto<Failure>>,
    /// Set when the run skips time on a clock of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_skipping: Option<time_skipping::TimeSkipping>,
    /// Nexus operations this run called, by scheduled event id, until they end.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nexus_operations: nexus::NexusOperations,
    /// The Nexus operations this chain of runs backs: told how it ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completion_callbacks: Vec<Proto<Callback>>,
    /// Ids of the start requests that attached themselves to this run (a start that found
    /// it running, with `on_conflict_options`): the same request again attaches nothing.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub attached_request_ids: BTreeSet<String>,
    /// The summary and details the start request gave the run (its started event carries
    /// them too); describe shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<Proto<UserMetadata>>,
}

fn first_attempt() -> i32 {
    1
}

// The state is written whole on every change: fields at their defaults are left out.
fn is_false(value: &bool) -> bool {
    !value
}

/// Marks a buffered activity outcome whose started event is the event just before it.
const STARTED_EVENT_JUST_BEFORE: i64 = -1;

impl MutableState {
    pub fn is_open(&self) -> bool {
        self.status == WorkflowExecutionStatus::Running as i32
    }

    fn require_open(&self) -> Result<(), EngineError> {
        if self.is_open() {
            Ok(())
        } else {
            Err(EngineError::AlreadyCompleted)
        }
    }

    fn workflow_task_running(&self) -> bool {
        self.workflow_task
            .as_ref()
            .is_some_and(|task| task.started.is_some())
    }

    /// Appends an event to the history now.
    fn append(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        event_type: EventType,
        attributes: Attributes,
    ) -> i64 {
        self.push_event(fx, new_event(now, event_type, attributes))
    }

    /// Gives an event the next id and adds it to the history.
    fn push_event(&mut self, fx: &mut Effects, mut event: HistoryEvent) -> i64 {
        let event_id = self.next_event_id;
        self.next_event_id += 1;
        event.event_id = event_id;
        event.task_id = event_id;
        fix_started_event_id(&mut event, event_id - 1);
        wire_child_started_event_id(&mut event, &fx.events);
        self.history_size_bytes += prost::Message::encoded_len(&event) as i64;
        self.note_child_started(&event);
        fx.events.push(event);
        event_id
    }

    /// Appends events caused by the outside world: while a workflow task runs they wait in
    /// the buffer (the worker must see them in a later task, after the running task's
    /// commands); otherwise they are appended and a workflow task scheduled to deliver them.
    fn append_external(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        events: Vec<(EventType, Attributes)>,
    ) {
        let events = events
            .into_iter()
            .map(|(event_type, attributes)| new_event(now, event_type, attributes))
            .collect();
        self.append_external_events(fx, now, events);
    }

    /// `append_external` of events made whole already (with links, or that workers may ignore).
    fn append_external_events(&mut self, fx: &mut Effects, now: Millis, events: Vec<HistoryEvent>) {
        let buffer = self.workflow_task_running();
        if !buffer {
            // The scheduled task will deliver these events: its own must come first.
            self.record_workflow_task_events(fx);
        }
        for event in events {
            if buffer {
                self.buffered_events.push(Proto(event));
            } else {
                self.push_event(fx, event);
            }
        }
        if !buffer {
            self.schedule_workflow_task(fx, now);
        }
    }

    /// Moves buffered events into the history; returns whether the worker must see any.
    fn flush_buffered(&mut self, fx: &mut Effects) -> bool {
        let for_worker = self.has_buffered_events_for_worker();
        for Proto(event) in std::mem::take(&mut self.buffered_events) {
            self.push_event(fx, event);
        }
        for_worker
    }

    /// Whether events wait in the buffer that the workflow must see (not only events
    /// workers may ignore, such as a changed time skipping configuration).
    fn has_buffered_events_for_worker(&self) -> bool {
        self.buffered_events.iter().any(|e| !e.0.worker_may_ignore)
    }

    /// Ends the run with `close_event`; a running workflow task fails first, pending work
    /// is dropped.
    fn close(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        status: WorkflowExecutionStatus,
        event_type: EventType,
        attributes: Attributes,
    ) {
        self.fail_workflow_task_for_close(fx, now);
        self.flush_buffered(fx);
        let event_id = self.append(fx, now, event_type, attributes);
        if let Some(task) = self.workflow_task.take()
            && task.started.is_none()
        {
            fx.remove_task(task.scheduled_event_id);
        }
        for (scheduled_event_id, activity) in std::mem::take(&mut self.activities) {
            if activity.is_waiting_in_queue() {
                fx.remove_task(scheduled_event_id);
            }
        }
        self.timers.clear();
        self.abandon_nexus_operations(fx);
        self.apply_parent_close_policies(fx);
        self.sticky = None;
        self.status = status as i32;
        self.close_time = Some(now);
        self.close_event_id = Some(event_id);
    }

    /// When the run began to execute: its start, after any start delay or backoff.
    pub fn execution_time(&self) -> Millis {
        self.start_time + self.first_workflow_task_backoff
    }

    pub fn execution(&self) -> WorkflowExecution {
        WorkflowExecution {
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
        }
    }

    pub fn task_queue_proto(&self) -> TaskQueue {
        normal_queue(&self.task_queue)
    }
}

/// An event without its id, which it gets when it enters the history.
fn new_event(now: Millis, event_type: EventType, attributes: Attributes) -> HistoryEvent {
    HistoryEvent {
        event_time: Some(timestamp(now)),
        event_type: event_type as i32,
        attributes: Some(attributes),
        ..Default::default()
    }
}

/// Gives a buffered activity outcome the id of its started event, known only at flush time.
fn fix_started_event_id(event: &mut HistoryEvent, previous_event_id: i64) {
    let started_event_id = match &mut event.attributes {
        Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => &mut a.started_event_id,
        Some(Attributes::ActivityTaskFailedEventAttributes(a)) => &mut a.started_event_id,
        Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => &mut a.started_event_id,
        Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => &mut a.started_event_id,
        _ => return,
    };
    if *started_event_id == STARTED_EVENT_JUST_BEFORE {
        *started_event_id = previous_event_id;
    }
}

pub fn normal_queue(name: &str) -> TaskQueue {
    TaskQueue {
        name: name.to_owned(),
        kind: temporalio_protos::temporal::api::enums::v1::TaskQueueKind::Normal as i32,
        ..Default::default()
    }
}

pub fn timestamp(millis: Millis) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// The inverse of [`timestamp`]; saturates instead of overflowing on absurd inputs.
pub fn millis_of_timestamp(timestamp: &prost_types::Timestamp) -> Millis {
    timestamp
        .seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(timestamp.nanos) / 1_000_000)
}

pub fn duration(millis: Millis) -> prost_types::Duration {
    prost_types::Duration {
        seconds: millis / 1000,
        nanos: ((millis % 1000) * 1_000_000) as i32,
    }
}

/// The real server's limit on one payload field (an input, a result, a memo: its
/// limit.blobSize.error and limit.memoSize.error), in encoded bytes.
pub const BLOB_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// The identity the real server gives what it does on a workflow's behalf or of its own
/// accord (a request to another workflow, a termination).
pub const SERVER_IDENTITY: &str = "history-service";

/// The longest id or name (workflow id, type, task queue, signal name, request id, activity
/// id) the real server takes, in bytes (its limit.maxIDLength).
pub const MAX_ID_LENGTH: usize = 1000;

/// The longest duration the real server keeps (100 years): longer ones are cut to it, so
/// that adding one to a time never overflows.
pub const MAX_DURATION: Millis = 100 * 365 * 24 * 3600 * 1000;

/// Milliseconds of an optional proto duration; absent or negative reads as 0, and a
/// duration over [`MAX_DURATION`] as that.
pub fn millis_of(duration: Option<&prost_types::Duration>) -> Millis {
    duration.map_or(0, |d| {
        d.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(d.nanos) / 1_000_000)
            .clamp(0, MAX_DURATION)
    })
}

/// Why a duration a client sent is invalid, in the real server's words: its two fields
/// disagree in sign, or it is negative. Absent is valid (it reads as zero).
pub fn duration_error(duration: Option<&prost_types::Duration>) -> Option<&'static str> {
    let d = duration?;
    if (d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0) {
        Some("duration has seconds and nanos with different signs")
    } else if d.seconds < 0 || d.nanos < 0 {
        Some("negative duration")
    } else {
        None
    }
}

fn failure_message(failure: &str) -> Failure {
    Failure {
        message: failure.to_owned(),
        ..Default::default()
    }
}
