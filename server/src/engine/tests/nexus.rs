//! Nexus operations: scheduling, the answers to their requests, callbacks, cancellation,
//! timeouts, and the completion callbacks of the runs that back them.

use temporalio_protos::temporal::api::command::v1::{
    RequestCancelNexusOperationCommandAttributes, ScheduleNexusOperationCommandAttributes,
};
use temporalio_protos::temporal::api::common::v1::{Callback, callback};
use temporalio_protos::temporal::api::failure::v1::CanceledFailureInfo;
use temporalio_protos::temporal::api::history::v1::{
    HistoryEvent, WorkflowExecutionCanceledEventAttributes,
    WorkflowExecutionTerminatedEventAttributes,
};

use super::*;

const ENDPOINT: &str = "greetings";

fn with_endpoint() -> Outside<'static> {
    Outside {
        nexus_endpoint_id: &|name| (name == ENDPOINT).then(|| "endpoint-id".to_owned()),
        ..PLAIN
    }
}

fn schedule(endpoint: &str, schedule_to_close: Millis) -> command::Attributes {
    command::Attributes::ScheduleNexusOperationCommandAttributes(
        ScheduleNexusOperationCommandAttributes {
            endpoint: endpoint.into(),
            service: "Greeting".into(),
            operation: "greet".into(),
            schedule_to_close_timeout: (schedule_to_close > 0).then(|| duration(schedule_to_close)),
            ..Default::default()
        },
    )
}

fn cancel(scheduled_event_id: i64) -> command::Attributes {
    command::Attributes::RequestCancelNexusOperationCommandAttributes(
        RequestCancelNexusOperationCommandAttributes { scheduled_event_id },
    )
}

fn complete_with(
    state: &mut MutableState,
    commands: Vec<command::Attributes>,
    now: Millis,
) -> Completion {
    let wft = take_workflow_task(state, now);
    state
        .complete_workflow_task(wft, 1, &completion(commands), &with_endpoint(), now)
        .unwrap()
}

/// A run whose first workflow task scheduled an operation; returns its scheduled event id.
fn run_with_operation(schedule_to_close: Millis) -> (MutableState, i64) {
    let mut state = started_run();
    let done = complete_with(&mut state, vec![schedule(ENDPOINT, schedule_to_close)], T0);
    let scheduled = done.effects.events[1].event_id;
    assert_eq!(
        done.effects.new_tasks,
        [nexus_task(TaskKind::NexusStart, scheduled)]
    );
    (state, scheduled)
}

/// A task of the run's Nexus work (on no task queue).
fn nexus_task(kind: TaskKind, scheduled_event_id: i64) -> Task {
    Task {
        kind,
        task_queue: String::new(),
        scheduled_event_id,
    }
}

/// Gives the run a workflow task to complete (a signal arrives).
fn wake(state: &mut MutableState, now: Millis) {
    let signal = Signal {
        name: "wake".into(),
        input: None,
        header: None,
        identity: "test".into(),
        request_id: String::new(),
        external: None,
    };
    state.signal(signal, now).unwrap();
}

/// An event that came while no workflow task ran, and the task scheduled to deliver it.
fn delivered(event_type: EventType) -> [EventType; 2] {
    [event_type, EventType::WorkflowTaskScheduled]
}

fn failure_of(event: &HistoryEvent) -> Failure {
    match &event.attributes {
        Some(Attributes::NexusOperationFailedEventAttributes(a)) => a.failure.clone(),
        Some(Attributes::NexusOperationCanceledEventAttributes(a)) => a.failure.clone(),
        Some(Attributes::NexusOperationTimedOutEventAttributes(a)) => a.failure.clone(),
        other => panic!("not an operation failure: {other:?}"),
    }
    .unwrap()
}

fn request_id(state: &MutableState, scheduled: i64) -> String {
    state.nexus_operations[&scheduled].request_id.clone()
}

fn started(token: &str) -> NexusStartOutcome {
    NexusStartOutcome::Started {
        token: token.into(),
        links: vec![],
    }
}

/// The callback of operation "token-1", whose backing run started at T0 + 5.
fn callback_reporting(outcome: NexusOutcome) -> NexusCompletion {
    NexusCompletion {
        outcome,
        operation_token: "token-1".into(),
        start_time: T0 + 5,
        start_links: vec![],
    }
}

fn payload(text: &str) -> Payload {
    Payload {
        data: text.as_bytes().to_vec(),
        ..Default::default()
    }
}

