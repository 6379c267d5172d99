//! Activities: scheduling, starting, outcomes, retries and timeouts.
//!
//! Like the real server, the ActivityTaskStarted event is written only with the outcome of
//! the last attempt; earlier attempts live in the mutable state alone.

use devserver_persistence::TaskKind;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::command::v1::ScheduleActivityTaskCommandAttributes;
use temporalio_protos::temporal::api::common::v1::{Payloads, RetryPolicy as RetryPolicyProto};
use temporalio_protos::temporal::api::enums::v1::{EventType, RetryState, TimeoutType};
use temporalio_protos::temporal::api::failure::v1::{
    Failure, TimeoutFailureInfo, failure::FailureInfo,
};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    ActivityTaskCanceledEventAttributes, ActivityTaskCompletedEventAttributes,
    ActivityTaskFailedEventAttributes, ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes, ActivityTaskTimedOutEventAttributes,
};
use temporalio_protos::temporal::api::workflowservice::v1::PollActivityTaskQueueResponse;

use super::{
    Effects, EngineError, Millis, MutableState, Proto, STARTED_EVENT_JUST_BEFORE, Task, duration,
    duration_error, millis_of, normal_queue, timestamp,
};

/// The real server's defaults for what a retry policy leaves unset.
const DEFAULT_INITIAL_INTERVAL: Millis = 1_000;
const DEFAULT_BACKOFF_COEFFICIENT: f64 = 2.0;
const DEFAULT_MAXIMUM_INTERVAL_FACTOR: i64 = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub initial_interval: Millis,
    pub backoff_coefficient: f64,
    pub maximum_interval: Millis,
    /// 0 means unlimited.
    pub maximum_attempts: i32,
    pub non_retryable_error_types: Vec<String>,
}

impl RetryPolicy {
    /// Why a policy a client sent is invalid, checked like the real server: after the
    /// defaults fill what it leaves unset, and not at all when it allows a single attempt.
    pub fn check(requested: &RetryPolicyProto) -> Result<(), String> {
        if requested.maximum_attempts == 1 {
            return Ok(());
        }
        let initial = requested.initial_interval.as_ref();
        if let Some(error) = duration_error(initial) {
            return Err(format!(
                "invalid InitialInterval set on retry policy: {error}"
            ));
        }
        if requested.backoff_coefficient != 0.0 && requested.backoff_coefficient < 1.0 {
            return Err("BackoffCoefficient cannot be less than 1 on retry policy.".into());
        }
        let maximum = requested.maximum_interval.as_ref();
        if let Some(error) = duration_error(maximum) {
            return Err(format!(
                "invalid MaximumInterval set on retry policy: {error}"
            ));
        }
        let initial = match millis_of(initial) {
            0 => DEFAULT_INITIAL_INTERVAL,
            interval => interval,
        };
        let maximum = millis_of(maximum);
        if maximum > 0 && maximum < initial {
            return Err(
                "MaximumInterval cannot be less than InitialInterval on retry policy.".into(),
            );
        }
        if requested.maximum_attempts < 0 {
            return Err("MaximumAttempts cannot be negative on retry policy.".into());
        }
        Ok(())
    }

    /// The requested policy with the server defaults filled in.
    pub fn normalized(requested: Option<&RetryPolicyProto>) -> RetryPolicy {
        let requested = requested.cloned().unwrap_or_default();
        let initial_interval = match millis_of(requested.initial_interval.as_ref()) {
            0 => DEFAULT_INITIAL_INTERVAL,
            interval => interval,
        };
        RetryPolicy {
            initial_interval,
            // An infinite coefficient becomes the largest finite one: the state is stored as
            // JSON, which has no infinity, and the delays are the same (the first retry waits
            // the initial interval, every later one the maximum interval).
            backoff_coefficient: if requested.backoff_coefficient >= 1.0 {
                requested.backoff_coefficient.min(f64::MAX)
            } else {
                DEFAULT_BACKOFF_COEFFICIENT
            },
            maximum_interval: match millis_of(requested.maximum_interval.as_ref()) {
                0 => initial_interval * DEFAULT_MAXIMUM_INTERVAL_FACTOR,
                interval => interval.max(initial_interval),
            },
            maximum_attempts: requested.maximum_attempts.max(0),
            non_retryable_error_types: requested.non_retryable_error_types,
        }
    }

