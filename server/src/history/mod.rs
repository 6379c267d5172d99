//! The history service: owner of every run's mutable state.
//!
//! Each workflow id has a [`Slot`] caching the state of its newest run, while that run is
//! open, behind an async mutex. Every change to a run happens under that lock in three steps:
//! the engine applies the input, the store commits the state, events, tasks and timer in one
//! transaction, and only then are matching, the timer queue and history long polls told. If
//! the commit fails the cached state is dropped and reloaded from the store on next use.

mod activities;
mod lifecycle;
pub mod nexus;
mod queries;
mod reads;
mod tasks;
mod time_skipping;
pub mod token;
mod transfer;
mod updates;
mod visibility;

pub use updates::MultiOperationError;

pub use activities::{ActivityRef, ActivityReport, ActivityReportKind};

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use devserver_persistence::{
    ExecutionRow, ExecutionWrite, SearchAttributeValue, Store, TaskRow, TimerChange, TimerRow,
};
use prost::Message;
use temporalio_protos::temporal::api::common::v1::TimeSkippingStatePropagation;
use temporalio_protos::temporal::api::enums::v1::{EventType, WorkflowIdConflictPolicy};
use temporalio_protos::temporal::api::workflowservice::v1::{
    StartWorkflowExecutionRequest, StartWorkflowExecutionResponse,
};
use tokio::sync::{MutexGuard, mpsc, oneshot, watch};

use crate::engine::{
    Effects, EngineError, Millis, MutableState, ParentInfo, Signal, StartOptions, WorkflowIdPolicy,
    check_id_policies, inherited_now,
};
use crate::error::{ServiceError, ServiceResult};
use crate::matching::Matching;
use crate::namespaces::Namespaces;
use crate::nexus_endpoints::NexusEndpointRegistry;
use crate::search_attributes::SearchAttributeRegistry;
use crate::timers::{Clock, TimeSkipper, TimerKey, Timers};
use token::TaskToken;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WorkflowKey {
    namespace: String,
    workflow_id: String,
}

/// The newest run of one workflow id, as far as it has been loaded.
#[derive(Default)]
struct Current {
    loaded: bool,
    state: Option<MutableState>,
    /// The state's deadline as its timer row holds it: an unchanged one is not rewritten.
    committed_deadline: Option<Millis>,
}

struct Slot {
    current: tokio::sync::Mutex<Current>,
    /// Bumped after every commit to any run of this workflow id; history long polls wait on it.
    changed: watch::Sender<u64>,
}

impl Slot {
    /// Nobody but the cache holds it or waits on it, and its run (if loaded) is closed:
    /// dropping it loses nothing the store does not hold.
    fn evictable(self: &Arc<Slot>) -> bool {
        Arc::strong_count(self) == 1
            && self.changed.receiver_count() == 0
            && self
                .current
                .try_lock()
                .is_ok_and(|current| current.state.as_ref().is_none_or(|state| !state.is_open()))
    }
}

/// Slots of workflow ids in use; those of closed runs are dropped once there are many, so
/// that a long-lived server keeps no entry per workflow id it served.
struct SlotCache {
    slots: HashMap<WorkflowKey, Arc<Slot>>,
    /// The size at which idle closed slots are swept next: at least `SLOT_CACHE`, and twice
    /// what the last sweep left (open runs stay), so sweeps cost O(1) per insert on average.
    sweep_at: usize,
}

/// Workflow ids whose slots are kept whatever their state.
const SLOT_CACHE: usize = 4096;

pub struct History {
    store: Store,
    matching: Matching,
    timers: Arc<Timers>,
    clock: Arc<dyn Clock>,
    /// Set when time skips: it learns which runs have work in flight.
    skipper: Option<Arc<TimeSkipper>>,
    /// Types search attribute values for visibility.
    search_attributes: Arc<SearchAttributeRegistry>,
    /// Nexus requests go to the namespaces that endpoints name.
    namespaces: Arc<Namespaces>,
    nexus_endpoints: Arc<NexusEndpointRegistry>,
    slots: Mutex<SlotCache>,
    transfers: transfer::TransferQueue,
    next_query_id: AtomicU64,
    /// Queries waiting for a worker's answer, by id (memory only, like the real server's).
    pending_queries: Mutex<HashMap<u64, oneshot::Sender<queries::QueryAnswer>>>,
}

