//! What holds the clock while time skips.

use super::*;

#[test]
fn work_in_flight_is_a_workflow_task_or_an_activity_attempt_not_a_timer_or_a_backoff() {
    let mut state = started_run();
    assert!(state.has_work_in_flight(), "the first workflow task");
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![start_timer("t", 60_000)], T0 + 5);
    assert!(!state.has_work_in_flight(), "a timer waits for the clock");

    let retry = RetryPolicyProto {
        initial_interval: Some(duration(10_000)),
        ..Default::default()
    };
    let (mut state, scheduled) = run_with_activity(Some(retry));
    assert!(
        state.has_work_in_flight(),
        "an activity waiting in its queue"
    );
    state
        .record_activity_task_started(scheduled, "worker", "p", T0 + 10)
        .unwrap();
    assert!(state.has_work_in_flight(), "a running attempt");
    state
        .fail_activity(scheduled, 1, app_failure("boom"), None, "worker", T0 + 20)
        .unwrap();
    assert!(
        !state.has_work_in_flight(),
        "an activity waiting out its retry backoff"
    );
    state.fire_due(T0 + 20 + 10_000);
    assert!(state.has_work_in_flight(), "the next attempt");
}

#[test]
fn a_closed_run_has_nothing_in_flight() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![complete_workflow()], T0 + 5);
    assert!(!state.is_open());
    assert!(!state.has_work_in_flight());
}
