//! Time skipping: what holds the clock, and per-workflow time skipping.
//!
//! With a `time_skipping_config` (StartWorkflowExecution, SignalWithStart, or
//! UpdateWorkflowExecutionOptions later) a run keeps a clock of its own: the server's clock
//! plus the time it skipped. Whenever a change leaves the run with nothing in flight, it
//! skips to the next moment something would happen (a timer, an activity retry, the end of a
//! start delay, a timeout), writing a WorkflowExecutionTimeSkippingTransitioned event that
//! workers may ignore. A fast-forward bounds the skipping: the run skips at most to its
//! target, and stops skipping when it gets there.

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::common::v1::{
    TimeSkippingConfig, TimeSkippingFastForwardInfo, TimeSkippingInfo, TimeSkippingStatePropagation,
};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    WorkflowExecutionOptionsUpdatedEventAttributes,
    WorkflowExecutionTimeSkippingTransitionedEventAttributes,
};

use super::{
    Effects, Millis, MutableState, Proto, duration, millis_of, millis_of_timestamp, new_event,
    timestamp,
};

/// The real server's `max_session_skip_count` when the config leaves it at 0: a run that
/// keeps finding something to skip to (a timer in a loop) stops skipping after this many.
const DEFAULT_MAX_SESSION_SKIPS: i32 = 200;

/// The time skipping configuration and clock a new run inherits (none for either).
pub type Inheritance = (
    Option<TimeSkippingConfig>,
    Option<TimeSkippingStatePropagation>,
);

/// A run's own clock and its time skipping configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSkipping {
    /// The effective configuration, as DescribeWorkflowExecution shows it.
    pub config: Proto<TimeSkippingConfig>,
    /// How far this run's clock is ahead of the server's.
    pub skipped: Millis,
    /// Skips since the configuration was last set.
    pub session_skips: i32,
    /// The fast-forward of the configuration, once its target is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_forward: Option<FastForward>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastForward {
    /// In the run's time.
    pub target: Millis,
    pub reached: bool,
}

/// Where a fast-forward stands, for PollWorkflowExecutionTimeSkipping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FastForwardProgress {
    Completed,
    Pending,
    Failed(&'static str),
}

impl TimeSkipping {
    /// A new run's time skipping: its own configuration, and what the run before it in the
    /// chain (or its parent) hands down. `now` is the new run's time.
    pub fn new(
        config: Option<&TimeSkippingConfig>,
        inherited: Option<&TimeSkippingStatePropagation>,
        now: Millis,
    ) -> Option<TimeSkipping> {
        let skipped = inherited.map_or(0, |i| millis_of(i.initial_skipped_duration.as_ref()));
        if config.is_none() && skipped == 0 {
            return None;
        }
        let mut config = config.cloned().unwrap_or_default();
        if config.max_session_skip_count <= 0 {
            config.max_session_skip_count = DEFAULT_MAX_SESSION_SKIPS;
        }
        let mut skipping = TimeSkipping {
            config: Proto(config),
            skipped,
            session_skips: inherited.map_or(0, |i| i.initial_skip_count),
            fast_forward: None,
        };
        let inherited_target = inherited
            .and_then(|i| i.fast_forward_target_time.as_ref())
            .map(millis_of_timestamp);
        skipping.arm_fast_forward(inherited_target, now);
        Some(skipping)
    }

    /// Computes the fast-forward target of the configuration: inherited from an earlier run
    /// of the chain, else `duration` from now.
    fn arm_fast_forward(&mut self, inherited_target: Option<Millis>, now: Millis) {
        let Some(config) = &self.config.0.fast_forward_config else {
            self.fast_forward = None;
            return;
        };
        let target = inherited_target.unwrap_or_else(|| now + millis_of(config.duration.as_ref()));
        let reached = target <= now;
        if reached {
            self.config.0.enabled = false;
        }
        self.fast_forward = Some(FastForward { target, reached });
    }

    fn pending_fast_forward(&self) -> Option<Millis> {
        self.fast_forward
            .as_ref()
            .filter(|ff| self.config.0.enabled && !ff.reached)
            .map(|ff| ff.target)
    }

    fn fast_forward_info(&self) -> Option<TimeSkippingFastForwardInfo> {
        let ff = self.fast_forward.as_ref()?;
        let config = self
            .config
            .0
            .fast_forward_config
            .clone()
            .unwrap_or_default();
        Some(TimeSkippingFastForwardInfo {
            fast_forward_duration: config.duration,
            fast_forward_id: config.id,
            target_time: Some(timestamp(ff.target)),
            has_completed: ff.reached,
        })
    }

