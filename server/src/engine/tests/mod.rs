//! Transitions of the history engine, fed plain values and checked against the effects.

use devserver_persistence::TaskKind;
use temporalio_protos::temporal::api::command::v1::{
    CancelTimerCommandAttributes, Command, CompleteWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes, command,
};
use temporalio_protos::temporal::api::common::v1::{
    Payload, Payloads, RetryPolicy as RetryPolicyProto,
};
use temporalio_protos::temporal::api::enums::v1::{
    CommandType, EventType, RetryState, TimeoutType, WorkflowExecutionStatus,
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowTaskFailedCause,
};
use temporalio_protos::temporal::api::failure::v1::{
    ApplicationFailureInfo, Failure, failure::FailureInfo,
};
use temporalio_protos::temporal::api::history::v1::WorkflowExecutionStartedEventAttributes;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::sdk::v1::WorkflowTaskCompletedMetadata;
use temporalio_protos::temporal::api::taskqueue::v1::{StickyExecutionAttributes, TaskQueue};
use temporalio_protos::temporal::api::workflowservice::v1::{
    RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskFailedRequest,
    StartWorkflowExecutionRequest,
};

use super::*;

mod cancellation;
mod children;
mod continuation;
mod describe;
mod history_invariants;
mod nexus;
mod signals;
mod time_skipping;
mod updates;

const T0: Millis = 1_700_000_000_000;
/// No eager dispatch, every search attribute fine, no Nexus endpoint.
const PLAIN: Outside<'static> = Outside {
    eager_activity_queue_ok: &|_| false,
    check_search_attributes: &|_| Ok(()),
    nexus_endpoint_id: &|_| None,
};
const STICKY: &str = "worker-sticky";

fn start_request() -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: "wf".into(),
        workflow_type: Some("Greeting".to_owned().into()),
        task_queue: Some(normal_queue("q")),
        identity: "starter".into(),
        ..Default::default()
    }
}

fn started_run() -> MutableState {
    let options = StartOptions {
        run_id: "run-1".into(),
        request_id: "req-1".into(),
        ..Default::default()
    };
    MutableState::start(&start_request(), options, T0).0
}

fn types(fx: &Effects) -> Vec<EventType> {
    fx.events
        .iter()
        .map(|e| EventType::try_from(e.event_type).unwrap())
        .collect()
}

fn ids(fx: &Effects) -> Vec<i64> {
    fx.events.iter().map(|e| e.event_id).collect()
}

/// Starts the pending workflow task; returns its scheduled event id.
fn take_workflow_task(state: &mut MutableState, now: Millis) -> i64 {
    let task = state
        .workflow_task
        .clone()
        .expect("a workflow task is pending");
    state
        .record_workflow_task_started(
            task.scheduled_event_id,
            &task.task_queue,
            "worker",
            "poll-1",
            now,
        )
        .unwrap();
    task.scheduled_event_id
}

