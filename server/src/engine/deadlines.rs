//! Everything in a run that waits for the clock: user timers, timeouts and retry backoffs.
//!
//! A run keeps a single durable timer, set to [`MutableState::next_deadline`]; when it fires,
//! [`MutableState::fire_due`] acts on every deadline that has passed.

use temporalio_protos::temporal::api::enums::v1::{EventType, TimeoutType};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    TimerFiredEventAttributes, WorkflowTaskTimedOutEventAttributes,
};

use super::continuation::Ending;
use super::{Effects, Millis, MutableState, WorkflowTask};

impl MutableState {
    /// The earliest moment this run needs the clock, if any.
    pub fn next_deadline(&self) -> Option<Millis> {
        if !self.is_open() {
            return None;
        }
        let workflow_task = self
            .workflow_task
            .as_ref()
            .and_then(|task| match &task.started {
                Some(started) => Some(started.time + self.workflow_task_timeout),
                None if task.sticky => self
                    .sticky
                    .as_ref()
                    .map(|s| task.scheduled_time + s.schedule_to_start_timeout),
                None => None,
            });
        let timers = self.timers.values().map(|t| t.fire_at);
        let activities = self.activities.values().filter_map(|a| a.deadline());
        [
            self.run_expiration,
            workflow_task,
            self.first_workflow_task_at,
            self.fast_forward_deadline(),
            self.nexus_deadline(),
        ]
        .into_iter()
        .flatten()
        .chain(timers)
        .chain(activities)
        .min()
    }

    /// Acts on every deadline at or before `now`.
    pub fn fire_due(&mut self, now: Millis) -> Effects {
        let mut fx = Effects::default();
        if !self.is_open() {
            return fx;
        }
        if self.run_expiration.is_some_and(|at| at <= now) {
            self.close_or_continue(&mut fx, now, Ending::TimedOut, 0);
            self.state_transitions += 1;
            return fx;
        }
        if self.first_workflow_task_at.is_some_and(|at| at <= now) {
            self.first_workflow_task_at = None;
            self.schedule_workflow_task(&mut fx, now);
            self.state_transitions += 1;
        }
        self.fire_workflow_task_deadline(&mut fx, now);
        self.fire_fast_forward(now);

        let mut due_timers: Vec<(Millis, i64, String)> = self
            .timers
            .iter()
            .filter(|(_, timer)| timer.fire_at <= now)
            .map(|(id, timer)| (timer.fire_at, timer.started_event_id, id.clone()))
            .collect();
        due_timers.sort();
        for (_, started_event_id, timer_id) in due_timers {
            self.timers.remove(&timer_id);
            self.append_external(
                &mut fx,
                now,
                vec![(
                    EventType::TimerFired,
                    Attributes::TimerFiredEventAttributes(TimerFiredEventAttributes {
                        timer_id,
                        started_event_id,
                    }),
                )],
            );
            self.state_transitions += 1;
        }

        let due_activities: Vec<i64> = self
            .activities
            .values()
            .filter(|a| a.deadline().is_some_and(|at| at <= now))
            .map(|a| a.scheduled_event_id)
            .collect();
        for scheduled_event_id in due_activities {
            self.fire_activity_deadlines(&mut fx, now, scheduled_event_id);
        }
        self.fire_nexus_deadlines(&mut fx, now);
        fx
    }

    fn fire_workflow_task_deadline(&mut self, fx: &mut Effects, now: Millis) {
        let Some(task) = self.workflow_task.clone() else {
            return;
        };
        match &task.started {
            Some(started) if started.time + self.workflow_task_timeout <= now => {
                self.time_out_workflow_task(
                    fx,
                    now,
                    &task,
                    TimeoutType::StartToClose,
                    task.attempt + 1,
                );
            }
            None if task.sticky
                && self
                    .sticky
                    .as_ref()
                    .is_some_and(|s| task.scheduled_time + s.schedule_to_start_timeout <= now) =>
            {
                // The sticky worker did not pick it up in time (it may be gone): like the
                // real server, record the timeout and give a new task to any worker of the
                // normal queue, with the full history.
                fx.removed_tasks.push(task.scheduled_event_id);
                self.time_out_workflow_task(
                    fx,
                    now,
                    &task,
                    TimeoutType::ScheduleToStart,
                    task.attempt,
                );
            }
            _ => {}
        }
    }

    fn time_out_workflow_task(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        task: &WorkflowTask,
        timeout_type: TimeoutType,
        next_attempt: i32,
    ) {
        let timed_out = (
            EventType::WorkflowTaskTimedOut,
            Attributes::WorkflowTaskTimedOutEventAttributes(WorkflowTaskTimedOutEventAttributes {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: task.started.as_ref().map_or(0, |s| s.event_id),
                timeout_type: timeout_type as i32,
            }),
        );
        self.end_workflow_task_attempt(fx, now, timed_out, next_attempt);
    }
}
