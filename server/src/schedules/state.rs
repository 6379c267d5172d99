//! One schedule's state and how it changes: time passing, patches, updates, workflows it
//! started and saw close. Pure, like the history engine: the service starts, cancels and
//! terminates the workflows that [`ScheduleState::take_buffer`] asks for and reports back.
//!
//! The rules are the real scheduler's (Temporal's `service/worker/scheduler`): spec times
//! become buffered starts unless paused, out of actions or past the catch-up window; the
//! buffer is run under the overlap policies (`buffer`); triggers and backfills bypass pause
//! and the action limit; a closed workflow's result or failure goes to the next one.

use prost_types::Timestamp;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::common::v1::{
    Memo, Payload, Payloads, SearchAttributes, WorkflowExecution,
};
use temporalio_protos::temporal::api::enums::v1::{
    ScheduleOverlapPolicy, TaskQueueKind, WorkflowExecutionStatus, WorkflowIdReusePolicy,
};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::schedule::v1::{
    Schedule, ScheduleActionResult, ScheduleInfo, ScheduleListEntry, ScheduleListInfo,
    SchedulePatch,
};
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeScheduleResponse, StartWorkflowExecutionRequest,
};

use super::buffer::{self, BufferedStart};
use super::spec::{self, CompiledSpec, ScheduledTime};
use crate::engine::{Millis, Proto, duration, millis_of, millis_of_timestamp, timestamp};

const RECENT_ACTIONS: usize = 10;
const RECENT_ACTIONS_IN_LIST: usize = 5;
const FUTURE_ACTION_TIMES: usize = 10;
const FUTURE_ACTION_TIMES_IN_LIST: usize = 5;
/// Starts a schedule may hold; more are dropped (and counted).
const MAX_BUFFER: usize = 1000;
const DEFAULT_CATCHUP_WINDOW: Millis = 365 * 24 * 3600 * 1000;
const MIN_CATCHUP_WINDOW: Millis = 10_000;
/// Most times ListScheduleMatchingTimes answers.
const MAX_MATCHING_TIMES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub namespace: String,
    pub schedule_id: String,
    /// Jitter is drawn from this (the namespace's id and the schedule's), so a schedule's
    /// times are the same wherever they are computed.
    pub jitter_seed: String,
    /// Spec canonical, policies with their defaults filled in.
    pub schedule: Proto<Schedule>,
    pub memo: Option<Proto<Memo>>,
    pub search_attributes: Option<Proto<SearchAttributes>>,
    /// Counters, recent actions, running workflows, create and update times.
    pub info: Proto<ScheduleInfo>,
    /// Bumped by every change a client could have raced with (updates, pause, actions used).
    pub conflict_token: i64,
    /// Nominal time of the last spec time looked at: the next ones come after it.
    pub processed_until: Millis,
    pub buffer: Vec<BufferedStart>,
    pub last_completion_result: Option<Proto<Payloads>>,
    pub continued_failure: Option<Proto<Failure>>,
}

/// A workflow start the service is to make, from a buffered start.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub buffered: BufferedStart,
    pub request: StartWorkflowExecutionRequest,
    /// A start that may not overlap: it counts as running until it closes.
    pub tracked: bool,
}

/// What the service is to do now.
#[derive(Debug, Default, PartialEq)]
pub struct Actions {
    pub starts: Vec<Start>,
    pub cancel: Vec<WorkflowExecution>,
    pub terminate: Vec<WorkflowExecution>,
    /// Some starts were refused (paused, out of actions): the buffer may hold more to take.
    pub again: bool,
}

/// How a workflow the schedule started ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    pub status: WorkflowExecutionStatus,
    pub result: Option<Payloads>,
    pub failure: Option<Failure>,
}

impl ScheduleState {
    /// A new schedule at `now`. `schedule` has passed [`ScheduleState::normalize`].
    pub fn new(
        namespace: &str,
        namespace_id: &str,
        schedule_id: &str,
        schedule: Schedule,
        memo: Option<Memo>,
        search_attributes: Option<SearchAttributes>,
        now: Millis,
    ) -> ScheduleState {
        ScheduleState {
            namespace: namespace.into(),
            schedule_id: schedule_id.into(),
            jitter_seed: spec::jitter_seed(namespace_id, schedule_id),
            schedule: Proto(schedule),
            memo: memo.map(Proto),
            search_attributes: search_attributes.map(Proto),
            info: Proto(ScheduleInfo {
                create_time: Some(timestamp(now)),
                ..Default::default()
            }),
            conflict_token: 1,
            processed_until: now,
            buffer: Vec::new(),
            last_completion_result: None,
            continued_failure: None,
        }
    }

