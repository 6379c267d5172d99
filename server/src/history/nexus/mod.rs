//! Nexus operations through the history service: the transfer tasks that send a caller's
//! StartOperation and CancelOperation requests to the endpoint's worker (through matching)
//! and record the answers, and the one that delivers a closed run's completion callbacks to
//! the operations it backs.
//!
//! Requests go to workers of this server only (endpoints with a worker target); callbacks
//! come back in-process through `temporal://system`, as with the real server's worker
//! targets. Each step is idempotent: an answer is recorded only for the attempt it answers,
//! and a callback only for the pending operation and request id its token names.

pub mod links;

use std::collections::HashMap;
use std::time::Duration;

use temporalio_protos::temporal::api::common::v1::{Link, callback};
use temporalio_protos::temporal::api::enums::v1::{EventType, TimeoutType};
use temporalio_protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_protos::temporal::api::failure::v1::{
    ApplicationFailureInfo, Failure, NexusHandlerFailureInfo,
};
use temporalio_protos::temporal::api::history::v1::NexusOperationScheduledEventAttributes;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::nexus::v1::endpoint_target::Variant as EndpointTarget;
use temporalio_protos::temporal::api::nexus::v1::{
    self as nexus, CancelOperationRequest, Request, StartOperationRequest, request, response,
    start_operation_response,
};

use super::History;
use super::token::{self, CallbackToken};
use crate::engine::{
    Effects, EngineError, Millis, MutableState, NexusCancelOutcome, NexusCompletion,
    NexusStartOutcome, SYSTEM_CALLBACK_URL, completion_callbacks_task_id, handler_error,
    handler_error_retryable, outcome_of_close,
};
use crate::error::{ServiceError, ServiceResult};
use crate::go_format::go_quote;
use crate::matching::NexusAnswer;

/// The real server's limits on one request: at most 10 s
/// (component.nexusoperations.request.timeout), none sent with less than 1.5 s left
/// (...limit.request.timeout.min), and a second of that kept back to answer a timeout
/// (...limit.dispatch.task.timeout.min).
const REQUEST_TIMEOUT: Millis = 10_000;
const MIN_REQUEST_TIMEOUT: Millis = 1_500;
const DISPATCH_MARGIN: Millis = 1_000;
/// Headers of the callback a handler must send back, and the one with the operation token.
const CALLBACK_TOKEN_HEADER: &str = "temporal-callback-token";
const OPERATION_TOKEN_HEADER: &str = "nexus-operation-token";
const NEXUS_LINK_TYPE_SEPARATOR: &str = "; type=";

/// Where a request goes: the namespace and task queue of the endpoint's worker target.
struct Target {
    namespace: String,
    task_queue: String,
}

