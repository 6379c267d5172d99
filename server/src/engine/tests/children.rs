//! Child workflows, their parents, and requests to other workflows.

use temporalio_protos::temporal::api::command::v1::{
    SignalExternalWorkflowExecutionCommandAttributes, StartChildWorkflowExecutionCommandAttributes,
};
use temporalio_protos::temporal::api::common::v1::WorkflowType;
use temporalio_protos::temporal::api::enums::v1::ParentClosePolicy;
use temporalio_protos::temporal::api::history::v1::{
    HistoryEvent, WorkflowExecutionCompletedEventAttributes,
};

use super::*;

pub(super) fn start_child(workflow_id: &str, policy: ParentClosePolicy) -> command::Attributes {
    command::Attributes::StartChildWorkflowExecutionCommandAttributes(
        StartChildWorkflowExecutionCommandAttributes {
            workflow_id: workflow_id.into(),
            workflow_type: Some(WorkflowType {
                name: "Child".into(),
            }),
            parent_close_policy: policy as i32,
            ..Default::default()
        },
    )
}

/// The command signalling "ping" to any run of `workflow_id`.
pub(super) fn signal_workflow(workflow_id: &str) -> command::Attributes {
    command::Attributes::SignalExternalWorkflowExecutionCommandAttributes(
        SignalExternalWorkflowExecutionCommandAttributes {
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
            signal_name: "ping".into(),
            ..Default::default()
        },
    )
}

/// A parent whose first task started a child; returns the initiated event id.
fn parent_with_child(policy: ParentClosePolicy) -> (MutableState, i64) {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let done = complete(&mut state, wft, vec![start_child("kid", policy)], T0 + 1);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::StartChildWorkflowExecutionInitiated
        ]
    );
    let initiated = done.effects.events[1].event_id;
    assert_eq!(
        done.effects.new_tasks,
        [Task {
            kind: TaskKind::StartChild,
            task_queue: String::new(),
            scheduled_event_id: initiated,
        }]
    );
    (state, initiated)
}

fn completed_event() -> HistoryEvent {
    HistoryEvent {
        event_id: 5,
        attributes: Some(Attributes::WorkflowExecutionCompletedEventAttributes(
            WorkflowExecutionCompletedEventAttributes::default(),
        )),
        ..Default::default()
    }
}

#[test]
fn a_child_starts_and_its_result_reaches_the_parent() {
    let (mut state, initiated) = parent_with_child(ParentClosePolicy::Terminate);
    let (request, parent, _) = state
        .child_start_request(initiated)
        .expect("not started yet");
    assert_eq!(request.workflow_id, "kid");
    assert_eq!(request.request_id, format!("run-1:{initiated}"));
    assert_eq!(parent.initiated_event_id, initiated);
    assert_eq!(parent.root, ("wf".to_owned(), "run-1".to_owned()));

    let fx = state
        .record_child_started(initiated, "kid-run", T0 + 2)
        .unwrap();
    assert_eq!(fx.removed_tasks, [initiated], "the start task is done");
    assert_eq!(
        types(&fx),
        [
            EventType::ChildWorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled
        ]
    );
    let started_event_id = fx.events[0].event_id;
    assert!(state.child_start_request(initiated).is_none());

    let wft = take_workflow_task(&mut state, T0 + 3);
    complete(&mut state, wft, vec![], T0 + 4);
    let fx = state
        .record_child_closed(initiated, "kid-run", &completed_event(), T0 + 5)
        .unwrap();
    let Some(Attributes::ChildWorkflowExecutionCompletedEventAttributes(completed)) =
        &fx.events[0].attributes
    else {
        panic!("a child completed event");
    };
    assert_eq!(
        (completed.initiated_event_id, completed.started_event_id),
        (initiated, started_event_id)
    );
    assert!(state.children.is_empty());
}

#[test]
fn a_child_that_closes_before_its_start_was_reported_reports_both() {
    let (mut state, initiated) = parent_with_child(ParentClosePolicy::Abandon);
    let fx = state
        .record_child_closed(initiated, "kid-run", &completed_event(), T0 + 2)
        .unwrap();
    assert_eq!(
        types(&fx),
        [
            EventType::ChildWorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled,
            EventType::ChildWorkflowExecutionCompleted
        ]
    );
    // The start task that runs late finds nothing left to do.
    let late = state
        .record_child_started(initiated, "kid-run", T0 + 3)
        .unwrap();
    assert!(late.events.is_empty());
}