fn completion(commands: Vec<command::Attributes>) -> RespondWorkflowTaskCompletedRequest {
    RespondWorkflowTaskCompletedRequest {
        commands: commands
            .into_iter()
            .map(|attributes| Command {
                command_type: command_type(&attributes) as i32,
                attributes: Some(attributes),
                ..Default::default()
            })
            .collect(),
        identity: "worker".into(),
        sticky_attributes: Some(StickyExecutionAttributes {
            worker_task_queue: Some(TaskQueue {
                name: STICKY.into(),
                kind: 2,
                normal_name: "q".into(),
            }),
            schedule_to_start_timeout: Some(duration(10_000)),
        }),
        sdk_metadata: Some(WorkflowTaskCompletedMetadata {
            core_used_flags: vec![1, 2],
            sdk_name: "temporal-python".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The type the SDK sends with a command's attributes (the server checks a completion's
/// sequence of commands by it).
fn command_type(attributes: &command::Attributes) -> CommandType {
    use command::Attributes as A;
    match attributes {
        A::ScheduleActivityTaskCommandAttributes(_) => CommandType::ScheduleActivityTask,
        A::StartTimerCommandAttributes(_) => CommandType::StartTimer,
        A::CompleteWorkflowExecutionCommandAttributes(_) => CommandType::CompleteWorkflowExecution,
        A::FailWorkflowExecutionCommandAttributes(_) => CommandType::FailWorkflowExecution,
        A::RequestCancelActivityTaskCommandAttributes(_) => CommandType::RequestCancelActivityTask,
        A::CancelTimerCommandAttributes(_) => CommandType::CancelTimer,
        A::CancelWorkflowExecutionCommandAttributes(_) => CommandType::CancelWorkflowExecution,
        A::RequestCancelExternalWorkflowExecutionCommandAttributes(_) => {
            CommandType::RequestCancelExternalWorkflowExecution
        }
        A::RecordMarkerCommandAttributes(_) => CommandType::RecordMarker,
        A::ContinueAsNewWorkflowExecutionCommandAttributes(_) => {
            CommandType::ContinueAsNewWorkflowExecution
        }
        A::StartChildWorkflowExecutionCommandAttributes(_) => {
            CommandType::StartChildWorkflowExecution
        }
        A::SignalExternalWorkflowExecutionCommandAttributes(_) => {
            CommandType::SignalExternalWorkflowExecution
        }
        A::UpsertWorkflowSearchAttributesCommandAttributes(_) => {
            CommandType::UpsertWorkflowSearchAttributes
        }
        A::ProtocolMessageCommandAttributes(_) => CommandType::ProtocolMessage,
        A::ModifyWorkflowPropertiesCommandAttributes(_) => CommandType::ModifyWorkflowProperties,
        A::ScheduleNexusOperationCommandAttributes(_) => CommandType::ScheduleNexusOperation,
        A::RequestCancelNexusOperationCommandAttributes(_) => {
            CommandType::RequestCancelNexusOperation
        }
    }
}

fn complete(
    state: &mut MutableState,
    scheduled: i64,
    commands: Vec<command::Attributes>,
    now: Millis,
) -> Completion {
    let attempt = state.workflow_task.as_ref().map_or(1, |t| t.attempt);
    state
        .complete_workflow_task(scheduled, attempt, &completion(commands), &PLAIN, now)
        .unwrap()
}

fn schedule_activity(id: &str, retry: Option<RetryPolicyProto>) -> command::Attributes {
    command::Attributes::ScheduleActivityTaskCommandAttributes(
        ScheduleActivityTaskCommandAttributes {
            activity_id: id.into(),
            activity_type: Some(temporalio_protos::temporal::api::common::v1::ActivityType {
                name: "greet".into(),
            }),
            task_queue: Some(normal_queue("q")),
            schedule_to_close_timeout: Some(duration(30_000)),
            retry_policy: retry,
            ..Default::default()
        },
    )
}

fn start_timer(id: &str, millis: Millis) -> command::Attributes {
    command::Attributes::StartTimerCommandAttributes(StartTimerCommandAttributes {
        timer_id: id.into(),
        start_to_fire_timeout: Some(duration(millis)),
    })
}

fn complete_workflow() -> command::Attributes {
    command::Attributes::CompleteWorkflowExecutionCommandAttributes(
        CompleteWorkflowExecutionCommandAttributes::default(),
    )
}

fn app_failure(message: &str) -> Failure {
    Failure {
        message: message.into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo::default(),
        )),
        ..Default::default()
    }
}

/// A run whose first workflow task scheduled activity "1"; returns its scheduled event id.
fn run_with_activity(retry: Option<RetryPolicyProto>) -> (MutableState, i64) {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let done = complete(&mut state, wft, vec![schedule_activity("1", retry)], T0 + 5);
    (state, done.effects.events[1].event_id)
}

#[test]
fn start_writes_started_and_first_workflow_task_on_the_normal_queue() {
    let (state, fx) = MutableState::start(
        &start_request(),
        StartOptions {
            run_id: "run-1".into(),
            request_id: "req-1".into(),
            ..Default::default()
        },
        T0,
    );
    assert_eq!(
        types(&fx),
        [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(ids(&fx), [1, 2]);
    assert_eq!(
        fx.new_tasks,
        [Task {
            kind: TaskKind::Workflow,
            task_queue: "q".into(),
            scheduled_event_id: 2
        }]
    );
    assert_eq!(state.workflow_task_timeout, 10_000);
    assert_eq!(
        state.next_deadline(),
        None,
        "nothing times out before a worker starts the task"
    );
}

#[test]
fn started_workflow_task_removes_the_task_and_arms_its_timeout() {
    let mut state = started_run();
    let (fx, started) = state
        .record_workflow_task_started(2, "q", "worker", "poll", T0 + 10)
        .unwrap();
    assert_eq!(types(&fx), [EventType::WorkflowTaskStarted]);
    assert_eq!(fx.removed_tasks, [2]);
    assert_eq!(
        (
            started.started_event_id,
            started.sticky,
            started.previous_started_event_id
        ),
        (3, false, 0)
    );
    assert_eq!(state.next_deadline(), Some(T0 + 10 + 10_000));
    // A second poller holding the same task gets nothing.
    assert!(matches!(
        state.record_workflow_task_started(2, "q", "w2", "p2", T0 + 11),
        Err(EngineError::Stale(_))
    ));
}

#[test]
fn completion_records_sdk_metadata_schedules_activity_and_goes_sticky() {
    let (state, scheduled) = run_with_activity(None);
    let activity = &state.activities[&scheduled];
    assert_eq!(
        (
            activity.start_to_close_timeout,
            activity.schedule_to_start_timeout
        ),
        (30_000, 30_000)
    );
    assert_eq!(activity.retry_policy.initial_interval, 1_000);
    assert_eq!(activity.retry_policy.maximum_interval, 100_000);
    assert_eq!(state.sticky.as_ref().unwrap().name, STICKY);
    assert_eq!(state.previous_started_event_id, 3);

    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let done = complete(&mut state, wft, vec![schedule_activity("1", None)], T0 + 5);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskScheduled
        ]
    );
    let Some(Attributes::WorkflowTaskCompletedEventAttributes(completed)) =
        &done.effects.events[0].attributes
    else {
        panic!("not a WorkflowTaskCompleted event");
    };
    assert_eq!(
        completed.sdk_metadata.as_ref().unwrap().core_used_flags,
        [1, 2]
    );
    assert_eq!(done.effects.new_tasks[0].kind, TaskKind::Activity);
}

#[test]
fn eager_activity_starts_at_once_without_a_queued_task() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let mut request = completion(vec![schedule_activity("1", None)]);
    if let Some(command::Attributes::ScheduleActivityTaskCommandAttributes(attrs)) =
        &mut request.commands[0].attributes
    {
        attrs.request_eager_execution = true;
    }
    let done = state
        .complete_workflow_task(
            wft,
            1,
            &request,
            &Outside {
                eager_activity_queue_ok: &|queue| queue == "q",
                ..PLAIN
            },
            T0,
        )
        .unwrap();
    assert_eq!(done.eager_activities, [5]);
    assert!(done.effects.new_tasks.is_empty());
    assert_eq!(state.activity_task(5).unwrap().attempt, 1);
}

#[test]
fn failed_activity_retries_after_backoff_then_completes_with_one_started_event() {
    let retry = RetryPolicyProto {
        initial_interval: Some(duration(100)),
        backoff_coefficient: 2.0,
        ..Default::default()
    };
    let (mut state, scheduled) = run_with_activity(Some(retry));
    state
        .record_activity_task_started(scheduled, "worker", "p", T0 + 10)
        .unwrap();
    let fx = state
        .fail_activity(scheduled, 1, app_failure("boom"), None, "worker", T0 + 20)
        .unwrap();
    assert!(fx.events.is_empty(), "retried attempts leave no events");
    assert_eq!(state.next_deadline(), Some(T0 + 120));

    let fx = state.fire_due(T0 + 120);
    assert_eq!(fx.new_tasks[0].scheduled_event_id, scheduled);
    assert!(
        matches!(
            state.complete_activity(scheduled, 1, None, "worker", T0 + 130),
            Err(EngineError::Stale(_))
        ),
        "old attempt's token"
    );
    state
        .record_activity_task_started(scheduled, "worker", "p", T0 + 130)
        .unwrap();
    assert_eq!(state.activity_task(scheduled).unwrap().attempt, 2);
    let fx = state
        .complete_activity(scheduled, 2, None, "worker", T0 + 140)
        .unwrap();
    assert_eq!(
        types(&fx),
        [
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCompleted,
            EventType::WorkflowTaskScheduled
        ]
    );
    let Some(Attributes::ActivityTaskStartedEventAttributes(started)) = &fx.events[0].attributes
    else {
        panic!()
    };
    assert_eq!(started.attempt, 2);
    assert_eq!(started.last_failure.as_ref().unwrap().message, "boom");
    let Some(Attributes::ActivityTaskCompletedEventAttributes(completed)) =
        &fx.events[1].attributes
    else {
        panic!()
    };
    assert_eq!(completed.started_event_id, fx.events[0].event_id);
    assert_eq!(
        fx.new_tasks[0].task_queue, STICKY,
        "the next workflow task goes to the sticky worker"
    );
}

#[test]
fn an_infinite_backoff_coefficient_is_stored_and_waits_the_maximum_interval() {
    let retry = RetryPolicyProto {
        initial_interval: Some(duration(100)),
        backoff_coefficient: f64::INFINITY,
        maximum_interval: Some(duration(5_000)),
        ..Default::default()
    };
    let (state, scheduled) = run_with_activity(Some(retry));
    // The state is stored as JSON, which has no infinity: it must read back.
    let stored = serde_json::to_string(&state).unwrap();
    let mut state: MutableState = serde_json::from_str(&stored).unwrap();
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    state
        .fail_activity(scheduled, 1, app_failure("boom"), None, "worker", T0)
        .unwrap();
    assert_eq!(state.next_deadline(), Some(T0 + 100), "the first retry");
    state.fire_due(T0 + 100);
    state
        .record_activity_task_started(scheduled, "worker", "p", T0 + 100)
        .unwrap();
    state
        .fail_activity(scheduled, 2, app_failure("boom"), None, "worker", T0 + 100)
        .unwrap();
    assert_eq!(state.next_deadline(), Some(T0 + 5_100), "then the maximum");
}

#[test]
fn activity_fails_for_good_when_attempts_run_out_or_the_failure_is_non_retryable() {
    let retry = RetryPolicyProto {
        maximum_attempts: 1,
        ..Default::default()
    };
    let (mut state, scheduled) = run_with_activity(Some(retry));
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    let fx = state
        .fail_activity(scheduled, 1, app_failure("boom"), None, "worker", T0)
        .unwrap();
    let Some(Attributes::ActivityTaskFailedEventAttributes(failed)) = &fx.events[1].attributes
    else {
        panic!()
    };
    assert_eq!(
        failed.retry_state,
        RetryState::MaximumAttemptsReached as i32
    );

    let (mut state, scheduled) = run_with_activity(None);
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    let mut failure = app_failure("fatal");
    failure.failure_info = Some(FailureInfo::ApplicationFailureInfo(
        ApplicationFailureInfo {
            non_retryable: true,
            ..Default::default()
        },
    ));
    let fx = state
        .fail_activity(scheduled, 1, failure, None, "worker", T0)
        .unwrap();
    let Some(Attributes::ActivityTaskFailedEventAttributes(failed)) = &fx.events[1].attributes
    else {
        panic!()
    };
    assert_eq!(failed.retry_state, RetryState::NonRetryableFailure as i32);
}

#[test]
fn activity_that_never_finishes_times_out_schedule_to_close() {
    let (mut state, scheduled) = run_with_activity(None);
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    assert_eq!(
        state.next_deadline(),
        Some(T0 + 30_000),
        "start-to-close defaults to schedule-to-close"
    );
    let fx = state.fire_due(T0 + 30_005);
    assert_eq!(
        types(&fx),
        [
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskTimedOut,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(state.activities.is_empty());
}

#[test]
fn heartbeats_keep_an_attempt_alive_and_their_details_reach_the_next_attempt() {
    let mut attrs = schedule_activity("1", None);
    if let command::Attributes::ScheduleActivityTaskCommandAttributes(a) = &mut attrs {
        a.heartbeat_timeout = Some(duration(2_000));
    }
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![attrs], T0);
    let scheduled = 5;
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    assert_eq!(state.next_deadline(), Some(T0 + 2_000));
    let details = Payloads {
        payloads: vec![Payload {
            data: b"42".to_vec(),
            ..Default::default()
        }],
    };
    state
        .record_activity_heartbeat(scheduled, 1, Some(details.clone()), T0 + 1_500)
        .unwrap();
    assert_eq!(state.next_deadline(), Some(T0 + 3_500));
    assert!(
        state
            .record_activity_heartbeat(scheduled, 2, None, T0 + 1_600)
            .is_err(),
        "wrong attempt"
    );

    // No heartbeat in time: the attempt times out and is retried with the details.
    let fx = state.fire_due(T0 + 3_500);
    assert!(fx.events.is_empty());
    let activity = &state.activities[&scheduled];
    let Some(FailureInfo::TimeoutFailureInfo(info)) =
        &activity.last_failure.as_ref().unwrap().0.failure_info
    else {
        panic!()
    };
    assert_eq!(info.timeout_type, TimeoutType::Heartbeat as i32);
    assert_eq!(info.last_heartbeat_details.as_ref(), Some(&details));
    state.fire_due(activity.retry_at.unwrap());
    state
        .record_activity_task_started(scheduled, "worker", "p", T0 + 5_000)
        .unwrap();
    let task = state.activity_task(scheduled).unwrap();
    assert_eq!((task.attempt, task.heartbeat_details), (2, Some(details)));
}

#[test]
fn events_arriving_during_a_workflow_task_are_buffered_then_delivered_in_a_new_task() {
    let (mut state, scheduled) = run_with_activity(None);
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    // The worker is busy with another workflow task (say, a timer fired meanwhile).
    let timer_fx = {
        let wft = state.workflow_task.clone();
        assert!(wft.is_none());
        state.timers.insert(
            "t".into(),
            UserTimer {
                started_event_id: 5,
                fire_at: T0 + 1,
            },
        );
        state.fire_due(T0 + 1)
    };
    assert_eq!(
        types(&timer_fx),
        [EventType::TimerFired, EventType::WorkflowTaskScheduled]
    );
    let wft = take_workflow_task(&mut state, T0 + 2);
    let fx = state
        .complete_activity(scheduled, 1, None, "worker", T0 + 3)
        .unwrap();
    assert!(
        fx.events.is_empty(),
        "buffered while the workflow task runs"
    );

    let done = complete(&mut state, wft, vec![], T0 + 4);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCompleted,
            EventType::WorkflowTaskScheduled
        ]
    );
    let events = &done.effects.events;
    let Some(Attributes::ActivityTaskCompletedEventAttributes(completed)) = &events[2].attributes
    else {
        panic!()
    };
    assert_eq!(completed.started_event_id, events[1].event_id);
    assert_eq!(
        ids(&done.effects),
        (events[0].event_id..events[0].event_id + 4).collect::<Vec<_>>()
    );
}