    /// Fills the defaults the real server shows: the Skip overlap policy, a one-year
    /// catch-up window, an empty state, a normal task queue.
    pub fn normalize(schedule: &mut Schedule) {
        let policies = schedule.policies.get_or_insert_default();
        if policies.overlap_policy == ScheduleOverlapPolicy::Unspecified as i32 {
            policies.overlap_policy = ScheduleOverlapPolicy::Skip as i32;
        }
        if policies.catchup_window.is_none() {
            policies.catchup_window = Some(duration(DEFAULT_CATCHUP_WINDOW));
        }
        schedule.state.get_or_insert_default();
        if let Some(queue) = start_workflow_mut(schedule).and_then(|w| w.task_queue.as_mut()) {
            queue.kind = TaskQueueKind::Normal as i32;
        }
    }

    fn spec(&self) -> Option<Times> {
        let spec = CompiledSpec::new(self.schedule.0.spec.as_ref()?).ok()?;
        Some(Times {
            spec,
            seed: self.jitter_seed.clone(),
        })
    }

    fn paused(&self) -> bool {
        self.schedule.0.state.as_ref().is_some_and(|s| s.paused)
    }

    fn catchup_window(&self) -> Millis {
        match self
            .schedule
            .0
            .policies
            .as_ref()
            .and_then(|p| p.catchup_window.as_ref())
        {
            None => DEFAULT_CATCHUP_WINDOW,
            Some(window) => millis_of(Some(window)).max(MIN_CATCHUP_WINDOW),
        }
    }

    fn update_time(&self) -> Millis {
        self.info
            .0
            .update_time
            .as_ref()
            .map_or(0, millis_of_timestamp)
    }

    /// Whether an action may be taken now; with `use_one`, the action limit counts it.
    fn may_act(&mut self, manual: bool, use_one: bool) -> bool {
        if manual {
            return true;
        }
        if !self.could_act() {
            return false;
        }
        let state = self.schedule.0.state.get_or_insert_default();
        if state.limited_actions && use_one {
            state.remaining_actions -= 1;
            self.conflict_token += 1;
        }
        true
    }

    /// Whether a scheduled (not manual) action may be taken: not paused, actions left.
    fn could_act(&self) -> bool {
        let state = self.schedule.0.state.as_ref();
        let paused = state.is_some_and(|s| s.paused);
        let limited_out = state.is_some_and(|s| s.limited_actions && s.remaining_actions <= 0);
        !paused && !limited_out
    }

    /// Who the scheduler says it is in the requests it makes.
    pub fn identity(&self) -> String {
        format!("temporal-scheduler-{}-{}", self.namespace, self.schedule_id)
    }

    /// The spec times due by `now` become buffered starts (or are counted as missed).
    pub fn advance(&mut self, now: Millis) {
        let Some(spec) = self.spec() else {
            self.processed_until = now;
            return;
        };
        if !self.could_act() {
            // Paused or out of actions: the time passes without actions, never to be caught up.
            self.processed_until = now;
            return;
        }
        let (update_time, catchup_window) = (self.update_time(), self.catchup_window());
        let mut after = self.processed_until;
        while let Some(time) = spec.next_time(after) {
            if time.actual > now {
                break;
            }
            after = time.nominal;
            // Times before the last update belong to the spec it replaced.
            if time.actual < update_time {
                continue;
            }
            if now - time.actual > catchup_window {
                self.info.0.missed_catchup_window += 1;
                continue;
            }
            self.buffer_start(time.nominal, time.actual, 0, false);
        }
        self.processed_until = after;
    }

    fn buffer_start(&mut self, nominal: Millis, actual: Millis, overlap_policy: i32, manual: bool) {
        if self.buffer.len() >= MAX_BUFFER {
            self.info.0.buffer_dropped += 1;
            return;
        }
        self.buffer.push(BufferedStart {
            nominal,
            actual,
            overlap_policy,
            manual,
        });
    }

    /// A patch: trigger now, backfill, pause or unpause.
    pub fn patch(&mut self, patch: &SchedulePatch, now: Millis) {
        if let Some(trigger) = &patch.trigger_immediately {
            let at = trigger
                .scheduled_time
                .as_ref()
                .map_or(now, millis_of_timestamp);
            self.buffer_start(at, at, trigger.overlap_policy, true);
        }
        if let Some(spec) = self.spec() {
            for backfill in &patch.backfill_request {
                let start = backfill.start_time.as_ref().map_or(0, millis_of_timestamp);
                let end = backfill.end_time.as_ref().map_or(0, millis_of_timestamp);
                // The start time is inclusive.
                let mut after = start - 1;
                while let Some(time) = spec.next_time(after) {
                    if time.actual > end {
                        break;
                    }
                    after = time.nominal;
                    self.buffer_start(time.nominal, time.actual, backfill.overlap_policy, true);
                }
            }
        }
        for (note, paused) in [(&patch.pause, true), (&patch.unpause, false)] {
            if !note.is_empty() {
                let state = self.schedule.0.state.get_or_insert_default();
                state.paused = paused;
                state.notes.clone_from(note);
                self.conflict_token += 1;
            }
        }
    }