#[test]
fn closing_the_parent_applies_the_close_policy_to_started_children() {
    let (mut state, initiated) = parent_with_child(ParentClosePolicy::Terminate);
    state
        .record_child_started(initiated, "kid-run", T0 + 2)
        .unwrap();
    let wft = take_workflow_task(&mut state, T0 + 3);
    let done = complete(&mut state, wft, vec![complete_workflow()], T0 + 4);
    let policy_task = close_policy_task_id(initiated);
    assert!(
        done.effects.new_tasks.iter().any(|t| {
            t.kind == TaskKind::ParentClosePolicy && t.scheduled_event_id == policy_task
        })
    );
    let policy = state.close_policy(initiated).expect("a policy to apply");
    assert_eq!(policy.action, CloseAction::Terminate);
    assert_eq!(policy.run_id, "kid-run");
}

#[test]
fn an_abandoned_child_is_left_alone() {
    let (mut state, initiated) = parent_with_child(ParentClosePolicy::Abandon);
    state
        .record_child_started(initiated, "kid-run", T0 + 2)
        .unwrap();
    let wft = take_workflow_task(&mut state, T0 + 3);
    let done = complete(&mut state, wft, vec![complete_workflow()], T0 + 4);
    assert!(done.effects.new_tasks.is_empty());
    assert!(state.close_policy(initiated).is_none());
}

#[test]
fn a_child_run_that_closes_tells_its_parent() {
    let (parent, initiated) = parent_with_child(ParentClosePolicy::Terminate);
    let (request, parent_info, _) = parent.child_start_request(initiated).unwrap();
    let options = StartOptions {
        run_id: "kid-run".into(),
        request_id: request.request_id.clone(),
        parent: Some(parent_info),
        ..Default::default()
    };
    let (mut child, _) = MutableState::start(&request, options, T0 + 2);
    let fx = child.terminate(T0 + 3, "stop", None, "me").unwrap();
    assert!(
        fx.new_tasks.iter().any(|t| t.kind == TaskKind::ChildClosed
            && Some(t.scheduled_event_id) == child.close_event_id)
    );
}

#[test]
fn an_external_signal_reports_delivery_or_a_missing_target() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let command = signal_workflow("other");
    let done = complete(&mut state, wft, vec![command.clone(), command], T0 + 1);
    let (first, second) = (
        done.effects.events[1].event_id,
        done.effects.events[2].event_id,
    );
    assert!(matches!(
        state.external_request(first),
        Some(ExternalRequest::Signal(_))
    ));
    let delivered = state.record_external_outcome(first, true, T0 + 2).unwrap();
    assert_eq!(
        types(&delivered)[0],
        EventType::ExternalWorkflowExecutionSignaled
    );
    let missing = state
        .record_external_outcome(second, false, T0 + 3)
        .unwrap();
    assert_eq!(
        types(&missing),
        [EventType::SignalExternalWorkflowExecutionFailed]
    );
    assert!(state.external_requests.is_empty());
}

#[test]
fn a_request_knows_whether_it_targets_a_workflow_whatever_the_run() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let done = complete(&mut state, wft, vec![signal_workflow("wf")], T0 + 1);
    let request = state
        .external_request(done.effects.events[1].event_id)
        .unwrap();
    assert!(request.targets("default", "wf"), "the run's own workflow");
    assert!(!request.targets("default", "other"));
    assert!(!request.targets("elsewhere", "wf"));
}

#[test]
fn a_run_that_closes_before_its_request_is_delivered_asks_nothing_more() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let command = signal_workflow("other");
    let done = complete(&mut state, wft, vec![command], T0 + 1);
    let initiated = done.effects.events[1].event_id;
    assert!(state.external_request(initiated).is_some());
    state.terminate(T0 + 2, "enough", None, "client").unwrap();
    assert!(
        state.external_request(initiated).is_none(),
        "the transfer task finds nothing to deliver"
    );
}

#[test]
fn a_child_that_starts_and_closes_while_a_task_runs_names_its_started_event() {
    let (mut state, initiated) = parent_with_child(ParentClosePolicy::Abandon);
    state.signal(Signal::default(), T0 + 2).unwrap();
    let wft = take_workflow_task(&mut state, T0 + 3);
    state
        .record_child_started(initiated, "kid-run", T0 + 4)
        .unwrap();
    state.signal(Signal::default(), T0 + 5).unwrap();
    let fx = state
        .record_child_closed(initiated, "kid-run", &completed_event(), T0 + 6)
        .unwrap();
    assert!(fx.events.is_empty(), "buffered while the task runs");

    let done = complete(&mut state, wft, vec![], T0 + 7);
    let events = &done.effects.events;
    assert_eq!(
        types(&done.effects)[1..4],
        [
            EventType::ChildWorkflowExecutionStarted,
            EventType::WorkflowExecutionSignaled,
            EventType::ChildWorkflowExecutionCompleted
        ]
    );
    let Some(Attributes::ChildWorkflowExecutionCompletedEventAttributes(completed)) =
        &events[3].attributes
    else {
        panic!("a child completed event");
    };
    assert_eq!(completed.started_event_id, events[1].event_id);
}
