//! Signals and signal-with-start.

use super::*;

fn signal(name: &str, request_id: &str) -> Signal {
    Signal {
        name: name.into(),
        identity: "client".into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

#[test]
fn a_signal_to_an_idle_run_is_written_and_wakes_the_workflow() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![], T0 + 1);
    let fx = state.signal(signal("go", "s-1"), T0 + 2).unwrap();
    assert_eq!(
        types(&fx),
        [
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(
        fx.new_tasks[0].task_queue, STICKY,
        "the worker has the run cached"
    );
    let Some(Attributes::WorkflowExecutionSignaledEventAttributes(signaled)) =
        &fx.events[0].attributes
    else {
        panic!("a signaled event");
    };
    assert_eq!(
        (signaled.signal_name.as_str(), signaled.request_id.as_str()),
        ("go", "s-1")
    );
}

#[test]
fn signals_while_a_task_is_pending_need_no_second_task_and_retries_are_ignored() {
    let mut state = started_run();
    let fx = state.signal(signal("a", "s-1"), T0 + 1).unwrap();
    assert_eq!(types(&fx), [EventType::WorkflowExecutionSignaled]);
    assert!(
        fx.new_tasks.is_empty(),
        "the first workflow task delivers it"
    );
    let retried = state.signal(signal("a", "s-1"), T0 + 2).unwrap();
    assert!(retried.events.is_empty(), "same request id: delivered once");
    let other = state.signal(signal("b", ""), T0 + 3).unwrap();
    assert_eq!(types(&other), [EventType::WorkflowExecutionSignaled]);
}

#[test]
fn signal_with_start_writes_the_signal_before_the_first_task() {
    let options = StartOptions {
        run_id: "run-1".into(),
        request_id: "req-1".into(),
        signal: Some(signal("go", "req-1")),
        ..Default::default()
    };
    let (mut state, fx) = MutableState::start(&start_request(), options, T0);
    assert_eq!(
        types(&fx),
        [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
    let retried = state.signal(signal("go", "req-1"), T0 + 1).unwrap();
    assert!(retried.events.is_empty());
}

#[test]
fn a_closed_run_takes_no_signal() {
    let mut state = started_run();
    state.terminate(T0, "done", None, "me").unwrap();
    assert_eq!(
        state.signal(signal("late", ""), T0 + 1).unwrap_err(),
        EngineError::AlreadyCompleted
    );
}