    /// Replaces the schedule (not its info) unless `conflict_token` is stale, in which case
    /// the real server ignores the update, and so does this; returns whether it applied.
    pub fn update(
        &mut self,
        schedule: Schedule,
        search_attributes: Option<SearchAttributes>,
        conflict_token: Option<i64>,
        now: Millis,
    ) -> bool {
        if conflict_token.is_some_and(|token| token != self.conflict_token) {
            return false;
        }
        self.schedule = Proto(schedule);
        if let Some(attributes) = search_attributes {
            self.search_attributes = Some(Proto(attributes));
        }
        self.info.0.update_time = Some(timestamp(now));
        self.conflict_token += 1;
        true
    }

    fn resolve_overlap_policy(&self, policy: i32) -> ScheduleOverlapPolicy {
        let schedule_policy = self
            .schedule
            .0
            .policies
            .as_ref()
            .map_or(0, |p| p.overlap_policy);
        [policy, schedule_policy]
            .into_iter()
            .filter_map(|p| ScheduleOverlapPolicy::try_from(p).ok())
            .find(|p| *p != ScheduleOverlapPolicy::Unspecified)
            .unwrap_or(ScheduleOverlapPolicy::Skip)
    }

    /// Takes what the buffer allows now.
    pub fn take_buffer(&mut self) -> Actions {
        let Some(workflow) = start_workflow(&self.schedule.0).cloned() else {
            // Nothing to start: the buffer can only be dropped.
            self.buffer.clear();
            return Actions::default();
        };
        let running = !self.info.0.running_workflows.is_empty();
        let buffer = std::mem::take(&mut self.buffer);
        let decision = buffer::decide(buffer, running, |p| self.resolve_overlap_policy(p));
        self.buffer = decision.remaining;
        self.info.0.overlap_skipped += decision.overlap_skipped;
        let mut actions = Actions::default();
        let candidates = decision
            .overlapping
            .into_iter()
            .map(|start| (start, false))
            .chain(decision.non_overlapping.map(|start| (start, true)));
        for (buffered, tracked) in candidates {
            if !self.may_act(buffered.manual, true) {
                actions.again = true;
                continue;
            }
            let request = self.start_request(&workflow, &buffered, tracked);
            actions.starts.push(Start {
                buffered,
                request,
                tracked,
            });
        }
        let running = self.info.0.running_workflows.clone();
        if decision.terminate_running {
            actions.terminate = running;
        } else if decision.cancel_running {
            actions.cancel = running;
        }
        actions
    }

