//! Which buffered starts run now, under their overlap policies, as the real scheduler
//! decides it.

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::enums::v1::ScheduleOverlapPolicy;

use crate::engine::Millis;

/// An action waiting to be taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferedStart {
    /// The time the spec gave (or the trigger's); the started workflow's id and
    /// `TemporalScheduledStartTime` carry it.
    pub nominal: Millis,
    /// The nominal time plus jitter: when it was due.
    pub actual: Millis,
    /// Unspecified means the schedule's policy at the time the start is taken.
    pub overlap_policy: i32,
    /// A trigger or a backfill: taken even when paused or out of actions.
    pub manual: bool,
}

/// What to do with the buffer now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BufferDecision {
    /// Starts to take now: the ALLOW_ALL ones, then at most one other.
    pub overlapping: Vec<BufferedStart>,
    pub non_overlapping: Option<BufferedStart>,
    /// What stays buffered, waiting for the running workflow to close.
    pub remaining: Vec<BufferedStart>,
    pub cancel_running: bool,
    pub terminate_running: bool,
    /// Starts dropped because another workflow was running.
    pub overlap_skipped: i64,
}

/// Applies each start's overlap policy (`resolve` turns Unspecified into the schedule's);
/// `running` says whether a workflow the schedule started is still open.
pub fn decide(
    buffer: Vec<BufferedStart>,
    running: bool,
    resolve: impl Fn(i32) -> ScheduleOverlapPolicy,
) -> BufferDecision {
    let mut decision = BufferDecision::default();
    for start in buffer {
        let policy = resolve(start.overlap_policy);
        if policy == ScheduleOverlapPolicy::AllowAll {
            decision.overlapping.push(start);
            continue;
        }
        // Nothing runs: the first of the others starts whatever its policy.
        if !running && decision.non_overlapping.is_none() {
            decision.non_overlapping = Some(start);
            continue;
        }
        match policy {
            ScheduleOverlapPolicy::BufferOne if decision.remaining.is_empty() => {
                decision.remaining.push(start);
            }
            ScheduleOverlapPolicy::BufferAll => decision.remaining.push(start),
            ScheduleOverlapPolicy::CancelOther | ScheduleOverlapPolicy::TerminateOther
                if running =>
            {
                // Started once the running workflow has closed.
                if policy == ScheduleOverlapPolicy::CancelOther {
                    decision.cancel_running = true;
                } else {
                    decision.terminate_running = true;
                }
                decision.remaining.push(start);
            }
            // Not running yet, only chosen: the newer start replaces it.
            ScheduleOverlapPolicy::CancelOther | ScheduleOverlapPolicy::TerminateOther => {
                decision.non_overlapping = Some(start);
            }
            _ => decision.overlap_skipped += 1,
        }
    }
    // Whatever runs is about to be cancelled or terminated, so overlapping starts would be
    // too: none are taken.
    if decision.cancel_running || decision.terminate_running {
        decision.overlapping.clear();
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(nominal: Millis, policy: ScheduleOverlapPolicy) -> BufferedStart {
        BufferedStart {
            nominal,
            actual: nominal,
            overlap_policy: policy as i32,
            manual: false,
        }
    }

    fn as_is(policy: i32) -> ScheduleOverlapPolicy {
        ScheduleOverlapPolicy::try_from(policy).unwrap()
    }

    use ScheduleOverlapPolicy::*;

    #[test]
    fn with_nothing_running_the_first_starts_and_skip_drops_the_rest() {
        let decision = decide(vec![start(1, Skip), start(2, Skip)], false, as_is);
        assert_eq!(decision.non_overlapping, Some(start(1, Skip)));
        assert_eq!(decision.overlap_skipped, 1);
        assert!(decision.remaining.is_empty());
    }

    #[test]
    fn buffer_one_keeps_the_first_and_buffer_all_keeps_every_start() {
        let one = decide(
            vec![
                start(1, BufferOne),
                start(2, BufferOne),
                start(3, BufferOne),
            ],
            true,
            as_is,
        );
        assert_eq!(one.remaining, [start(1, BufferOne)]);
        assert_eq!(one.overlap_skipped, 2);
        let all = decide(vec![start(1, BufferAll), start(2, BufferAll)], true, as_is);
        assert_eq!(all.remaining.len(), 2);
        assert_eq!(all.non_overlapping, None);
    }

    #[test]
    fn cancel_and_terminate_act_on_a_running_workflow_or_replace_the_chosen_start() {
        let cancel = decide(vec![start(1, CancelOther)], true, as_is);
        assert!(cancel.cancel_running && !cancel.terminate_running);
        assert_eq!(cancel.remaining, [start(1, CancelOther)]);
        let replaced = decide(
            vec![start(1, TerminateOther), start(2, TerminateOther)],
            false,
            as_is,
        );
        assert_eq!(replaced.non_overlapping, Some(start(2, TerminateOther)));
        assert!(!replaced.terminate_running);
    }

    #[test]
    fn allow_all_starts_everything_unless_something_is_being_cancelled() {
        let all = decide(vec![start(1, AllowAll), start(2, AllowAll)], true, as_is);
        assert_eq!(all.overlapping.len(), 2);
        let mixed = decide(
            vec![start(1, AllowAll), start(2, TerminateOther)],
            true,
            as_is,
        );
        assert!(mixed.overlapping.is_empty() && mixed.terminate_running);
    }

    #[test]
    fn unspecified_resolves_to_the_schedule_policy() {
        let decision = decide(
            vec![start(1, Unspecified), start(2, Unspecified)],
            true,
            |_| BufferAll,
        );
        assert_eq!(decision.remaining.len(), 2);
    }
}
