//! Task queues and the long polls that wait on them.
//!
//! Workflow and activity tasks are durable rows (written by the history service with the
//! state change that made them); this module only holds them in memory, in order, and hands
//! each to one poller. Query tasks and Nexus tasks (`nexus`) live in memory only, like the
//! real server's. A task travels
//! as a [`Lease`]: if the poll that received it goes away before the history service recorded
//! its start, dropping the lease puts the task back at the head of its queue. Consuming a
//! lease (the task started) records the task's dispatch latency.

mod nexus;

pub use nexus::{NexusAnswer, NexusTask};

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use devserver_persistence::{TaskKind, TaskRow};
use temporalio_protos::temporal::api::enums::v1::TaskQueueType;
use temporalio_protos::temporal::api::query::v1::WorkflowQuery;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// A query for a workflow worker to answer. It may wait in two queues at once (a sticky
/// queue and, once the sticky worker seems gone, the normal one); the first poller to
/// claim it gets it.
#[derive(Debug)]
pub struct QueryTask {
    pub id: u64,
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub query: WorkflowQuery,
    claimed: AtomicBool,
}

impl QueryTask {
    pub fn new(
        id: u64,
        namespace: String,
        workflow_id: String,
        run_id: String,
        query: WorkflowQuery,
    ) -> QueryTask {
        QueryTask {
            id,
            namespace,
            workflow_id,
            run_id,
            query,
            claimed: AtomicBool::new(false),
        }
    }

    /// True for the one caller that gets to deliver this query.
    pub fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::AcqRel)
    }

    pub fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }
}

/// What waits in a task queue.
#[derive(Debug, Clone)]
pub enum QueuedTask {
    Stored(TaskRow),
    Query {
        task: Arc<QueryTask>,
        task_queue: String,
    },
    Nexus(Arc<NexusTask>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueKey {
    pub namespace: String,
    pub task_queue: String,
    pub kind: TaskQueueType,
}

impl QueuedTask {
    /// The kind of queue the task waits in.
    fn queue_type(&self) -> TaskQueueType {
        match self {
            // Only workflow and activity tasks are polled.
            QueuedTask::Stored(row) if row.kind == TaskKind::Workflow => TaskQueueType::Workflow,
            QueuedTask::Stored(_) => TaskQueueType::Activity,
            QueuedTask::Query { .. } => TaskQueueType::Workflow,
            QueuedTask::Nexus(_) => TaskQueueType::Nexus,
        }
    }
}

impl QueueKey {
    fn of(task: &QueuedTask) -> QueueKey {
        let (namespace, task_queue) = match task {
            QueuedTask::Stored(row) => (&row.namespace, &row.task_queue),
            QueuedTask::Query { task, task_queue } => (&task.namespace, task_queue),
            QueuedTask::Nexus(task) => (&task.namespace, &task.task_queue),
        };
        QueueKey {
            namespace: namespace.clone(),
            task_queue: task_queue.clone(),
            kind: task.queue_type(),
        }
    }
}

/// A task in its queue, since when it has been there.
struct Waiting {
    task: QueuedTask,
    /// When it was first queued (a lease given back keeps it): right after the commit that
    /// made a stored task.
    queued_at: Instant,
}

#[derive(Default)]
struct Queue {
    tasks: VecDeque<Waiting>,
    pollers: VecDeque<oneshot::Sender<Lease>>,
}

/// How full a queue is, for the metrics.
#[derive(Debug, Clone)]
pub struct QueueDepth {
    pub key: QueueKey,
    /// Tasks waiting for a poll.
    pub backlog: usize,
    /// Polls waiting for a task.
    pub polls: usize,
}

/// Forgets a queue that holds no task and no live poll, so that a long-lived server keeps
/// nothing per task queue (each worker's sticky queue is one) once it is unused.
fn prune(queues: &mut HashMap<QueueKey, Queue>, key: &QueueKey) {
    if let Some(queue) = queues.get_mut(key) {
        queue.pollers.retain(|poller| !poller.is_closed());
        if queue.tasks.is_empty() && queue.pollers.is_empty() {
            queues.remove(key);
        }
    }
}

/// A poll's wait: when the poll ends (answered, timed out or cancelled), its receiver is
/// dropped, which closes its place in the queue, and then the queue is pruned.
struct PollWait<'a> {
    matching: &'a Matching,
    key: &'a QueueKey,
    receiver: Option<oneshot::Receiver<Lease>>,
}

impl Drop for PollWait<'_> {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut queues = self.matching.queues.lock().expect("matching poisoned");
        prune(&mut queues, self.key);
    }
}