impl History {
    /// The history service, and the queue of transfer tasks for `run_transfers`.
    pub fn new(
        store: Store,
        matching: Matching,
        timers: Arc<Timers>,
        clock: Arc<dyn Clock>,
        skipper: Option<Arc<TimeSkipper>>,
        namespaces: Arc<Namespaces>,
        nexus_endpoints: Arc<NexusEndpointRegistry>,
    ) -> (History, mpsc::UnboundedReceiver<transfer::Transfer>) {
        let (transfers, transfer_tasks) = mpsc::unbounded_channel();
        let history = History {
            store,
            matching,
            timers,
            clock,
            skipper,
            search_attributes: namespaces.search_attributes().clone(),
            namespaces,
            nexus_endpoints,
            transfers,
            slots: Mutex::new(SlotCache {
                slots: HashMap::new(),
                sweep_at: SLOT_CACHE,
            }),
            next_query_id: AtomicU64::new(1),
            pending_queries: Mutex::new(HashMap::new()),
        };
        (history, transfer_tasks)
    }

    /// After a restart: every durable task back into its queue, every timer into the queue.
    pub async fn recover(&self) -> ServiceResult<()> {
        let tasks = self.store.tasks().await?;
        let timers = self.store.timers().await?;
        if let Some(skipper) = &self.skipper {
            // A run with work in flight has a task row or a deadline (a started task's
            // timeout), so these runs are all that may hold the clock.
            let run_ids: std::collections::BTreeSet<&str> = tasks
                .iter()
                .map(|t| t.run_id.as_str())
                .chain(timers.iter().map(|t| t.run_id.as_str()))
                .collect();
            for run_id in run_ids {
                if let Some(row) = self.store.execution(run_id).await? {
                    skipper.set_run_busy(run_id, decode_state(row)?.has_work_in_flight());
                }
            }
        }
        for task in tasks {
            self.dispatch(task);
        }
        for timer in timers {
            self.timers.set(timer);
        }
        Ok(())
    }

    /// A committed task goes to its queue, or to the transfer runner.
    fn dispatch(&self, task: TaskRow) {
        if task.kind.is_polled() {
            self.matching.add(task);
        } else {
            let hold = self.skipper.as_ref().map(TimeSkipper::hold);
            // The runner lives as long as the server; a send fails only at shutdown.
            let _ = self.transfers.send(transfer::Transfer { task, hold });
        }
    }

    fn slot(&self, namespace: &str, workflow_id: &str) -> Arc<Slot> {
        let key = WorkflowKey {
            namespace: namespace.to_owned(),
            workflow_id: workflow_id.to_owned(),
        };
        let mut cache = self.slots.lock().expect("slots poisoned");
        if let Some(slot) = cache.slots.get(&key) {
            return slot.clone();
        }
        if cache.slots.len() >= cache.sweep_at {
            cache.slots.retain(|_, slot| !slot.evictable());
            cache.sweep_at = SLOT_CACHE.max(2 * cache.slots.len());
        }
        let slot = Arc::new(Slot {
            current: tokio::sync::Mutex::new(Current::default()),
            changed: watch::Sender::new(0),
        });
        cache.slots.insert(key, slot.clone());
        slot
    }

