//! Nexus tasks: a caller's StartOperation or CancelOperation request, for the workers that
//! poll the endpoint's Nexus task queue. Like the real server's matching, they are never
//! stored: the caller waits for the worker's answer (RespondNexusTaskCompleted or Failed)
//! until a deadline, and its own durable task sends the request again if none came.

use std::sync::Arc;

use temporalio_protos::temporal::api::enums::v1::TaskQueueType;
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::nexus::v1::{HandlerError, Request, Response};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Matching, QueueKey, QueuedTask};

#[derive(Debug)]
pub struct NexusTask {
    pub id: String,
    pub namespace: String,
    pub task_queue: String,
    pub request: Request,
    /// When the caller stops waiting: the worker is told how long it has.
    pub deadline: Instant,
}

/// A worker's answer to a Nexus task.
#[derive(Debug)]
pub enum NexusAnswer {
    Completed(Response),
    /// A handler error: a failure, or what SDKs that predate failures send.
    Failed {
        failure: Option<Failure>,
        error: Option<HandlerError>,
    },
}

pub(super) type Waiter = oneshot::Sender<NexusAnswer>;

impl Matching {
    /// Hands a request to a poller of the Nexus task queue and waits until `deadline` for
    /// the worker's answer; none if it did not come in time.
    pub async fn dispatch_nexus(
        &self,
        namespace: &str,
        task_queue: &str,
        request: Request,
        deadline: Instant,
    ) -> Option<NexusAnswer> {
        let id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        self.waiters().insert(id.clone(), sender);
        // However the wait ends (an answer, the deadline, the caller going away), the task
        // leaves its queue and nobody waits for it any more.
        let _withdraw = Withdraw {
            matching: self,
            key: QueueKey {
                namespace: namespace.to_owned(),
                task_queue: task_queue.to_owned(),
                kind: TaskQueueType::Nexus,
            },
            id: id.clone(),
        };
        self.offer(
            QueuedTask::Nexus(Arc::new(NexusTask {
                id,
                namespace: namespace.to_owned(),
                task_queue: task_queue.to_owned(),
                request,
                deadline,
            })),
            Instant::now(),
            false,
        );
        tokio::time::timeout_at(deadline, receiver).await.ok()?.ok()
    }

    /// Whether the caller still waits for the answer to Nexus task `id`.
    pub fn nexus_task_awaited(&self, id: &str) -> bool {
        self.waiters().contains_key(id)
    }

    /// A worker's answer to Nexus task `id`: false if nobody waits for it any more.
    pub fn answer_nexus(&self, id: &str, answer: NexusAnswer) -> bool {
        let waiter = self.waiters().remove(id);
        waiter.is_some_and(|waiter| waiter.send(answer).is_ok())
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Waiter>> {
        self.nexus_waiters.lock().expect("matching poisoned")
    }
}

struct Withdraw<'a> {
    matching: &'a Matching,
    key: QueueKey,
    id: String,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.matching.waiters().remove(&self.id);
        let mut queues = self.matching.queues.lock().expect("matching poisoned");
        if let Some(queue) = queues.get_mut(&self.key) {
            queue.tasks.retain(
                |waiting| !matches!(&waiting.task, QueuedTask::Nexus(t) if t.id == self.id),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> QueueKey {
        QueueKey {
            namespace: "default".into(),
            task_queue: "q".into(),
            kind: TaskQueueType::Nexus,
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn a_poller_gets_the_request_and_its_answer_reaches_the_caller() {
        let matching = Matching::default();
        let caller = tokio::spawn({
            let matching = matching.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(5);
                matching
                    .dispatch_nexus("default", "q", Request::default(), deadline)
                    .await
            }
        });
        let lease = matching
            .poll(&key(), Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        let QueuedTask::Nexus(task) = lease.task() else {
            panic!("a Nexus task was queued");
        };
        let id = task.id.clone();
        lease.consume();
        assert!(matching.nexus_task_awaited(&id));
        assert!(matching.answer_nexus(&id, NexusAnswer::Completed(Response::default())));
        assert!(matches!(
            caller.await.unwrap(),
            Some(NexusAnswer::Completed(_))
        ));
        // Answered once: a second answer finds nobody.
        assert!(!matching.answer_nexus(&id, NexusAnswer::Completed(Response::default())));
    }

    #[tokio::test]
    async fn an_unanswered_task_leaves_its_queue_at_the_deadline() {
        let matching = Matching::default();
        let answer = matching
            .dispatch_nexus("default", "q", Request::default(), soon())
            .await;
        assert!(answer.is_none());
        assert_eq!(matching.backlog(&key()), 0);
        assert!(matching.waiters().is_empty());
    }
}