    /// What the next run of the chain inherits: the configuration, the clock, the skip
    /// count and a fast-forward not yet reached.
    fn for_next_run(&self) -> Inheritance {
        let propagation = TimeSkippingStatePropagation {
            initial_skipped_duration: Some(duration(self.skipped)),
            fast_forward_target_time: self
                .fast_forward
                .as_ref()
                .filter(|ff| !ff.reached)
                .map(|ff| timestamp(ff.target)),
            initial_skip_count: self.session_skips,
        };
        (Some(self.config.0.clone()), Some(propagation))
    }

    /// What a child inherits: the clock always, skipping unless propagation is disabled,
    /// never the fast-forward.
    fn for_child(&self) -> Inheritance {
        let config = &self.config.0;
        let child_config =
            (config.enabled && !config.disable_propagation).then(|| TimeSkippingConfig {
                fast_forward_config: None,
                ..config.clone()
            });
        let propagation = TimeSkippingStatePropagation {
            initial_skipped_duration: Some(duration(self.skipped)),
            ..Default::default()
        };
        (child_config, Some(propagation))
    }
}

/// A new run's time: the server's, plus what its parent or the previous run skipped.
pub fn inherited_now(
    server_now: Millis,
    inherited: Option<&TimeSkippingStatePropagation>,
) -> Millis {
    server_now + inherited.map_or(0, |i| millis_of(i.initial_skipped_duration.as_ref()))
}

impl MutableState {
    /// Whether something this run set going is under way: a workflow task, an activity
    /// attempt (one waiting out a retry backoff is not), a child workflow being started, a
    /// signal or cancellation request on its way to another workflow. Time does not skip past
    /// work in flight: its outcome, not the clock, decides what the run does next.
    pub fn has_work_in_flight(&self) -> bool {
        self.is_open()
            && (self.workflow_task.is_some()
                || self.activities.values().any(|a| a.retry_at.is_none())
                || self.children.values().any(|c| c.started.is_none())
                || !self.external_requests.is_empty()
                // As the real server's: any pending operation, started or not.
                || !self.nexus_operations.is_empty())
    }

    /// This run's time when the server's clock reads `server_now`.
    pub fn now_at(&self, server_now: Millis) -> Millis {
        server_now + self.skipped()
    }

    fn skipped(&self) -> Millis {
        self.time_skipping.as_ref().map_or(0, |ts| ts.skipped)
    }

    /// When, by the server's clock, the run's timer must fire.
    pub fn timer_fire_at(&self) -> Option<Millis> {
        self.next_deadline().map(|at| at - self.skipped())
    }

    /// A fast-forward not yet reached is a deadline: reaching it in time ends the skipping.
    pub(super) fn fast_forward_deadline(&self) -> Option<Millis> {
        self.time_skipping.as_ref()?.pending_fast_forward()
    }

    pub(super) fn fire_fast_forward(&mut self, now: Millis) {
        if let Some(ts) = &mut self.time_skipping
            && ts
                .pending_fast_forward()
                .is_some_and(|target| target <= now)
        {
            ts.config.0.enabled = false;
            if let Some(ff) = &mut ts.fast_forward {
                ff.reached = true;
            }
        }
    }

    /// Ends a change: a run that skips time and has nothing in flight moves its clock to the
    /// next moment something happens (at most to its fast-forward target).
    pub fn skip_time(&mut self, now: Millis) -> Effects {
        let mut fx = Effects::default();
        let Some(ts) = &self.time_skipping else {
            return fx;
        };
        // A child still running may yet report to this run: its clock must wait for it,
        // like the real server's (the child skips on a clock of its own).
        if !ts.config.0.enabled
            || !self.is_open()
            || self.has_work_in_flight()
            || !self.children.is_empty()
        {
            return fx;
        }
        // Before the first workflow task the run waits only for its start; after it, its
        // timeouts count too (a child must not skip to its timeout before running at all).
        let waits: Vec<Millis> = match self.first_workflow_task_at {
            Some(at) => vec![at],
            None => [self.run_expiration, self.execution_expiration]
                .into_iter()
                .flatten()
                .collect(),
        };
        let next = self
            .timers
            .values()
            .map(|t| t.fire_at)
            .chain(self.activities.values().filter_map(|a| a.retry_at))
            .chain(waits)
            .filter(|at| *at > now)
            .min();
        let (target, disables) = match (next, ts.pending_fast_forward()) {
            (Some(next), Some(ff)) if next < ff => (next, false),
            (_, Some(ff)) => (ff, true),
            (Some(next), None) => (next, false),
            (None, None) => return fx,
        };
        let mut event = new_event(
            now,
            EventType::WorkflowExecutionTimeSkippingTransitioned,
            Attributes::WorkflowExecutionTimeSkippingTransitionedEventAttributes(
                WorkflowExecutionTimeSkippingTransitionedEventAttributes {
                    target_time: Some(timestamp(target)),
                    disabled_after_fast_forward: disables,
                    wall_clock_time: Some(timestamp(now - self.skipped())),
                },
            ),
        );
        event.worker_may_ignore = true;
        self.push_event(&mut fx, event);
        let ts = self.time_skipping.as_mut().expect("checked above");
        ts.skipped += target - now;
        ts.session_skips += 1;
        if disables {
            ts.config.0.enabled = false;
            if let Some(ff) = &mut ts.fast_forward {
                ff.reached = true;
            }
        }
        if ts.session_skips >= ts.config.0.max_session_skip_count {
            ts.config.0.enabled = false;
        }
        self.state_transitions += 1;
        fx
    }