    /// Locks a workflow id's newest run, loading it from the store the first time.
    async fn lock_current<'a>(
        &self,
        slot: &'a Slot,
        namespace: &str,
        workflow_id: &str,
    ) -> ServiceResult<MutexGuard<'a, Current>> {
        let mut current = slot.current.lock().await;
        if !current.loaded {
            let row = self.store.current_execution(namespace, workflow_id).await?;
            current.state = row.map(decode_state).transpose()?;
            // A run's timer row is always written with its state, so the two agree.
            current.committed_deadline =
                current.state.as_ref().and_then(MutableState::timer_fire_at);
            current.loaded = true;
        }
        Ok(current)
    }

    /// Run `run_id` of a workflow id, read from the store; none if `run_id` is empty or
    /// names a run of another workflow.
    async fn load_run(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ServiceResult<Option<MutableState>> {
        if run_id.is_empty() {
            return Ok(None);
        }
        let state = self
            .store
            .execution(run_id)
            .await?
            .map(decode_state)
            .transpose()?;
        Ok(state.filter(|state| state.namespace == namespace && state.workflow_id == workflow_id))
    }

    /// Commits the effects of a change to `current.state` (and the run that continues it,
    /// if any), then tells matching, the timer queue and waiters. Called with the slot
    /// locked, so timers are set in commit order.
    async fn commit(
        &self,
        slot: &Slot,
        current: &mut Current,
        mut effects: Effects,
        make_current: bool,
    ) -> ServiceResult<()> {
        // Every change ends with the time skipping of the runs it leaves idle.
        let server_now = self.clock.now();
        let state = current.state.as_mut().expect("commit needs a state");
        effects.merge(state.skip_time(state.now_at(server_now)));
        if let Some(next) = effects.next_run.as_deref_mut() {
            let (next_state, next_effects) = next;
            next_effects.merge(next_state.skip_time(next_state.now_at(server_now)));
        }
        let state = current.state.as_ref().expect("commit needs a state");
        let next_run = effects.next_run.take();
        let stored_search_attributes = |state: &MutableState, effects: &Effects| {
            effects.search_attributes_changed.then(|| {
                self.search_attributes.stored_values(
                    &state.namespace,
                    state.search_attributes.as_ref().map(|s| &s.0),
                )
            })
        };
        let mut writes = vec![execution_write(
            state,
            &effects,
            make_current,
            current.committed_deadline,
            stored_search_attributes(state, &effects),
        )];
        if let Some(next) = &next_run {
            writes.push(execution_write(
                &next.0,
                &next.1,
                true,
                None,
                stored_search_attributes(&next.0, &next.1),
            ));
        }
        let busy: Vec<(String, bool)> = std::iter::once(state)
            .chain(next_run.as_ref().map(|next| &next.0))
            .map(|run| (run.run_id.clone(), run.has_work_in_flight()))
            .collect();
        let committed_deadline = state.timer_fire_at();
        let mut uncommitted = ForgetOnDrop(Some(&mut *current));
        if let Err(error) = self.store.commit(&writes).await {
            // The cached state ran ahead of the store: the guard forgets it.
            return Err(error.into());
        }
        uncommitted.0 = None;
        drop(uncommitted);
        if let Some(skipper) = &self.skipper {
            for (run_id, busy) in busy {
                skipper.set_run_busy(&run_id, busy);
            }
        }
        current.committed_deadline = committed_deadline;
        if let Some(next) = next_run {
            current.committed_deadline = next.0.timer_fire_at();
            current.state = Some(next.0);
        } else if current.state.as_ref().is_some_and(|state| !state.is_open()) {
            // Closed runs change no more: memory holds open runs only, the store the rest.
            current.loaded = false;
            current.state = None;
        }
        for write in writes {
            for task in write.new_tasks {
                self.dispatch(task);
            }
            match write.timer {
                Some(TimerChange::Set(timer)) => self.timers.set(timer),
                Some(TimerChange::Clear { run_id }) => self.timers.clear(&TimerKey::Run(run_id)),
                None => {}
            }
        }
        slot.changed.send_modify(|version| *version += 1);
        Ok(())
    }

    /// Applies `change` to the open run `run_id` (empty: the newest run) and commits it.
    async fn update<T>(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        change: impl FnOnce(&mut MutableState, Millis) -> Result<(Effects, T), EngineError>,
    ) -> ServiceResult<T> {
        let slot = self.slot(namespace, workflow_id);
        let mut current = self.lock_current(&slot, namespace, workflow_id).await?;
        let Some(state) = current
            .state
            .as_mut()
            .filter(|state| run_id.is_empty() || state.run_id == run_id)
        else {
            // Only the newest run can be open: an older one that exists is closed.
            return Err(match self.load_run(namespace, workflow_id, run_id).await? {
                Some(_) => EngineError::AlreadyCompleted.into(),
                None => workflow_not_found(workflow_id, run_id),
            });
        };
        let (effects, result) = change(state, state.now_at(self.clock.now()))?;
        self.commit(&slot, &mut current, effects, false).await?;
        Ok(result)
    }

    /// Applies `change` to the run that a worker's task token names.
    async fn update_task<T>(
        &self,
        task_token: &[u8],
        change: impl FnOnce(&mut MutableState, &TaskToken, Millis) -> Result<(Effects, T), EngineError>,
    ) -> ServiceResult<T> {
        let task: TaskToken = token::decode_task_token(task_token)?;
        self.update(
            &task.namespace,
            &task.workflow_id,
            &task.run_id,
            |state, now| change(state, &task, now),
        )
        .await
    }

    /// Starts a run. With a signal (SignalWithStart) or an update (update-with-start), a
    /// running workflow the id policies let through gets it instead, and a new run gets it
    /// with its first workflow task.
    pub async fn start_workflow(
        &self,
        request: &StartWorkflowExecutionRequest,
        with: StartWith,
    ) -> ServiceResult<StartWorkflowExecutionResponse> {
        let StartWith {
            signal,
            parent,
            update,
            inherited_time_skipping,
        } = with;
        let slot = self.slot(&request.namespace, &request.workflow_id);
        let mut current = self
            .lock_current(&slot, &request.namespace, &request.workflow_id)
            .await?;
        let request_id = if request.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            request.request_id.clone()
        };
        let server_now = self.clock.now();
        let existing_run = |state: &MutableState, started: bool| StartWorkflowExecutionResponse {
            run_id: state.run_id.clone(),
            first_execution_run_id: state.first_execution_run_id.clone(),
            started,
            status: state.status,
            // What a Nexus operation that started the run links to.
            link: Some(nexus::links::workflow_event(
                &state.namespace,
                &state.workflow_id,
                &state.run_id,
                1,
                EventType::WorkflowExecutionStarted,
            )),
            ..Default::default()
        };
        let mut conflict_policy = request.workflow_id_conflict_policy;
        if signal.is_some() && conflict_policy == WorkflowIdConflictPolicy::Unspecified as i32 {
            conflict_policy = WorkflowIdConflictPolicy::UseExisting as i32;
        }
        match check_id_policies(
            current.state.as_ref(),
            &request_id,
            request.workflow_id_reuse_policy,
            conflict_policy,
        ) {
            WorkflowIdPolicy::StartNew => {}
            WorkflowIdPolicy::Deduplicated => {
                return Ok(existing_run(current.state.as_ref().expect("checked"), true));
            }
            WorkflowIdPolicy::UseExisting => {
                let state = current.state.as_mut().expect("checked");
                let mut response = existing_run(state, false);
                let now = state.now_at(server_now);
                let mut effects = state.attach_on_conflict(request, &request_id, now);
                if request
                    .on_conflict_options
                    .as_ref()
                    .is_some_and(|options| options.attach_request_id)
                {
                    // The start's own event is the one that attached it.
                    response.link = Some(nexus::links::request_id_reference(
                        &state.namespace,
                        &state.workflow_id,
                        &state.run_id,
                        &request_id,
                        EventType::WorkflowExecutionOptionsUpdated,
                    ));
                }
                if let Some(signal) = signal {
                    effects.merge(state.signal(signal, now)?);
                }
                if let Some(update) = update {
                    effects.merge(state.admit_update(update, now)?.0);
                }
                self.commit(&slot, &mut current, effects, false).await?;
                return Ok(response);
            }
            WorkflowIdPolicy::Reject(message) => {
                let state = current.state.as_ref().expect("checked");
                return Err(ServiceError::WorkflowAlreadyStarted {
                    message,
                    start_request_id: state.start_request_id.clone(),
                    run_id: state.run_id.clone(),
                    first_execution_run_id: state.first_execution_run_id.clone(),
                });
            }
            WorkflowIdPolicy::TerminateThenStart => {
                let state = current.state.as_mut().expect("checked");
                let effects = state.terminate(
                    state.now_at(server_now),
                    "terminated by a new start (id conflict policy)",
                    None,
                    &request.identity,
                )?;
                self.commit(&slot, &mut current, effects, false).await?;
            }
        }
        let run_id = uuid::Uuid::new_v4().to_string();
        let options = StartOptions {
            run_id,
            request_id,
            signal,
            continued: None,
            parent,
            inherited_time_skipping,
        };
        let now = inherited_now(server_now, options.inherited_time_skipping.as_ref());
        let (mut state, mut effects) = MutableState::start(request, options, now);
        if let Some(update) = update {
            effects.merge(state.admit_update(update, now)?.0);
        }
        let response = existing_run(&state, true);
        current.state = Some(state);
        current.committed_deadline = None;
        self.commit(&slot, &mut current, effects, true).await?;
        Ok(response)
    }

    /// The timer of a run fired: act on whatever deadlines passed.
    pub async fn fire_timer(&self, timer: TimerRow) -> ServiceResult<()> {
        let fired = self
            .update(
                &timer.namespace,
                &timer.workflow_id,
                &timer.run_id,
                |state, now| Ok((state.fire_due(now), ())),
            )
            .await;
        match fired {
            // Not the newest run any more, so closed: its timer has nothing left to do.
            Err(ServiceError::NotFound(_) | ServiceError::WorkflowClosed) => {
                let write = ExecutionWrite {
                    timer: Some(TimerChange::Clear {
                        run_id: timer.run_id,
                    }),
                    ..Default::default()
                };
                Ok(self.store.commit(&[write]).await?)
            }
            other => other,
        }
    }

    /// A worker shut down: its sticky queue will not be polled again.
    pub async fn drop_sticky_queue(
        &self,
        namespace: &str,
        sticky_queue: &str,
    ) -> ServiceResult<()> {
        if sticky_queue.is_empty() {
            return Ok(());
        }
        let slots: Vec<(String, Arc<Slot>)> = {
            let cache = self.slots.lock().expect("slots poisoned");
            cache
                .slots
                .iter()
                .filter(|(key, _)| key.namespace == namespace)
                .map(|(key, slot)| (key.workflow_id.clone(), slot.clone()))
                .collect()
        };
        for (_, slot) in slots {
            let mut current = slot.current.lock().await;
            let Some(effects) = current
                .state
                .as_mut()
                .and_then(|state| state.drop_sticky_queue(sticky_queue))
            else {
                continue;
            };
            self.commit(&slot, &mut current, effects, false).await?;
        }
        Ok(())
    }

    /// A copy of run `run_id` (empty: the newest run) of a workflow id.
    async fn run_state(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ServiceResult<MutableState> {
        let slot = self.slot(namespace, workflow_id);
        {
            let current = self.lock_current(&slot, namespace, workflow_id).await?;
            if let Some(state) = current
                .state
                .as_ref()
                .filter(|s| run_id.is_empty() || s.run_id == run_id)
            {
                return Ok(state.clone());
            }
        }
        self.load_run(namespace, workflow_id, run_id)
            .await?
            .ok_or_else(|| workflow_not_found(workflow_id, run_id))
    }
}