    fn start_request(
        &self,
        workflow: &temporalio_protos::temporal::api::workflow::v1::NewWorkflowExecutionInfo,
        start: &BufferedStart,
        tracked: bool,
    ) -> StartWorkflowExecutionRequest {
        let nominal_second = start.nominal.div_euclid(1000) * 1000;
        let keep_id = self
            .schedule
            .0
            .policies
            .as_ref()
            .is_some_and(|p| p.keep_original_workflow_id);
        let workflow_id = if keep_id {
            workflow.workflow_id.clone()
        } else {
            format!(
                "{}-{}",
                workflow.workflow_id,
                rfc3339_seconds(nominal_second)
            )
        };
        let mut search_attributes = workflow.search_attributes.clone().unwrap_or_default();
        search_attributes.indexed_fields.insert(
            "TemporalScheduledStartTime".into(),
            typed_json_payload(
                &format!("\"{}\"", rfc3339_seconds(nominal_second)),
                "Datetime",
            ),
        );
        search_attributes.indexed_fields.insert(
            "TemporalScheduledById".into(),
            typed_json_payload(
                &serde_json::to_string(&self.schedule_id).expect("a string serializes"),
                "Keyword",
            ),
        );
        // Overlapping runs do not take part in passing results along.
        let (last_completion_result, continued_failure) = if tracked {
            (
                self.last_completion_result.clone().map(|p| p.0),
                self.continued_failure.clone().map(|p| p.0),
            )
        } else {
            (None, None)
        };
        StartWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_id,
            workflow_type: workflow.workflow_type.clone(),
            task_queue: workflow.task_queue.clone(),
            input: workflow.input.clone(),
            workflow_execution_timeout: workflow.workflow_execution_timeout,
            workflow_run_timeout: workflow.workflow_run_timeout,
            workflow_task_timeout: workflow.workflow_task_timeout,
            identity: self.identity(),
            // The same start always gets the same id, so taking it again after a crash finds
            // the workflow it started instead of starting another.
            request_id: uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!(
                    "{}\n{}\n{}\n{}\n{}",
                    self.namespace, self.schedule_id, start.nominal, start.actual, start.manual
                )
                .as_bytes(),
            )
            .to_string(),
            workflow_id_reuse_policy: if start.manual {
                WorkflowIdReusePolicy::AllowDuplicate
            } else {
                WorkflowIdReusePolicy::RejectDuplicate
            } as i32,
            retry_policy: workflow.retry_policy.clone(),
            memo: workflow.memo.clone(),
            search_attributes: Some(search_attributes),
            header: workflow.header.clone(),
            last_completion_result,
            continued_failure,
            user_metadata: workflow.user_metadata.clone(),
            priority: workflow.priority.clone(),
            ..Default::default()
        }
    }

    /// A start the service made: a recent action, and a running workflow if tracked.
    pub fn started(&mut self, start: &Start, run_id: &str, started_at: Millis) {
        let execution = WorkflowExecution {
            workflow_id: start.request.workflow_id.clone(),
            run_id: run_id.into(),
        };
        let info = &mut self.info.0;
        info.action_count += 1;
        info.recent_actions.push(ScheduleActionResult {
            schedule_time: Some(timestamp(start.buffered.actual)),
            actual_time: Some(timestamp(started_at)),
            start_workflow_result: Some(execution.clone()),
            start_workflow_status: WorkflowExecutionStatus::Running as i32,
        });
        let excess = info.recent_actions.len().saturating_sub(RECENT_ACTIONS);
        info.recent_actions.drain(..excess);
        if start.tracked {
            info.running_workflows.push(execution);
        }
    }

    /// A workflow the schedule started closed (the first run's id names it, whatever runs
    /// followed it).
    pub fn closed(&mut self, workflow_id: &str, closed: &Closed) {
        let info = &mut self.info.0;
        for action in &mut info.recent_actions {
            if action
                .start_workflow_result
                .as_ref()
                .is_some_and(|e| e.workflow_id == workflow_id)
            {
                action.start_workflow_status = closed.status as i32;
            }
        }
        let Some(index) = info
            .running_workflows
            .iter()
            .position(|e| e.workflow_id == workflow_id)
        else {
            return;
        };
        info.running_workflows.remove(index);
        let pause_on_failure = self
            .schedule
            .0
            .policies
            .as_ref()
            .is_some_and(|p| p.pause_on_failure);
        let notes = match closed.status {
            WorkflowExecutionStatus::Failed => Some(format!(
                "paused due to workflow failure: {workflow_id}: {}",
                closed.failure.as_ref().map_or("", |f| f.message.as_str())
            )),
            WorkflowExecutionStatus::TimedOut => {
                Some(format!("paused due to workflow timeout: {workflow_id}"))
            }
            _ => None,
        };
        if let Some(notes) = notes.filter(|_| pause_on_failure && !self.paused()) {
            let state = self.schedule.0.state.get_or_insert_default();
            state.paused = true;
            state.notes = notes;
            self.conflict_token += 1;
        }
        if let Some(result) = &closed.result {
            self.last_completion_result = Some(Proto(result.clone()));
            self.continued_failure = None;
        } else if let Some(failure) = &closed.failure {
            self.continued_failure = Some(Proto(failure.clone()));
        }
    }

    /// When the schedule next needs the clock: its next spec time, unless it cannot act.
    pub fn next_wake(&self) -> Option<Millis> {
        if !self.could_act() {
            return None;
        }
        self.spec()?
            .next_time(self.processed_until)
            .map(|time| time.actual)
    }

    /// The next `count` action times, as describe and list show them.
    fn future_action_times(&self, count: usize) -> Vec<Timestamp> {
        let Some(spec) = self.spec() else {
            return Vec::new();
        };
        let state = self.schedule.0.state.clone().unwrap_or_default();
        let count = if state.limited_actions {
            count.min(state.remaining_actions.max(0) as usize)
        } else {
            count
        };
        let update_time = self.update_time();
        let mut times = Vec::with_capacity(count);
        let mut after = self.processed_until;
        while times.len() < count {
            let Some(time) = spec.next_time(after) else {
                break;
            };
            after = time.nominal;
            if time.actual >= update_time {
                times.push(timestamp(time.actual));
            }
        }
        times
    }

    /// Spec times (actual) from `start` to `end`, inclusive of the end.
    pub fn matching_times(&self, start: Millis, end: Millis) -> Vec<Timestamp> {
        let Some(spec) = self.spec() else {
            return Vec::new();
        };
        let mut times = Vec::new();
        let mut after = start;
        while times.len() < MAX_MATCHING_TIMES {
            match spec.next_time(after) {
                Some(time) if time.actual <= end => {
                    after = time.nominal;
                    times.push(timestamp(time.actual));
                }
                _ => break,
            }
        }
        times
    }

    pub fn describe(&self) -> DescribeScheduleResponse {
        let mut info = self.info.0.clone();
        info.future_action_times = self.future_action_times(FUTURE_ACTION_TIMES);
        info.buffer_size = self.buffer.len() as i64;
        DescribeScheduleResponse {
            schedule: Some(self.schedule.0.clone()),
            info: Some(info),
            memo: self.memo.clone().map(|m| m.0),
            search_attributes: self.search_attributes.clone().map(|s| s.0),
            conflict_token: self.conflict_token.to_be_bytes().to_vec(),
        }
    }

    pub fn list_entry(&self) -> ScheduleListEntry {
        let schedule = &self.schedule.0;
        let mut spec = schedule.spec.clone().unwrap_or_default();
        spec.timezone_data.clear();
        let state = schedule.state.clone().unwrap_or_default();
        let recent = &self.info.0.recent_actions;
        ScheduleListEntry {
            schedule_id: self.schedule_id.clone(),
            memo: self.memo.clone().map(|m| m.0),
            search_attributes: self.search_attributes.clone().map(|s| s.0),
            info: Some(ScheduleListInfo {
                spec: Some(spec),
                workflow_type: start_workflow(schedule).and_then(|w| w.workflow_type.clone()),
                notes: state.notes,
                paused: state.paused,
                recent_actions: recent[recent.len().saturating_sub(RECENT_ACTIONS_IN_LIST)..]
                    .to_vec(),
                future_action_times: self.future_action_times(FUTURE_ACTION_TIMES_IN_LIST),
                state_size_bytes: 0,
            }),
        }
    }

    pub fn running_workflows(&self) -> &[WorkflowExecution] {
        &self.info.0.running_workflows
    }
}