#[derive(Default, Clone)]
pub struct Matching {
    queues: Arc<Mutex<HashMap<QueueKey, Queue>>>,
    /// Those who wait for the answers to Nexus tasks, by task id.
    nexus_waiters: Arc<Mutex<HashMap<String, nexus::Waiter>>>,
    metrics: Arc<Metrics>,
}

/// A task handed to a poller. Dropped unconsumed, it goes back to its queue.
pub struct Lease {
    task: Option<QueuedTask>,
    queued_at: Instant,
    matching: Matching,
}

impl Lease {
    pub fn task(&self) -> &QueuedTask {
        self.task
            .as_ref()
            .expect("a lease holds its task until consumed")
    }

    /// The task was started (or found stale): it must not go back to the queue.
    pub fn consume(mut self) {
        if let Some(task) = self.task.take() {
            let metrics = &self.matching.metrics;
            metrics.task_dispatched(task.queue_type(), self.queued_at.elapsed());
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.matching.offer(task, self.queued_at, true);
        }
    }
}

impl Matching {
    /// Matching that records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Matching {
        Matching {
            metrics,
            ..Matching::default()
        }
    }

    /// Makes a task available: to a waiting poller if there is one, else at the queue's tail.
    pub fn add(&self, task: TaskRow) {
        self.offer(QueuedTask::Stored(task), Instant::now(), false);
    }

    /// Makes a query available to the pollers of `task_queue`.
    pub fn add_query(&self, task: Arc<QueryTask>, task_queue: String) {
        self.offer(
            QueuedTask::Query { task, task_queue },
            Instant::now(),
            false,
        );
    }

    fn offer(&self, task: QueuedTask, queued_at: Instant, returned: bool) {
        let key = QueueKey::of(&task);
        let mut lease = Lease {
            task: Some(task),
            queued_at,
            matching: self.clone(),
        };
        let mut queues = self.queues.lock().expect("matching poisoned");
        let queue = queues.entry(key).or_default();
        while let Some(poller) = queue.pollers.pop_front() {
            match poller.send(lease) {
                Ok(()) => return,
                // That poll is gone (timed out or cancelled): try the next one.
                Err(unsent) => lease = unsent,
            }
        }
        let waiting = Waiting {
            task: lease
                .task
                .take()
                .expect("unsent lease still holds its task"),
            queued_at,
        };
        if returned {
            queue.tasks.push_front(waiting);
        } else {
            queue.tasks.push_back(waiting);
        }
    }

    /// Waits until `deadline` for a task of `key`.
    pub async fn poll(&self, key: &QueueKey, deadline: Instant) -> Option<Lease> {
        let lease = self.wait_for_task(key, deadline).await;
        self.metrics.poll_ended(key.kind, lease.is_some());
        lease
    }

    async fn wait_for_task(&self, key: &QueueKey, deadline: Instant) -> Option<Lease> {
        let mut wait = PollWait {
            matching: self,
            key,
            receiver: None,
        };
        let receiver = {
            let mut queues = self.queues.lock().expect("matching poisoned");
            let queue = queues.entry(key.clone()).or_default();
            if let Some(waiting) = queue.tasks.pop_front() {
                return Some(Lease {
                    task: Some(waiting.task),
                    queued_at: waiting.queued_at,
                    matching: self.clone(),
                });
            }
            queue.pollers.retain(|poller| !poller.is_closed());
            let (sender, receiver) = oneshot::channel();
            queue.pollers.push_back(sender);
            wait.receiver.insert(receiver)
        };
        tokio::time::timeout_at(deadline, receiver).await.ok()?.ok()
    }

    /// Every queue kept (one with tasks or polls waiting), and how full it is.
    pub fn depths(&self) -> Vec<QueueDepth> {
        let queues = self.queues.lock().expect("matching poisoned");
        queues
            .iter()
            .map(|(key, queue)| QueueDepth {
                key: key.clone(),
                backlog: queue.tasks.len(),
                polls: queue
                    .pollers
                    .iter()
                    .filter(|poller| !poller.is_closed())
                    .count(),
            })
            .collect()
    }

    /// How many tasks wait in a queue.
    #[cfg(test)]
    pub fn backlog(&self, key: &QueueKey) -> usize {
        let queues = self.queues.lock().expect("matching poisoned");
        queues.get(key).map_or(0, |q| q.tasks.len())
    }

    /// How many queues are kept (with tasks or live polls).
    #[cfg(test)]
    fn queue_count(&self) -> usize {
        self.queues.lock().expect("matching poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn task(scheduled_event_id: i64) -> TaskRow {
        TaskRow {
            run_id: "run".into(),
            scheduled_event_id,
            namespace: "default".into(),
            workflow_id: "wf".into(),
            task_queue: "q".into(),
            kind: TaskKind::Activity,
        }
    }

    fn key() -> QueueKey {
        QueueKey::of(&QueuedTask::Stored(task(0)))
    }

    fn event_id(lease: &Lease) -> i64 {
        match lease.task() {
            QueuedTask::Stored(row) => row.scheduled_event_id,
            QueuedTask::Query { .. } | QueuedTask::Nexus(_) => panic!("a stored task was queued"),
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn tasks_wait_in_order_and_polls_time_out_empty() {
        let matching = Matching::default();
        matching.add(task(1));
        matching.add(task(2));
        let first = matching.poll(&key(), soon()).await.unwrap();
        assert_eq!(event_id(&first), 1);
        first.consume();
        matching.poll(&key(), soon()).await.unwrap().consume();
        assert!(matching.poll(&key(), soon()).await.is_none());
    }

    #[tokio::test]
    async fn queues_are_forgotten_once_unused() {
        let matching = Matching::default();
        // A poll that timed out leaves nothing behind.
        assert!(matching.poll(&key(), soon()).await.is_none());
        assert_eq!(matching.queue_count(), 0);
        // Nor does a queue whose last task was taken.
        matching.add(task(1));
        assert_eq!(matching.queue_count(), 1);
        matching.poll(&key(), soon()).await.unwrap().consume();
        assert_eq!(matching.queue_count(), 0);
        // Nor a poll cancelled while it waited.
        let cancelled = tokio::spawn({
            let matching = matching.clone();
            async move {
                matching
                    .poll(&key(), Instant::now() + Duration::from_secs(5))
                    .await
                    .is_some()
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(matching.queue_count(), 1);
        cancelled.abort();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        assert_eq!(matching.queue_count(), 0);
        // A task that arrives afterwards still waits for the next poll.
        matching.add(task(2));
        assert_eq!(event_id(&matching.poll(&key(), soon()).await.unwrap()), 2);
    }

    #[tokio::test]
    async fn a_waiting_poller_gets_a_new_task() {
        let matching = Matching::default();
        let poller = tokio::spawn({
            let matching = matching.clone();
            async move {
                matching
                    .poll(&key(), Instant::now() + Duration::from_secs(5))
                    .await
                    .map(|l| {
                        let id = event_id(&l);
                        l.consume();
                        id
                    })
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        matching.add(task(7));
        assert_eq!(poller.await.unwrap(), Some(7));
        assert_eq!(matching.backlog(&key()), 0);
    }

    #[tokio::test]
    async fn a_dropped_lease_or_cancelled_poll_gives_the_task_back() {
        let matching = Matching::default();
        matching.add(task(1));
        matching.add(task(2));
        drop(matching.poll(&key(), soon()).await.unwrap());
        // Returned to the head of the queue, ahead of task 2.
        let again = matching.poll(&key(), soon()).await.unwrap();
        assert_eq!(event_id(&again), 1);
        again.consume();
        matching.poll(&key(), soon()).await.unwrap().consume();

        // A poll cancelled while waiting must not swallow the next task.
        let cancelled = tokio::spawn({
            let matching = matching.clone();
            async move {
                matching
                    .poll(&key(), Instant::now() + Duration::from_secs(5))
                    .await
                    .map(Lease::consume)
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        cancelled.abort();
        let _ = cancelled.await;
        matching.add(task(3));
        assert_eq!(matching.backlog(&key()), 1);
    }

    #[tokio::test]
    async fn a_query_in_two_queues_is_claimed_once() {
        let matching = Matching::default();
        let query = Arc::new(QueryTask::new(
            1,
            "default".into(),
            "wf".into(),
            "run".into(),
            WorkflowQuery::default(),
        ));
        matching.add_query(query.clone(), "sticky".into());
        matching.add_query(query.clone(), "q".into());
        let workflow_queue = |name: &str| QueueKey {
            task_queue: name.into(),
            kind: TaskQueueType::Workflow,
            ..key()
        };
        let normal = matching.poll(&workflow_queue("q"), soon()).await.unwrap();
        let QueuedTask::Query { task, task_queue } = normal.task() else {
            panic!("the query was queued");
        };
        assert_eq!(task_queue, "q");
        assert!(task.claim());
        normal.consume();
        let sticky = matching
            .poll(&workflow_queue("sticky"), soon())
            .await
            .unwrap();
        let QueuedTask::Query { task, .. } = sticky.task() else {
            panic!("the query was queued");
        };
        assert!(!task.claim(), "already delivered through the normal queue");
        sticky.consume();
    }
}