impl History {
    /// The NexusStart task of operation `scheduled_event_id`: sends the StartOperation
    /// request and records the answer. Returns false if nothing was left to do.
    pub(super) async fn start_nexus_operation(
        &self,
        caller: &MutableState,
        scheduled_event_id: i64,
    ) -> ServiceResult<bool> {
        let Some(start) = caller.nexus_start_request(scheduled_event_id) else {
            return Ok(false);
        };
        let now = caller.now_at(self.clock.now());
        let (timeout, timeout_type) = match start.deadline {
            Some((deadline, timeout_type)) => {
                ((deadline - now).min(REQUEST_TIMEOUT), Some(timeout_type))
            }
            None => (REQUEST_TIMEOUT, None),
        };
        let outcome = match (
            timeout_type,
            self.nexus_target(&start.endpoint_id, &start.endpoint),
        ) {
            // Not enough time for a request: the operation times out (as the real server).
            (Some(timeout_type), _) if timeout < MIN_REQUEST_TIMEOUT => {
                NexusStartOutcome::TimedOut(timeout_type)
            }
            (_, Err(failure)) => NexusStartOutcome::Failed(*failure),
            (_, Ok(target)) => {
                let Some(scheduled) = self.scheduled_event(caller, scheduled_event_id).await?
                else {
                    return Err(ServiceError::Internal(format!(
                        "scheduled event {scheduled_event_id} of run {} is missing",
                        caller.run_id
                    )));
                };
                let link = links::workflow_event(
                    &caller.namespace,
                    &caller.workflow_id,
                    &caller.run_id,
                    scheduled_event_id,
                    EventType::NexusOperationScheduled,
                );
                let nexus_link = links::to_nexus(&link).expect("a workflow event link");
                let callback_token = token::encode(&CallbackToken {
                    namespace: caller.namespace.clone(),
                    workflow_id: caller.workflow_id.clone(),
                    run_id: caller.run_id.clone(),
                    scheduled_event_id,
                    request_id: start.request_id.clone(),
                });
                let mut header = scheduled.nexus_header;
                // What the real server's HTTP request carries besides the caller's header.
                header.insert("nexus-request-id".into(), start.request_id.clone());
                header.insert(
                    "nexus-link".into(),
                    format!(
                        "<{}>{NEXUS_LINK_TYPE_SEPARATOR}{}",
                        nexus_link.url,
                        go_quote(&nexus_link.r#type)
                    ),
                );
                let operation_timeout = [
                    start
                        .schedule_to_close_deadline
                        .map(|deadline| deadline - now),
                    (start.start_to_close_timeout > 0).then_some(start.start_to_close_timeout),
                ]
                .into_iter()
                .flatten()
                .min();
                if let Some(remaining) = operation_timeout {
                    header
                        .entry("operation-timeout".into())
                        .or_insert_with(|| format!("{}ms", remaining.max(0)));
                }
                let variant = request::Variant::StartOperation(StartOperationRequest {
                    service: start.service.clone(),
                    operation: start.operation.clone(),
                    request_id: start.request_id.clone(),
                    callback: SYSTEM_CALLBACK_URL.into(),
                    payload: scheduled.input,
                    callback_header: HashMap::from([(
                        CALLBACK_TOKEN_HEADER.to_owned(),
                        String::from_utf8(callback_token).expect("tokens are JSON"),
                    )]),
                    links: vec![nexus_link],
                });
                let answer = self
                    .dispatch_nexus(&target, &start.endpoint, header, variant, timeout)
                    .await;
                start_outcome(answer)
            }
        };
        self.record_answer(caller, |state, now| {
            state.record_nexus_start_outcome(scheduled_event_id, start.attempt, outcome, now)
        })
        .await
    }

    /// The NexusCancel task of cancellation `requested_event_id`: sends the CancelOperation
    /// request and records the answer.
    pub(super) async fn cancel_nexus_operation(
        &self,
        caller: &MutableState,
        requested_event_id: i64,
    ) -> ServiceResult<bool> {
        let Some(cancel) = caller.nexus_cancel_request(requested_event_id) else {
            return Ok(false);
        };
        let now = caller.now_at(self.clock.now());
        let timeout = cancel.deadline.map_or(REQUEST_TIMEOUT, |deadline| {
            (deadline - now).min(REQUEST_TIMEOUT)
        });
        let outcome = match self.nexus_target(&cancel.endpoint_id, &cancel.endpoint) {
            _ if timeout < MIN_REQUEST_TIMEOUT => NexusCancelOutcome::Failed(call_error(&format!(
                "not enough time to execute another request before {} timeout",
                TimeoutType::ScheduleToClose.as_str_name()
            ))),
            Err(failure) => NexusCancelOutcome::Failed(*failure),
            Ok(target) => {
                let header = self
                    .scheduled_event(caller, cancel.scheduled_event_id)
                    .await?
                    .map(|scheduled| scheduled.nexus_header)
                    .unwrap_or_default();
                #[allow(deprecated)] // the real server still fills operation_id with the token
                let variant = request::Variant::CancelOperation(CancelOperationRequest {
                    service: cancel.service.clone(),
                    operation: cancel.operation.clone(),
                    operation_id: cancel.operation_token.clone(),
                    operation_token: cancel.operation_token.clone(),
                });
                let answer = self
                    .dispatch_nexus(&target, &cancel.endpoint, header, variant, timeout)
                    .await;
                cancel_outcome(answer)
            }
        };
        self.record_answer(caller, |state, now| {
            state.record_nexus_cancel_outcome(requested_event_id, cancel.attempt, outcome, now)
        })
        .await
    }

    /// The CompletionCallbacks task of `handler`, the last run of a chain that closed:
    /// tells each operation it backs how it ended. Returns false: once every callback is
    /// delivered (recording one twice changes nothing) the task is done.
    pub(super) async fn deliver_completion_callbacks(
        &self,
        handler: &MutableState,
        task_id: i64,
    ) -> ServiceResult<bool> {
        let close_event_id = completion_callbacks_task_id(task_id);
        let close_event = self
            .read_events(&handler.run_id, close_event_id, close_event_id + 1, 1)
            .await?
            .pop()
            .ok_or_else(|| {
                ServiceError::Internal(format!("close event of run {} is missing", handler.run_id))
            })?;
        let outcome = outcome_of_close(&close_event);
        // The link the caller's started event gets if the callback comes first.
        let start_link = links::workflow_event(
            &handler.namespace,
            &handler.workflow_id,
            &handler.run_id,
            1,
            EventType::WorkflowExecutionStarted,
        );
        for callback in &handler.completion_callbacks {
            let Some(callback::Variant::Nexus(nexus)) = &callback.0.variant else {
                continue;
            };
            let Some(target) = nexus
                .header
                .get(CALLBACK_TOKEN_HEADER)
                .and_then(|t| token::decode::<CallbackToken>(t.as_bytes(), "callback token").ok())
            else {
                tracing::warn!(run_id = %handler.run_id, "completion callback without a valid token; dropped");
                continue;
            };
            let completion = NexusCompletion {
                outcome: outcome.clone(),
                operation_token: nexus
                    .header
                    .get(OPERATION_TOKEN_HEADER)
                    .cloned()
                    .unwrap_or_default(),
                start_time: handler.start_time,
                start_links: vec![start_link.clone()],
            };
            let delivered = self
                .update(
                    &target.namespace,
                    &target.workflow_id,
                    &target.run_id,
                    |state, now| {
                        let effects = state.complete_nexus_operation(
                            target.scheduled_event_id,
                            &target.request_id,
                            completion,
                            now,
                        )?;
                        Ok((effects, ()))
                    },
                )
                .await;
            match delivered {
                // The caller is gone or closed: nobody waits for this outcome.
                Ok(()) | Err(ServiceError::NotFound(_) | ServiceError::WorkflowClosed) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(false)
    }

    /// The NexusOperationScheduled event of a caller's operation, if it is in the history.
    async fn scheduled_event(
        &self,
        caller: &MutableState,
        scheduled_event_id: i64,
    ) -> ServiceResult<Option<NexusOperationScheduledEventAttributes>> {
        let event = self
            .read_events(
                &caller.run_id,
                scheduled_event_id,
                scheduled_event_id + 1,
                1,
            )
            .await?
            .pop();
        Ok(match event.and_then(|e| e.attributes) {
            Some(Attributes::NexusOperationScheduledEventAttributes(a)) => Some(a),
            _ => None,
        })
    }

    /// Records the answer to a caller's request; returns true: the task is done.
    async fn record_answer(
        &self,
        caller: &MutableState,
        record: impl FnOnce(&mut MutableState, Millis) -> Result<Effects, EngineError>,
    ) -> ServiceResult<bool> {
        self.update(
            &caller.namespace,
            &caller.workflow_id,
            &caller.run_id,
            |state, now| Ok((record(state, now)?, true)),
        )
        .await
    }

    /// The worker target of an endpoint (by id, else by name, as the real server looks it
    /// up), or the handler error the operation fails with.
    fn nexus_target(&self, endpoint_id: &str, name: &str) -> Result<Target, Box<Failure>> {
        let not_registered = || Box::new(handler_error("NOT_FOUND", "endpoint not registered"));
        if endpoint_id.is_empty() {
            return Err(not_registered());
        }
        let endpoint = self
            .nexus_endpoints
            .get(endpoint_id)
            .ok()
            .or_else(|| self.nexus_endpoints.named(name))
            .ok_or_else(not_registered)?;
        match endpoint.spec.and_then(|s| s.target).and_then(|t| t.variant) {
            Some(EndpointTarget::Worker(worker)) => {
                if self.namespaces.get(&worker.namespace).is_err() {
                    return Err(Box::new(handler_error(
                        "NOT_FOUND",
                        &format!("namespace not found: {}", go_quote(&worker.namespace)),
                    )));
                }
                Ok(Target {
                    namespace: worker.namespace,
                    task_queue: worker.task_queue,
                })
            }
            _ => Err(Box::new(handler_error(
                "NOT_IMPLEMENTED",
                "devserver sends Nexus requests only to endpoints with a worker target",
            ))),
        }
    }

    /// Sends a request to the target's workers and waits up to `timeout` for the answer.
    async fn dispatch_nexus(
        &self,
        target: &Target,
        endpoint: &str,
        header: HashMap<String, String>,
        variant: request::Variant,
        timeout: Millis,
    ) -> Option<NexusAnswer> {
        let request = Request {
            header,
            scheduled_time: Some(crate::engine::timestamp(self.clock.now())),
            capabilities: Some(request::Capabilities {
                temporal_failure_responses: true,
            }),
            variant: Some(variant),
            endpoint: endpoint.to_owned(),
        };
        // The worker must answer a little before the caller gives up, so that a timeout
        // is told apart from a late answer.
        let wait = Duration::from_millis((timeout - DISPATCH_MARGIN).max(0) as u64);
        self.matching
            .dispatch_nexus(
                &target.namespace,
                &target.task_queue,
                request,
                tokio::time::Instant::now() + wait,
            )
            .await
    }
}

/// What a StartOperation request came back with.
fn start_outcome(answer: Option<NexusAnswer>) -> NexusStartOutcome {
    let response = match answer {
        None => {
            return NexusStartOutcome::AttemptFailed(handler_error(
                "UPSTREAM_TIMEOUT",
                "upstream timeout",
            ));
        }
        Some(NexusAnswer::Failed { failure, error }) => {
            let failure = handler_failure(failure, error);
            return if handler_error_retryable(&failure) {
                NexusStartOutcome::AttemptFailed(failure)
            } else {
                NexusStartOutcome::Failed(failure)
            };
        }
        Some(NexusAnswer::Completed(response)) => response,
    };
    let links = |links: &[nexus::Link]| {
        links
            .iter()
            .filter_map(links::from_nexus)
            .collect::<Vec<Link>>()
    };
    match response.variant {
        Some(response::Variant::StartOperation(start)) => match start.variant {
            Some(start_operation_response::Variant::SyncSuccess(sync)) => {
                NexusStartOutcome::Completed {
                    result: sync.payload,
                    links: links(&sync.links),
                }
            }
            #[allow(deprecated)] // SDKs that predate tokens send the id
            Some(start_operation_response::Variant::AsyncSuccess(async_success)) => {
                NexusStartOutcome::Started {
                    token: if async_success.operation_token.is_empty() {
                        async_success.operation_id
                    } else {
                        async_success.operation_token
                    },
                    links: links(&async_success.links),
                }
            }
            Some(start_operation_response::Variant::Failure(failure)) => {
                if matches!(
                    failure.failure_info,
                    Some(FailureInfo::CanceledFailureInfo(_))
                ) {
                    NexusStartOutcome::Canceled(failure)
                } else {
                    NexusStartOutcome::Failed(failure)
                }
            }
            #[allow(deprecated)] // what SDKs that predate failures send
            Some(start_operation_response::Variant::OperationError(error)) => {
                let failure = error.failure.map(temporal_failure).unwrap_or_default();
                if error.operation_state == "canceled" {
                    NexusStartOutcome::Canceled(failure)
                } else {
                    NexusStartOutcome::Failed(Failure {
                        failure_info: Some(FailureInfo::ApplicationFailureInfo(
                            ApplicationFailureInfo {
                                r#type: "OperationError".into(),
                                non_retryable: true,
                                ..Default::default()
                            },
                        )),
                        ..failure
                    })
                }
            }
            None => NexusStartOutcome::AttemptFailed(handler_error("INTERNAL", "empty outcome")),
        },
        _ => NexusStartOutcome::AttemptFailed(handler_error("INTERNAL", "empty outcome")),
    }
}

/// What a CancelOperation request came back with.
fn cancel_outcome(answer: Option<NexusAnswer>) -> NexusCancelOutcome {
    match answer {
        None => {
            NexusCancelOutcome::AttemptFailed(handler_error("UPSTREAM_TIMEOUT", "upstream timeout"))
        }
        Some(NexusAnswer::Failed { failure, error }) => {
            let failure = handler_failure(failure, error);
            if handler_error_retryable(&failure) {
                NexusCancelOutcome::AttemptFailed(failure)
            } else {
                NexusCancelOutcome::Failed(failure)
            }
        }
        Some(NexusAnswer::Completed(response)) => match response.variant {
            Some(response::Variant::CancelOperation(_)) => NexusCancelOutcome::Delivered,
            _ => NexusCancelOutcome::AttemptFailed(handler_error("INTERNAL", "empty outcome")),
        },
    }
}

/// A worker's handler error as a Temporal failure (SDKs that predate failures send a
/// Nexus HandlerError).
fn handler_failure(failure: Option<Failure>, error: Option<nexus::HandlerError>) -> Failure {
    if let Some(failure) = failure {
        return failure;
    }
    let error = error.unwrap_or_default();
    Failure {
        failure_info: Some(FailureInfo::NexusHandlerFailureInfo(
            NexusHandlerFailureInfo {
                r#type: error.error_type,
                retry_behavior: error.retry_behavior,
            },
        )),
        ..error.failure.map(temporal_failure).unwrap_or_default()
    }
}

/// A Nexus failure's message, stack trace and causes as a Temporal failure.
fn temporal_failure(failure: nexus::Failure) -> Failure {
    Failure {
        message: failure.message,
        stack_trace: failure.stack_trace,
        cause: failure
            .cause
            .map(|cause| Box::new(temporal_failure(*cause))),
        ..Default::default()
    }
}

/// A failure of the server's own call (no handler answered), as the real server words it.
fn call_error(message: &str) -> Failure {
    Failure {
        message: message.to_owned(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: "CallError".into(),
                non_retryable: true,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_protos::temporal::api::common::v1::Payload;
    use temporalio_protos::temporal::api::enums::v1::NexusHandlerErrorRetryBehavior;
    use temporalio_protos::temporal::api::failure::v1::CanceledFailureInfo;
    use temporalio_protos::temporal::api::nexus::v1::{Response, StartOperationResponse};

    fn start_response(variant: start_operation_response::Variant) -> Option<NexusAnswer> {
        Some(NexusAnswer::Completed(Response {
            variant: Some(response::Variant::StartOperation(StartOperationResponse {
                variant: Some(variant),
            })),
        }))
    }

    fn handler_failure_of(error_type: &str, behavior: NexusHandlerErrorRetryBehavior) -> Failure {
        Failure {
            message: "no".into(),
            failure_info: Some(FailureInfo::NexusHandlerFailureInfo(
                NexusHandlerFailureInfo {
                    r#type: error_type.into(),
                    retry_behavior: behavior as i32,
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn start_answers_become_outcomes() {
        let payload = Payload {
            data: b"\"hi\"".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            start_outcome(start_response(
                start_operation_response::Variant::SyncSuccess(start_operation_response::Sync {
                    payload: Some(payload.clone()),
                    links: vec![],
                })
            )),
            NexusStartOutcome::Completed {
                result: Some(payload),
                links: vec![]
            }
        );
        let canceled = Failure {
            message: "stop".into(),
            failure_info: Some(FailureInfo::CanceledFailureInfo(
                CanceledFailureInfo::default(),
            )),
            ..Default::default()
        };
        assert_eq!(
            start_outcome(start_response(start_operation_response::Variant::Failure(
                canceled.clone()
            ))),
            NexusStartOutcome::Canceled(canceled)
        );
        assert!(matches!(
            start_outcome(None),
            NexusStartOutcome::AttemptFailed(_)
        ));
    }

    #[test]
    fn handler_errors_are_retried_unless_they_say_or_their_type_says_otherwise() {
        use NexusHandlerErrorRetryBehavior::*;
        let failed = |f: Failure| {
            start_outcome(Some(NexusAnswer::Failed {
                failure: Some(f),
                error: None,
            }))
        };
        let internal = handler_failure_of("INTERNAL", Unspecified);
        assert_eq!(
            failed(internal.clone()),
            NexusStartOutcome::AttemptFailed(internal)
        );
        let final_internal = handler_failure_of("INTERNAL", NonRetryable);
        assert_eq!(
            failed(final_internal.clone()),
            NexusStartOutcome::Failed(final_internal)
        );
        let bad_request = handler_failure_of("BAD_REQUEST", Unspecified);
        assert_eq!(
            failed(bad_request.clone()),
            NexusStartOutcome::Failed(bad_request)
        );
        let retried_bad_request = handler_failure_of("BAD_REQUEST", Retryable);
        assert_eq!(
            failed(retried_bad_request.clone()),
            NexusStartOutcome::AttemptFailed(retried_bad_request)
        );
    }
}