#[test]
fn closing_with_unseen_events_is_refused_as_unhandled_command() {
    let (mut state, scheduled) = run_with_activity(None);
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    state.timers.insert(
        "t".into(),
        UserTimer {
            started_event_id: 5,
            fire_at: T0 + 1,
        },
    );
    state.fire_due(T0 + 1);
    let wft = take_workflow_task(&mut state, T0 + 2);
    state
        .complete_activity(scheduled, 1, None, "worker", T0 + 3)
        .unwrap();

    let done = complete(&mut state, wft, vec![complete_workflow()], T0 + 4);
    assert_eq!(done.rejection.as_deref(), Some("UnhandledCommand"));
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskFailed,
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCompleted,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(state.is_open());
    assert_eq!(
        done.effects.new_tasks[0].task_queue, "q",
        "after a failure the full history goes to the normal queue"
    );
}

#[test]
fn invalid_commands_fail_the_task_and_change_nothing_else() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let cancel_unknown =
        command::Attributes::CancelTimerCommandAttributes(CancelTimerCommandAttributes {
            timer_id: "nope".into(),
        });
    let done = complete(
        &mut state,
        wft,
        vec![schedule_activity("1", None), cancel_unknown],
        T0,
    );
    assert!(done.rejection.unwrap().contains("nope"));
    assert_eq!(
        types(&done.effects),
        [EventType::WorkflowTaskFailed],
        "the retry is transient: its events wait for an attempt that completes"
    );
    assert_eq!(done.effects.new_tasks.len(), 1);
    let Some(Attributes::WorkflowTaskFailedEventAttributes(failed)) =
        &done.effects.events[0].attributes
    else {
        panic!()
    };
    assert_eq!(
        failed.cause,
        WorkflowTaskFailedCause::BadCancelTimerAttributes as i32
    );
    assert!(state.activities.is_empty());
    assert_eq!(state.workflow_task.as_ref().unwrap().attempt, 2);
}

