//! Task queues and the long polls that wait on them.
//!
//! Tasks are durable rows (written by the history service with the state change that made
//! them); this module only holds them in memory, in order, and hands each to one poller. A
//! task travels as a [`Lease`]: if the poll that received it goes away before the history
//! service recorded its start, dropping the lease puts the task back at the head of its queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use devserver_persistence::{TaskKind, TaskRow};
use tokio::sync::oneshot;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueKey {
    pub namespace: String,
    pub task_queue: String,
    pub kind: TaskKind,
}

impl QueueKey {
    fn of(task: &TaskRow) -> QueueKey {
        QueueKey {
            namespace: task.namespace.clone(),
            task_queue: task.task_queue.clone(),
            kind: task.kind,
        }
    }
}

#[derive(Default)]
struct Queue {
    tasks: VecDeque<TaskRow>,
    pollers: VecDeque<oneshot::Sender<Lease>>,
}

#[derive(Default, Clone)]
pub struct Matching {
    queues: Arc<Mutex<HashMap<QueueKey, Queue>>>,
}

/// A task handed to a poller. Dropped unconsumed, it goes back to its queue.
pub struct Lease {
    task: Option<TaskRow>,
    matching: Matching,
}

impl Lease {
    pub fn task(&self) -> &TaskRow {
        self.task
            .as_ref()
            .expect("a lease holds its task until consumed")
    }

    /// The task was started (or found stale): it must not go back to the queue.
    pub fn consume(mut self) {
        self.task = None;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.matching.offer(task, true);
        }
    }
}

impl Matching {
    /// Makes a task available: to a waiting poller if there is one, else at the queue's tail.
    pub fn add(&self, task: TaskRow) {
        self.offer(task, false);
    }

    fn offer(&self, task: TaskRow, returned: bool) {
        let key = QueueKey::of(&task);
        let mut lease = Lease {
            task: Some(task),
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
        let task = lease
            .task
            .take()
            .expect("unsent lease still holds its task");
        if returned {
            queue.tasks.push_front(task);
        } else {
            queue.tasks.push_back(task);
        }
    }

    /// Waits until `deadline` for a task of `key`.
    pub async fn poll(&self, key: &QueueKey, deadline: Instant) -> Option<Lease> {
        let receiver = {
            let mut queues = self.queues.lock().expect("matching poisoned");
            let queue = queues.entry(key.clone()).or_default();
            if let Some(task) = queue.tasks.pop_front() {
                return Some(Lease {
                    task: Some(task),
                    matching: self.clone(),
                });
            }
            queue.pollers.retain(|poller| !poller.is_closed());
            let (sender, receiver) = oneshot::channel();
            queue.pollers.push_back(sender);
            receiver
        };
        tokio::time::timeout_at(deadline, receiver).await.ok()?.ok()
    }

    /// How many tasks wait in a queue.
    #[cfg(test)]
    pub fn backlog(&self, key: &QueueKey) -> usize {
        let queues = self.queues.lock().expect("matching poisoned");
        queues.get(key).map_or(0, |q| q.tasks.len())
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
        QueueKey::of(&task(0))
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
        assert_eq!(first.task().scheduled_event_id, 1);
        first.consume();
        matching.poll(&key(), soon()).await.unwrap().consume();
        assert!(matching.poll(&key(), soon()).await.is_none());
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
                        let id = l.task().scheduled_event_id;
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
        assert_eq!(again.task().scheduled_event_id, 1);
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
}
