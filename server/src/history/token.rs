//! Opaque tokens handed to clients: task tokens and history page tokens.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use temporalio_protos::temporal::api::history::v1::HistoryEvent;

use crate::engine::Proto;
use crate::error::{ServiceError, ServiceResult};

/// Names one attempt of a workflow or activity task. Workers echo it back verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskToken {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub scheduled_event_id: i64,
    pub attempt: i32,
    /// Set on query tasks, which name a pending query instead of a scheduled event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<u64>,
}

/// Names a Nexus task, which lives only in matching's memory while its caller waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexusTaskToken {
    pub namespace: String,
    pub task_queue: String,
    pub task_id: String,
}

/// The token of a Nexus operation's completion callback: the caller's operation and the
/// StartOperation request (its request id) that the callback answers. The handler sends it
/// back in the callback's `Temporal-Callback-Token` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackToken {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub scheduled_event_id: i64,
    pub request_id: String,
}

/// Where the next page of a history read starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPageToken {
    pub run_id: String,
    pub next_event_id: i64,
    /// Set on the rest of a task's history: it ends with the events stored when the task
    /// started (before this id), then `unrecorded`, whatever the run did since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_end: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecorded: Vec<Proto<HistoryEvent>>,
}

/// Where the next page of a history read backwards ends: just before `before_event_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseHistoryPageToken {
    pub run_id: String,
    pub before_event_id: i64,
}

pub fn encode<T: Serialize>(token: &T) -> Vec<u8> {
    serde_json::to_vec(token).expect("tokens always serialize")
}

/// A task token a worker sent back (a workflow, activity, query or Nexus task's); the real
/// server refuses a missing one before it looks at anything else.
pub fn decode_task_token<T: DeserializeOwned>(bytes: &[u8]) -> ServiceResult<T> {
    if bytes.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "Task token not set on request.".into(),
        ));
    }
    decode(bytes, "task token")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> ServiceResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|_| ServiceError::InvalidArgument(format!("Error deserializing {what}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_invalid_argument() {
        let token = TaskToken {
            namespace: "default".into(),
            workflow_id: "wf".into(),
            run_id: "run".into(),
            scheduled_event_id: 5,
            attempt: 2,
            query_id: None,
        };
        assert_eq!(
            decode::<TaskToken>(&encode(&token), "task token").unwrap(),
            token
        );
        assert!(matches!(
            decode::<TaskToken>(b"garbage", "task token"),
            Err(ServiceError::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_missing_task_token_is_named_as_such() {
        let message = |bytes: &[u8]| match decode_task_token::<TaskToken>(bytes) {
            Err(ServiceError::InvalidArgument(message)) => message,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        assert_eq!(message(b""), "Task token not set on request.");
        assert_eq!(message(b"\xff"), "Error deserializing task token.");
    }
}
