//! Workflow tasks: scheduling, starting, and turning a worker's commands into events.

use std::collections::HashSet;

use devserver_persistence::TaskKind;
use prost::Message as _;
use temporalio_protos::temporal::api::command::v1::command::Attributes as Command;
use temporalio_protos::temporal::api::command::v1::{
    Command as CommandProto, ScheduleActivityTaskCommandAttributes,
};
use temporalio_protos::temporal::api::common::v1::{Memo, Payloads, SearchAttributes};
use temporalio_protos::temporal::api::enums::v1::{
    CommandType, EventType, TaskQueueKind, WorkflowExecutionStatus, WorkflowTaskFailedCause,
};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::history::v1::HistoryEvent;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    MarkerRecordedEventAttributes, TimerCanceledEventAttributes, TimerStartedEventAttributes,
    WorkflowExecutionTerminatedEventAttributes, WorkflowTaskCompletedEventAttributes,
    WorkflowTaskFailedEventAttributes, WorkflowTaskScheduledEventAttributes,
    WorkflowTaskStartedEventAttributes,
};
use temporalio_protos::temporal::api::protocol::v1::Message;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::{
    RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskFailedRequest,
};

use super::continuation::Ending;
use super::updates::UpdateMessages;
use super::{
    BLOB_SIZE_LIMIT, Effects, EngineError, MAX_ID_LENGTH, Millis, MutableState, Proto, RetryPolicy,
    SERVER_IDENTITY, StickyQueue, Task, UserTimer, WorkflowTask, WorkflowTaskKind,
    WorkflowTaskStart, duration, duration_error, failure_message, millis_of, new_event,
};

/// What a poller needs to build its workflow task.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowTaskStarted {
    pub scheduled_event_id: i64,
    pub started_event_id: i64,
    pub attempt: i32,
    /// Sticky tasks carry only the events after `previous_started_event_id`.
    pub sticky: bool,
    pub previous_started_event_id: i64,
    pub scheduled_time: Millis,
    pub started_time: Millis,
    /// The worker's history is the stored events before this id, then `unrecorded_events`.
    pub recorded_end: i64,
    pub unrecorded_events: Vec<HistoryEvent>,
    /// Update requests for the worker to accept or reject.
    pub messages: Vec<Message>,
}

/// The result of a worker's workflow task completion.
#[derive(Debug, Default)]
pub struct Completion {
    pub effects: super::Effects,
    /// Activities started on the spot for the completing worker (eager dispatch).
    pub eager_activities: Vec<i64>,
    /// The completion was refused and the task failed; the worker gets InvalidArgument.
    pub rejection: Option<String>,
    /// The task was speculative and left no trace: the worker must forget it and go back to
    /// this started event id.
    pub reset_history_event_id: i64,
}

/// What a completion's commands are checked and applied against outside the run.
pub struct Outside<'a> {
    /// Whether an activity may start on the spot in this queue (eager dispatch).
    pub eager_activity_queue_ok: &'a dyn Fn(&str) -> bool,
    pub check_search_attributes: &'a dyn Fn(&SearchAttributes) -> Result<(), String>,
    /// The id of the Nexus endpoint of a name, if there is one.
    pub nexus_endpoint_id: &'a dyn Fn(&str) -> Option<String>,
}

/// The real server's default sticky schedule-to-start timeout, used if a worker sends none.
const DEFAULT_STICKY_SCHEDULE_TO_START: Millis = 10_000;

impl MutableState {
    /// Schedules a workflow task unless one is pending or the run is closed.
    pub(super) fn schedule_workflow_task(&mut self, fx: &mut Effects, now: Millis) {
        if self.is_open() && self.workflow_task.is_none() {
            self.schedule_workflow_task_attempt(fx, now, 1, WorkflowTaskKind::Normal);
        }
    }

    pub(super) fn schedule_workflow_task_attempt(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attempt: i32,
        kind: WorkflowTaskKind,
    ) {
        let (task_queue, queue_proto) = match &self.sticky {
            Some(sticky) => (
                sticky.name.clone(),
                TaskQueue {
                    name: sticky.name.clone(),
                    kind: TaskQueueKind::Sticky as i32,
                    normal_name: self.task_queue.clone(),
                },
            ),
            None => (self.task_queue.clone(), self.task_queue_proto()),
        };
        let scheduled = new_event(
            now,
            EventType::WorkflowTaskScheduled,
            Attributes::WorkflowTaskScheduledEventAttributes(
                WorkflowTaskScheduledEventAttributes {
                    task_queue: Some(queue_proto),
                    start_to_close_timeout: Some(duration(self.workflow_task_timeout)),
                    attempt,
                },
            ),
        );
        let (scheduled_event_id, unrecorded) = match kind {
            WorkflowTaskKind::Normal => (self.push_event(fx, scheduled), Vec::new()),
            _ => {
                let event = self.unrecorded_event(scheduled, self.next_event_id);
                (event.event_id, vec![Proto(event)])
            }
        };
        self.workflow_task = Some(WorkflowTask {
            scheduled_event_id,
            attempt,
            task_queue: task_queue.clone(),
            sticky: self.sticky.is_some(),
            scheduled_time: now,
            started: None,
            kind,
            unrecorded,
        });
        fx.new_tasks.push(Task {
            kind: TaskKind::Workflow,
            task_queue,
            scheduled_event_id,
        });
    }

