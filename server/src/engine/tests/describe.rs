//! What DescribeWorkflowExecution shows beyond the run's own info: its configuration and
//! the extended info.

use temporalio_protos::temporal::api::command::v1::FailWorkflowExecutionCommandAttributes;
use temporalio_protos::temporal::api::sdk::v1::UserMetadata;

use super::*;

fn user_metadata() -> UserMetadata {
    let text = |data: &str| Payload {
        data: data.as_bytes().to_vec(),
        ..Default::default()
    };
    UserMetadata {
        summary: Some(text("\"summary\"")),
        details: Some(text("\"details\"")),
    }
}

fn start_with(request: &StartWorkflowExecutionRequest) -> (MutableState, Effects) {
    let options = StartOptions {
        run_id: "run-1".into(),
        request_id: "req-1".into(),
        ..Default::default()
    };
    MutableState::start(request, options, T0)
}

#[test]
fn describe_shows_user_metadata_timeouts_expirations_and_the_start_request() {
    let mut request = start_request();
    request.workflow_execution_timeout = Some(duration(3_600_000));
    request.workflow_run_timeout = Some(duration(1_800_000));
    request.user_metadata = Some(user_metadata());
    let (mut state, fx) = start_with(&request);
    assert_eq!(fx.events[0].user_metadata, Some(user_metadata()));

    let described = state.describe();
    let config = described.execution_config.unwrap();
    assert_eq!(config.user_metadata, Some(user_metadata()));
    assert_eq!(config.workflow_execution_timeout, Some(duration(3_600_000)));
    assert_eq!(config.workflow_run_timeout, Some(duration(1_800_000)));
    let extended = described.workflow_extended_info.unwrap();
    assert_eq!(
        extended.execution_expiration_time,
        Some(timestamp(T0 + 3_600_000))
    );
    assert_eq!(
        extended.run_expiration_time,
        Some(timestamp(T0 + 1_800_000))
    );
    assert_eq!(extended.original_start_time, Some(timestamp(T0)));
    assert!(!extended.cancel_requested);
    let started = &extended.request_id_infos["req-1"];
    assert_eq!(
        (started.event_type, started.event_id, started.buffered),
        (EventType::WorkflowExecutionStarted as i32, 1, false)
    );

    let cancel = CancelRequest {
        reason: "stop".into(),
        identity: "client".into(),
        external: None,
    };
    state.request_cancel(&cancel, T0 + 1).unwrap();
    let extended = state.describe().workflow_extended_info.unwrap();
    assert!(extended.cancel_requested);
}

#[test]
fn describe_without_timeouts_or_metadata_shows_zero_timeouts_and_no_expirations() {
    let described = started_run().describe();
    let config = described.execution_config.unwrap();
    assert_eq!(config.workflow_execution_timeout, Some(duration(0)));
    assert_eq!(config.workflow_run_timeout, Some(duration(0)));
    assert_eq!(config.user_metadata, None);
    let extended = described.workflow_extended_info.unwrap();
    assert_eq!(extended.execution_expiration_time, None);
    assert_eq!(extended.run_expiration_time, None);
}

#[test]
fn a_retried_run_has_neither_the_metadata_nor_the_request_of_the_first() {
    let mut request = start_request();
    request.user_metadata = Some(user_metadata());
    request.retry_policy = Some(RetryPolicyProto {
        maximum_attempts: 2,
        ..Default::default()
    });
    let (mut state, _) = start_with(&request);
    let wft = take_workflow_task(&mut state, T0);
    let fail = command::Attributes::FailWorkflowExecutionCommandAttributes(
        FailWorkflowExecutionCommandAttributes {
            failure: Some(app_failure("first")),
        },
    );
    let mut done = complete(&mut state, wft, vec![fail], T0 + 1);
    let (next, next_fx) = *done.effects.next_run.take().expect("a retry");
    assert_eq!(next_fx.events[0].user_metadata, None);
    let described = next.describe();
    assert_eq!(described.execution_config.unwrap().user_metadata, None);
    let extended = described.workflow_extended_info.unwrap();
    assert!(extended.request_id_infos.is_empty());
    assert_eq!(extended.original_start_time, Some(timestamp(T0 + 1)));
}
