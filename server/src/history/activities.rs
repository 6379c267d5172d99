//! What workers and async-completion clients report about running activities, addressed by
//! task token or by workflow and activity id.

use temporalio_protos::temporal::api::common::v1::Payloads;
use temporalio_protos::temporal::api::failure::v1::Failure;

use super::History;
use super::token::{self, TaskToken};
use crate::engine::{Effects, EngineError, Millis, MutableState};
use crate::error::ServiceResult;

/// The activity a report is about.
pub enum ActivityRef<'a> {
    Token(&'a [u8]),
    Id {
        namespace: &'a str,
        workflow_id: &'a str,
        /// Empty: the newest run.
        run_id: &'a str,
        activity_id: &'a str,
    },
}

pub enum ActivityReportKind {
    Heartbeat(Option<Payloads>),
    Completed(Option<Payloads>),
    Failed {
        failure: Box<Failure>,
        last_heartbeat_details: Option<Payloads>,
    },
    Canceled(Option<Payloads>),
}

pub struct ActivityReport {
    pub kind: ActivityReportKind,
    /// Who reports: the worker, or the client completing the activity asynchronously.
    pub identity: String,
}

impl History {
    /// Applies a report to its activity; returns whether the workflow asked to cancel it
    /// (what a heartbeat's answer carries).
    pub async fn report_activity(
        &self,
        target: ActivityRef<'_>,
        report: ActivityReport,
    ) -> ServiceResult<bool> {
        match target {
            ActivityRef::Token(task_token) => {
                let task: TaskToken = token::decode_task_token(task_token)?;
                self.update(
                    &task.namespace,
                    &task.workflow_id,
                    &task.run_id,
                    |state, now| apply(state, task.scheduled_event_id, task.attempt, report, now),
                )
                .await
            }
            ActivityRef::Id {
                namespace,
                workflow_id,
                run_id,
                activity_id,
            } => {
                self.update(namespace, workflow_id, run_id, |state, now| {
                    let (scheduled_event_id, attempt) = state.activity_by_id(activity_id)?;
                    // A client may finish an activity no worker has started: it starts now.
                    let mut effects = match state.record_activity_task_started(
                        scheduled_event_id,
                        &report.identity,
                        "",
                        now,
                    ) {
                        Ok(effects) => effects,
                        Err(EngineError::Stale(_)) => Effects::default(),
                        Err(error) => return Err(error),
                    };
                    let (more, cancel_requested) =
                        apply(state, scheduled_event_id, attempt, report, now)?;
                    effects.merge(more);
                    Ok((effects, cancel_requested))
                })
                .await
            }
        }
    }
}

fn apply(
    state: &mut MutableState,
    scheduled_event_id: i64,
    attempt: i32,
    report: ActivityReport,
    now: Millis,
) -> Result<(Effects, bool), EngineError> {
    let identity = report.identity.as_str();
    let effects = match report.kind {
        ActivityReportKind::Heartbeat(details) => {
            return state.record_activity_heartbeat(scheduled_event_id, attempt, details, now);
        }
        ActivityReportKind::Completed(result) => {
            state.complete_activity(scheduled_event_id, attempt, result, identity, now)?
        }
        ActivityReportKind::Failed {
            failure,
            last_heartbeat_details,
        } => state.fail_activity(
            scheduled_event_id,
            attempt,
            *failure,
            last_heartbeat_details,
            identity,
            now,
        )?,
        ActivityReportKind::Canceled(details) => {
            state.cancel_activity(scheduled_event_id, attempt, details, identity, now)?
        }
    };
    Ok((effects, false))
}