    /// The pending workflow task's events that are not in the history yet; they follow its
    /// last stored event.
    pub fn unrecorded_events(&self) -> impl Iterator<Item = &HistoryEvent> {
        self.workflow_task
            .iter()
            .flat_map(|task| task.unrecorded.iter().map(|event| &event.0))
    }

    /// An event of an unrecorded task, with the id it will have if it is ever written.
    fn unrecorded_event(&self, mut event: HistoryEvent, event_id: i64) -> HistoryEvent {
        event.event_id = event_id;
        event.task_id = event_id;
        event
    }

    /// Writes the pending task's events to the history if they are not there yet: the task
    /// now has to stay (it delivers other events, or its attempt completed).
    pub(super) fn record_workflow_task_events(&mut self, fx: &mut Effects) {
        let Some(task) = self.workflow_task.as_mut() else {
            return;
        };
        let unrecorded = std::mem::take(&mut task.unrecorded);
        task.kind = WorkflowTaskKind::Normal;
        for Proto(event) in unrecorded {
            let expected = event.event_id;
            let event_id = self.push_event(fx, event);
            debug_assert_eq!(
                event_id, expected,
                "nothing was written since the task began"
            );
        }
    }

    /// A poller of `task_queue` took the workflow task scheduled by `scheduled_event_id`.
    pub fn record_workflow_task_started(
        &mut self,
        scheduled_event_id: i64,
        task_queue: &str,
        identity: &str,
        request_id: &str,
        now: Millis,
    ) -> Result<(Effects, WorkflowTaskStarted), EngineError> {
        let stale = || EngineError::Stale("workflow task not found".into());
        // A task that moved from a sticky queue to the normal one is stale in the sticky queue.
        let task = self.workflow_task.as_ref().filter(|t| {
            self.is_open()
                && t.scheduled_event_id == scheduled_event_id
                && t.task_queue == task_queue
                && t.started.is_none()
        });
        let mut task = task.ok_or_else(stale)?.clone();
        let mut fx = Effects::default();
        fx.removed_tasks.push(scheduled_event_id);
        let started = new_event(
            now,
            EventType::WorkflowTaskStarted,
            Attributes::WorkflowTaskStartedEventAttributes(WorkflowTaskStartedEventAttributes {
                scheduled_event_id,
                identity: identity.to_owned(),
                request_id: request_id.to_owned(),
                history_size_bytes: self.history_size_bytes,
                ..Default::default()
            }),
        );
        // The worker reads the history up to `recorded_end` from the store, then these.
        let (started_event_id, recorded_end) = if task.unrecorded.is_empty() {
            let event_id = self.push_event(&mut fx, started);
            (event_id, event_id + 1)
        } else {
            let event = self.unrecorded_event(started, scheduled_event_id + 1);
            task.unrecorded.push(Proto(event));
            (scheduled_event_id + 1, scheduled_event_id)
        };
        task.started = Some(WorkflowTaskStart {
            event_id: started_event_id,
            time: now,
        });
        let unrecorded_events = task.unrecorded.iter().map(|e| e.0.clone()).collect();
        let messages = self.update_messages(scheduled_event_id);
        self.workflow_task = Some(task.clone());
        self.state_transitions += 1;
        Ok((
            fx,
            WorkflowTaskStarted {
                scheduled_event_id,
                started_event_id,
                attempt: task.attempt,
                sticky: task.sticky,
                previous_started_event_id: self.previous_started_event_id,
                scheduled_time: task.scheduled_time,
                started_time: now,
                recorded_end,
                unrecorded_events,
                messages,
            },
        ))
    }

    /// The running attempt of the workflow task scheduled by `scheduled_event_id`, or why
    /// there is none. (Unrecorded attempts share their scheduled event id.)
    fn running_workflow_task(
        &self,
        scheduled_event_id: i64,
        attempt: i32,
    ) -> Result<(WorkflowTask, i64), EngineError> {
        self.require_open()?;
        self.workflow_task
            .as_ref()
            .filter(|task| task.scheduled_event_id == scheduled_event_id && task.attempt == attempt)
            .and_then(|task| Some((task.clone(), task.started.as_ref()?.event_id)))
            .ok_or_else(|| EngineError::Stale("Workflow task not found.".into()))
    }