#[test]
fn an_upsert_the_namespace_refuses_fails_the_task_with_bad_search_attributes() {
    use temporalio_protos::temporal::api::command::v1::UpsertWorkflowSearchAttributesCommandAttributes;
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let upsert = command::Attributes::UpsertWorkflowSearchAttributesCommandAttributes(
        UpsertWorkflowSearchAttributesCommandAttributes {
            search_attributes: Some(Default::default()),
        },
    );
    let done = state
        .complete_workflow_task(
            wft,
            1,
            &completion(vec![upsert]),
            &Outside {
                check_search_attributes: &|_| Err("no mapping".into()),
                ..PLAIN
            },
            T0,
        )
        .unwrap();
    assert_eq!(
        done.rejection.as_deref(),
        Some("BadSearchAttributes: no mapping")
    );
    let Some(Attributes::WorkflowTaskFailedEventAttributes(failed)) =
        &done.effects.events[0].attributes
    else {
        panic!()
    };
    assert_eq!(
        failed.cause,
        WorkflowTaskFailedCause::BadSearchAttributes as i32
    );
    assert!(state.search_attributes.is_none());
}

#[test]
fn a_command_sequence_the_real_server_refuses_leaves_the_task_running() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let refused =
        |state: &mut MutableState, request: &RespondWorkflowTaskCompletedRequest| match state
            .complete_workflow_task(wft, 1, request, &PLAIN, T0)
        {
            Err(EngineError::InvalidArgument(message)) => message,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
    let mut unknown = completion(vec![start_timer("t", 1000)]);
    unknown.commands[0].command_type = 99;
    assert_eq!(refused(&mut state, &unknown), "unknown command type: 99");
    let after_close = completion(vec![complete_workflow(), start_timer("t", 1000)]);
    assert_eq!(
        refused(&mut state, &after_close),
        "invalid command sequence: [CompleteWorkflowExecution, StartTimer], command CompleteWorkflowExecution must be the last command."
    );
    assert!(state.workflow_task.as_ref().unwrap().started.is_some());
    assert!(state.timers.is_empty());
    assert!(state.is_open());
}