#[test]
fn a_scheduled_operation_writes_its_event_and_a_start_task() {
    let (state, scheduled) = run_with_operation(0);
    let op = &state.nexus_operations[&scheduled];
    assert_eq!(
        (op.endpoint.as_str(), op.endpoint_id.as_str()),
        (ENDPOINT, "endpoint-id")
    );
    assert_eq!(op.state, crate::engine::nexus::OperationState::Scheduled);
    // The request id is the operation's, and the same if the change is made again.
    assert_eq!(
        op.request_id,
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"run-1:5").to_string()
    );
    let request = state.nexus_start_request(scheduled).unwrap();
    assert_eq!(request.attempt, 0);
    assert_eq!(request.deadline, None);
    assert!(state.has_work_in_flight());
}

#[test]
fn an_unknown_endpoint_or_a_disallowed_header_fails_the_workflow_task() {
    let mut state = started_run();
    let done = complete_with(&mut state, vec![schedule("nope", 0)], T0);
    assert_eq!(
        done.rejection.as_deref(),
        Some("BadScheduleNexusOperationAttributes: endpoint \"nope\" not found")
    );
    assert_eq!(types(&done.effects), [EventType::WorkflowTaskFailed]);
    let Some(Attributes::WorkflowTaskFailedEventAttributes(failed)) =
        &done.effects.events[0].attributes
    else {
        panic!("a workflow task failure");
    };
    assert_eq!(
        failed.cause,
        WorkflowTaskFailedCause::BadScheduleNexusOperationAttributes as i32
    );

    let mut state = started_run();
    let mut command = schedule(ENDPOINT, 0);
    if let command::Attributes::ScheduleNexusOperationCommandAttributes(attrs) = &mut command {
        attrs
            .nexus_header
            .insert("Request-Timeout".into(), "1s".into());
    }
    let done = complete_with(&mut state, vec![command], T0);
    assert_eq!(
        done.rejection.as_deref(),
        Some(
            "BadScheduleNexusOperationAttributes: ScheduleNexusOperationCommandAttributes.NexusHeader contains a disallowed header key: \"Request-Timeout\""
        )
    );
}

#[test]
fn the_schedule_to_close_timeout_is_capped_by_the_run_timeout() {
    let request = StartWorkflowExecutionRequest {
        workflow_run_timeout: Some(duration(60_000)),
        ..start_request()
    };
    let options = StartOptions {
        run_id: "run-1".into(),
        ..Default::default()
    };
    let mut state = MutableState::start(&request, options, T0).0;
    let done = complete_with(&mut state, vec![schedule(ENDPOINT, 0)], T0);
    let Some(Attributes::NexusOperationScheduledEventAttributes(scheduled)) =
        &done.effects.events[1].attributes
    else {
        panic!("a scheduled event");
    };
    assert_eq!(scheduled.schedule_to_close_timeout, Some(duration(60_000)));
    let request = state.nexus_start_request(5).unwrap();
    assert_eq!(
        request.deadline,
        Some((T0 + 60_000, TimeoutType::ScheduleToClose))
    );
}

#[test]
fn a_synchronous_answer_completes_the_operation() {
    let (mut state, scheduled) = run_with_operation(0);
    let outcome = NexusStartOutcome::Completed {
        result: Some(payload("hi")),
        links: vec![],
    };
    let fx = state
        .record_nexus_start_outcome(scheduled, 0, outcome, T0 + 10)
        .unwrap();
    assert_eq!(types(&fx), delivered(EventType::NexusOperationCompleted));
    assert_eq!(fx.removed_tasks, [scheduled]);
    assert!(state.nexus_operations.is_empty());
    assert!(state.nexus_start_request(scheduled).is_none());
}

#[test]
fn an_asynchronous_operation_starts_then_completes_through_its_callback() {
    let (mut state, scheduled) = run_with_operation(0);
    let fx = state
        .record_nexus_start_outcome(scheduled, 0, started("token-1"), T0 + 10)
        .unwrap();
    assert_eq!(types(&fx), delivered(EventType::NexusOperationStarted));
    let Some(Attributes::NexusOperationStartedEventAttributes(event)) = &fx.events[0].attributes
    else {
        panic!("a started event");
    };
    assert_eq!(event.operation_token, "token-1");
    // A second answer to the same attempt is stale.
    let again = state
        .record_nexus_start_outcome(scheduled, 0, started("token-2"), T0 + 11)
        .unwrap();
    assert!(again.events.is_empty());

    let completion = || callback_reporting(NexusOutcome::Completed(Some(payload("done"))));
    let wrong = state
        .complete_nexus_operation(scheduled, "another-request", completion(), T0 + 20)
        .unwrap();
    assert!(
        wrong.events.is_empty(),
        "a callback of another request changes nothing"
    );
    let id = request_id(&state, scheduled);
    let fx = state
        .complete_nexus_operation(scheduled, &id, completion(), T0 + 20)
        .unwrap();
    assert_eq!(types(&fx)[0], EventType::NexusOperationCompleted);
    assert!(state.nexus_operations.is_empty());
}

