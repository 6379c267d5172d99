//! What time skipping needs to know of a run.

use super::MutableState;

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
                || !self.external_requests.is_empty())
    }
}