#[test]
fn schedule_activity_attributes_are_checked_in_the_real_servers_words() {
    type Spoil = fn(&mut ScheduleActivityTaskCommandAttributes);
    let cases: [(Spoil, &str); 5] = [
        (|a| a.activity_id.clear(), "activityId is not set"),
        (
            |a| {
                a.start_to_close_timeout = Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 0,
                })
            },
            "invalid StartToCloseTimeout: negative duration",
        ),
        (
            |a| {
                a.retry_policy = Some(RetryPolicyProto {
                    backoff_coefficient: 0.5,
                    ..Default::default()
                })
            },
            "BackoffCoefficient cannot be less than 1 on retry policy.",
        ),
        (
            |a| a.activity_id = "x".repeat(MAX_ID_LENGTH + 1),
            "activityId exceeds length limit. Length=1001 Limit=1000",
        ),
        (
            |a| a.schedule_to_close_timeout = None,
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId=1 ActivityType=greet",
        ),
    ];
    for (spoil, expected) in cases {
        let mut state = started_run();
        let wft = take_workflow_task(&mut state, T0);
        let command::Attributes::ScheduleActivityTaskCommandAttributes(mut attrs) =
            schedule_activity("1", None)
        else {
            unreachable!()
        };
        spoil(&mut attrs);
        let done = complete(
            &mut state,
            wft,
            vec![command::Attributes::ScheduleActivityTaskCommandAttributes(
                attrs,
            )],
            T0,
        );
        assert_eq!(
            done.rejection.as_deref(),
            Some(format!("BadScheduleActivityAttributes: {expected}").as_str())
        );
        assert_eq!(types(&done.effects), [EventType::WorkflowTaskFailed]);
        assert!(state.activities.is_empty());
    }
}

