//! Property: whatever workers and the outside world do, in whatever order, every history the
//! engine writes stays well-formed and agrees with the run's state and with its task rows.
//!
//! A case is a random sequence of driver steps: a worker polls workflow tasks and completes
//! them with random commands, activity workers report, the transfer executor reports
//! children and requests to other workflows, clients signal, cancel and terminate, and the
//! clock moves (every deadline fires when the clock passes it, as the timer service does).
//! A step that makes no sense at that moment is refused with an error or changes nothing.
//! Each step is also tried on the closed runs of the chain, which must not change; after
//! every step every history is checked whole.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use temporalio_protos::temporal::api::command::v1::{
    ContinueAsNewWorkflowExecutionCommandAttributes, FailWorkflowExecutionCommandAttributes,
    RecordMarkerCommandAttributes, RequestCancelExternalWorkflowExecutionCommandAttributes,
    UpsertWorkflowSearchAttributesCommandAttributes,
};
use temporalio_protos::temporal::api::enums::v1::ParentClosePolicy;
use temporalio_protos::temporal::api::history::v1::{
    WorkflowExecutionCanceledEventAttributes, WorkflowExecutionCompletedEventAttributes,
    WorkflowExecutionFailedEventAttributes, WorkflowExecutionTerminatedEventAttributes,
    WorkflowExecutionTimedOutEventAttributes,
};
use temporalio_protos::temporal::api::workflowservice::v1::RespondWorkflowTaskFailedRequest;

use super::cancellation::{cancel_activity, cancel_workflow};
use super::children::{signal_workflow, start_child};
use super::*;

/// An id nothing in a run has: what a command names when there is nothing to pick.
const UNKNOWN_ID: i64 = 999_999;

/// What the start request asks for beyond the defaults.
#[derive(Debug, Clone)]
struct RunConfig {
    /// 0 for none.
    run_timeout: Millis,
    /// A failed or timed-out run is retried once.
    retried: bool,
}

/// A command of a completing worker. Ids come from small sets, so that commands collide with
/// what is pending (a duplicate activity or timer id); a cancellation names something
/// pending, if there is anything.
#[derive(Debug, Clone)]
enum Cmd {
    ScheduleActivity {
        id: u8,
        max_attempts: i32,
        schedule_to_close: Millis,
        start_to_close: Millis,
        heartbeat: Millis,
        eager: bool,
    },
    StartTimer {
        id: u8,
        millis: Millis,
    },
    CancelTimer {
        pick: usize,
    },
    RequestCancelActivity {
        pick: usize,
    },
    StartChild {
        id: u8,
        abandon: bool,
    },
    SignalExternal,
    CancelExternal,
    RecordMarker,
    UpsertSearchAttributes,
    Complete,
    Fail,
    CancelWorkflow,
    ContinueAsNew,
}

/// How a child's run ended, as its close event tells the parent.
#[derive(Debug, Clone, Copy)]
enum ChildEnd {
    Completed,
    Failed,
    Canceled,
    TimedOut,
    Terminated,
}

/// `pick` chooses among what is there at that moment (modulo its count).
#[derive(Debug, Clone)]
enum Step {
    PollWorkflowTask,
    CompleteWorkflowTask(Vec<Cmd>),
    FailWorkflowTask,
    PollActivity {
        pick: usize,
    },
    CompleteActivity {
        pick: usize,
    },
    FailActivity {
        pick: usize,
        non_retryable: bool,
    },
    ReportActivityCanceled {
        pick: usize,
    },
    Heartbeat {
        pick: usize,
    },
    ChildStarted {
        pick: usize,
    },
    ChildStartFailed {
        pick: usize,
    },
    ChildClosed {
        pick: usize,
        end: ChildEnd,
    },
    ExternalOutcome {
        pick: usize,
        delivered: bool,
    },
    /// Request 0 carries no request id; the others may be retried.
    Signal {
        request: u8,
    },
    RequestCancel,
    Terminate,
    DropStickyQueue,
    Wait(Millis),
    WaitForNextDeadline,
}

/// A duration, or now and then none (0).
fn optional_millis(range: std::ops::Range<Millis>) -> impl Strategy<Value = Millis> {
    prop_oneof![1 => Just(0), 3 => range]
}

/// A command that does not close the run.
fn cmd() -> impl Strategy<Value = Cmd> {
    let schedule_activity = (
        0..6u8,
        0..4i32,
        optional_millis(1_000..40_000),
        optional_millis(1_000..20_000),
        optional_millis(500..5_000),
        any::<bool>(),
    )
        .prop_map(
            |(id, max_attempts, schedule_to_close, start_to_close, heartbeat, eager)| {
                Cmd::ScheduleActivity {
                    id,
                    max_attempts,
                    schedule_to_close,
                    start_to_close,
                    heartbeat,
                    eager,
                }
            },
        );
    prop_oneof![
        6 => schedule_activity,
        4 => (0..3u8, 1..20_000i64).prop_map(|(id, millis)| Cmd::StartTimer { id, millis }),
        1 => any::<usize>().prop_map(|pick| Cmd::CancelTimer { pick }),
        1 => any::<usize>().prop_map(|pick| Cmd::RequestCancelActivity { pick }),
        2 => (0..2u8, any::<bool>()).prop_map(|(id, abandon)| Cmd::StartChild { id, abandon }),
        1 => Just(Cmd::SignalExternal),
        1 => Just(Cmd::CancelExternal),
        1 => Just(Cmd::RecordMarker),
        1 => Just(Cmd::UpsertSearchAttributes),
    ]
}

