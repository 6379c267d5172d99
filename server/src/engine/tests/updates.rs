//! Updates, speculative workflow tasks, and transient workflow task retries.

use prost::Name;
use temporalio_protos::temporal::api::command::v1::ProtocolMessageCommandAttributes;
use temporalio_protos::temporal::api::protocol::v1::Message;
use temporalio_protos::temporal::api::update::v1::{
    Acceptance, Input, Meta, Outcome, Rejection, Request, Response, outcome,
};
use temporalio_protos::temporal::api::workflowservice::v1::RespondWorkflowTaskFailedRequest;

use super::*;

fn update_request(update_id: &str) -> Request {
    Request {
        meta: Some(Meta {
            update_id: update_id.into(),
            identity: "client".into(),
        }),
        input: Some(Input {
            name: "add".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn message<M: prost::Message + Name>(id: &str, update_id: &str, body: &M) -> Message {
    Message {
        id: id.into(),
        protocol_instance_id: update_id.into(),
        body: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", M::full_name()),
            value: body.encode_to_vec(),
        }),
        ..Default::default()
    }
}

/// A run whose first task completed, idle.
fn idle_run() -> MutableState {
    let mut state = started_run();
    let wft = take_workflow_task(&mut state, T0);
    complete(&mut state, wft, vec![], T0 + 1);
    state
}

fn start_task(state: &mut MutableState, now: Millis) -> WorkflowTaskStarted {
    let task = state
        .workflow_task
        .clone()
        .expect("a workflow task is pending");
    state
        .record_workflow_task_started(task.scheduled_event_id, &task.task_queue, "w", "p", now)
        .unwrap()
        .1
}

#[test]
fn a_rejected_update_leaves_no_trace_in_history() {
    let mut state = idle_run();
    let next_event_id = state.next_event_id;
    let (fx, status) = state.admit_update(update_request("u1"), T0 + 2).unwrap();
    assert_eq!(status, UpdateStatus::Admitted);
    assert!(fx.events.is_empty(), "a speculative task is not written");
    assert_eq!(fx.new_tasks.len(), 1);

    let started = start_task(&mut state, T0 + 3);
    assert_eq!(started.messages.len(), 1);
    assert_eq!(started.messages[0].id, "u1/request");
    assert_eq!(
        started
            .unrecorded_events
            .iter()
            .map(|e| e.event_id)
            .collect::<Vec<_>>(),
        [next_event_id, next_event_id + 1]
    );

    let mut request = completion(vec![]);
    request.messages = vec![message(
        "u1/reject",
        "u1",
        &Rejection {
            rejected_request: Some(update_request("u1")),
            failure: Some(app_failure("no")),
            ..Default::default()
        },
    )];
    let done = state
        .complete_workflow_task(started.scheduled_event_id, 1, &request, &PLAIN, T0 + 4)
        .unwrap();
    assert!(done.effects.events.is_empty());
    assert_eq!(done.reset_history_event_id, state.previous_started_event_id);
    assert_eq!(state.next_event_id, next_event_id);
    assert!(matches!(
        state.update_status("u1"),
        UpdateStatus::Rejected(failure) if failure.message == "no"
    ));
}

#[test]
fn an_accepted_update_is_written_where_the_commands_put_it() {
    let mut state = idle_run();
    state.admit_update(update_request("u1"), T0 + 2).unwrap();
    let started = start_task(&mut state, T0 + 3);
    let mut request = completion(vec![
        command::Attributes::ProtocolMessageCommandAttributes(ProtocolMessageCommandAttributes {
            message_id: "u1/accept".into(),
        }),
        command::Attributes::ProtocolMessageCommandAttributes(ProtocolMessageCommandAttributes {
            message_id: "u1/complete".into(),
        }),
    ]);
    let result = Outcome {
        value: Some(outcome::Value::Success(Payloads::default())),
    };
    request.messages = vec![
        message(
            "u1/accept",
            "u1",
            &Acceptance {
                accepted_request_message_id: "u1/request".into(),
                accepted_request_sequencing_event_id: started.scheduled_event_id,
                accepted_request: Some(update_request("u1")),
            },
        ),
        message(
            "u1/complete",
            "u1",
            &Response {
                meta: update_request("u1").meta,
                outcome: Some(result.clone()),
            },
        ),
    ];
    let done = state
        .complete_workflow_task(started.scheduled_event_id, 1, &request, &PLAIN, T0 + 4)
        .unwrap();
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionUpdateAccepted,
            EventType::WorkflowExecutionUpdateCompleted
        ]
    );
    assert_eq!(state.update_status("u1"), UpdateStatus::Completed(result));
    let (again, status) = state.admit_update(update_request("u1"), T0 + 5).unwrap();
    assert!(again.events.is_empty() && again.new_tasks.is_empty());
    assert!(matches!(status, UpdateStatus::Completed(_)));
}

#[test]
fn a_retried_workflow_task_is_written_only_when_an_attempt_completes() {
    let mut state = started_run();
    let failed = RespondWorkflowTaskFailedRequest {
        identity: "w".into(),
        ..Default::default()
    };
    let wft = take_workflow_task(&mut state, T0);
    let fx = state.fail_workflow_task(wft, 1, &failed, T0 + 1).unwrap();
    assert_eq!(
        types(&fx),
        [EventType::WorkflowTaskFailed],
        "the first failure is written; the retry is transient"
    );
    let next_event_id = state.next_event_id;
    for attempt in 2..=3 {
        let started = start_task(&mut state, T0 + 2);
        assert_eq!(started.attempt, attempt);
        assert_eq!(started.recorded_end, next_event_id);
        let fx = state
            .fail_workflow_task(started.scheduled_event_id, attempt, &failed, T0 + 3)
            .unwrap();
        assert!(
            fx.events.is_empty(),
            "attempt {attempt} failed without a trace"
        );
    }
    let started = start_task(&mut state, T0 + 4);
    assert!(
        state
            .fail_workflow_task(started.scheduled_event_id, 3, &failed, T0 + 5)
            .is_err(),
        "a stale attempt's token"
    );
    let done = state
        .complete_workflow_task(
            started.scheduled_event_id,
            4,
            &completion(vec![complete_workflow()]),
            &PLAIN,
            T0 + 5,
        )
        .unwrap();
    assert_eq!(
        types(&done.effects),
        [
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionCompleted
        ]
    );
    assert_eq!(done.effects.events[0].event_id, next_event_id);
}
