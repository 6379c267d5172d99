//! The Nexus worker's RPCs of WorkflowService: PollNexusTaskQueue, RespondNexusTaskCompleted
//! and RespondNexusTaskFailed. A Nexus task is a caller's request waiting in matching; the
//! worker's answer goes straight back to the caller that waits for it.

use temporalio_protos::temporal::api::enums::v1::TaskQueueType;
use temporalio_protos::temporal::api::workflowservice::v1::{
    PollNexusTaskQueueRequest, PollNexusTaskQueueResponse, RespondNexusTaskCompletedRequest,
    RespondNexusTaskFailedRequest,
};
use tokio::time::Instant;
use tonic::Status;

use super::workflow::WorkflowFrontend;
use crate::error::{ServiceError, ServiceResult};
use crate::go_format::go_duration;
use crate::history::token::{self, NexusTaskToken};
use crate::matching::{NexusAnswer, QueuedTask};

/// What the real server answers for a task nobody waits for any more.
const TASK_GONE: &str = "Nexus task not found or already expired";

impl WorkflowFrontend {
    pub(super) async fn poll_nexus(
        &self,
        request: PollNexusTaskQueueRequest,
        deadline: Instant,
    ) -> Result<PollNexusTaskQueueResponse, Status> {
        let matching = self.matching.clone();
        let polled = self
            .poll_task(
                &request.namespace,
                &request.identity,
                request.task_queue.as_ref(),
                TaskQueueType::Nexus,
                deadline,
                |task| {
                    let matching = matching.clone();
                    async move {
                        let QueuedTask::Nexus(task) = task else {
                            return Ok(None);
                        };
                        // The caller gave up on it: the next one.
                        if !matching.nexus_task_awaited(&task.id) {
                            return Ok(None);
                        }
                        let mut request = task.request.clone();
                        // How long the worker has, as the real server's matching tells it.
                        let left = task.deadline.saturating_duration_since(Instant::now());
                        request.header.insert(
                            "request-timeout".into(),
                            go_duration(left.as_millis() as i64),
                        );
                        Ok(Some(PollNexusTaskQueueResponse {
                            task_token: token::encode(&NexusTaskToken {
                                namespace: task.namespace.clone(),
                                task_queue: task.task_queue.clone(),
                                task_id: task.id.clone(),
                            }),
                            request: Some(request),
                            ..Default::default()
                        }))
                    }
                },
            )
            .await?;
        Ok(polled.into_inner())
    }

    pub(super) fn complete_nexus_task(
        &self,
        request: RespondNexusTaskCompletedRequest,
    ) -> ServiceResult<()> {
        let response = request.response.ok_or_else(|| {
            ServiceError::InvalidArgument("Response is not set on request.".into())
        })?;
        self.answer_nexus(
            &request.namespace,
            &request.task_token,
            NexusAnswer::Completed(response),
        )
    }

    pub(super) fn fail_nexus_task(
        &self,
        request: RespondNexusTaskFailedRequest,
    ) -> ServiceResult<()> {
        #[allow(deprecated)] // what SDKs that predate failures send
        let error = request.error;
        if request.failure.is_none() && error.is_none() {
            return Err(ServiceError::InvalidArgument(
                "Failure is not set on request.".into(),
            ));
        }
        let answer = NexusAnswer::Failed {
            failure: request.failure,
            error,
        };
        self.answer_nexus(&request.namespace, &request.task_token, answer)
    }

    fn answer_nexus(
        &self,
        namespace: &str,
        task_token: &[u8],
        answer: NexusAnswer,
    ) -> ServiceResult<()> {
        self.namespaces.get(namespace)?;
        let task: NexusTaskToken = token::decode_task_token(task_token)?;
        if task.namespace != namespace {
            return Err(ServiceError::InvalidArgument(
                "Operation requested with a token from a different namespace.".into(),
            ));
        }
        if self.matching.answer_nexus(&task.task_id, answer) {
            Ok(())
        } else {
            Err(ServiceError::NotFound(TASK_GONE.into()))
        }
    }
}
