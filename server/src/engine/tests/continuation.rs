//! Runs that continue a chain: continue-as-new, workflow retries, cron and start delays.

use temporalio_protos::temporal::api::command::v1::{
    ContinueAsNewWorkflowExecutionCommandAttributes, FailWorkflowExecutionCommandAttributes,
};
use temporalio_protos::temporal::api::enums::v1::ContinueAsNewInitiator;

use super::*;

fn start_with(request: StartWorkflowExecutionRequest) -> (MutableState, Effects) {
    let options = StartOptions {
        run_id: "run-1".into(),
        request_id: "req-1".into(),
        ..Default::default()
    };
    MutableState::start(&request, options, T0)
}

fn started_attributes(fx: &Effects) -> &WorkflowExecutionStartedEventAttributes {
    match &fx.events[0].attributes {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => a,
        other => panic!("not a started event: {other:?}"),
    }
}

fn fail_workflow(message: &str) -> command::Attributes {
    command::Attributes::FailWorkflowExecutionCommandAttributes(
        FailWorkflowExecutionCommandAttributes {
            failure: Some(app_failure(message)),
        },
    )
}

#[test]
fn continue_as_new_closes_the_run_and_starts_the_next_with_the_new_input() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let input = Payloads {
        payloads: vec![Payload {
            data: b"2".to_vec(),
            ..Default::default()
        }],
    };
    let command = command::Attributes::ContinueAsNewWorkflowExecutionCommandAttributes(
        ContinueAsNewWorkflowExecutionCommandAttributes {
            input: Some(input.clone()),
            ..Default::default()
        },
    );
    let mut done = complete(&mut state, wft, vec![command], T0 + 1);
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionContinuedAsNew
        ]
    );
    assert_eq!(state.status, WorkflowExecutionStatus::ContinuedAsNew as i32);
    let (next, next_fx) = *done.effects.next_run.take().expect("a next run");
    assert_eq!(next.run_id, successor_run_id("run-1"));
    assert_eq!(next.first_execution_run_id, "run-1");
    assert_eq!(
        (next.workflow_type.as_str(), next.task_queue.as_str()),
        ("Greeting", "q")
    );
    let started = started_attributes(&next_fx);
    assert_eq!(started.continued_execution_run_id, "run-1");
    assert_eq!(started.initiator, ContinueAsNewInitiator::Workflow as i32);
    assert_eq!(started.input, Some(input));
    assert_eq!(types(&next_fx)[1], EventType::WorkflowTaskScheduled);
}

#[test]
fn a_failed_run_is_retried_after_its_backoff_until_attempts_run_out() {
    let mut request = start_request();
    request.retry_policy = Some(RetryPolicyProto {
        initial_interval: Some(duration(100)),
        backoff_coefficient: 1.0,
        maximum_attempts: 2,
        ..Default::default()
    });
    let (mut state, _) = start_with(request);
    let wft = take_workflow_task(&mut state, T0);
    let mut done = complete(&mut state, wft, vec![fail_workflow("first")], T0 + 1);
    let Some(Attributes::WorkflowExecutionFailedEventAttributes(failed)) =
        &done.effects.events[1].attributes
    else {
        panic!("a failed event");
    };
    assert_eq!(failed.retry_state, RetryState::InProgress as i32);
    let (mut next, next_fx) = *done.effects.next_run.take().expect("a retry");
    assert_eq!(failed.new_execution_run_id, next.run_id);
    assert_eq!(next.attempt, 2);
    assert_eq!(
        types(&next_fx),
        [EventType::WorkflowExecutionStarted],
        "the first task waits out the backoff"
    );
    assert_eq!(
        started_attributes(&next_fx).initiator,
        ContinueAsNewInitiator::Retry as i32
    );
    assert_eq!(next.next_deadline(), Some(T0 + 101));
    let fired = next.fire_due(T0 + 101);
    assert_eq!(types(&fired), [EventType::WorkflowTaskScheduled]);

    let wft = take_workflow_task(&mut next, T0 + 102);
    let last = complete(&mut next, wft, vec![fail_workflow("second")], T0 + 103);
    assert!(last.effects.next_run.is_none(), "two attempts were allowed");
    let Some(Attributes::WorkflowExecutionFailedEventAttributes(failed)) =
        &last.effects.events[1].attributes
    else {
        panic!("a failed event");
    };
    assert_eq!(
        failed.retry_state,
        RetryState::MaximumAttemptsReached as i32
    );
}

#[test]
fn cron_runs_wait_for_the_schedule_and_pass_the_last_result_on() {
    let mut request = start_request();
    request.cron_schedule = "@every 10s".into();
    let (mut state, fx) = start_with(request);
    assert_eq!(types(&fx), [EventType::WorkflowExecutionStarted]);
    assert_eq!(
        started_attributes(&fx).initiator,
        ContinueAsNewInitiator::CronSchedule as i32
    );
    let fired = state.fire_due(T0 + 10_000);
    assert_eq!(types(&fired), [EventType::WorkflowTaskScheduled]);
    let wft = take_workflow_task(&mut state, T0 + 10_001);
    let mut done = complete(&mut state, wft, vec![complete_workflow()], T0 + 10_002);
    let (next, next_fx) = *done.effects.next_run.take().expect("the next cron run");
    assert_eq!(next.first_workflow_task_at, Some(T0 + 20_000));
    assert_eq!(started_attributes(&next_fx).attempt, 1);
}

#[test]
fn a_start_delay_postpones_the_first_task() {
    let mut request = start_request();
    request.workflow_start_delay = Some(duration(2_000));
    let (mut state, fx) = start_with(request);
    assert_eq!(types(&fx), [EventType::WorkflowExecutionStarted]);
    assert_eq!(state.execution_time(), T0 + 2_000);
    assert!(state.fire_due(T0 + 1_999).events.is_empty());
    assert_eq!(
        types(&state.fire_due(T0 + 2_000)),
        [EventType::WorkflowTaskScheduled]
    );
}