fn closing_cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        Just(Cmd::Complete),
        Just(Cmd::Fail),
        Just(Cmd::CancelWorkflow),
        Just(Cmd::ContinueAsNew),
    ]
}

/// A completion's commands: some, then now and then one that closes the run.
fn completion_cmds() -> impl Strategy<Value = Vec<Cmd>> {
    (
        prop::collection::vec(cmd(), 0..4),
        prop::option::weighted(0.2, closing_cmd()),
    )
        .prop_map(|(mut cmds, closing)| {
            cmds.extend(closing);
            cmds
        })
}

fn child_end() -> impl Strategy<Value = ChildEnd> {
    prop_oneof![
        Just(ChildEnd::Completed),
        Just(ChildEnd::Failed),
        Just(ChildEnd::Canceled),
        Just(ChildEnd::TimedOut),
        Just(ChildEnd::Terminated),
    ]
}

/// Weighted so that a run mostly lives on (a client ends it now and then).
fn step() -> impl Strategy<Value = Step> {
    let pick = any::<usize>;
    prop_oneof![
        16 => Just(Step::PollWorkflowTask),
        16 => completion_cmds().prop_map(Step::CompleteWorkflowTask),
        1 => Just(Step::FailWorkflowTask),
        10 => pick().prop_map(|pick| Step::PollActivity { pick }),
        8 => pick().prop_map(|pick| Step::CompleteActivity { pick }),
        5 => (pick(), any::<bool>())
            .prop_map(|(pick, non_retryable)| Step::FailActivity { pick, non_retryable }),
        3 => pick().prop_map(|pick| Step::ReportActivityCanceled { pick }),
        2 => pick().prop_map(|pick| Step::Heartbeat { pick }),
        4 => pick().prop_map(|pick| Step::ChildStarted { pick }),
        1 => pick().prop_map(|pick| Step::ChildStartFailed { pick }),
        4 => (pick(), child_end()).prop_map(|(pick, end)| Step::ChildClosed { pick, end }),
        3 => (pick(), any::<bool>())
            .prop_map(|(pick, delivered)| Step::ExternalOutcome { pick, delivered }),
        4 => (0..3u8).prop_map(|request| Step::Signal { request }),
        1 => Just(Step::RequestCancel),
        1 => Just(Step::Terminate),
        1 => Just(Step::DropStickyQueue),
        5 => (1..5_000i64).prop_map(Step::Wait),
        3 => Just(Step::WaitForNextDeadline),
    ]
}