    /// UpdateWorkflowExecutionOptions with a time skipping configuration: a new session,
    /// with a new fast-forward if the configuration has one.
    pub fn set_time_skipping_config(
        &mut self,
        config: TimeSkippingConfig,
        identity: &str,
        now: Millis,
    ) -> Result<Effects, super::EngineError> {
        self.require_open()?;
        let mut fx = Effects::default();
        match &mut self.time_skipping {
            Some(ts) => {
                let max = match config.max_session_skip_count {
                    0 => DEFAULT_MAX_SESSION_SKIPS,
                    max => max,
                };
                ts.config = Proto(TimeSkippingConfig {
                    max_session_skip_count: max,
                    ..config.clone()
                });
                ts.session_skips = 0;
                ts.arm_fast_forward(None, now);
            }
            None => self.time_skipping = TimeSkipping::new(Some(&config), None, now),
        }
        let effective = self.time_skipping.as_ref().map(|ts| ts.config.0.clone());
        let mut event = new_event(
            now,
            EventType::WorkflowExecutionOptionsUpdated,
            Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(
                WorkflowExecutionOptionsUpdatedEventAttributes {
                    time_skipping_config: effective,
                    time_skipping_config_updated: true,
                    identity: identity.to_owned(),
                    ..Default::default()
                },
            ),
        );
        event.worker_may_ignore = true;
        // A running workflow task's events come first; the worker may ignore this one, so
        // it needs no workflow task of its own.
        if self.workflow_task_running() {
            self.buffered_events.push(Proto(event));
        } else {
            self.push_event(&mut fx, event);
        }
        self.state_transitions += 1;
        Ok(fx)
    }

    /// The effective configuration, for UpdateWorkflowExecutionOptions' answer.
    pub fn time_skipping_config(&self) -> Option<TimeSkippingConfig> {
        self.time_skipping.as_ref().map(|ts| ts.config.0.clone())
    }

    /// What DescribeWorkflowExecution shows, with the run's time at `server_now`.
    pub fn time_skipping_info(&self, server_now: Millis) -> Option<TimeSkippingInfo> {
        let ts = self.time_skipping.as_ref()?;
        Some(TimeSkippingInfo {
            current_time: Some(timestamp(self.now_at(server_now))),
            effective_config: Some(ts.config.0.clone()),
            fast_forward_info: ts.fast_forward_info(),
            current_session_skip_count: ts.session_skips,
        })
    }

    /// Where the fast-forward `id` stands in this run, the current one of its chain.
    pub fn fast_forward_progress(
        &self,
        id: &str,
    ) -> (FastForwardProgress, Option<TimeSkippingFastForwardInfo>) {
        let Some(ts) = &self.time_skipping else {
            return (FastForwardProgress::Failed(FAST_FORWARD_MISMATCH), None);
        };
        let info = ts.fast_forward_info();
        let matches = info.as_ref().is_some_and(|info| info.fast_forward_id == id);
        let progress = match &ts.fast_forward {
            _ if !matches => FastForwardProgress::Failed(FAST_FORWARD_MISMATCH),
            Some(ff) if ff.reached => FastForwardProgress::Completed,
            _ if !self.is_open() => {
                FastForwardProgress::Failed("the execution ended before the fast-forward completed")
            }
            _ if !ts.config.0.enabled => FastForwardProgress::Failed(
                "time skipping was disabled before the fast-forward completed",
            ),
            _ => FastForwardProgress::Pending,
        };
        (progress, info)
    }

    /// The configuration and clock the next run of the chain starts with.
    pub(super) fn time_skipping_for_next_run(&self) -> Inheritance {
        self.time_skipping
            .as_ref()
            .map_or_else(Inheritance::default, TimeSkipping::for_next_run)
    }

    /// The configuration and clock a child starts with.
    pub(super) fn time_skipping_for_child(&self) -> Inheritance {
        self.time_skipping
            .as_ref()
            .map_or_else(Inheritance::default, TimeSkipping::for_child)
    }
}

/// The words the SDK looks for to tell a stale fast-forward id from other failures.
const FAST_FORWARD_MISMATCH: &str =
    "the requested fast_forward_id does not match the execution's current fast-forward";