#[test]
fn a_callback_before_the_start_answer_writes_the_start_first() {
    let (mut state, scheduled) = run_with_operation(0);
    let id = request_id(&state, scheduled);
    let completion = callback_reporting(NexusOutcome::Failed(app_failure("no")));
    let fx = state
        .complete_nexus_operation(scheduled, &id, completion, T0 + 20)
        .unwrap();
    assert_eq!(
        types(&fx),
        [
            EventType::NexusOperationStarted,
            EventType::NexusOperationFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(fx.events[0].event_time, Some(timestamp(T0 + 5)));
    // The StartOperation request in flight has nothing left to do.
    assert_eq!(fx.removed_tasks, [scheduled]);
    let failure = failure_of(&fx.events[1]);
    assert_eq!(failure.message, "nexus operation completed unsuccessfully");
    let Some(FailureInfo::NexusOperationExecutionFailureInfo(info)) = &failure.failure_info else {
        panic!("the operation's failure info");
    };
    assert_eq!(
        (info.scheduled_event_id, info.operation_token.as_str()),
        (scheduled, "token-1")
    );
    assert_eq!(failure.cause.unwrap().message, "no");
}

#[test]
fn a_failed_attempt_is_retried_after_a_backoff() {
    let (mut state, scheduled) = run_with_operation(0);
    let upstream =
        NexusStartOutcome::AttemptFailed(handler_error("UPSTREAM_TIMEOUT", "upstream timeout"));
    let fx = state
        .record_nexus_start_outcome(scheduled, 0, upstream, T0 + 10)
        .unwrap();
    assert!(fx.events.is_empty());
    assert_eq!(fx.removed_tasks, [scheduled]);
    assert_eq!(state.next_deadline(), Some(T0 + 1_010));
    assert!(state.nexus_start_request(scheduled).is_none());
    let [pending] = &state.describe().pending_nexus_operations[..] else {
        panic!("one pending operation");
    };
    assert_eq!(
        pending.state,
        temporalio_protos::temporal::api::enums::v1::PendingNexusOperationState::BackingOff as i32
    );
    assert_eq!(pending.attempt, 1);
    assert_eq!(
        pending.next_attempt_schedule_time,
        Some(timestamp(T0 + 1_010))
    );
    assert_eq!(
        pending.last_attempt_failure.as_ref().unwrap().message,
        "upstream timeout"
    );

    let fx = state.fire_due(T0 + 1_010);
    assert_eq!(fx.new_tasks, [nexus_task(TaskKind::NexusStart, scheduled)]);
    assert_eq!(state.nexus_start_request(scheduled).unwrap().attempt, 1);
    // An answer to the first attempt is stale now.
    let stale = state
        .record_nexus_start_outcome(scheduled, 0, started("late"), T0 + 1_020)
        .unwrap();
    assert!(stale.events.is_empty() && stale.removed_tasks.is_empty());
    // The second failure waits twice as long.
    let again = NexusStartOutcome::AttemptFailed(handler_error("INTERNAL", "boom"));
    state
        .record_nexus_start_outcome(scheduled, 1, again, T0 + 2_000)
        .unwrap();
    assert_eq!(state.next_deadline(), Some(T0 + 4_000));
}

#[test]
fn an_operation_times_out_at_its_schedule_to_close_deadline() {
    let (mut state, scheduled) = run_with_operation(3_000);
    assert_eq!(state.next_deadline(), Some(T0 + 3_000));
    let fx = state.fire_due(T0 + 3_000);
    assert_eq!(types(&fx), delivered(EventType::NexusOperationTimedOut));
    assert_eq!(fx.removed_tasks, [scheduled]);
    let cause = *failure_of(&fx.events[0]).cause.unwrap();
    assert_eq!(cause.message, "operation timed out");
    assert_eq!(
        cause.failure_info,
        Some(FailureInfo::TimeoutFailureInfo(
            temporalio_protos::temporal::api::failure::v1::TimeoutFailureInfo {
                timeout_type: TimeoutType::ScheduleToClose as i32,
                ..Default::default()
            }
        ))
    );
    assert!(state.nexus_operations.is_empty());
}

#[test]
fn a_cancellation_goes_out_once_the_operation_started() {
    let (mut state, scheduled) = run_with_operation(0);
    wake(&mut state, T0 + 1);
    let done = complete_with(&mut state, vec![cancel(scheduled)], T0 + 1);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::NexusOperationCancelRequested
        ]
    );
    let requested = done.effects.events[1].event_id;
    assert!(
        done.effects.new_tasks.is_empty(),
        "nothing to cancel before the start"
    );

    let fx = state
        .record_nexus_start_outcome(scheduled, 0, started("token-1"), T0 + 10)
        .unwrap();
    assert_eq!(
        fx.new_tasks,
        [
            nexus_task(TaskKind::NexusCancel, requested),
            Task {
                kind: TaskKind::Workflow,
                task_queue: STICKY.into(),
                scheduled_event_id: 12,
            }
        ]
    );
    let request = state.nexus_cancel_request(requested).unwrap();
    assert_eq!(request.operation_token, "token-1");

    let fx = state
        .record_nexus_cancel_outcome(requested, 0, NexusCancelOutcome::Delivered, T0 + 12)
        .unwrap();
    assert_eq!(
        fx.events.len(),
        1,
        "buffered behind the pending workflow task? no: appended"
    );
    assert_eq!(
        EventType::try_from(fx.events[0].event_type).unwrap(),
        EventType::NexusOperationCancelRequestCompleted
    );
    assert!(fx.events[0].worker_may_ignore);
    assert_eq!(fx.removed_tasks, [requested]);

    let id = request_id(&state, scheduled);
    let canceled = Failure {
        message: "operation canceled".into(),
        failure_info: Some(FailureInfo::CanceledFailureInfo(
            CanceledFailureInfo::default(),
        )),
        ..Default::default()
    };
    let completion = callback_reporting(NexusOutcome::Canceled(canceled));
    let fx = state
        .complete_nexus_operation(scheduled, &id, completion, T0 + 20)
        .unwrap();
    assert_eq!(types(&fx), [EventType::NexusOperationCanceled]);
}