fn run_config() -> impl Strategy<Value = RunConfig> {
    (optional_millis(20_000..120_000), any::<bool>()).prop_map(|(run_timeout, retried)| RunConfig {
        run_timeout,
        retried,
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A failure is kept as a unit test, not as a file beside the sources.
        failure_persistence: None,
        // 256 cases, or PROPTEST_CASES.
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_steps_keep_every_history_well_formed(
        config in run_config(),
        steps in prop::collection::vec(step(), 1..80),
    ) {
        let mut driver = Driver::new(&config);
        for step in &steps {
            driver.step(step);
        }
    }
}

/// One run of the chain, with what the store and the workers know of it.
struct Run {
    state: MutableState,
    history: Vec<HistoryEvent>,
    /// Task rows by id, as the effects left them.
    tasks: BTreeMap<i64, Task>,
    /// The workflow task the worker got last: scheduled event id and attempt.
    workflow_token: Option<(i64, i32)>,
    /// Activity tasks workers got: scheduled event id to attempt.
    activity_tokens: BTreeMap<i64, i32>,
}

struct Driver {
    /// The runs of the workflow, oldest first; only the last may be open.
    chain: Vec<Run>,
    now: Millis,
}

impl Driver {
    fn new(config: &RunConfig) -> Self {
        let mut request = start_request();
        if config.run_timeout > 0 {
            request.workflow_run_timeout = Some(duration(config.run_timeout));
        }
        if config.retried {
            request.retry_policy = Some(RetryPolicyProto {
                maximum_attempts: 2,
                ..Default::default()
            });
        }
        let options = StartOptions {
            run_id: "run-1".into(),
            request_id: "req-1".into(),
            ..Default::default()
        };
        let (state, fx) = MutableState::start(&request, options, T0);
        let mut driver = Driver {
            chain: Vec::new(),
            now: T0,
        };
        driver.begin_run(state, fx);
        driver
    }

    fn begin_run(&mut self, state: MutableState, fx: Effects) {
        assert!(
            self.chain.last().is_none_or(|run| !run.state.is_open()),
            "a new run follows a closed one"
        );
        self.chain.push(Run {
            state,
            history: Vec::new(),
            tasks: BTreeMap::new(),
            workflow_token: None,
            activity_tokens: BTreeMap::new(),
        });
        self.absorb(self.chain.len() - 1, fx);
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Wait(millis) => self.advance_to(self.now + millis),
            Step::WaitForNextDeadline => {
                if let Some(at) = self.current().state.next_deadline() {
                    self.advance_to(at.max(self.now));
                }
            }
            _ => {
                self.advance_to(self.now + 1);
                for index in 0..self.chain.len() {
                    let before = self.chain[index].state.clone();
                    let answer = apply(&mut self.chain[index], step, self.now);
                    let refused = matches!(answer, Some(Err(_)));
                    if refused || !before.is_open() {
                        assert_eq!(
                            self.chain[index].state, before,
                            "{step:?} changed run {index}, closed or refusing: {answer:?}"
                        );
                    }
                    if let Some(Ok(fx)) = answer {
                        assert!(
                            before.is_open() || (fx.events.is_empty() && fx.new_tasks.is_empty()),
                            "{step:?} changed the closed run {index}: {fx:?}"
                        );
                        self.absorb(index, fx);
                    }
                }
            }
        }
        for run in &self.chain {
            check_run(run);
        }
    }

    fn current(&self) -> &Run {
        self.chain.last().expect("a chain has a run")
    }

    /// Moves the clock to `target`, firing each deadline at its time on the way (those of a
    /// run that continues the current one too).
    fn advance_to(&mut self, target: Millis) {
        loop {
            let index = self.chain.len() - 1;
            let Some(at) = self.chain[index]
                .state
                .next_deadline()
                .filter(|at| *at <= target)
            else {
                break;
            };
            self.now = self.now.max(at);
            let fx = self.chain[index].state.fire_due(self.now);
            self.absorb(index, fx);
            assert!(
                self.chain[index]
                    .state
                    .next_deadline()
                    .is_none_or(|next| next > self.now),
                "the deadline at {} is still due after firing",
                self.now
            );
        }
        self.now = self.now.max(target);
    }

    /// Writes what a change did to run `index`'s history and task rows, as the store does,
    /// and starts the run that continues it, if any.
    fn absorb(&mut self, index: usize, mut fx: Effects) {
        let next = fx.next_run.take();
        let run = &mut self.chain[index];
        for event in &fx.events {
            assert!(
                event_time(event) <= self.now,
                "event {} is dated after the change that wrote it",
                event.event_id
            );
        }
        for id in &fx.removed_tasks {
            run.tasks.remove(id);
        }
        for task in fx.new_tasks {
            let id = task.scheduled_event_id;
            if let Some(old) = run.tasks.insert(id, task) {
                panic!("task {id} queued while its row {old:?} still waits");
            }
        }
        run.history.extend(fx.events);
        if let Some(next) = next {
            let (state, fx) = *next;
            self.begin_run(state, fx);
        }
    }
}

/// Carries out `step` on `run` as the worker, transfer executor or client would: None when
/// there is nothing to act on, else what the engine answered.
fn apply(run: &mut Run, step: &Step, now: Millis) -> Option<Result<Effects, EngineError>> {
    let state = &mut run.state;
    let answer = match step {
        Step::PollWorkflowTask => {
            let task = run.tasks.values().find(|t| t.kind == TaskKind::Workflow)?;
            let started = state.record_workflow_task_started(
                task.scheduled_event_id,
                &task.task_queue,
                "worker",
                "poll",
                now,
            );
            started.map(|(fx, started)| {
                run.workflow_token = Some((started.scheduled_event_id, started.attempt));
                fx
            })
        }
        Step::CompleteWorkflowTask(cmds) => {
            let (scheduled, attempt) = run.workflow_token?;
            let request = completion(cmds.iter().map(|c| command(c, state)).collect());
            let outside = Outside {
                eager_activity_queue_ok: &|_| true,
                ..PLAIN
            };
            let done = state.complete_workflow_task(scheduled, attempt, &request, &outside, now);
            done.map(|done| {
                for scheduled_event_id in done.eager_activities {
                    run.activity_tokens.insert(scheduled_event_id, 1);
                }
                done.effects
            })
        }
        Step::FailWorkflowTask => {
            let (scheduled, attempt) = run.workflow_token?;
            let request = RespondWorkflowTaskFailedRequest {
                cause: WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure as i32,
                failure: Some(app_failure("workflow code panicked")),
                identity: "worker".into(),
                ..Default::default()
            };
            state.fail_workflow_task(scheduled, attempt, &request, now)
        }
        Step::PollActivity { pick } => {
            let rows = run.tasks.values().filter(|t| t.kind == TaskKind::Activity);
            let id = nth(rows.map(|t| t.scheduled_event_id), *pick)?;
            let started = state.record_activity_task_started(id, "worker", "poll", now);
            if started.is_ok() {
                let attempt = state.activities[&id].attempt;
                run.activity_tokens.insert(id, attempt);
            }
            started
        }
        Step::CompleteActivity { pick } => {
            let (id, attempt) = nth(run.activity_tokens.iter(), *pick)?;
            state.complete_activity(*id, *attempt, None, "worker", now)
        }
        Step::FailActivity {
            pick,
            non_retryable,
        } => {
            let (id, attempt) = nth(run.activity_tokens.iter(), *pick)?;
            let mut failure = app_failure("activity failed");
            failure.failure_info = Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    non_retryable: *non_retryable,
                    ..Default::default()
                },
            ));
            state.fail_activity(*id, *attempt, failure, None, "worker", now)
        }
        Step::ReportActivityCanceled { pick } => {
            let (id, attempt) = nth(run.activity_tokens.iter(), *pick)?;
            state.cancel_activity(*id, *attempt, None, "worker", now)
        }
        Step::Heartbeat { pick } => {
            let (id, attempt) = nth(run.activity_tokens.iter(), *pick)?;
            state
                .record_activity_heartbeat(*id, *attempt, None, now)
                .map(|(fx, _)| fx)
        }
        Step::ChildStarted { pick } | Step::ChildStartFailed { pick } => {
            let id = transfer_row(&run.tasks, TaskKind::StartChild, *pick)?;
            if state.child_start_request(id).is_none() {
                // Nothing left to start: the executor drops the row.
                run.tasks.remove(&id);
                return None;
            }
            match step {
                Step::ChildStarted { .. } => state.record_child_started(id, &child_run_id(id), now),
                _ => state.record_child_start_failed(id, now),
            }
        }
        Step::ChildClosed { pick, end } => {
            let id = nth(state.children.keys().copied(), *pick).unwrap_or(UNKNOWN_ID);
            state.record_child_closed(id, &child_run_id(id), &child_close_event(*end), now)
        }
        Step::ExternalOutcome { pick, delivered } => {
            let rows = run
                .tasks
                .values()
                .filter(|t| matches!(t.kind, TaskKind::SignalExternal | TaskKind::CancelExternal));
            let id = nth(rows.map(|t| t.scheduled_event_id), *pick)?;
            if state.external_request(id).is_none() {
                run.tasks.remove(&id);
                return None;
            }
            state.record_external_outcome(id, *delivered, now)
        }
        Step::Signal { request } => {
            let signal = Signal {
                name: "go".into(),
                identity: "client".into(),
                request_id: match request {
                    0 => String::new(),
                    n => format!("signal-{n}"),
                },
                ..Default::default()
            };
            state.signal(signal, now)
        }
        Step::RequestCancel => {
            let request = CancelRequest {
                reason: "stop".into(),
                identity: "client".into(),
                external: None,
            };
            state.request_cancel(&request, now)
        }
        Step::Terminate => state.terminate(now, "enough", None, "client"),
        Step::DropStickyQueue => Ok(state.drop_sticky_queue(STICKY)?),
        Step::Wait(_) | Step::WaitForNextDeadline => unreachable!("the driver moves the clock"),
    };
    Some(answer)
}

