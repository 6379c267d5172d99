//! Cancellation requests, the CancelWorkflowExecution command, termination and activity
//! cancellation.

use temporalio_protos::temporal::api::command::v1::{
    CancelWorkflowExecutionCommandAttributes, RequestCancelActivityTaskCommandAttributes,
};

use super::*;

fn cancel_request() -> CancelRequest {
    CancelRequest {
        reason: "stop".into(),
        identity: "client".into(),
        external: None,
    }
}

pub(super) fn cancel_activity(scheduled_event_id: i64) -> command::Attributes {
    command::Attributes::RequestCancelActivityTaskCommandAttributes(
        RequestCancelActivityTaskCommandAttributes { scheduled_event_id },
    )
}

pub(super) fn cancel_workflow() -> command::Attributes {
    command::Attributes::CancelWorkflowExecutionCommandAttributes(
        CancelWorkflowExecutionCommandAttributes::default(),
    )
}

#[test]
fn a_cancel_request_is_written_once_and_the_cancel_command_closes_the_run() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![], T0 + 1);
    let fx = state.request_cancel(&cancel_request(), T0 + 2).unwrap();
    assert_eq!(
        types(&fx),
        [
            EventType::WorkflowExecutionCancelRequested,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(state.cancel_requested);
    let again = state.request_cancel(&cancel_request(), T0 + 3).unwrap();
    assert!(again.events.is_empty(), "a second request changes nothing");

    let wft = take_workflow_task(&mut state, T0 + 4);
    let done = complete(&mut state, wft, vec![cancel_workflow()], T0 + 5);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionCanceled
        ]
    );
    assert_eq!(state.status, WorkflowExecutionStatus::Canceled as i32);
}

#[test]
fn terminating_drops_a_pending_task_and_refuses_a_closed_run() {
    let mut state = started_run();
    let fx = state.terminate(T0 + 1, "enough", None, "client").unwrap();
    assert_eq!(types(&fx), [EventType::WorkflowExecutionTerminated]);
    assert_eq!(
        fx.removed_tasks,
        [2],
        "the first workflow task leaves its queue"
    );
    assert_eq!(state.status, WorkflowExecutionStatus::Terminated as i32);
    assert_eq!(
        state
            .terminate(T0 + 2, "again", None, "client")
            .unwrap_err(),
        EngineError::AlreadyCompleted
    );
}

#[test]
fn cancelling_an_activity_nobody_started_cancels_it_at_once() {
    let (mut state, scheduled) = run_with_activity(None);
    let wft = {
        state.signal(Signal::default(), T0 + 10).unwrap();
        take_workflow_task(&mut state, T0 + 11)
    };
    let done = complete(&mut state, wft, vec![cancel_activity(scheduled)], T0 + 12);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskCancelRequested,
            EventType::ActivityTaskCanceled,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(done.effects.removed_tasks.contains(&scheduled));
    assert!(state.activities.is_empty());
}

#[test]
fn a_running_activity_learns_of_its_cancellation_from_a_heartbeat() {
    let (mut state, scheduled) = run_with_activity(None);
    state
        .record_activity_task_started(scheduled, "worker", "poll", T0 + 6)
        .unwrap();
    let (_, cancel_requested) = state
        .record_activity_heartbeat(scheduled, 1, None, T0 + 7)
        .unwrap();
    assert!(!cancel_requested);
    assert_eq!(
        state
            .cancel_activity(scheduled, 1, None, "worker", T0 + 8)
            .unwrap_err(),
        EngineError::InvalidArgument(
            "unable to mark activity as canceled without activity being request canceled first"
                .into()
        )
    );

    state.signal(Signal::default(), T0 + 9).unwrap();
    let wft = take_workflow_task(&mut state, T0 + 10);
    let done = complete(&mut state, wft, vec![cancel_activity(scheduled)], T0 + 11);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskCancelRequested
        ]
    );
    let (_, cancel_requested) = state
        .record_activity_heartbeat(scheduled, 1, None, T0 + 12)
        .unwrap();
    assert!(cancel_requested);

    let fx = state
        .cancel_activity(scheduled, 1, None, "worker", T0 + 13)
        .unwrap();
    assert_eq!(
        types(&fx),
        [
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCanceled,
            EventType::WorkflowTaskScheduled
        ]
    );
    let Some(Attributes::ActivityTaskCanceledEventAttributes(canceled)) = &fx.events[1].attributes
    else {
        panic!("a canceled event");
    };
    assert_eq!(canceled.started_event_id, fx.events[0].event_id);
    assert_eq!(
        canceled.latest_cancel_requested_event_id,
        done.effects.events[1].event_id
    );
}

#[test]
fn a_second_cancel_of_the_same_activity_fails_the_task() {
    let (mut state, scheduled) = run_with_activity(None);
    state.signal(Signal::default(), T0 + 9).unwrap();
    let wft = take_workflow_task(&mut state, T0 + 10);
    let done = complete(
        &mut state,
        wft,
        vec![cancel_activity(scheduled), cancel_activity(scheduled)],
        T0 + 11,
    );
    assert!(done.rejection.is_some());
    assert_eq!(types(&done.effects)[0], EventType::WorkflowTaskFailed);
}

#[test]
fn terminating_under_a_running_workflow_task_fails_the_task_first() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let fx = state.terminate(T0 + 1, "enough", None, "client").unwrap();
    assert_eq!(
        types(&fx),
        [
            EventType::WorkflowTaskFailed,
            EventType::WorkflowExecutionTerminated
        ]
    );
    let Some(Attributes::WorkflowTaskFailedEventAttributes(failed)) = &fx.events[0].attributes
    else {
        panic!("a failed event");
    };
    assert_eq!(
        (
            failed.scheduled_event_id,
            failed.started_event_id,
            failed.cause,
            failed.identity.as_str()
        ),
        (
            wft,
            wft + 1,
            WorkflowTaskFailedCause::ForceCloseCommand as i32,
            SERVER_IDENTITY
        )
    );
    assert_eq!(
        state
            .complete_workflow_task(wft, 1, &completion(vec![]), &PLAIN, T0 + 2)
            .unwrap_err(),
        EngineError::AlreadyCompleted
    );

    // A transient attempt has no events of its own to end.
    let mut state = started_run();
    take_workflow_task(&mut state, T0);
    state.fire_due(T0 + 10_000);
    take_workflow_task(&mut state, T0 + 10_001);
    let fx = state
        .terminate(T0 + 10_002, "enough", None, "client")
        .unwrap();
    assert_eq!(types(&fx), [EventType::WorkflowExecutionTerminated]);
}
