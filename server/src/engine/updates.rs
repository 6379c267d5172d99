//! Workflow updates: requests the workflow accepts or rejects, then completes.
//!
//! An admitted update waits in memory (like the real server's registry) and goes to the
//! worker as a protocol message with its next workflow task; with no task pending, a
//! speculative one is created for it. The worker answers with messages: a rejection leaves
//! nothing in the history, an acceptance and a response become events where the worker's
//! ProtocolMessage commands put them. Accepted updates are durable.

use std::collections::HashMap;

use prost::{Message as _, Name};
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    WorkflowExecutionUpdateAcceptedEventAttributes, WorkflowExecutionUpdateCompletedEventAttributes,
};
use temporalio_protos::temporal::api::protocol::v1::{Message, message::SequencingId};
use temporalio_protos::temporal::api::update::v1::{
    Acceptance, Outcome, Rejection, Request, Response,
};

use super::{Effects, EngineError, Millis, MutableState, Proto, WorkflowTaskKind};

/// An accepted update, as the run remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRecord {
    pub accepted_event_id: i64,
    pub outcome: Option<Proto<Outcome>>,
}

/// Where an update stands.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateStatus {
    Unknown,
    Admitted,
    Accepted,
    Completed(Outcome),
    Rejected(Failure),
}

/// A worker's answers to update requests, from one workflow task completion.
#[derive(Debug, Default)]
pub struct UpdateMessages {
    rejections: Vec<Rejection>,
    /// Acceptances and responses by message id, and the order they came in.
    answers: HashMap<String, Answer>,
    order: Vec<String>,
}

#[derive(Debug)]
enum Answer {
    Accepted {
        update_id: String,
        acceptance: Acceptance,
    },
    Completed(Response),
}

impl UpdateMessages {
    pub fn read(messages: &[Message]) -> Result<UpdateMessages, EngineError> {
        let mut read = UpdateMessages::default();
        for message in messages {
            let body = message.body.clone().unwrap_or_default();
            let bad = |e: prost::DecodeError| {
                EngineError::InvalidArgument(format!(
                    "invalid protocol message {}: {e}",
                    message.id
                ))
            };
            let type_name = body.type_url.rsplit('/').next().unwrap_or_default();
            let answer = if type_name == Rejection::full_name() {
                read.rejections
                    .push(Rejection::decode(body.value.as_slice()).map_err(bad)?);
                continue;
            } else if type_name == Acceptance::full_name() {
                Answer::Accepted {
                    update_id: message.protocol_instance_id.clone(),
                    acceptance: Acceptance::decode(body.value.as_slice()).map_err(bad)?,
                }
            } else if type_name == Response::full_name() {
                Answer::Completed(Response::decode(body.value.as_slice()).map_err(bad)?)
            } else {
                return Err(EngineError::InvalidArgument(format!(
                    "unsupported protocol message {type_name}"
                )));
            };
            read.order.push(message.id.clone());
            read.answers.insert(message.id.clone(), answer);
        }
        Ok(read)
    }

    pub fn only_rejections(&self) -> bool {
        self.answers.is_empty()
    }
}

impl MutableState {
    /// A client asks for an update. A known update id answers with where that update
    /// stands; a new one waits for the next workflow task (a speculative one if none).
    pub fn admit_update(
        &mut self,
        request: Request,
        now: Millis,
    ) -> Result<(Effects, UpdateStatus), EngineError> {
        let update_id = request
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        let status = self.update_status(&update_id);
        if !matches!(status, UpdateStatus::Unknown | UpdateStatus::Rejected(_)) {
            return Ok((Effects::default(), status));
        }
        self.require_open()?;
        // A rejected update id may be used again.
        self.rejected_updates.remove(&update_id);
        self.admitted_updates.push(Proto(request));
        let mut fx = Effects::default();
        self.schedule_update_delivery(&mut fx, now);
        Ok((fx, UpdateStatus::Admitted))
    }

    pub fn update_status(&self, update_id: &str) -> UpdateStatus {
        if let Some(record) = self.updates.get(update_id) {
            return match &record.outcome {
                Some(outcome) => UpdateStatus::Completed(outcome.0.clone()),
                None => UpdateStatus::Accepted,
            };
        }
        if let Some(failure) = self.rejected_updates.get(update_id) {
            return UpdateStatus::Rejected(failure.0.clone());
        }
        if self
            .admitted_updates
            .iter()
            .any(|r| update_id_of(&r.0) == update_id)
        {
            return UpdateStatus::Admitted;
        }
        UpdateStatus::Unknown
    }