fn nth<T>(items: impl Iterator<Item = T>, pick: usize) -> Option<T> {
    let mut items: Vec<T> = items.collect();
    let index = pick.checked_rem(items.len())?;
    Some(items.swap_remove(index))
}

fn transfer_row(tasks: &BTreeMap<i64, Task>, kind: TaskKind, pick: usize) -> Option<i64> {
    nth(
        tasks
            .values()
            .filter(|t| t.kind == kind)
            .map(|t| t.scheduled_event_id),
        pick,
    )
}

fn child_run_id(initiated_event_id: i64) -> String {
    format!("child-run-{initiated_event_id}")
}

fn child_close_event(end: ChildEnd) -> HistoryEvent {
    let attributes = match end {
        ChildEnd::Completed => Attributes::WorkflowExecutionCompletedEventAttributes(
            WorkflowExecutionCompletedEventAttributes::default(),
        ),
        ChildEnd::Failed => Attributes::WorkflowExecutionFailedEventAttributes(
            WorkflowExecutionFailedEventAttributes::default(),
        ),
        ChildEnd::Canceled => Attributes::WorkflowExecutionCanceledEventAttributes(
            WorkflowExecutionCanceledEventAttributes::default(),
        ),
        ChildEnd::TimedOut => Attributes::WorkflowExecutionTimedOutEventAttributes(
            WorkflowExecutionTimedOutEventAttributes::default(),
        ),
        ChildEnd::Terminated => Attributes::WorkflowExecutionTerminatedEventAttributes(
            WorkflowExecutionTerminatedEventAttributes::default(),
        ),
    };
    HistoryEvent {
        event_id: 7,
        attributes: Some(attributes),
        ..Default::default()
    }
}