    /// A worker completed its workflow task with `request.commands`.
    // Deprecated version fields are still sent by SDKs and copied like the real server does.
    #[allow(deprecated)]
    pub fn complete_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        request: &RespondWorkflowTaskCompletedRequest,
        outside: &Outside,
        now: Millis,
    ) -> Result<Completion, EngineError> {
        let (task, started_event_id) = self.running_workflow_task(scheduled_event_id, attempt)?;
        check_command_sequence(&request.commands)?;
        let mut completion = Completion::default();
        let messages = UpdateMessages::read(&request.messages)?;
        if task.kind == WorkflowTaskKind::Speculative
            && request.commands.is_empty()
            && messages.only_rejections()
            && self.buffered_events.is_empty()
        {
            // Every update was rejected and nothing else happened: no trace in history.
            let mut messages = messages;
            self.workflow_task = None;
            completion.reset_history_event_id = self.previous_started_event_id;
            self.reject_updates(&mut messages);
            self.schedule_update_delivery(&mut completion.effects, now);
            return Ok(completion);
        }
        let mut messages = messages;
        let closes = request.commands.iter().any(|c| {
            matches!(
                c.attributes,
                Some(
                    Command::CompleteWorkflowExecutionCommandAttributes(_)
                        | Command::FailWorkflowExecutionCommandAttributes(_)
                        | Command::CancelWorkflowExecutionCommandAttributes(_)
                        | Command::ContinueAsNewWorkflowExecutionCommandAttributes(_)
                )
            )
        });
        // A run cannot close while the worker has not seen all its events: make it try again.
        if closes && self.has_buffered_events_for_worker() {
            self.fail_running_workflow_task(
                &mut completion.effects,
                now,
                WorkflowTaskFailedCause::UnhandledCommand,
                None,
                &request.identity,
                1,
            );
            completion.rejection = Some("UnhandledCommand".into());
            return Ok(completion);
        }
        if let Err(refusal) = self.validate_commands(request, outside) {
            // The real server's words: the cause's name, then what is wrong.
            let message = format!("{:?}: {}", refusal.cause, refusal.error);
            if refusal.terminates {
                self.terminate_for_command(
                    &mut completion.effects,
                    now,
                    refusal.cause,
                    &message,
                    &request.identity,
                );
            } else {
                self.fail_running_workflow_task(
                    &mut completion.effects,
                    now,
                    refusal.cause,
                    Some(failure_message(&message)),
                    &request.identity,
                    task.attempt + 1,
                );
            }
            completion.rejection = Some(message);
            return Ok(completion);
        }

        let fx = &mut completion.effects;
        self.record_workflow_task_events(fx);
        let completed_event_id = self.append(
            fx,
            now,
            EventType::WorkflowTaskCompleted,
            Attributes::WorkflowTaskCompletedEventAttributes(
                WorkflowTaskCompletedEventAttributes {
                    scheduled_event_id,
                    started_event_id,
                    identity: request.identity.clone(),
                    binary_checksum: request.binary_checksum.clone(),
                    worker_version: request.worker_version_stamp.clone(),
                    // Copied verbatim: the SDK reads its own flags back from here on replay.
                    sdk_metadata: request.sdk_metadata.clone(),
                    metering_metadata: request.metering_metadata,
                    ..Default::default()
                },
            ),
        );
        self.workflow_task = None;
        self.previous_started_event_id = started_event_id;
        self.sticky = request.sticky_attributes.as_ref().and_then(|attrs| {
            let name = attrs.worker_task_queue.as_ref()?.name.clone();
            let timeout = millis_of(attrs.schedule_to_start_timeout.as_ref());
            (!name.is_empty()).then_some(StickyQueue {
                name,
                schedule_to_start_timeout: if timeout > 0 {
                    timeout
                } else {
                    DEFAULT_STICKY_SCHEDULE_TO_START
                },
            })
        });

        self.reject_updates(&mut messages);
        // Set when a command itself produced an event the workflow must see (an activity
        // cancelled before it started): that needs a new workflow task.
        let mut new_event_for_workflow = false;
        for command in &request.commands {
            if !self.is_open() {
                break;
            }
            match &command.attributes {
                Some(Command::ScheduleActivityTaskCommandAttributes(attrs)) => {
                    let eager = attrs.request_eager_execution
                        && (outside.eager_activity_queue_ok)(
                            attrs.task_queue.as_ref().map_or("", |q| q.name.as_str()),
                        );
                    let scheduled = self.schedule_activity(
                        fx,
                        now,
                        attrs,
                        completed_event_id,
                        eager.then_some(request.identity.as_str()),
                    );
                    if eager {
                        completion.eager_activities.push(scheduled);
                    }
                }
                Some(Command::StartTimerCommandAttributes(attrs)) => {
                    let timeout = millis_of(attrs.start_to_fire_timeout.as_ref());
                    let started_event_id = self.append(
                        fx,
                        now,
                        EventType::TimerStarted,
                        Attributes::TimerStartedEventAttributes(TimerStartedEventAttributes {
                            timer_id: attrs.timer_id.clone(),
                            start_to_fire_timeout: attrs.start_to_fire_timeout,
                            workflow_task_completed_event_id: completed_event_id,
                        }),
                    );
                    self.timers.insert(
                        attrs.timer_id.clone(),
                        UserTimer {
                            started_event_id,
                            fire_at: now + timeout,
                        },
                    );
                }
                Some(Command::CancelTimerCommandAttributes(attrs)) => {
                    if let Some(timer) = self.timers.remove(&attrs.timer_id) {
                        self.append(
                            fx,
                            now,
                            EventType::TimerCanceled,
                            Attributes::TimerCanceledEventAttributes(
                                TimerCanceledEventAttributes {
                                    timer_id: attrs.timer_id.clone(),
                                    started_event_id: timer.started_event_id,
                                    workflow_task_completed_event_id: completed_event_id,
                                    identity: request.identity.clone(),
                                },
                            ),
                        );
                    }
                }
                Some(Command::RecordMarkerCommandAttributes(attrs)) => {
                    self.append(
                        fx,
                        now,
                        EventType::MarkerRecorded,
                        Attributes::MarkerRecordedEventAttributes(MarkerRecordedEventAttributes {
                            marker_name: attrs.marker_name.clone(),
                            details: attrs.details.clone(),
                            workflow_task_completed_event_id: completed_event_id,
                            header: attrs.header.clone(),
                            failure: attrs.failure.clone(),
                        }),
                    );
                }
                Some(Command::CompleteWorkflowExecutionCommandAttributes(attrs)) => self
                    .close_or_continue(
                        fx,
                        now,
                        Ending::Completed(attrs.result.clone()),
                        completed_event_id,
                    ),
                Some(Command::FailWorkflowExecutionCommandAttributes(attrs)) => self
                    .close_or_continue(
                        fx,
                        now,
                        Ending::Failed(Box::new(attrs.failure.clone().unwrap_or_default())),
                        completed_event_id,
                    ),
                Some(Command::ContinueAsNewWorkflowExecutionCommandAttributes(attrs)) => {
                    self.continue_as_new(fx, now, attrs, completed_event_id);
                }
                Some(Command::CancelWorkflowExecutionCommandAttributes(attrs)) => {
                    self.close_canceled(fx, now, attrs.details.clone(), completed_event_id);
                }
                Some(Command::RequestCancelActivityTaskCommandAttributes(attrs)) => {
                    new_event_for_workflow |= self.request_cancel_activity(
                        fx,
                        now,
                        attrs.scheduled_event_id,
                        completed_event_id,
                        &request.identity,
                        closes,
                    );
                }
                Some(Command::UpsertWorkflowSearchAttributesCommandAttributes(attrs)) => {
                    self.upsert_search_attributes(fx, now, attrs, completed_event_id);
                }
                Some(Command::StartChildWorkflowExecutionCommandAttributes(attrs)) => {
                    self.start_child(fx, now, attrs, completed_event_id);
                }
                Some(Command::SignalExternalWorkflowExecutionCommandAttributes(attrs)) => {
                    self.signal_external(fx, now, attrs, completed_event_id);
                }
                Some(Command::RequestCancelExternalWorkflowExecutionCommandAttributes(attrs)) => {
                    self.cancel_external(fx, now, attrs, completed_event_id);
                }
                Some(Command::ModifyWorkflowPropertiesCommandAttributes(attrs)) => {
                    self.modify_properties(fx, now, attrs, completed_event_id);
                }
                Some(Command::ProtocolMessageCommandAttributes(attrs)) => {
                    self.apply_update_answer(fx, now, &mut messages, &attrs.message_id);
                }
                Some(Command::ScheduleNexusOperationCommandAttributes(attrs)) => {
                    let endpoint_id =
                        (outside.nexus_endpoint_id)(&attrs.endpoint).unwrap_or_default();
                    // Unique to the operation, and the same if this change is made again.
                    let request_id = uuid::Uuid::new_v5(
                        &uuid::Uuid::NAMESPACE_OID,
                        format!("{}:{}", self.run_id, self.next_event_id).as_bytes(),
                    )
                    .to_string();
                    self.schedule_nexus_operation(
                        fx,
                        now,
                        attrs,
                        endpoint_id,
                        completed_event_id,
                        request_id,
                    );
                }
                Some(Command::RequestCancelNexusOperationCommandAttributes(attrs)) => {
                    self.request_cancel_nexus_operation(
                        fx,
                        now,
                        attrs.scheduled_event_id,
                        completed_event_id,
                    );
                }
                // validate_commands refused every other command.
                _ => {}
            }
        }
        self.apply_remaining_update_answers(fx, now, &mut messages);
        if self.flush_buffered(fx)
            || new_event_for_workflow
            || request.force_create_new_workflow_task
        {
            self.schedule_workflow_task(fx, now);
        }
        self.schedule_update_delivery(fx, now);
        self.state_transitions += 1;
        Ok(completion)
    }

    /// Checks every command before any is applied, so a bad one changes nothing: its
    /// attributes, then its payloads' sizes, one command after the other (the real server's
    /// order).
    fn validate_commands(
        &self,
        request: &RespondWorkflowTaskCompletedRequest,
        outside: &Outside,
    ) -> Result<(), Refusal> {
        let mut activity_ids: HashSet<&str> = self
            .activities
            .values()
            .map(|a| a.activity_id.as_str())
            .collect();
        let mut timer_ids: HashSet<&str> = self.timers.keys().map(String::as_str).collect();
        let mut cancel_requested: HashSet<i64> = HashSet::new();
        let mut nexus_scheduled = 0;
        let mut nexus_cancel_requested: HashSet<i64> = HashSet::new();
        for command in &request.commands {
            match &command.attributes {
                Some(Command::UpsertWorkflowSearchAttributesCommandAttributes(attrs)) => {
                    if let Some(attributes) = &attrs.search_attributes {
                        (outside.check_search_attributes)(attributes).map_err(|message| {
                            Refusal::fails_task(
                                WorkflowTaskFailedCause::BadSearchAttributes,
                                message,
                            )
                        })?;
                    }
                }
                Some(Command::ScheduleActivityTaskCommandAttributes(attrs)) => {
                    let bad = |message: &str| {
                        Err(Refusal::fails_task(
                            WorkflowTaskFailedCause::BadScheduleActivityAttributes,
                            message.to_owned(),
                        ))
                    };
                    if let Err(message) = check_schedule_activity(attrs) {
                        return bad(&message);
                    }
                    if !activity_ids.insert(&attrs.activity_id) {
                        return bad(&format!(
                            "Activity with id {} already exists.",
                            attrs.activity_id
                        ));
                    }
                }
                Some(Command::StartTimerCommandAttributes(attrs)) => {
                    let bad = |message: &str| {
                        Err(Refusal::fails_task(
                            WorkflowTaskFailedCause::BadStartTimerAttributes,
                            message.to_owned(),
                        ))
                    };
                    if attrs.timer_id.is_empty() {
                        return bad("TimerId is not set.");
                    }
                    if millis_of(attrs.start_to_fire_timeout.as_ref()) == 0 {
                        return bad("A valid StartToFireTimeout is not set on StartTimerCommand.");
                    }
                    if !timer_ids.insert(&attrs.timer_id) {
                        return bad(&format!("Timer with id {} already exists.", attrs.timer_id));
                    }
                }
                Some(Command::CancelTimerCommandAttributes(attrs)) => {
                    if !timer_ids.remove(attrs.timer_id.as_str()) {
                        return Err(Refusal::fails_task(
                            WorkflowTaskFailedCause::BadCancelTimerAttributes,
                            format!("Timer with id {} not found.", attrs.timer_id),
                        ));
                    }
                }
                Some(Command::StartChildWorkflowExecutionCommandAttributes(attrs)) => {
                    let bad = |message: &str| {
                        Err(Refusal::fails_task(
                            WorkflowTaskFailedCause::BadStartChildExecutionAttributes,
                            message.to_owned(),
                        ))
                    };
                    if attrs.workflow_id.is_empty() {
                        return bad("Required field WorkflowId is not set.");
                    }
                    if attrs
                        .workflow_type
                        .as_ref()
                        .is_none_or(|t| t.name.is_empty())
                    {
                        return bad("Required field WorkflowType is not set.");
                    }
                }
                Some(Command::SignalExternalWorkflowExecutionCommandAttributes(attrs)) => {
                    let bad = |message: &str| {
                        Err(Refusal::fails_task(
                            WorkflowTaskFailedCause::BadSignalWorkflowExecutionAttributes,
                            message.to_owned(),
                        ))
                    };
                    if attrs
                        .execution
                        .as_ref()
                        .is_none_or(|e| e.workflow_id.is_empty())
                    {
                        return bad("Required field WorkflowId is not set.");
                    }
                    if attrs.signal_name.is_empty() {
                        return bad("SignalName is not set.");
                    }
                }
                Some(Command::RequestCancelExternalWorkflowExecutionCommandAttributes(attrs)) => {
                    if attrs.workflow_id.is_empty() {
                        return Err(Refusal::fails_task(
                        WorkflowTaskFailedCause::BadRequestCancelExternalWorkflowExecutionAttributes,
                        "Required field WorkflowId is not set.".to_owned(),
                    ));
                    }
                }
                Some(Command::RequestCancelActivityTaskCommandAttributes(attrs)) => {
                    let cancelable = self
                        .activities
                        .get(&attrs.scheduled_event_id)
                        .is_some_and(|a| a.cancel_requested_event_id.is_none());
                    if !cancelable || !cancel_requested.insert(attrs.scheduled_event_id) {
                        return Err(Refusal::fails_task(
                            WorkflowTaskFailedCause::BadRequestCancelActivityAttributes,
                            format!(
                                "Activity with scheduled event id {} is not pending or already has a cancellation request.",
                                attrs.scheduled_event_id
                            ),
                        ));
                    }
                }
                Some(Command::ScheduleNexusOperationCommandAttributes(attrs)) => {
                    self.check_schedule_nexus_operation(
                        attrs,
                        outside.nexus_endpoint_id,
                        &mut nexus_scheduled,
                    )?;
                }
                Some(Command::RequestCancelNexusOperationCommandAttributes(attrs)) => {
                    self.check_cancel_nexus_operation(attrs, &mut nexus_cancel_requested)?;
                }
                Some(
                    Command::RecordMarkerCommandAttributes(_)
                    | Command::CompleteWorkflowExecutionCommandAttributes(_)
                    | Command::FailWorkflowExecutionCommandAttributes(_)
                    | Command::CancelWorkflowExecutionCommandAttributes(_)
                    | Command::ContinueAsNewWorkflowExecutionCommandAttributes(_)
                    | Command::ModifyWorkflowPropertiesCommandAttributes(_)
                    | Command::ProtocolMessageCommandAttributes(_),
                ) => {}
                _ => {
                    let name = CommandType::try_from(command.command_type)
                        .map_or("UNKNOWN", |t| t.as_str_name());
                    return Err(Refusal::fails_task(
                        WorkflowTaskFailedCause::UnhandledCommand,
                        format!("command {name} is not supported by devserver yet"),
                    ));
                }
            }
            if let Some((cause, error)) = oversized_payload(command) {
                return Err(Refusal {
                    cause,
                    error: error.into(),
                    terminates: true,
                });
            }
        }
        Ok(())
    }

    /// A command carried a payload over the size limit: its task fails and the run is
    /// terminated, as on the real server (a retry would only send the same payload again).
    fn terminate_for_command(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        cause: WorkflowTaskFailedCause,
        message: &str,
        identity: &str,
    ) {
        let Some(task) = self.workflow_task.clone() else {
            return;
        };
        self.record_workflow_task_events(fx);
        let (event_type, attributes) =
            failed_event(&task, cause, Some(failure_message(message)), identity);
        self.append(fx, now, event_type, attributes);
        self.workflow_task = None;
        self.close(
            fx,
            now,
            WorkflowExecutionStatus::Terminated,
            EventType::WorkflowExecutionTerminated,
            Attributes::WorkflowExecutionTerminatedEventAttributes(
                WorkflowExecutionTerminatedEventAttributes {
                    reason: message.to_owned(),
                    details: None,
                    identity: SERVER_IDENTITY.to_owned(),
                },
            ),
        );
        self.report_chain_end(fx);
        self.state_transitions += 1;
    }

    /// A worker reported that it could not process its workflow task.
    pub fn fail_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        request: &RespondWorkflowTaskFailedRequest,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        let (task, _) = self.running_workflow_task(scheduled_event_id, attempt)?;
        let mut fx = Effects::default();
        let cause = WorkflowTaskFailedCause::try_from(request.cause)
            .unwrap_or(WorkflowTaskFailedCause::Unspecified);
        self.fail_running_workflow_task(
            &mut fx,
            now,
            cause,
            request.failure.clone(),
            &request.identity,
            task.attempt + 1,
        );
        Ok(fx)
    }

    /// Records the running workflow task as failed and schedules the next attempt.
    fn fail_running_workflow_task(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: &str,
        next_attempt: i32,
    ) {
        let Some(task) = self.workflow_task.clone() else {
            return;
        };
        let failed = failed_event(&task, cause, failure, identity);
        self.end_workflow_task_attempt(fx, now, failed, next_attempt);
    }

    /// The run closes from outside (terminated, timed out) while a worker runs its workflow
    /// task: like the real server, the task fails first, so that the history does not end
    /// with a task started and never finished. A transient attempt has no events to end; a
    /// speculative one gets its own written first.
    pub(super) fn fail_workflow_task_for_close(&mut self, fx: &mut Effects, now: Millis) {
        let Some(task) = self.workflow_task.clone().filter(|t| t.started.is_some()) else {
            return;
        };
        if task.kind != WorkflowTaskKind::Transient {
            self.record_workflow_task_events(fx);
            let cause = WorkflowTaskFailedCause::ForceCloseCommand;
            let (event_type, attributes) = failed_event(&task, cause, None, SERVER_IDENTITY);
            self.append(fx, now, event_type, attributes);
        }
        self.workflow_task = None;
    }

    /// Ends the pending workflow task's attempt with `event` (failed, timed out) and
    /// schedules the next. The worker may have lost the run from its cache, so the next
    /// attempt goes to the normal queue with the full history. A retry is transient: only
    /// the first failure of a run of failures is written.
    pub(super) fn end_workflow_task_attempt(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        (event_type, attributes): (EventType, Attributes),
        next_attempt: i32,
    ) {
        let unrecorded = self
            .workflow_task
            .as_ref()
            .is_some_and(|task| !task.unrecorded.is_empty());
        if !unrecorded || next_attempt == 1 {
            self.record_workflow_task_events(fx);
            self.append(fx, now, event_type, attributes);
        }
        self.workflow_task = None;
        self.sticky = None;
        self.flush_buffered(fx);
        let kind = if next_attempt > 1 {
            WorkflowTaskKind::Transient
        } else {
            WorkflowTaskKind::Normal
        };
        self.schedule_workflow_task_attempt(fx, now, next_attempt, kind);
        self.state_transitions += 1;
    }

    /// The worker owning `sticky_queue` shut down: a workflow task waiting there moves to
    /// the normal queue (no events: the worker polling there gets the full history).
    /// Returns what changed, if anything.
    pub fn drop_sticky_queue(&mut self, sticky_queue: &str) -> Option<Effects> {
        if self.sticky.as_ref().is_none_or(|s| s.name != sticky_queue) {
            return None;
        }
        self.sticky = None;
        let mut fx = Effects::default();
        let task_queue = self.task_queue.clone();
        if let Some(task) = self
            .workflow_task
            .as_mut()
            .filter(|t| t.sticky && t.started.is_none())
        {
            task.sticky = false;
            task.task_queue = task_queue.clone();
            fx.removed_tasks.push(task.scheduled_event_id);
            fx.new_tasks.push(Task {
                kind: TaskKind::Workflow,
                task_queue,
                scheduled_event_id: task.scheduled_event_id,
            });
        }
        Some(fx)
    }
}