#[test]
fn a_refused_cancellation_is_recorded_and_a_retryable_one_retried() {
    let (mut state, scheduled) = run_with_operation(0);
    state
        .record_nexus_start_outcome(scheduled, 0, started("token-1"), T0 + 10)
        .unwrap();
    let done = complete_with(&mut state, vec![cancel(scheduled)], T0 + 11);
    let requested = done.effects.events[1].event_id;
    let unavailable = NexusCancelOutcome::AttemptFailed(handler_error("UNAVAILABLE", "later"));
    let fx = state
        .record_nexus_cancel_outcome(requested, 0, unavailable, T0 + 12)
        .unwrap();
    assert!(fx.events.is_empty());
    let fx = state.fire_due(T0 + 1_012);
    assert_eq!(fx.new_tasks[0].kind, TaskKind::NexusCancel);
    let refused = NexusCancelOutcome::Failed(handler_error("NOT_FOUND", "no such operation"));
    let fx = state
        .record_nexus_cancel_outcome(requested, 1, refused, T0 + 1_020)
        .unwrap();
    assert_eq!(
        types(&fx),
        delivered(EventType::NexusOperationCancelRequestFailed)
    );
    // The operation itself is still pending.
    assert!(state.nexus_operations.contains_key(&scheduled));
}

#[test]
fn cancelling_an_unknown_operation_or_twice_fails_the_workflow_task() {
    let (mut state, scheduled) = run_with_operation(0);
    wake(&mut state, T0 + 1);
    let done = complete_with(&mut state, vec![cancel(99)], T0 + 1);
    assert_eq!(
        done.rejection.as_deref(),
        Some(
            "BadRequestCancelNexusOperationAttributes: requested cancelation for a non-existing or already completed operation with scheduled event ID of 99"
        )
    );
    let mut state_twice = run_with_operation(0).0;
    wake(&mut state_twice, T0 + 1);
    let done = complete_with(
        &mut state_twice,
        vec![cancel(scheduled), cancel(scheduled)],
        T0 + 1,
    );
    assert_eq!(
        done.rejection.as_deref(),
        Some(&*format!(
            "BadRequestCancelNexusOperationAttributes: cancelation was already requested for an operation with scheduled event ID {scheduled}"
        ))
    );
}

#[test]
fn a_closing_caller_abandons_its_operations() {
    let (mut state, scheduled) = run_with_operation(0);
    wake(&mut state, T0 + 1);
    let done = complete_with(&mut state, vec![complete_workflow()], T0 + 1);
    assert!(done.effects.removed_tasks.contains(&scheduled));
    assert!(state.nexus_operations.is_empty());
}