fn command(cmd: &Cmd, state: &MutableState) -> command::Attributes {
    use command::Attributes as A;
    let optional = |millis: Millis| (millis > 0).then(|| duration(millis));
    match *cmd {
        Cmd::ScheduleActivity {
            id,
            max_attempts,
            schedule_to_close,
            start_to_close,
            heartbeat,
            eager,
        } => {
            let retry = RetryPolicyProto {
                maximum_attempts: max_attempts,
                ..Default::default()
            };
            let mut attributes = schedule_activity(&format!("a{id}"), Some(retry));
            if let A::ScheduleActivityTaskCommandAttributes(a) = &mut attributes {
                a.schedule_to_close_timeout = optional(schedule_to_close);
                a.start_to_close_timeout = optional(start_to_close);
                a.heartbeat_timeout = optional(heartbeat);
                a.request_eager_execution = eager;
            }
            attributes
        }
        Cmd::StartTimer { id, millis } => start_timer(&format!("t{id}"), millis),
        Cmd::CancelTimer { pick } => {
            A::CancelTimerCommandAttributes(CancelTimerCommandAttributes {
                timer_id: nth(state.timers.keys().cloned(), pick)
                    .unwrap_or_else(|| format!("t{UNKNOWN_ID}")),
            })
        }
        Cmd::RequestCancelActivity { pick } => {
            cancel_activity(nth(state.activities.keys().copied(), pick).unwrap_or(UNKNOWN_ID))
        }
        Cmd::StartChild { id, abandon } => {
            let policy = if abandon {
                ParentClosePolicy::Abandon
            } else {
                ParentClosePolicy::Terminate
            };
            start_child(&format!("child-{id}"), policy)
        }
        Cmd::SignalExternal => signal_workflow("other"),
        Cmd::CancelExternal => A::RequestCancelExternalWorkflowExecutionCommandAttributes(
            RequestCancelExternalWorkflowExecutionCommandAttributes {
                workflow_id: "other".into(),
                ..Default::default()
            },
        ),
        Cmd::RecordMarker => A::RecordMarkerCommandAttributes(RecordMarkerCommandAttributes {
            marker_name: "version".into(),
            ..Default::default()
        }),
        Cmd::UpsertSearchAttributes => A::UpsertWorkflowSearchAttributesCommandAttributes(
            UpsertWorkflowSearchAttributesCommandAttributes {
                search_attributes: Some(Default::default()),
            },
        ),
        Cmd::Complete => complete_workflow(),
        Cmd::Fail => {
            A::FailWorkflowExecutionCommandAttributes(FailWorkflowExecutionCommandAttributes {
                failure: Some(app_failure("workflow failed")),
            })
        }
        Cmd::CancelWorkflow => cancel_workflow(),
        Cmd::ContinueAsNew => A::ContinueAsNewWorkflowExecutionCommandAttributes(
            ContinueAsNewWorkflowExecutionCommandAttributes::default(),
        ),
    }
}

fn event_time(event: &HistoryEvent) -> Millis {
    millis_of_timestamp(event.event_time.as_ref().expect("every event has a time"))
}

/// A workflow task as the history tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkflowTaskSeen {
    None,
    Scheduled(i64),
    Started { scheduled: i64, started: i64 },
}

/// What the history leaves pending after its last event.
struct Pending {
    workflow_task: WorkflowTaskSeen,
    activities: BTreeSet<i64>,
    /// Started event id to timer id. (An id may be pending twice in the history: a timer
    /// that fired while a workflow task ran is gone from the state, so the task may start
    /// one of the same id before the fired event is written; the real server does the same.)
    timers: BTreeMap<i64, String>,
    /// Initiated event id to started event id, once started.
    children: BTreeMap<i64, Option<i64>>,
    /// Initiated event id to whether it is a signal (or else a cancellation request).
    external: BTreeMap<i64, bool>,
    closed: bool,
}