#[test]
fn an_activity_scheduled_by_the_completion_that_closes_the_run_leaves_no_task() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let done = complete(
        &mut state,
        wft,
        vec![schedule_activity("1", None), complete_workflow()],
        T0,
    );
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskScheduled,
            EventType::WorkflowExecutionCompleted
        ]
    );
    assert!(
        done.effects.new_tasks.is_empty(),
        "no row for a worker to find"
    );
    assert!(done.effects.removed_tasks.is_empty());
}

#[test]
fn a_payload_over_the_size_limit_terminates_the_run() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let big = Payloads {
        payloads: vec![Payload {
            data: vec![b'x'; BLOB_SIZE_LIMIT],
            ..Default::default()
        }],
    };
    let result = command::Attributes::CompleteWorkflowExecutionCommandAttributes(
        CompleteWorkflowExecutionCommandAttributes { result: Some(big) },
    );
    let done = complete(
        &mut state,
        wft,
        vec![schedule_activity("1", None), result],
        T0,
    );
    let message = "BadScheduleActivityAttributes: CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.";
    assert_eq!(done.rejection.as_deref(), Some(message));
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskFailed,
            EventType::WorkflowExecutionTerminated
        ]
    );
    let Some(Attributes::WorkflowExecutionTerminatedEventAttributes(terminated)) =
        &done.effects.events[1].attributes
    else {
        panic!()
    };
    assert_eq!(terminated.reason, message);
    assert_eq!(terminated.identity, SERVER_IDENTITY);
    assert!(
        done.effects.new_tasks.is_empty(),
        "no task for a closed run"
    );
    assert!(state.activities.is_empty(), "nothing of the task applied");
    assert_eq!(state.status, WorkflowExecutionStatus::Terminated as i32);
}

#[test]
fn retry_policies_are_checked_after_the_defaults_like_the_real_server() {
    let policy = |initial: i64, coefficient: f64, maximum: i64, attempts: i32| RetryPolicyProto {
        initial_interval: Some(prost_types::Duration {
            seconds: initial,
            nanos: 0,
        }),
        backoff_coefficient: coefficient,
        maximum_interval: Some(prost_types::Duration {
            seconds: maximum,
            nanos: 0,
        }),
        maximum_attempts: attempts,
        ..Default::default()
    };
    let check = |p: RetryPolicyProto| RetryPolicy::check(&p).err();
    assert_eq!(check(policy(0, 0.0, 0, 0)), None, "all defaults");
    assert_eq!(
        check(policy(1, 0.5, 0, 1)),
        None,
        "one attempt: not checked"
    );
    assert_eq!(
        check(policy(-1, 0.0, 0, 0)).as_deref(),
        Some("invalid InitialInterval set on retry policy: negative duration")
    );
    assert_eq!(
        check(policy(0, 0.5, 0, 0)).as_deref(),
        Some("BackoffCoefficient cannot be less than 1 on retry policy.")
    );
    assert_eq!(
        check(policy(0, 0.0, -1, 0)).as_deref(),
        Some("invalid MaximumInterval set on retry policy: negative duration")
    );
    assert_eq!(
        check(policy(10, 0.0, 5, 0)).as_deref(),
        Some("MaximumInterval cannot be less than InitialInterval on retry policy.")
    );
    assert_eq!(
        check(policy(0, 0.0, 0, -1)).as_deref(),
        Some("MaximumAttempts cannot be negative on retry policy.")
    );
}