/// Forgets a run's cached state unless disarmed: a commit that failed, or whose request was
/// cancelled before the store answered (so that the change may or may not be stored), leaves
/// the next change to read the store.
struct ForgetOnDrop<'a>(Option<&'a mut Current>);

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(current) = self.0.take() {
            current.loaded = false;
            current.state = None;
        }
    }
}

/// What a start brings along besides the start request.
#[derive(Debug, Default)]
pub struct StartWith {
    /// SignalWithStart's signal.
    pub signal: Option<Signal>,
    /// Set when the run is a child workflow.
    pub parent: Option<ParentInfo>,
    /// Update-with-start's update.
    pub update: Option<temporalio_protos::temporal::api::update::v1::Request>,
    /// A child's clock and time skipping, from its parent.
    pub inherited_time_skipping: Option<TimeSkippingStatePropagation>,
}

/// Everything one run's change writes. The timer row is written only when the run's
/// deadline moved from `committed_deadline`.
fn execution_write(
    state: &MutableState,
    effects: &Effects,
    make_current: bool,
    committed_deadline: Option<Millis>,
    search_attributes: Option<Vec<SearchAttributeValue>>,
) -> ExecutionWrite {
    let (root_workflow_id, root_run_id) = state.parent.as_ref().map_or_else(
        || (state.workflow_id.clone(), state.run_id.clone()),
        |parent| parent.root.clone(),
    );
    let deadline = state.timer_fire_at();
    let timer = match deadline {
        Some(fire_at) => TimerChange::Set(TimerRow {
            run_id: state.run_id.clone(),
            namespace: state.namespace.clone(),
            workflow_id: state.workflow_id.clone(),
            fire_at,
        }),
        None => TimerChange::Clear {
            run_id: state.run_id.clone(),
        },
    };
    ExecutionWrite {
        execution: Some(ExecutionRow {
            run_id: state.run_id.clone(),
            namespace: state.namespace.clone(),
            workflow_id: state.workflow_id.clone(),
            workflow_type: state.workflow_type.clone(),
            task_queue: state.task_queue.clone(),
            status: state.status,
            start_time: state.start_time,
            close_time: state.close_time,
            execution_time: state.execution_time(),
            history_length: state.close_time.map(|_| state.next_event_id - 1),
            history_size_bytes: state.close_time.map(|_| state.history_size_bytes),
            state_transitions: state.close_time.map(|_| state.state_transitions),
            parent_workflow_id: state.parent.as_ref().map(|p| p.workflow_id.clone()),
            parent_run_id: state.parent.as_ref().map(|p| p.run_id.clone()),
            root_workflow_id,
            root_run_id,
            state: serde_json::to_vec(state).expect("mutable state always serializes"),
        }),
        make_current,
        events: effects
            .events
            .iter()
            .map(|e| (e.event_id, e.encode_to_vec()))
            .collect(),
        new_tasks: effects
            .new_tasks
            .iter()
            .map(|task| TaskRow {
                run_id: state.run_id.clone(),
                scheduled_event_id: task.scheduled_event_id,
                namespace: state.namespace.clone(),
                workflow_id: state.workflow_id.clone(),
                task_queue: task.task_queue.clone(),
                kind: task.kind,
            })
            .collect(),
        removed_tasks: effects
            .removed_tasks
            .iter()
            .map(|id| (state.run_id.clone(), *id))
            .chain(effects.removed_tasks_of_other_runs.iter().cloned())
            .collect(),
        timer: (deadline != committed_deadline).then_some(timer),
        search_attributes,
    }
}

/// NOT_FOUND for a workflow id, or for one run of it, worded like the real server.
pub(crate) fn workflow_not_found(workflow_id: &str, run_id: &str) -> ServiceError {
    ServiceError::NotFound(if run_id.is_empty() {
        format!("workflow not found for ID: {workflow_id}")
    } else {
        format!(
            "workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\""
        )
    })
}

fn decode_state(row: ExecutionRow) -> ServiceResult<MutableState> {
    serde_json::from_slice(&row.state)
        .map_err(|e| ServiceError::Internal(format!("corrupt state of run {}: {e}", row.run_id)))
}