/// The WorkflowTaskFailed event that ends `task`'s attempt.
fn failed_event(
    task: &WorkflowTask,
    cause: WorkflowTaskFailedCause,
    failure: Option<Failure>,
    identity: &str,
) -> (EventType, Attributes) {
    (
        EventType::WorkflowTaskFailed,
        Attributes::WorkflowTaskFailedEventAttributes(WorkflowTaskFailedEventAttributes {
            scheduled_event_id: task.scheduled_event_id,
            started_event_id: task.started.as_ref().map_or(0, |s| s.event_id),
            cause: cause as i32,
            failure,
            identity: identity.to_owned(),
            ..Default::default()
        }),
    )
}

/// The real server's first look at a completion's commands, before any is applied: each has
/// a type it knows, and none follows a command that closes the run. A sequence that fails it
/// is refused outright; the task stays started, as on the real server.
fn check_command_sequence(commands: &[CommandProto]) -> Result<(), EngineError> {
    let mut closing: Option<CommandType> = None;
    for command in commands {
        if let Some(closing) = closing {
            let names: Vec<String> = commands
                .iter()
                .map(|c| command_type_name(c.command_type))
                .collect();
            return Err(EngineError::InvalidArgument(format!(
                "invalid command sequence: [{}], command {closing:?} must be the last command.",
                names.join(", ")
            )));
        }
        match CommandType::try_from(command.command_type) {
            Ok(
                CommandType::ContinueAsNewWorkflowExecution
                | CommandType::CompleteWorkflowExecution
                | CommandType::FailWorkflowExecution
                | CommandType::CancelWorkflowExecution,
            ) => closing = CommandType::try_from(command.command_type).ok(),
            Ok(CommandType::Unspecified) | Err(_) => {
                return Err(EngineError::InvalidArgument(format!(
                    "unknown command type: {}",
                    command_type_name(command.command_type)
                )));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// A command type as the real server prints it: the enum's short name, or the number when
/// it has none.
fn command_type_name(command_type: i32) -> String {
    CommandType::try_from(command_type).map_or(command_type.to_string(), |t| format!("{t:?}"))
}

/// A ScheduleActivityTask command's attributes, checked in the real server's order and words.
fn check_schedule_activity(attrs: &ScheduleActivityTaskCommandAttributes) -> Result<(), String> {
    let activity_type = attrs.activity_type.as_ref().map_or("", |t| t.name.as_str());
    if attrs.activity_id.is_empty() {
        return Err("activityId is not set".into());
    }
    if activity_type.is_empty() {
        return Err("activityType is not set".into());
    }
    if let Some(policy) = &attrs.retry_policy {
        RetryPolicy::check(policy)?;
    }
    for (value, name) in [
        (attrs.activity_id.as_str(), "activityId"),
        (activity_type, "activityType"),
    ] {
        if value.len() > MAX_ID_LENGTH {
            return Err(format!(
                "{name} exceeds length limit. Length={} Limit={MAX_ID_LENGTH}",
                value.len()
            ));
        }
    }
    for (timeout, name) in [
        (&attrs.schedule_to_close_timeout, "ScheduleToCloseTimeout"),
        (&attrs.schedule_to_start_timeout, "ScheduleToStartTimeout"),
        (&attrs.start_to_close_timeout, "StartToCloseTimeout"),
        (&attrs.heartbeat_timeout, "HeartbeatTimeout"),
    ] {
        if let Some(error) = duration_error(timeout.as_ref()) {
            return Err(format!("invalid {name}: {error}"));
        }
    }
    if millis_of(attrs.schedule_to_close_timeout.as_ref()) == 0
        && millis_of(attrs.start_to_close_timeout.as_ref()) == 0
    {
        return Err(format!(
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={} ActivityType={activity_type}",
            attrs.activity_id
        ));
    }
    Ok(())
}

/// Why a completion's commands are refused.
pub(super) struct Refusal {
    cause: WorkflowTaskFailedCause,
    error: String,
    /// The run ends (a payload over the size limit), not only the task.
    terminates: bool,
}

impl Refusal {
    fn fails_task(cause: WorkflowTaskFailedCause, error: String) -> Self {
        Refusal {
            cause,
            error,
            terminates: false,
        }
    }
}

/// The checks of Nexus commands (`nexus.rs`) name a cause and what is wrong.
impl From<(WorkflowTaskFailedCause, String)> for Refusal {
    fn from((cause, error): (WorkflowTaskFailedCause, String)) -> Self {
        Refusal::fails_task(cause, error)
    }
}

/// The payload of a command that is over the real server's size limit, with the cause and
/// words it terminates the run with (the cause of a completion's result is the real
/// server's, odd as it is).
fn oversized_payload(command: &CommandProto) -> Option<(WorkflowTaskFailedCause, &'static str)> {
    use WorkflowTaskFailedCause as Cause;
    let over = |payloads: &Option<Payloads>| {
        payloads
            .as_ref()
            .is_some_and(|p| p.encoded_len() > BLOB_SIZE_LIMIT)
    };
    let memo_over = |memo: &Option<Memo>| {
        memo.as_ref()
            .is_some_and(|m| m.encoded_len() > BLOB_SIZE_LIMIT)
    };
    match command.attributes.as_ref()? {
        Command::ScheduleActivityTaskCommandAttributes(attrs) if over(&attrs.input) => Some((
            Cause::BadScheduleActivityAttributes,
            "ScheduleActivityTaskCommandAttributes.Input exceeds size limit.",
        )),
        Command::CompleteWorkflowExecutionCommandAttributes(attrs) if over(&attrs.result) => {
            Some((
                Cause::BadScheduleActivityAttributes,
                "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.",
            ))
        }
        Command::FailWorkflowExecutionCommandAttributes(attrs)
            if attrs
                .failure
                .as_ref()
                .is_some_and(|f| f.encoded_len() > BLOB_SIZE_LIMIT) =>
        {
            Some((
                Cause::BadFailWorkflowExecutionAttributes,
                "FailWorkflowExecutionCommandAttributes.Failure exceeds size limit.",
            ))
        }
        Command::RecordMarkerCommandAttributes(attrs)
            if attrs
                .details
                .iter()
                .map(|(key, payloads)| key.len() + payloads.encoded_len())
                .sum::<usize>()
                > BLOB_SIZE_LIMIT =>
        {
            Some((
                Cause::BadRecordMarkerAttributes,
                "RecordMarkerCommandAttributes.Details exceeds size limit.",
            ))
        }
        Command::ContinueAsNewWorkflowExecutionCommandAttributes(attrs) if over(&attrs.input) => {
            Some((
                Cause::BadContinueAsNewAttributes,
                "ContinueAsNewWorkflowExecutionCommandAttributes. Input exceeds size limit.",
            ))
        }
        Command::ContinueAsNewWorkflowExecutionCommandAttributes(attrs)
            if memo_over(&attrs.memo) =>
        {
            Some((
                Cause::BadContinueAsNewAttributes,
                "ContinueAsNewWorkflowExecutionCommandAttributes. Memo exceeds size limit.",
            ))
        }
        Command::StartChildWorkflowExecutionCommandAttributes(attrs) if over(&attrs.input) => {
            Some((
                Cause::BadStartChildExecutionAttributes,
                "StartChildWorkflowExecutionCommandAttributes. Input exceeds size limit.",
            ))
        }
        Command::StartChildWorkflowExecutionCommandAttributes(attrs) if memo_over(&attrs.memo) => {
            Some((
                Cause::BadStartChildExecutionAttributes,
                "StartChildWorkflowExecutionCommandAttributes.Memo exceeds size limit.",
            ))
        }
        Command::SignalExternalWorkflowExecutionCommandAttributes(attrs) if over(&attrs.input) => {
            Some((
                Cause::BadSignalWorkflowExecutionAttributes,
                "SignalExternalWorkflowExecutionCommandAttributes.Input exceeds size limit.",
            ))
        }
        _ => None,
    }
}