fn callback() -> Callback {
    Callback {
        variant: Some(callback::Variant::Nexus(callback::Nexus {
            url: SYSTEM_CALLBACK_URL.into(),
            header: [("Temporal-Callback-Token".to_owned(), "t".to_owned())].into(),
        })),
        links: vec![],
    }
}

#[test]
fn a_run_with_callbacks_reports_the_end_of_its_chain() {
    let request = StartWorkflowExecutionRequest {
        completion_callbacks: vec![callback()],
        ..start_request()
    };
    let options = StartOptions {
        run_id: "run-1".into(),
        ..Default::default()
    };
    let (mut state, fx) = MutableState::start(&request, options, T0);
    // Stored and shown with lower-case header keys, as the real server does.
    let Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) =
        &fx.events[0].attributes
    else {
        panic!("a started event");
    };
    let Some(callback::Variant::Nexus(nexus)) = &started.completion_callbacks[0].variant else {
        panic!("a Nexus callback");
    };
    assert!(nexus.header.contains_key("temporal-callback-token"));

    // Continued as new: the callbacks go to the next run, which reports the end.
    let wft = take_workflow_task(&mut state, T0);
    let continue_as_new =
        command::Attributes::ContinueAsNewWorkflowExecutionCommandAttributes(Default::default());
    let done = complete(&mut state, wft, vec![continue_as_new], T0 + 1);
    assert!(
        done.effects
            .new_tasks
            .iter()
            .all(|t| t.kind != TaskKind::CompletionCallbacks)
    );
    let (mut next, _) = *done.effects.next_run.unwrap();
    assert_eq!(next.completion_callbacks.len(), 1);
    let wft = take_workflow_task(&mut next, T0 + 2);
    let done = complete(&mut next, wft, vec![complete_workflow()], T0 + 3);
    let close_event_id = next.close_event_id.unwrap();
    assert!(done.effects.new_tasks.contains(&nexus_task(
        TaskKind::CompletionCallbacks,
        completion_callbacks_task_id(close_event_id)
    )));
    assert_eq!(
        completion_callbacks_task_id(completion_callbacks_task_id(7)),
        7
    );
}

#[test]
fn a_closed_run_reports_its_result_or_what_ended_it() {
    let cases = [
        (
            Attributes::WorkflowExecutionCanceledEventAttributes(
                WorkflowExecutionCanceledEventAttributes::default(),
            ),
            ("canceled", "operation canceled"),
        ),
        (
            Attributes::WorkflowExecutionTerminatedEventAttributes(
                WorkflowExecutionTerminatedEventAttributes::default(),
            ),
            ("failed", "operation terminated"),
        ),
    ];
    for (attributes, expected) in cases {
        let closed = HistoryEvent {
            attributes: Some(attributes),
            ..Default::default()
        };
        let (kind, cause) = match outcome_of_close(&closed) {
            NexusOutcome::Canceled(cause) => ("canceled", cause),
            NexusOutcome::Failed(cause) => ("failed", cause),
            NexusOutcome::Completed(result) => panic!("completed with {result:?}"),
        };
        assert_eq!((kind, cause.message.as_str()), expected);
    }
}

#[test]
fn a_start_that_uses_the_running_run_attaches_its_callbacks_once() {
    use temporalio_protos::temporal::api::workflow::v1::OnConflictOptions;
    let mut state = started_run();
    let request = StartWorkflowExecutionRequest {
        completion_callbacks: vec![callback()],
        on_conflict_options: Some(OnConflictOptions {
            attach_request_id: true,
            attach_completion_callbacks: true,
            attach_links: true,
        }),
        ..start_request()
    };
    let fx = state.attach_on_conflict(&request, "req-2", T0 + 1);
    assert_eq!(types(&fx), [EventType::WorkflowExecutionOptionsUpdated]);
    assert!(fx.events[0].worker_may_ignore);
    let Some(Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(attached)) =
        &fx.events[0].attributes
    else {
        panic!("an options updated event");
    };
    assert_eq!(attached.attached_request_id, "req-2");
    assert_eq!(attached.attached_completion_callbacks.len(), 1);
    assert_eq!(state.completion_callbacks.len(), 1);
    // The same request again (a retried StartOperation) attaches nothing more.
    let again = state.attach_on_conflict(&request, "req-2", T0 + 2);
    assert!(again.events.is_empty());
    assert_eq!(state.completion_callbacks.len(), 1);
}
