//! Transitions of a schedule's state, with plain values: no store, no clock.

use prost_types::Duration;
use temporalio_protos::temporal::api::common::v1::{Payloads, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::{
    ScheduleOverlapPolicy, WorkflowExecutionStatus, WorkflowIdReusePolicy,
};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::schedule::v1::{
    BackfillRequest, IntervalSpec, Schedule, ScheduleAction, SchedulePatch, SchedulePolicies,
    ScheduleSpec, ScheduleState as ScheduleStateProto, TriggerImmediatelyRequest, schedule_action,
};
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflow::v1::NewWorkflowExecutionInfo;

use crate::engine::{Millis, timestamp};
use crate::schedules::state::{Closed, ScheduleState, conflict_token};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
/// 2024-06-01T00:00:00Z: a whole hour, so hourly times fall on it.
const T0: Millis = 1_717_200_000_000;

fn hourly(policies: SchedulePolicies) -> Schedule {
    let mut schedule = Schedule {
        spec: Some(ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
                phase: None,
            }],
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(
                NewWorkflowExecutionInfo {
                    workflow_id: "wf".into(),
                    workflow_type: Some(WorkflowType {
                        name: "Work".into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: "q".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
        }),
        policies: Some(policies),
        state: None,
    };
    ScheduleState::normalize(&mut schedule);
    schedule
}

fn schedule_at(now: Millis, policies: SchedulePolicies) -> ScheduleState {
    ScheduleState::new("default", "ns-id", "s", hourly(policies), None, None, now)
}

fn completed(value: &[u8]) -> Closed {
    Closed {
        status: WorkflowExecutionStatus::Completed,
        result: Some(Payloads {
            payloads: vec![temporalio_protos::temporal::api::common::v1::Payload {
                data: value.to_vec(),
                ..Default::default()
            }],
        }),
        failure: None,
    }
}

/// Takes what the buffer allows and records each start as made, returning the workflow ids.
fn take_and_start(state: &mut ScheduleState, now: Millis) -> Vec<String> {
    let actions = state.take_buffer();
    for start in &actions.starts {
        state.started(start, &format!("run-{}", start.request.workflow_id), now);
    }
    actions
        .starts
        .into_iter()
        .map(|s| s.request.workflow_id)
        .collect()
}

#[test]
fn spec_times_up_to_now_become_starts_with_the_scheduled_id_and_attributes() {
    let mut state = schedule_at(T0 + MINUTE, SchedulePolicies::default());
    assert_eq!(state.next_wake(), Some(T0 + HOUR));
    state.advance(T0 + HOUR + 5);
    let actions = state.take_buffer();
    let [start] = actions.starts.as_slice() else {
        panic!("one start expected: {actions:?}");
    };
    let request = &start.request;
    assert_eq!(request.workflow_id, "wf-2024-06-01T01:00:00Z");
    assert_eq!(request.identity, "temporal-scheduler-default-s");
    assert_eq!(
        request.workflow_id_reuse_policy,
        WorkflowIdReusePolicy::RejectDuplicate as i32
    );
    let attributes = &request.search_attributes.as_ref().unwrap().indexed_fields;
    assert_eq!(attributes["TemporalScheduledById"].data, b"\"s\"");
    assert_eq!(
        attributes["TemporalScheduledStartTime"].data,
        b"\"2024-06-01T01:00:00Z\""
    );
    // The same start gets the same request id, so starting it again is a no-op.
    let mut again = schedule_at(T0 + MINUTE, SchedulePolicies::default());
    again.advance(T0 + HOUR + 5);
    assert_eq!(
        again.take_buffer().starts[0].request.request_id,
        request.request_id
    );
    assert_eq!(state.next_wake(), Some(T0 + 2 * HOUR));
}

#[test]
fn times_older_than_the_catchup_window_are_missed_and_paused_time_is_never_caught_up() {
    let policies = SchedulePolicies {
        catchup_window: Some(Duration {
            seconds: 90 * 60,
            nanos: 0,
        }),
        ..Default::default()
    };
    let mut state = schedule_at(T0 + MINUTE, policies);
    // Down for three hours: 1:00 is past the window, 2:00 and 3:00 are within it.
    state.advance(T0 + 3 * HOUR + MINUTE);
    assert_eq!(state.info.0.missed_catchup_window, 1);
    assert_eq!(state.buffer.len(), 2);

    let mut paused = schedule_at(T0 + MINUTE, SchedulePolicies::default());
    paused.patch(
        &SchedulePatch {
            pause: "stop".into(),
            ..Default::default()
        },
        T0 + MINUTE,
    );
    assert_eq!(paused.next_wake(), None);
    paused.advance(T0 + 5 * HOUR);
    assert!(paused.buffer.is_empty());
    paused.patch(
        &SchedulePatch {
            unpause: "go".into(),
            ..Default::default()
        },
        T0 + 5 * HOUR,
    );
    assert_eq!(paused.next_wake(), Some(T0 + 6 * HOUR));
}

#[test]
fn a_trigger_acts_while_paused_and_a_backfill_takes_its_start_inclusively() {
    let mut state = schedule_at(T0, SchedulePolicies::default());
    state.patch(
        &SchedulePatch {
            pause: "paused".into(),
            ..Default::default()
        },
        T0,
    );
    state.patch(
        &SchedulePatch {
            trigger_immediately: Some(TriggerImmediatelyRequest::default()),
            backfill_request: vec![BackfillRequest {
                start_time: Some(timestamp(T0 - 3 * HOUR)),
                end_time: Some(timestamp(T0 - MINUTE)),
                overlap_policy: ScheduleOverlapPolicy::AllowAll as i32,
            }],
            ..Default::default()
        },
        T0 + 30 * MINUTE,
    );
    let started = take_and_start(&mut state, T0 + 30 * MINUTE);
    assert_eq!(
        started,
        [
            "wf-2024-05-31T21:00:00Z",
            "wf-2024-05-31T22:00:00Z",
            "wf-2024-05-31T23:00:00Z",
            "wf-2024-06-01T00:30:00Z",
        ]
    );
    // Only the trigger (not overlapping) counts as running.
    assert_eq!(state.running_workflows().len(), 1);
}

#[test]
fn skip_drops_a_start_while_one_runs_and_the_next_one_gets_the_last_result() {
    let mut state = schedule_at(T0 + MINUTE, SchedulePolicies::default());
    state.advance(T0 + HOUR);
    let first = take_and_start(&mut state, T0 + HOUR);
    state.advance(T0 + 2 * HOUR);
    assert!(take_and_start(&mut state, T0 + 2 * HOUR).is_empty());
    assert_eq!(state.info.0.overlap_skipped, 1);
    state.closed(&first[0], &completed(b"one"));
    assert!(state.running_workflows().is_empty());
    assert_eq!(
        state.info.0.recent_actions[0].start_workflow_status,
        WorkflowExecutionStatus::Completed as i32
    );
    state.advance(T0 + 3 * HOUR);
    let actions = state.take_buffer();
    let result = actions.starts[0].request.last_completion_result.as_ref();
    assert_eq!(result.unwrap().payloads[0].data, b"one");
}

#[test]
fn buffer_one_waits_for_the_close_and_terminate_other_asks_to_terminate() {
    let buffer_one = SchedulePolicies {
        overlap_policy: ScheduleOverlapPolicy::BufferOne as i32,
        ..Default::default()
    };
    let mut state = schedule_at(T0 + MINUTE, buffer_one);
    state.advance(T0 + HOUR);
    let first = take_and_start(&mut state, T0 + HOUR);
    state.advance(T0 + 3 * HOUR);
    assert!(take_and_start(&mut state, T0 + 3 * HOUR).is_empty());
    assert_eq!((state.buffer.len(), state.info.0.overlap_skipped), (1, 1));
    state.closed(&first[0], &completed(b""));
    assert_eq!(
        take_and_start(&mut state, T0 + 3 * HOUR),
        ["wf-2024-06-01T02:00:00Z"]
    );

    let terminate = SchedulePolicies {
        overlap_policy: ScheduleOverlapPolicy::TerminateOther as i32,
        ..Default::default()
    };
    let mut state = schedule_at(T0 + MINUTE, terminate);
    state.advance(T0 + HOUR);
    let first = take_and_start(&mut state, T0 + HOUR);
    state.advance(T0 + 2 * HOUR);
    let actions = state.take_buffer();
    assert!(actions.starts.is_empty());
    assert_eq!(actions.terminate[0].workflow_id, first[0]);
    assert_eq!(state.buffer.len(), 1);
}

#[test]
fn limited_actions_count_down_and_then_the_schedule_sleeps() {
    let mut state = schedule_at(T0 + MINUTE, SchedulePolicies::default());
    let token = state.conflict_token;
    state.schedule.0.state = Some(ScheduleStateProto {
        limited_actions: true,
        remaining_actions: 1,
        ..Default::default()
    });
    state.advance(T0 + HOUR);
    take_and_start(&mut state, T0 + HOUR);
    let remaining = state.schedule.0.state.as_ref().unwrap().remaining_actions;
    assert_eq!(remaining, 0);
    assert_eq!(state.conflict_token, token + 1);
    assert_eq!(state.next_wake(), None);
    assert!(
        state
            .describe()
            .info
            .unwrap()
            .future_action_times
            .is_empty()
    );
}

#[test]
fn a_failure_pauses_the_schedule_when_asked_and_is_passed_on() {
    let policies = SchedulePolicies {
        pause_on_failure: true,
        ..Default::default()
    };
    let mut state = schedule_at(T0 + MINUTE, policies);
    state.advance(T0 + HOUR);
    let first = take_and_start(&mut state, T0 + HOUR);
    let failure = Failure {
        message: "boom".into(),
        ..Default::default()
    };
    state.closed(
        &first[0],
        &Closed {
            status: WorkflowExecutionStatus::Failed,
            result: None,
            failure: Some(failure.clone()),
        },
    );
    let schedule_state = state.schedule.0.state.clone().unwrap();
    assert!(schedule_state.paused);
    assert_eq!(
        schedule_state.notes,
        "paused due to workflow failure: wf-2024-06-01T01:00:00Z: boom"
    );
    assert_eq!(
        state.continued_failure.as_ref().map(|f| &f.0),
        Some(&failure)
    );
}

#[test]
fn an_update_with_a_stale_token_is_ignored_and_earlier_spec_times_are_dropped() {
    let mut state = schedule_at(T0 + MINUTE, SchedulePolicies::default());
    let describe = state.describe();
    let token = conflict_token(&describe.conflict_token);
    assert_eq!(token, Some(1));
    let mut changed = hourly(SchedulePolicies::default());
    changed.state.get_or_insert_default().notes = "changed".into();
    assert!(!state.update(changed.clone(), None, Some(7), T0 + 2 * HOUR));
    assert!(state.update(changed, None, token, T0 + 2 * HOUR + MINUTE));
    assert_eq!(state.schedule.0.state.as_ref().unwrap().notes, "changed");
    // 1:00 and 2:00 passed before the update: not taken after it.
    state.advance(T0 + 2 * HOUR + 2 * MINUTE);
    assert!(state.buffer.is_empty());
    assert_eq!(state.next_wake(), Some(T0 + 3 * HOUR));
}
