//! What the store tells an observer (the server's metrics): how long each operation took.
//! Operations are named like the real server's persistence operations where one does the
//! same thing.

use std::time::{Duration, Instant};

macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// One kind of work the store does.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation {
            $($(#[$doc])* $name,)*
        }

        impl Operation {
            pub const ALL: &[Operation] = &[$(Operation::$name,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }
        }
    };
}

operations! {
    ListNamespaces,
    CreateNamespace,
    ListSearchAttributes,
    AddSearchAttributes,
    RemoveSearchAttributes,
    ListNexusEndpoints,
    CreateNexusEndpoint,
    UpdateNexusEndpoint,
    DeleteNexusEndpoint,
    CreateSchedule,
    UpdateSchedule,
    DeleteSchedule,
    GetSchedule,
    ListSchedules,
    CountSchedules,
    /// Every schedule of every namespace, read at start.
    ListAllSchedules,
    GetCurrentExecution,
    GetWorkflowExecution,
    ReadHistoryBranch,
    ReadHistoryBranchReverse,
    /// Every waiting task, read at start.
    GetTasks,
    /// Every run's timer, read at start.
    GetTimers,
    CompleteTask,
    ListWorkflowExecutions,
    CountWorkflowExecutions,
    /// Runs of one status, per namespace.
    CountRunsWithStatus,
    DeleteWorkflowExecution,
    /// One transaction writing a change of a run's state (the real server's
    /// CreateWorkflowExecution and UpdateWorkflowExecution).
    Commit,
}

/// Told how long each operation of a store took.
pub trait Observer: Send + Sync + std::fmt::Debug {
    fn observe(&self, operation: Operation, elapsed: Duration);
}

/// Tells the observer when dropped, so that an operation is reported however it ends:
/// done, failed, or abandoned by its caller.
pub(crate) struct Timing<'a> {
    pub(crate) observer: &'a dyn Observer,
    pub(crate) operation: Operation,
    pub(crate) started: Instant,
}

impl Drop for Timing<'_> {
    fn drop(&mut self) {
        self.observer
            .observe(self.operation, self.started.elapsed());
    }
}