    pub(super) fn to_proto(&self) -> RetryPolicyProto {
        RetryPolicyProto {
            initial_interval: Some(duration(self.initial_interval)),
            backoff_coefficient: self.backoff_coefficient,
            maximum_interval: Some(duration(self.maximum_interval)),
            maximum_attempts: self.maximum_attempts,
            non_retryable_error_types: self.non_retryable_error_types.clone(),
        }
    }

    /// The delay before attempt `attempt + 1`, or why there is none.
    pub(super) fn delay_after(
        &self,
        attempt: i32,
        failure: &Failure,
    ) -> Result<Millis, RetryState> {
        let mut explicit_delay = 0;
        match &failure.failure_info {
            Some(FailureInfo::ApplicationFailureInfo(info)) => {
                if info.non_retryable || self.non_retryable_error_types.contains(&info.r#type) {
                    return Err(RetryState::NonRetryableFailure);
                }
                explicit_delay = millis_of(info.next_retry_delay.as_ref());
            }
            // What the server itself fails an attempt with (e.g. a result over the size
            // limit) says whether a retry could help.
            Some(FailureInfo::ServerFailureInfo(info)) if info.non_retryable => {
                return Err(RetryState::NonRetryableFailure);
            }
            _ => {}
        }
        if self.maximum_attempts > 0 && attempt >= self.maximum_attempts {
            return Err(RetryState::MaximumAttemptsReached);
        }
        if explicit_delay > 0 {
            return Ok(explicit_delay);
        }
        let backoff = self.initial_interval as f64 * self.backoff_coefficient.powi(attempt - 1);
        Ok((backoff.min(self.maximum_interval as f64)) as Millis)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityStart {
    pub time: Millis,
    pub identity: String,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub scheduled_event_id: i64,
    pub activity_id: String,
    /// The scheduled event as written: type, queue, header, input and normalized timeouts.
    pub scheduled: Proto<ActivityTaskScheduledEventAttributes>,
    pub task_queue: String,
    pub schedule_to_close_timeout: Millis,
    pub schedule_to_start_timeout: Millis,
    pub start_to_close_timeout: Millis,
    pub heartbeat_timeout: Millis,
    pub retry_policy: RetryPolicy,
    pub attempt: i32,
    pub scheduled_time: Millis,
    pub attempt_scheduled_time: Millis,
    /// Set while the activity waits out a retry backoff (no task in any queue then).
    pub retry_at: Option<Millis>,
    pub started: Option<ActivityStart>,
    /// When the running attempt last heartbeated.
    pub last_heartbeat: Option<Millis>,
    /// Details of the latest heartbeat of any attempt: the next attempt resumes from them.
    pub heartbeat_details: Option<Proto<Payloads>>,
    pub last_failure: Option<Proto<Failure>>,
    /// The ActivityTaskCancelRequested event, once the workflow asked to cancel it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_requested_event_id: Option<i64>,
}

impl Activity {
    /// Whether a task row for this activity waits in its queue.
    pub fn is_waiting_in_queue(&self) -> bool {
        self.started.is_none() && self.retry_at.is_none()
    }

    pub(super) fn deadline(&self) -> Option<Millis> {
        let schedule_to_close = (self.schedule_to_close_timeout > 0)
            .then(|| self.scheduled_time + self.schedule_to_close_timeout);
        let schedule_to_start = (self.is_waiting_in_queue() && self.schedule_to_start_timeout > 0)
            .then(|| self.attempt_scheduled_time + self.schedule_to_start_timeout);
        let start_to_close = self
            .started
            .as_ref()
            .map(|s| s.time + self.start_to_close_timeout);
        [
            schedule_to_close,
            schedule_to_start,
            start_to_close,
            self.heartbeat_deadline(),
            self.retry_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A running attempt with a heartbeat timeout must heartbeat before this.
    fn heartbeat_deadline(&self) -> Option<Millis> {
        let started = self
            .started
            .as_ref()
            .filter(|_| self.heartbeat_timeout > 0)?;
        Some(self.last_heartbeat.unwrap_or(started.time) + self.heartbeat_timeout)
    }

    fn last_heartbeat_details(&self) -> Option<Payloads> {
        self.heartbeat_details.clone().map(|d| d.0)
    }
}

/// What happened to an activity attempt, for the events that report it.
pub(super) enum Outcome {
    Completed {
        result: Option<Payloads>,
        identity: String,
    },
    Failed {
        failure: Failure,
        retry_state: RetryState,
        identity: String,
    },
    TimedOut(Failure, RetryState),
    Canceled {
        details: Option<Payloads>,
        identity: String,
    },
}

impl MutableState {
    /// The ScheduleActivityTask command: normalizes timeouts and retry policy like the real
    /// server, writes ActivityTaskScheduled and queues the task (or starts it at once for the
    /// completing worker when eager dispatch applies).
    // `use_workflow_build_id` is deprecated but still sent by SDKs; it is recorded as given.
    #[allow(deprecated)]
    pub(super) fn schedule_activity(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &ScheduleActivityTaskCommandAttributes,
        completed_event_id: i64,
        eager_identity: Option<&str>,
    ) -> i64 {
        let mut schedule_to_close = millis_of(attrs.schedule_to_close_timeout.as_ref());
        let mut start_to_close = millis_of(attrs.start_to_close_timeout.as_ref());
        let mut schedule_to_start = millis_of(attrs.schedule_to_start_timeout.as_ref());
        if schedule_to_close > 0 {
            if start_to_close == 0 || start_to_close > schedule_to_close {
                start_to_close = schedule_to_close;
            }
        } else {
            schedule_to_close = self
                .run_expiration
                .map_or(0, |expiration| (expiration - now).max(1));
        }
        if schedule_to_start == 0
            || (schedule_to_close > 0 && schedule_to_start > schedule_to_close)
        {
            schedule_to_start = schedule_to_close;
        }
        let task_queue = match attrs.task_queue.as_ref().map(|q| q.name.as_str()) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => self.task_queue.clone(),
        };
        let retry_policy = RetryPolicy::normalized(attrs.retry_policy.as_ref());
        let optional = |millis: Millis| (millis > 0).then(|| duration(millis));
        let scheduled = ActivityTaskScheduledEventAttributes {
            activity_id: attrs.activity_id.clone(),
            activity_type: attrs.activity_type.clone(),
            task_queue: Some(normal_queue(&task_queue)),
            header: attrs.header.clone(),
            input: attrs.input.clone(),
            schedule_to_close_timeout: optional(schedule_to_close),
            schedule_to_start_timeout: optional(schedule_to_start),
            start_to_close_timeout: optional(start_to_close),
            heartbeat_timeout: attrs.heartbeat_timeout,
            workflow_task_completed_event_id: completed_event_id,
            retry_policy: Some(retry_policy.to_proto()),
            use_workflow_build_id: attrs.use_workflow_build_id,
            priority: attrs.priority.clone(),
        };
        let scheduled_event_id = self.append(
            fx,
            now,
            EventType::ActivityTaskScheduled,
            Attributes::ActivityTaskScheduledEventAttributes(scheduled.clone()),
        );
        let started = eager_identity.map(|identity| ActivityStart {
            time: now,
            identity: identity.to_owned(),
            request_id: String::new(),
        });
        if started.is_none() {
            fx.new_tasks.push(Task {
                kind: TaskKind::Activity,
                task_queue: task_queue.clone(),
                scheduled_event_id,
            });
        }
        self.activities.insert(
            scheduled_event_id,
            Activity {
                scheduled_event_id,
                activity_id: attrs.activity_id.clone(),
                scheduled: Proto(scheduled),
                task_queue,
                schedule_to_close_timeout: schedule_to_close,
                schedule_to_start_timeout: schedule_to_start,
                start_to_close_timeout: start_to_close,
                heartbeat_timeout: millis_of(attrs.heartbeat_timeout.as_ref()),
                retry_policy,
                attempt: 1,
                scheduled_time: now,
                attempt_scheduled_time: now,
                retry_at: None,
                started,
                last_heartbeat: None,
                heartbeat_details: None,
                last_failure: None,
                cancel_requested_event_id: None,
            },
        );
        scheduled_event_id
    }

    /// A poller took the activity task scheduled by `scheduled_event_id`.
    pub fn record_activity_task_started(
        &mut self,
        scheduled_event_id: i64,
        identity: &str,
        request_id: &str,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        let open = self.is_open();
        let activity = self
            .activities
            .get_mut(&scheduled_event_id)
            .filter(|a| open && a.is_waiting_in_queue())
            .ok_or_else(|| EngineError::Stale("activity task not found".into()))?;
        activity.started = Some(ActivityStart {
            time: now,
            identity: identity.to_owned(),
            request_id: request_id.to_owned(),
        });
        self.state_transitions += 1;
        Ok(Effects {
            removed_tasks: vec![scheduled_event_id],
            ..Default::default()
        })
    }

    /// The activity task as a poller receives it (without its token).
    pub fn activity_task(&self, scheduled_event_id: i64) -> Option<PollActivityTaskQueueResponse> {
        let activity = self.activities.get(&scheduled_event_id)?;
        let scheduled = &activity.scheduled.0;
        Some(PollActivityTaskQueueResponse {
            workflow_namespace: self.namespace.clone(),
            workflow_type: Some(self.workflow_type.clone().into()),
            workflow_execution: Some(self.execution()),
            activity_type: scheduled.activity_type.clone(),
            activity_id: activity.activity_id.clone(),
            header: scheduled.header.clone(),
            input: scheduled.input.clone(),
            heartbeat_details: activity.last_heartbeat_details(),
            scheduled_time: Some(timestamp(activity.scheduled_time)),
            current_attempt_scheduled_time: Some(timestamp(activity.attempt_scheduled_time)),
            started_time: activity.started.as_ref().map(|s| timestamp(s.time)),
            attempt: activity.attempt,
            schedule_to_close_timeout: scheduled.schedule_to_close_timeout,
            start_to_close_timeout: scheduled.start_to_close_timeout,
            heartbeat_timeout: scheduled.heartbeat_timeout,
            retry_policy: scheduled.retry_policy.clone(),
            priority: scheduled.priority.clone(),
            ..Default::default()
        })
    }

    /// The started activity a worker's token names, or why it is gone.
    pub(super) fn started_activity(
        &self,
        scheduled_event_id: i64,
        attempt: i32,
    ) -> Result<(), EngineError> {
        self.require_open()?;
        match self.activities.get(&scheduled_event_id) {
            Some(activity) if activity.attempt == attempt && activity.started.is_some() => Ok(()),
            _ => Err(EngineError::Stale(
                "invalid activityID or activity already timed out or invoking workflow is completed".into(),
            )),
        }
    }

    pub fn complete_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        result: Option<Payloads>,
        identity: &str,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.started_activity(scheduled_event_id, attempt)?;
        let mut fx = Effects::default();
        let outcome = Outcome::Completed {
            result,
            identity: identity.to_owned(),
        };
        self.finish_activity(&mut fx, now, scheduled_event_id, outcome, true);
        Ok(fx)
    }

    /// A failed attempt: retried after the policy's backoff, or reported to the workflow.
    pub fn fail_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        failure: Failure,
        last_heartbeat_details: Option<Payloads>,
        identity: &str,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        self.started_activity(scheduled_event_id, attempt)?;
        if last_heartbeat_details.is_some() {
            let activity = self
                .activities
                .get_mut(&scheduled_event_id)
                .expect("checked");
            activity.heartbeat_details = last_heartbeat_details.map(Proto);
        }
        let mut fx = Effects::default();
        match self.retry_delay(scheduled_event_id, &failure, now) {
            Ok(delay) => self.retry_activity(scheduled_event_id, failure, now + delay),
            Err(retry_state) => self.finish_activity(
                &mut fx,
                now,
                scheduled_event_id,
                Outcome::Failed {
                    failure,
                    retry_state,
                    identity: identity.to_owned(),
                },
                true,
            ),
        }
        Ok(fx)
    }

    /// A running attempt reports progress: it is alive, and `details` (if any) are kept for
    /// the next attempt. Returns whether the workflow asked to cancel the activity.
    pub fn record_activity_heartbeat(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        details: Option<Payloads>,
        now: Millis,
    ) -> Result<(Effects, bool), EngineError> {
        self.started_activity(scheduled_event_id, attempt)?;
        let activity = self
            .activities
            .get_mut(&scheduled_event_id)
            .expect("checked");
        activity.last_heartbeat = Some(now);
        if details.is_some() {
            activity.heartbeat_details = details.map(Proto);
        }
        let cancel_requested = activity.cancel_requested_event_id.is_some();
        self.state_transitions += 1;
        Ok((Effects::default(), cancel_requested))
    }

    /// The scheduled-event id and current attempt of the activity `activity_id`, for the
    /// requests that name an activity by id instead of by task token.
    pub fn activity_by_id(&self, activity_id: &str) -> Result<(i64, i32), EngineError> {
        self.require_open()?;
        self.activities
            .values()
            .find(|a| a.activity_id == activity_id)
            .map(|a| (a.scheduled_event_id, a.attempt))
            .ok_or_else(|| {
                EngineError::Stale(format!(
                    "cannot find pending activity with ActivityID {activity_id}, check workflow execution history for more details"
                ))
            })
    }

    fn retry_delay(
        &self,
        scheduled_event_id: i64,
        failure: &Failure,
        now: Millis,
    ) -> Result<Millis, RetryState> {
        let activity = &self.activities[&scheduled_event_id];
        let delay = activity
            .retry_policy
            .delay_after(activity.attempt, failure)?;
        let expires = activity.scheduled_time + activity.schedule_to_close_timeout;
        if activity.schedule_to_close_timeout > 0 && now + delay >= expires {
            return Err(RetryState::Timeout);
        }
        Ok(delay)
    }

    fn retry_activity(&mut self, scheduled_event_id: i64, failure: Failure, retry_at: Millis) {
        let activity = self
            .activities
            .get_mut(&scheduled_event_id)
            .expect("checked by caller");
        activity.attempt += 1;
        activity.started = None;
        activity.last_heartbeat = None;
        activity.retry_at = Some(retry_at);
        activity.last_failure = Some(Proto(failure));
        self.state_transitions += 1;
    }

    /// Writes the last attempt's started event and its outcome. An outcome from outside
    /// (`external`) wakes the workflow; one decided by the workflow's own command is seen in
    /// the workflow task that the command's completion schedules.
    pub(super) fn finish_activity(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        scheduled_event_id: i64,
        outcome: Outcome,
        external: bool,
    ) {
        let activity = self
            .activities
            .remove(&scheduled_event_id)
            .expect("checked by caller");
        if activity.is_waiting_in_queue() {
            fx.removed_tasks.push(scheduled_event_id);
        }
        let mut events = Vec::with_capacity(2);
        let started_event_id = match &activity.started {
            Some(started) => {
                events.push((
                    EventType::ActivityTaskStarted,
                    Attributes::ActivityTaskStartedEventAttributes(
                        ActivityTaskStartedEventAttributes {
                            scheduled_event_id,
                            identity: started.identity.clone(),
                            request_id: started.request_id.clone(),
                            attempt: activity.attempt,
                            last_failure: activity.last_failure.clone().map(|f| f.0),
                            ..Default::default()
                        },
                    ),
                ));
                STARTED_EVENT_JUST_BEFORE
            }
            None => 0,
        };
        let latest_cancel_requested_event_id = activity.cancel_requested_event_id.unwrap_or(0);
        events.push(match outcome {
            Outcome::Completed { result, identity } => (
                EventType::ActivityTaskCompleted,
                Attributes::ActivityTaskCompletedEventAttributes(
                    ActivityTaskCompletedEventAttributes {
                        result,
                        scheduled_event_id,
                        started_event_id,
                        identity,
                        ..Default::default()
                    },
                ),
            ),
            Outcome::Failed {
                failure,
                retry_state,
                identity,
            } => (
                EventType::ActivityTaskFailed,
                Attributes::ActivityTaskFailedEventAttributes(ActivityTaskFailedEventAttributes {
                    failure: Some(failure),
                    scheduled_event_id,
                    started_event_id,
                    identity,
                    retry_state: retry_state as i32,
                    ..Default::default()
                }),
            ),
            Outcome::Canceled { details, identity } => (
                EventType::ActivityTaskCanceled,
                Attributes::ActivityTaskCanceledEventAttributes(
                    ActivityTaskCanceledEventAttributes {
                        details,
                        latest_cancel_requested_event_id,
                        scheduled_event_id,
                        started_event_id,
                        identity,
                        ..Default::default()
                    },
                ),
            ),
            Outcome::TimedOut(failure, retry_state) => (
                EventType::ActivityTaskTimedOut,
                Attributes::ActivityTaskTimedOutEventAttributes(
                    ActivityTaskTimedOutEventAttributes {
                        failure: Some(failure),
                        scheduled_event_id,
                        started_event_id,
                        retry_state: retry_state as i32,
                    },
                ),
            ),
        });
        if external {
            self.append_external(fx, now, events);
        } else {
            for (event_type, attributes) in events {
                self.append(fx, now, event_type, attributes);
            }
        }
        self.state_transitions += 1;
    }

    /// Acts on whatever of this activity's deadlines has passed.
    pub(super) fn fire_activity_deadlines(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        scheduled_event_id: i64,
    ) {
        let activity = &self.activities[&scheduled_event_id];
        let expired = |start: Millis, timeout: Millis| timeout > 0 && start + timeout <= now;
        if expired(activity.scheduled_time, activity.schedule_to_close_timeout) {
            let failure = timeout_failure(TimeoutType::ScheduleToClose, activity);
            self.finish_activity(
                fx,
                now,
                scheduled_event_id,
                Outcome::TimedOut(failure, RetryState::Timeout),
                true,
            );
        } else if activity.retry_at.is_some_and(|at| at <= now) {
            let activity = self
                .activities
                .get_mut(&scheduled_event_id)
                .expect("present");
            activity.retry_at = None;
            activity.attempt_scheduled_time = now;
            fx.new_tasks.push(Task {
                kind: TaskKind::Activity,
                task_queue: activity.task_queue.clone(),
                scheduled_event_id,
            });
            self.state_transitions += 1;
        } else if activity.is_waiting_in_queue()
            && expired(
                activity.attempt_scheduled_time,
                activity.schedule_to_start_timeout,
            )
        {
            // Not retried: another attempt would wait in the same queue nobody polls.
            let failure = timeout_failure(TimeoutType::ScheduleToStart, activity);
            self.finish_activity(
                fx,
                now,
                scheduled_event_id,
                Outcome::TimedOut(failure, RetryState::Timeout),
                true,
            );
        } else if let Some(timeout_type) = activity.started.as_ref().and_then(|started| {
            if expired(started.time, activity.start_to_close_timeout) {
                Some(TimeoutType::StartToClose)
            } else {
                activity
                    .heartbeat_deadline()
                    .filter(|at| *at <= now)
                    .map(|_| TimeoutType::Heartbeat)
            }
        }) {
            let failure = timeout_failure(timeout_type, activity);
            match self.retry_delay(scheduled_event_id, &failure, now) {
                Ok(delay) => self.retry_activity(scheduled_event_id, failure, now + delay),
                Err(retry_state) => self.finish_activity(
                    fx,
                    now,
                    scheduled_event_id,
                    Outcome::TimedOut(failure, retry_state),
                    true,
                ),
            }
        }
    }
}

/// The failure of an attempt that ran out of time. Timeouts before any attempt finished
/// carry the last attempt's failure as their cause.
fn timeout_failure(timeout_type: TimeoutType, activity: &Activity) -> Failure {
    let name = match timeout_type {
        TimeoutType::ScheduleToClose => "ScheduleToClose",
        TimeoutType::ScheduleToStart => "ScheduleToStart",
        TimeoutType::StartToClose => "StartToClose",
        TimeoutType::Heartbeat => "Heartbeat",
        TimeoutType::Unspecified => "Unspecified",
    };
    let cause = match timeout_type {
        TimeoutType::ScheduleToClose | TimeoutType::ScheduleToStart => {
            activity.last_failure.clone()
        }
        _ => None,
    };
    Failure {
        message: format!("activity {name} timeout"),
        source: "Server".into(),
        cause: cause.map(|c| Box::new(c.0)),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: timeout_type as i32,
            last_heartbeat_details: activity.last_heartbeat_details(),
        })),
        ..Default::default()
    }
}