#[test]
fn durations_are_read_without_overflow_and_checked_like_the_real_server() {
    let d = |seconds: i64, nanos: i32| prost_types::Duration { seconds, nanos };
    assert_eq!(millis_of(Some(&d(i64::MAX, 999_999_999))), MAX_DURATION);
    assert_eq!(millis_of(Some(&d(i64::MIN, 0))), 0);
    assert_eq!(millis_of(Some(&d(1, 500_000_000))), 1500);
    assert_eq!(duration_error(None), None);
    assert_eq!(duration_error(Some(&d(1, 0))), None);
    assert_eq!(duration_error(Some(&d(-1, 0))), Some("negative duration"));
    assert_eq!(duration_error(Some(&d(0, -1))), Some("negative duration"));
    assert_eq!(
        duration_error(Some(&d(1, -1))),
        Some("duration has seconds and nanos with different signs")
    );
}

#[test]
fn timers_fire_and_cancel() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let done = complete(
        &mut state,
        wft,
        vec![start_timer("a", 1_000), start_timer("b", 5_000)],
        T0,
    );
    assert_eq!(
        types(&done.effects)[1..],
        [EventType::TimerStarted, EventType::TimerStarted]
    );
    assert_eq!(state.next_deadline(), Some(T0 + 1_000));
    let fx = state.fire_due(T0 + 1_000);
    assert_eq!(
        types(&fx),
        [EventType::TimerFired, EventType::WorkflowTaskScheduled]
    );
    let wft = take_workflow_task(&mut state, T0 + 1_001);
    let cancel = command::Attributes::CancelTimerCommandAttributes(CancelTimerCommandAttributes {
        timer_id: "b".into(),
    });
    let done = complete(
        &mut state,
        wft,
        vec![cancel, complete_workflow()],
        T0 + 1_002,
    );
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::TimerCanceled,
            EventType::WorkflowExecutionCompleted
        ]
    );
    assert_eq!(state.status, WorkflowExecutionStatus::Completed as i32);
    assert_eq!(state.close_event_id, Some(done.effects.events[2].event_id));
    assert_eq!(state.next_deadline(), None);
}

#[test]
fn sticky_task_not_picked_up_in_time_times_out_to_the_normal_queue() {
    let (mut state, scheduled) = run_with_activity(None);
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    let fx = state
        .complete_activity(scheduled, 1, None, "worker", T0 + 100)
        .unwrap();
    let sticky_task = fx.new_tasks[0].clone();
    assert_eq!(sticky_task.task_queue, STICKY);
    assert_eq!(state.next_deadline(), Some(T0 + 100 + 10_000));

    let fx = state.fire_due(T0 + 100 + 10_000);
    assert_eq!(
        types(&fx),
        [
            EventType::WorkflowTaskTimedOut,
            EventType::WorkflowTaskScheduled
        ]
    );
    let Some(Attributes::WorkflowTaskTimedOutEventAttributes(timed_out)) = &fx.events[0].attributes
    else {
        panic!()
    };
    assert_eq!(timed_out.timeout_type, TimeoutType::ScheduleToStart as i32);
    assert_eq!(fx.removed_tasks, [sticky_task.scheduled_event_id]);
    let normal_task = fx.new_tasks[0].clone();
    assert_eq!(normal_task.task_queue, "q");
    // The copy still sitting in the sticky queue is stale now.
    assert!(
        state
            .record_workflow_task_started(
                sticky_task.scheduled_event_id,
                STICKY,
                "w",
                "p",
                T0 + 10_200
            )
            .is_err()
    );
    let (_, started) = state
        .record_workflow_task_started(normal_task.scheduled_event_id, "q", "w", "p", T0 + 10_200)
        .unwrap();
    assert!(
        !started.sticky,
        "a normal-queue task carries the full history"
    );
}

#[test]
fn worker_shutdown_drops_its_sticky_queue() {
    let (mut state, scheduled) = run_with_activity(None);
    assert!(state.drop_sticky_queue("someone-else").is_none());
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    state
        .complete_activity(scheduled, 1, None, "worker", T0)
        .unwrap();
    let fx = state.drop_sticky_queue(STICKY).unwrap();
    assert_eq!(fx.new_tasks[0].task_queue, "q");
    assert!(state.sticky.is_none());
}

#[test]
fn workflow_task_that_times_out_is_retried_on_the_normal_queue() {
    let mut state = started_run();
    take_workflow_task(&mut state, T0);
    let fx = state.fire_due(T0 + 10_000);
    assert_eq!(types(&fx), [EventType::WorkflowTaskTimedOut]);
    assert_eq!(fx.new_tasks[0].task_queue, "q");
    let retry = state.workflow_task.as_ref().unwrap();
    assert_eq!(
        (retry.attempt, retry.kind),
        (2, WorkflowTaskKind::Transient)
    );
}

fn run_with_a_minute_to_run() -> MutableState {
    let mut request = start_request();
    request.workflow_run_timeout = Some(duration(60_000));
    let options = StartOptions {
        run_id: "r".into(),
        request_id: "q".into(),
        ..Default::default()
    };
    MutableState::start(&request, options, T0).0
}

