//! What holds the clock while time skips, and per-workflow time skipping.

use temporalio_protos::temporal::api::common::v1::{FastForwardConfig, TimeSkippingConfig};
use temporalio_protos::temporal::api::history::v1::{
    HistoryEvent, WorkflowExecutionTimeSkippingTransitionedEventAttributes,
};

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

fn skipping_run(config: TimeSkippingConfig) -> MutableState {
    let request = StartWorkflowExecutionRequest {
        time_skipping_config: Some(config),
        ..start_request()
    };
    let options = StartOptions {
        run_id: "run-1".into(),
        request_id: "req-1".into(),
        ..Default::default()
    };
    MutableState::start(&request, options, T0).0
}

fn enabled() -> TimeSkippingConfig {
    TimeSkippingConfig {
        enabled: true,
        ..Default::default()
    }
}

fn transition(
    fx: &Effects,
) -> (
    &HistoryEvent,
    &WorkflowExecutionTimeSkippingTransitionedEventAttributes,
) {
    let event = fx
        .events
        .iter()
        .find(|e| e.event_type == EventType::WorkflowExecutionTimeSkippingTransitioned as i32)
        .expect("a transition");
    let Some(Attributes::WorkflowExecutionTimeSkippingTransitionedEventAttributes(attrs)) =
        &event.attributes
    else {
        panic!("transition attributes")
    };
    (event, attrs)
}

const DAY: Millis = 24 * 3600 * 1000;

#[test]
fn an_idle_skipping_run_jumps_to_its_timer_and_the_timer_fires_at_once() {
    let mut state = skipping_run(enabled());
    assert!(
        state.skip_time(T0).events.is_empty(),
        "a workflow task is pending"
    );
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![start_timer("t", 30 * DAY)], T0 + 5);
    let fx = state.skip_time(T0 + 5);
    let (event, attrs) = transition(&fx);
    assert!(event.worker_may_ignore);
    assert_eq!(attrs.target_time, Some(timestamp(T0 + 5 + 30 * DAY)));
    assert!(!attrs.disabled_after_fast_forward);
    assert_eq!(
        state.timer_fire_at(),
        Some(T0 + 5),
        "the timer is due now by the server's clock"
    );
    assert_eq!(state.now_at(T0 + 5), T0 + 5 + 30 * DAY);
    let fired = state.fire_due(state.now_at(T0 + 6));
    assert_eq!(
        types(&fired)[..2],
        [EventType::TimerFired, EventType::WorkflowTaskScheduled]
    );
    assert_eq!(
        fired.events[0].event_time,
        Some(timestamp(T0 + 6 + 30 * DAY))
    );
    assert!(state.skip_time(state.now_at(T0 + 6)).events.is_empty());
}

#[test]
fn a_fast_forward_caps_the_skip_and_then_ends_skipping() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![start_timer("t", 30 * DAY)], T0 + 5);
    assert!(
        state.skip_time(T0 + 5).events.is_empty(),
        "no config, no skipping"
    );

    let config = TimeSkippingConfig {
        enabled: true,
        fast_forward_config: Some(FastForwardConfig {
            id: "ff-1".into(),
            duration: Some(duration(DAY)),
        }),
        ..Default::default()
    };
    let fx = state
        .set_time_skipping_config(config, "tester", T0 + 10)
        .unwrap();
    assert_eq!(types(&fx), [EventType::WorkflowExecutionOptionsUpdated]);
    assert!(fx.events[0].worker_may_ignore);
    assert!(fx.new_tasks.is_empty(), "workers need no task for it");
    assert_eq!(
        state.fast_forward_progress("ff-1").0,
        FastForwardProgress::Pending
    );
    let fx = state.skip_time(T0 + 10);
    let (_, attrs) = transition(&fx);
    assert_eq!(attrs.target_time, Some(timestamp(T0 + 10 + DAY)));
    assert!(attrs.disabled_after_fast_forward);
    assert_eq!(
        state.fast_forward_progress("ff-1").0,
        FastForwardProgress::Completed
    );
    assert!(matches!(
        state.fast_forward_progress("other").0,
        FastForwardProgress::Failed(reason) if reason.contains("fast_forward_id does not match")
    ));
    assert!(
        state.skip_time(state.now_at(T0 + 11)).events.is_empty(),
        "skipping ended with the fast-forward"
    );
    let info = state.time_skipping_info(T0 + 11).unwrap();
    assert_eq!(info.current_time, Some(timestamp(T0 + 11 + DAY)));
    assert!(info.fast_forward_info.unwrap().has_completed);
}

#[test]
fn skipping_stops_after_the_session_skip_limit() {
    let mut state = skipping_run(TimeSkippingConfig {
        enabled: true,
        max_session_skip_count: 1,
        ..Default::default()
    });
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![start_timer("t", DAY)], T0 + 5);
    transition(&state.skip_time(T0 + 5));
    assert!(!state.time_skipping_config().unwrap().enabled);
}

#[test]
fn the_next_run_and_children_inherit_the_clock() {
    let mut state = skipping_run(TimeSkippingConfig {
        enabled: true,
        disable_propagation: true,
        ..Default::default()
    });
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![start_timer("t", DAY)], T0 + 5);
    state.skip_time(T0 + 5);

    let (child_config, child_clock) = state.time_skipping_for_child();
    assert_eq!(child_config, None, "propagation to children is disabled");
    let child_clock = child_clock.unwrap();
    assert_eq!(child_clock.initial_skipped_duration, Some(duration(DAY)));
    let (next_config, next_clock) = state.time_skipping_for_next_run();
    assert!(next_config.unwrap().enabled);
    let next_clock = next_clock.unwrap();
    assert_eq!(next_clock.initial_skip_count, 1);
    assert_eq!(inherited_now(T0 + 6, Some(&next_clock)), T0 + 6 + DAY);
}

#[test]
fn an_options_change_during_a_workflow_task_waits_without_asking_for_another_task() {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    let fx = state
        .set_time_skipping_config(enabled(), "tester", T0 + 1)
        .unwrap();
    assert!(fx.events.is_empty(), "buffered behind the running task");
    let done = complete(&mut state, wft, vec![complete_workflow()], T0 + 2);
    assert!(
        done.rejection.is_none(),
        "the worker need not see it before closing"
    );
    assert_eq!(state.close_event_id, Some(state.next_event_id - 1));
}

#[test]
fn a_run_with_a_child_running_waits_for_it_before_skipping() {
    use temporalio_protos::temporal::api::enums::v1::ParentClosePolicy;
    let mut state = skipping_run(enabled());
    let wft = take_workflow_task(&mut state, T0);
    let done = complete(
        &mut state,
        wft,
        vec![
            super::children::start_child("kid", ParentClosePolicy::Terminate),
            start_timer("t", DAY),
        ],
        T0 + 1,
    );
    let initiated = done.effects.events[1].event_id;
    assert!(
        state.skip_time(T0 + 1).events.is_empty(),
        "the child is being started"
    );
    state
        .record_child_started(initiated, "kid-run", T0 + 2)
        .unwrap();
    let wft = take_workflow_task(&mut state, T0 + 3);
    complete(&mut state, wft, vec![], T0 + 4);
    assert!(!state.has_work_in_flight());
    assert!(
        state.skip_time(T0 + 4).events.is_empty(),
        "the running child may report before the timer"
    );
}