/// Walks a history from its first event, checking each against what came before it.
fn walk(history: &[&HistoryEvent]) -> Pending {
    let mut pending = Pending {
        workflow_task: WorkflowTaskSeen::None,
        activities: BTreeSet::new(),
        timers: BTreeMap::new(),
        children: BTreeMap::new(),
        external: BTreeMap::new(),
        closed: false,
    };
    let mut cancel_requests: BTreeMap<i64, i64> = BTreeMap::new();
    let mut last_completed_task: Option<i64> = None;
    let mut latest_time = Millis::MIN;
    let mut last_task_started_time = Millis::MIN;
    for (index, event) in history.iter().enumerate() {
        let id = event.event_id;
        let at = At(history, index);
        assert_eq!(id, index as i64 + 1, "ids run from 1 without a gap: {at}");
        assert!(!pending.closed, "nothing follows the close event: {at}");
        // Events that waited in the buffer keep the time they arrived, as on the real server:
        // they may be older than the task's own events, never older than its start.
        let time = event_time(event);
        if time >= latest_time {
            latest_time = time;
        } else {
            assert!(
                time >= last_task_started_time,
                "an event older than the workflow task it waited for: {at}"
            );
        }
        let attributes = event
            .attributes
            .as_ref()
            .expect("every event has attributes");
        if let Some(completed) = workflow_task_completed_event_id(attributes) {
            assert_eq!(
                Some(completed),
                last_completed_task,
                "a command's event names the completion that wrote it: {at}"
            );
        }
        match attributes {
            Attributes::WorkflowExecutionStartedEventAttributes(_) => {
                assert_eq!(index, 0, "the started event comes first: {at}");
            }
            Attributes::WorkflowTaskScheduledEventAttributes(_) => {
                assert_eq!(
                    pending.workflow_task,
                    WorkflowTaskSeen::None,
                    "one workflow task at a time: {at}"
                );
                pending.workflow_task = WorkflowTaskSeen::Scheduled(id);
            }
            Attributes::WorkflowTaskStartedEventAttributes(a) => {
                assert_eq!(
                    pending.workflow_task,
                    WorkflowTaskSeen::Scheduled(a.scheduled_event_id),
                    "a workflow task starts once, after it was scheduled: {at}"
                );
                pending.workflow_task = WorkflowTaskSeen::Started {
                    scheduled: a.scheduled_event_id,
                    started: id,
                };
                last_task_started_time = time;
            }
            Attributes::WorkflowTaskCompletedEventAttributes(a) => {
                end_workflow_task(&mut pending, a.scheduled_event_id, a.started_event_id, &at);
                last_completed_task = Some(id);
            }
            Attributes::WorkflowTaskFailedEventAttributes(a) => {
                end_workflow_task(&mut pending, a.scheduled_event_id, a.started_event_id, &at);
            }
            Attributes::WorkflowTaskTimedOutEventAttributes(a) => {
                end_workflow_task(&mut pending, a.scheduled_event_id, a.started_event_id, &at);
            }
            Attributes::ActivityTaskScheduledEventAttributes(_) => {
                pending.activities.insert(id);
            }
            Attributes::ActivityTaskStartedEventAttributes(a) => {
                assert!(
                    pending.activities.contains(&a.scheduled_event_id),
                    "only a pending activity starts: {at}"
                );
                // The engine writes an attempt's start with its outcome, which names it as
                // the event just before.
                let outcome = history
                    .get(index + 1)
                    .and_then(|next| activity_outcome(next.attributes.as_ref()?));
                assert_eq!(
                    outcome,
                    Some((a.scheduled_event_id, id)),
                    "an activity's started event comes right before its outcome: {at}"
                );
            }
            Attributes::ActivityTaskCancelRequestedEventAttributes(a) => {
                assert!(
                    pending.activities.contains(&a.scheduled_event_id),
                    "only a pending activity is cancelled: {at}"
                );
                assert!(
                    cancel_requests.insert(a.scheduled_event_id, id).is_none(),
                    "one cancellation request per activity: {at}"
                );
            }
            Attributes::ActivityTaskCanceledEventAttributes(a) => {
                assert_eq!(
                    cancel_requests.get(&a.scheduled_event_id),
                    Some(&a.latest_cancel_requested_event_id),
                    "an activity is cancelled only after the workflow asked: {at}"
                );
            }
            Attributes::TimerStartedEventAttributes(a) => {
                pending.timers.insert(id, a.timer_id.clone());
            }
            Attributes::TimerFiredEventAttributes(a) => {
                assert_eq!(
                    pending.timers.remove(&a.started_event_id),
                    Some(a.timer_id.clone()),
                    "a pending timer fires once: {at}"
                );
            }
            Attributes::TimerCanceledEventAttributes(a) => {
                assert_eq!(
                    pending.timers.remove(&a.started_event_id),
                    Some(a.timer_id.clone()),
                    "a pending timer is cancelled once: {at}"
                );
            }
            Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(_) => {
                pending.children.insert(id, None);
            }
            Attributes::ChildWorkflowExecutionStartedEventAttributes(a) => {
                assert_eq!(
                    pending.children.get(&a.initiated_event_id),
                    Some(&None),
                    "a child starts once, after it was initiated: {at}"
                );
                pending.children.insert(a.initiated_event_id, Some(id));
            }
            Attributes::StartChildWorkflowExecutionFailedEventAttributes(a) => {
                assert_eq!(
                    pending.children.remove(&a.initiated_event_id),
                    Some(None),
                    "only a child not started fails to start: {at}"
                );
            }
            Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(_) => {
                pending.external.insert(id, true);
            }
            Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_) => {
                pending.external.insert(id, false);
            }
            _ => {}
        }
        if let Some((scheduled, started)) = activity_outcome(attributes) {
            assert!(
                pending.activities.remove(&scheduled),
                "one outcome per scheduled activity: {at}"
            );
            let started_just_before = index.checked_sub(1).is_some_and(|before| {
                matches!(
                    &history[before].attributes,
                    Some(Attributes::ActivityTaskStartedEventAttributes(s))
                        if s.scheduled_event_id == scheduled && history[before].event_id == started
                )
            });
            assert!(
                started == 0 || started_just_before,
                "an outcome names its attempt's started event: {at}"
            );
        }
        if let Some((initiated, started)) = child_outcome(attributes) {
            assert_eq!(
                pending.children.remove(&initiated),
                Some(Some(started)),
                "a started child closes once, naming its started event: {at}"
            );
        }
        if let Some((initiated, signal)) = external_outcome(attributes) {
            assert_eq!(
                pending.external.remove(&initiated),
                Some(signal),
                "a request to another workflow has one outcome of its kind: {at}"
            );
        }
        if closes_run(attributes) {
            assert!(
                !matches!(pending.workflow_task, WorkflowTaskSeen::Started { .. }),
                "a run closes with no started workflow task left open (the real server fails it first): {at}"
            );
            pending.closed = true;
        }
    }
    pending
}