    /// Updates waiting for the worker get a workflow task to travel with.
    pub(super) fn schedule_update_delivery(&mut self, fx: &mut Effects, now: Millis) {
        if self.is_open() && self.workflow_task.is_none() && !self.admitted_updates.is_empty() {
            self.schedule_workflow_task_attempt(fx, now, 1, WorkflowTaskKind::Speculative);
        }
    }

    /// The admitted updates, as messages of the workflow task scheduled by
    /// `scheduled_event_id`. Every attempt carries them until the worker answers.
    pub(super) fn update_messages(&self, scheduled_event_id: i64) -> Vec<Message> {
        self.admitted_updates
            .iter()
            .map(|Proto(request)| {
                let update_id = update_id_of(request);
                Message {
                    id: format!("{update_id}/request"),
                    protocol_instance_id: update_id.to_owned(),
                    sequencing_id: Some(SequencingId::EventId(scheduled_event_id)),
                    body: Some(prost_types::Any {
                        type_url: format!("type.googleapis.com/{}", Request::full_name()),
                        value: request.encode_to_vec(),
                    }),
                }
            })
            .collect()
    }

    /// Rejected updates leave the admitted ones; their clients learn why.
    pub(super) fn reject_updates(&mut self, messages: &mut UpdateMessages) {
        for rejection in std::mem::take(&mut messages.rejections) {
            let update_id = rejection
                .rejected_request
                .as_ref()
                .map(|r| update_id_of(r).to_owned())
                .unwrap_or_default();
            self.admitted_updates
                .retain(|r| update_id_of(&r.0) != update_id);
            self.rejected_updates
                .insert(update_id, Proto(rejection.failure.unwrap_or_default()));
        }
    }

    /// The ProtocolMessage command: the answer `message_id` becomes an event here.
    pub(super) fn apply_update_answer(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        messages: &mut UpdateMessages,
        message_id: &str,
    ) {
        if let Some(answer) = messages.answers.remove(message_id) {
            self.write_update_answer(fx, now, answer);
        }
    }

    /// Answers no ProtocolMessage command placed: written after the commands' events.
    pub(super) fn apply_remaining_update_answers(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        messages: &mut UpdateMessages,
    ) {
        for message_id in std::mem::take(&mut messages.order) {
            if let Some(answer) = messages.answers.remove(&message_id) {
                self.write_update_answer(fx, now, answer);
            }
        }
    }

    fn write_update_answer(&mut self, fx: &mut Effects, now: Millis, answer: Answer) {
        if !self.is_open() {
            return;
        }
        match answer {
            Answer::Accepted {
                update_id,
                acceptance,
            } => {
                let accepted_event_id = self.append(
                    fx,
                    now,
                    EventType::WorkflowExecutionUpdateAccepted,
                    Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(
                        WorkflowExecutionUpdateAcceptedEventAttributes {
                            protocol_instance_id: update_id.clone(),
                            accepted_request_message_id: acceptance.accepted_request_message_id,
                            accepted_request_sequencing_event_id: acceptance
                                .accepted_request_sequencing_event_id,
                            accepted_request: acceptance.accepted_request,
                        },
                    ),
                );
                self.admitted_updates
                    .retain(|r| update_id_of(&r.0) != update_id);
                self.updates.insert(
                    update_id,
                    UpdateRecord {
                        accepted_event_id,
                        outcome: None,
                    },
                );
            }
            Answer::Completed(response) => {
                let update_id = response
                    .meta
                    .as_ref()
                    .map(|m| m.update_id.clone())
                    .unwrap_or_default();
                let Some(record) = self.updates.get(&update_id).cloned() else {
                    return;
                };
                self.append(
                    fx,
                    now,
                    EventType::WorkflowExecutionUpdateCompleted,
                    Attributes::WorkflowExecutionUpdateCompletedEventAttributes(
                        WorkflowExecutionUpdateCompletedEventAttributes {
                            meta: response.meta,
                            accepted_event_id: record.accepted_event_id,
                            outcome: response.outcome.clone(),
                        },
                    ),
                );
                self.updates.insert(
                    update_id,
                    UpdateRecord {
                        outcome: response.outcome.map(Proto),
                        ..record
                    },
                );
            }
        }
    }
}

fn update_id_of(request: &Request) -> &str {
    request.meta.as_ref().map_or("", |m| m.update_id.as_str())
}
