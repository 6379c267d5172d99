//! Requests from clients that change a run from outside: signals, cancellation requests,
//! termination and deletion.

use temporalio_protos::temporal::api::common::v1::Payloads;

use super::History;
use crate::engine::{CancelRequest, Signal};
use crate::error::{ServiceError, ServiceResult};
use crate::timers::TimerKey;

impl History {
    pub async fn signal(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        signal: Signal,
    ) -> ServiceResult<()> {
        self.update(namespace, workflow_id, run_id, |state, now| {
            Ok((state.signal(signal, now)?, ()))
        })
        .await
    }

    pub async fn request_cancel(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        request: CancelRequest,
    ) -> ServiceResult<()> {
        let requested = self
            .update(namespace, workflow_id, run_id, |state, now| {
                Ok((state.request_cancel(&request, now)?, ()))
            })
            .await;
        match requested {
            // Like the real server: cancelling what has already ended is no error.
            Err(ServiceError::WorkflowClosed) => Ok(()),
            other => other,
        }
    }

    pub async fn terminate(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
        reason: &str,
        details: Option<Payloads>,
        identity: &str,
    ) -> ServiceResult<()> {
        self.update(namespace, workflow_id, run_id, |state, now| {
            Ok((state.terminate(now, reason, details, identity)?, ()))
        })
        .await
    }

    /// Deletes a run with its history; a running one is terminated first, like the real
    /// server does.
    pub async fn delete(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ServiceResult<()> {
        let terminated = self
            .terminate(
                namespace,
                workflow_id,
                run_id,
                "Delete workflow execution",
                None,
                "",
            )
            .await;
        match terminated {
            Ok(()) | Err(ServiceError::WorkflowClosed) => {}
            Err(error) => return Err(error),
        }
        let state = self.run_state(namespace, workflow_id, run_id).await?;
        let slot = self.slot(namespace, workflow_id);
        let mut current = slot.current.lock().await;
        self.store.delete_run(&state.run_id).await?;
        // The slot may cache the deleted run: read the workflow id afresh next time.
        current.loaded = false;
        current.state = None;
        self.timers.clear(&TimerKey::Run(state.run_id.clone()));
        drop(current);
        slot.changed.send_modify(|version| *version += 1);
        Ok(())
    }
}