#[test]
fn run_timeout_closes_the_run() {
    let mut state = run_with_a_minute_to_run();
    assert_eq!(state.next_deadline(), Some(T0 + 60_000));
    let fx = state.fire_due(T0 + 60_000);
    assert_eq!(types(&fx), [EventType::WorkflowExecutionTimedOut]);
    assert_eq!(
        fx.removed_tasks,
        [2],
        "its pending workflow task leaves the queue"
    );
    assert_eq!(state.status, WorkflowExecutionStatus::TimedOut as i32);
}

#[test]
fn run_timeout_under_a_running_workflow_task_fails_the_task_first() {
    let mut state = run_with_a_minute_to_run();
    take_workflow_task(&mut state, T0 + 55_000);
    let fx = state.fire_due(T0 + 60_000);
    assert_eq!(
        types(&fx),
        [
            EventType::WorkflowTaskFailed,
            EventType::WorkflowExecutionTimedOut
        ]
    );
    assert_eq!(state.status, WorkflowExecutionStatus::TimedOut as i32);
}

#[test]
fn id_policies_decide_like_the_real_server() {
    let running = started_run();
    let mut completed = started_run();
    let wft = take_workflow_task(&mut completed, T0);
    complete(&mut completed, wft, vec![complete_workflow()], T0);
    let mut failed = started_run();
    failed.terminate(T0, "test", None, "me").unwrap();

    let reuse = |policy: WorkflowIdReusePolicy| policy as i32;
    let conflict = |policy: WorkflowIdConflictPolicy| policy as i32;
    let unspecified = 0;
    let check = |current: Option<&MutableState>,
                 request_id: &str,
                 reuse_policy: i32,
                 conflict_policy: i32| {
        check_id_policies(current, request_id, reuse_policy, conflict_policy)
    };
    assert_eq!(
        check(None, "x", unspecified, unspecified),
        WorkflowIdPolicy::StartNew
    );
    assert_eq!(
        check(Some(&running), "req-1", unspecified, unspecified),
        WorkflowIdPolicy::Deduplicated
    );
    assert!(
        matches!(check(Some(&running), "x", unspecified, unspecified), WorkflowIdPolicy::Reject(m) if m.contains("already running"))
    );
    assert_eq!(
        check(
            Some(&running),
            "x",
            unspecified,
            conflict(WorkflowIdConflictPolicy::UseExisting)
        ),
        WorkflowIdPolicy::UseExisting
    );
    assert_eq!(
        check(
            Some(&running),
            "x",
            unspecified,
            conflict(WorkflowIdConflictPolicy::TerminateExisting)
        ),
        WorkflowIdPolicy::TerminateThenStart
    );
    assert_eq!(
        check(Some(&completed), "x", unspecified, unspecified),
        WorkflowIdPolicy::StartNew
    );
    assert!(matches!(
        check(
            Some(&completed),
            "x",
            reuse(WorkflowIdReusePolicy::RejectDuplicate),
            unspecified
        ),
        WorkflowIdPolicy::Reject(_)
    ));
    assert!(matches!(
        check(
            Some(&completed),
            "x",
            reuse(WorkflowIdReusePolicy::AllowDuplicateFailedOnly),
            unspecified
        ),
        WorkflowIdPolicy::Reject(_)
    ));
    assert_eq!(
        check(
            Some(&failed),
            "x",
            reuse(WorkflowIdReusePolicy::AllowDuplicateFailedOnly),
            unspecified
        ),
        WorkflowIdPolicy::StartNew
    );
}

#[test]
fn mutable_state_survives_serialization() {
    let (mut state, scheduled) = run_with_activity(None);
    state
        .record_activity_task_started(scheduled, "worker", "p", T0)
        .unwrap();
    state.buffered_events.push(Proto(
        temporalio_protos::temporal::api::history::v1::HistoryEvent {
            event_type: EventType::TimerFired as i32,
            ..Default::default()
        },
    ));
    let bytes = serde_json::to_vec(&state).unwrap();
    let back: MutableState = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, state);
}

#[test]
fn a_retried_workflow_task_is_unrecorded_and_follows_the_last_stored_event() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let failed = RespondWorkflowTaskFailedRequest {
        cause: WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure as i32,
        ..Default::default()
    };
    let fx = state.fail_workflow_task(wft, 1, &failed, T0).unwrap();
    assert_eq!(types(&fx), [EventType::WorkflowTaskFailed]);
    let next = state.next_event_id;
    let unrecorded = |state: &MutableState| {
        state
            .unrecorded_events()
            .map(|event| (event.event_id, event.event_type()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        unrecorded(&state),
        [(next, EventType::WorkflowTaskScheduled)]
    );

    take_workflow_task(&mut state, T0 + 1);
    assert_eq!(state.next_event_id, next, "the retry is not written");
    assert_eq!(
        unrecorded(&state),
        [
            (next, EventType::WorkflowTaskScheduled),
            (next + 1, EventType::WorkflowTaskStarted)
        ]
    );
}