/// A schedule's compiled spec with its jitter seed.
struct Times {
    spec: CompiledSpec,
    seed: String,
}

impl Times {
    /// The first spec time after `after`; none when the spec has no more (or excludes so
    /// many in a row that the real server gives up too).
    fn next_time(&self, after: Millis) -> Option<ScheduledTime> {
        self.spec.next_time(&self.seed, after).ok().flatten()
    }
}

/// A conflict token as the client sends it back: empty means none.
pub fn conflict_token(bytes: &[u8]) -> Option<i64> {
    (!bytes.is_empty()).then(|| {
        let mut token = [0u8; 8];
        let tail = &bytes[bytes.len().saturating_sub(8)..];
        token[8 - tail.len()..].copy_from_slice(tail);
        i64::from_be_bytes(token)
    })
}

fn start_workflow(
    schedule: &Schedule,
) -> Option<&temporalio_protos::temporal::api::workflow::v1::NewWorkflowExecutionInfo> {
    use temporalio_protos::temporal::api::schedule::v1::schedule_action::Action;
    match schedule.action.as_ref()?.action.as_ref()? {
        Action::StartWorkflow(workflow) => Some(workflow),
    }
}

fn start_workflow_mut(
    schedule: &mut Schedule,
) -> Option<&mut temporalio_protos::temporal::api::workflow::v1::NewWorkflowExecutionInfo> {
    use temporalio_protos::temporal::api::schedule::v1::schedule_action::Action;
    match schedule.action.as_mut()?.action.as_mut()? {
        Action::StartWorkflow(workflow) => Some(workflow),
    }
}

/// `2026-11-28T07:07:38Z`: a whole second in UTC, as scheduled workflow ids carry it.
fn rfc3339_seconds(millis: Millis) -> String {
    jiff::Timestamp::from_second(millis.div_euclid(1000))
        .map_or_else(|_| millis.to_string(), |t| t.to_string())
}

/// A search attribute value as the real scheduler sets it: JSON, typed.
fn typed_json_payload(json: &str, value_type: &str) -> Payload {
    Payload {
        metadata: [
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), value_type.as_bytes().to_vec()),
        ]
        .into_iter()
        .collect(),
        data: json.as_bytes().to_vec(),
        ..Default::default()
    }
}