/// Where in a history a check failed; written out only then.
struct At<'a>(&'a [&'a HistoryEvent], usize);

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let At(history, index) = self;
        let types: Vec<&str> = history
            .iter()
            .map(|e| EventType::try_from(e.event_type).map_or("?", |t| t.as_str_name()))
            .collect();
        write!(f, "event {} of {types:?}", index + 1)
    }
}

fn end_workflow_task(pending: &mut Pending, scheduled: i64, started: i64, at: &At) {
    let expected = match started {
        // Only a task nobody started times out schedule-to-start.
        0 => WorkflowTaskSeen::Scheduled(scheduled),
        started => WorkflowTaskSeen::Started { scheduled, started },
    };
    assert_eq!(
        pending.workflow_task, expected,
        "a workflow task ends once, naming its own events: {at}"
    );
    pending.workflow_task = WorkflowTaskSeen::None;
}

/// The scheduled and started event ids an activity's outcome names.
fn activity_outcome(attributes: &Attributes) -> Option<(i64, i64)> {
    match attributes {
        Attributes::ActivityTaskCompletedEventAttributes(a) => {
            Some((a.scheduled_event_id, a.started_event_id))
        }
        Attributes::ActivityTaskFailedEventAttributes(a) => {
            Some((a.scheduled_event_id, a.started_event_id))
        }
        Attributes::ActivityTaskTimedOutEventAttributes(a) => {
            Some((a.scheduled_event_id, a.started_event_id))
        }
        Attributes::ActivityTaskCanceledEventAttributes(a) => {
            Some((a.scheduled_event_id, a.started_event_id))
        }
        _ => None,
    }
}

/// The initiated and started event ids a started child's close names.
fn child_outcome(attributes: &Attributes) -> Option<(i64, i64)> {
    match attributes {
        Attributes::ChildWorkflowExecutionCompletedEventAttributes(a) => {
            Some((a.initiated_event_id, a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionFailedEventAttributes(a) => {
            Some((a.initiated_event_id, a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionCanceledEventAttributes(a) => {
            Some((a.initiated_event_id, a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
            Some((a.initiated_event_id, a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
            Some((a.initiated_event_id, a.started_event_id))
        }
        _ => None,
    }
}

/// The initiated event id of a request's outcome, and whether the request was a signal.
fn external_outcome(attributes: &Attributes) -> Option<(i64, bool)> {
    match attributes {
        Attributes::ExternalWorkflowExecutionSignaledEventAttributes(a) => {
            Some((a.initiated_event_id, true))
        }
        Attributes::SignalExternalWorkflowExecutionFailedEventAttributes(a) => {
            Some((a.initiated_event_id, true))
        }
        Attributes::ExternalWorkflowExecutionCancelRequestedEventAttributes(a) => {
            Some((a.initiated_event_id, false))
        }
        Attributes::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a) => {
            Some((a.initiated_event_id, false))
        }
        _ => None,
    }
}

/// The completion an event written by a command names.
fn workflow_task_completed_event_id(attributes: &Attributes) -> Option<i64> {
    let id = match attributes {
        Attributes::ActivityTaskScheduledEventAttributes(a) => a.workflow_task_completed_event_id,
        Attributes::ActivityTaskCancelRequestedEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        Attributes::TimerStartedEventAttributes(a) => a.workflow_task_completed_event_id,
        Attributes::TimerCanceledEventAttributes(a) => a.workflow_task_completed_event_id,
        Attributes::MarkerRecordedEventAttributes(a) => a.workflow_task_completed_event_id,
        Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        Attributes::UpsertWorkflowSearchAttributesEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        Attributes::WorkflowExecutionCompletedEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        Attributes::WorkflowExecutionFailedEventAttributes(a) => a.workflow_task_completed_event_id,
        Attributes::WorkflowExecutionCanceledEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a) => {
            a.workflow_task_completed_event_id
        }
        _ => return None,
    };
    Some(id)
}

fn closes_run(attributes: &Attributes) -> bool {
    matches!(
        attributes,
        Attributes::WorkflowExecutionCompletedEventAttributes(_)
            | Attributes::WorkflowExecutionFailedEventAttributes(_)
            | Attributes::WorkflowExecutionTimedOutEventAttributes(_)
            | Attributes::WorkflowExecutionCanceledEventAttributes(_)
            | Attributes::WorkflowExecutionTerminatedEventAttributes(_)
            | Attributes::WorkflowExecutionContinuedAsNewEventAttributes(_)
    )
}

/// Checks a run's history whole, then that its state and task rows say what it says.
fn check_run(run: &Run) {
    assert_eq!(run.state.next_event_id, run.history.len() as i64 + 1);
    assert!(
        run.state.buffered_events.is_empty()
            || run
                .state
                .workflow_task
                .as_ref()
                .is_some_and(|t| t.started.is_some()),
        "events wait in the buffer only while a workflow task runs"
    );
    // The state already counts the events in the buffer: compare it with the history they
    // will complete.
    let mut state = run.state.clone();
    let mut flushed = Effects::default();
    state.flush_buffered(&mut flushed);
    let history: Vec<&HistoryEvent> = run.history.iter().chain(&flushed.events).collect();
    let pending = walk(&history);
    assert_eq!(
        state.is_open(),
        !pending.closed,
        "closed in state and in history alike"
    );
    if pending.closed {
        check_closed(run);
        return;
    }
    assert_eq!(
        pending.activities,
        state.activities.keys().copied().collect(),
        "pending activities"
    );
    assert_eq!(
        pending.timers,
        state
            .timers
            .iter()
            .map(|(id, timer)| (timer.started_event_id, id.clone()))
            .collect(),
        "pending timers"
    );
    assert_eq!(
        pending.children.keys().collect::<Vec<_>>(),
        state.children.keys().collect::<Vec<_>>(),
        "pending children"
    );
    for (initiated, started) in &pending.children {
        let in_state = state.children[initiated]
            .started
            .as_ref()
            .map(|(_, id)| *id);
        assert_eq!(in_state, *started, "child {initiated}'s started event");
    }
    assert_eq!(
        pending.external.keys().collect::<Vec<_>>(),
        state.external_requests.keys().collect::<Vec<_>>(),
        "pending requests to other workflows"
    );
    let task = state.workflow_task.as_ref();
    match (pending.workflow_task, task) {
        (WorkflowTaskSeen::None, None) => {}
        (WorkflowTaskSeen::None, Some(task)) => assert_ne!(
            task.kind,
            WorkflowTaskKind::Normal,
            "a normal workflow task is in the history"
        ),
        (WorkflowTaskSeen::Scheduled(scheduled), Some(task)) => assert_eq!(
            (task.scheduled_event_id, task.started.as_ref()),
            (scheduled, None)
        ),
        (WorkflowTaskSeen::Started { scheduled, started }, Some(task)) => assert_eq!(
            (
                task.scheduled_event_id,
                task.started.as_ref().map(|s| s.event_id)
            ),
            (scheduled, Some(started))
        ),
        (seen, None) => panic!("the history has workflow task {seen:?}, the state none"),
    }
    check_task_rows(run);
}

/// Every task a worker could take has its row in a queue, and every row a task to take: none
/// is lost (a stuck run) and none is left over.
fn check_task_rows(run: &Run) {
    let rows = |kind: TaskKind| -> Vec<(i64, &str)> {
        run.tasks
            .values()
            .filter(|t| t.kind == kind)
            .map(|t| (t.scheduled_event_id, t.task_queue.as_str()))
            .collect()
    };
    let waiting_workflow_task: Vec<(i64, &str)> = run
        .state
        .workflow_task
        .iter()
        .filter(|t| t.started.is_none())
        .map(|t| (t.scheduled_event_id, t.task_queue.as_str()))
        .collect();
    assert_eq!(rows(TaskKind::Workflow), waiting_workflow_task);
    let waiting_activities: Vec<(i64, &str)> = run
        .state
        .activities
        .values()
        .filter(|a| a.is_waiting_in_queue())
        .map(|a| (a.scheduled_event_id, a.task_queue.as_str()))
        .collect();
    assert_eq!(rows(TaskKind::Activity), waiting_activities);
}

/// A closed run keeps nothing pending, no clock, and asks nothing more of other workflows.
fn check_closed(run: &Run) {
    let state = &run.state;
    assert_eq!(
        state.close_event_id,
        run.history.last().map(|e| e.event_id),
        "the close event is the last"
    );
    assert!(state.workflow_task.is_none());
    assert!(state.activities.is_empty());
    assert!(state.timers.is_empty());
    assert!(state.children.is_empty());
    assert!(state.buffered_events.is_empty());
    assert_eq!(state.next_deadline(), None);
    check_task_rows(run);
    for id in run.tasks.keys() {
        assert!(state.child_start_request(*id).is_none(), "task {id}");
        assert!(
            state.external_request(*id).is_none(),
            "a closed run still has request {id} to deliver"
        );
    }
}
