"""Workflows and activities for the time-skipping tests (test_time_skipping.py).

The workflows report `workflow.now()` at the points that matter, as POSIX seconds, so a
test can tell how much workflow (virtual) time passed between them. The activities run in
the test process; `EnvActivities` holds the WorkflowEnvironment so an activity can drive
the test server's clock itself, as the SDK's own time-skipping tests do.
"""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

ACTIVITY_TIMEOUT = timedelta(seconds=30)


# --- activities ------------------------------------------------------------------------


@activity.defn
async def scheduled_at() -> float:
    """When the server says this attempt was scheduled: workflow time, not wall time."""
    return activity.info().current_attempt_scheduled_time.timestamp()


@activity.defn
async def fail_first_attempt() -> int:
    """Fails attempt 1, succeeds on later attempts; returns the attempt that succeeded."""
    attempt = activity.info().attempt
    if attempt == 1:
        raise ApplicationError("attempt 1 fails on purpose")
    return attempt


class EnvActivities:
    """Activities that need the WorkflowEnvironment (V1)."""

    def __init__(self, env) -> None:
        self.env = env

    @activity.defn
    async def sleep_past_heartbeat_timeout(self) -> str:
        """Never heartbeats; skips the environment's clock to twice the heartbeat timeout."""
        timeout = activity.info().heartbeat_timeout
        assert timeout
        await self.env.sleep(timeout * 2)
        return "not timed out"


# --- workflows -------------------------------------------------------------------------


@workflow.defn
class LongSleepWorkflow:
    """One timer of `seconds`; returns workflow.now() before and after it."""

    @workflow.run
    async def run(self, seconds: float) -> dict[str, float]:
        start = workflow.now().timestamp()
        await asyncio.sleep(seconds)
        return {"start": start, "end": workflow.now().timestamp()}


@workflow.defn
class TimerThenActivityWorkflow:
    """A timer of `seconds`, then an activity that reports when it was scheduled."""

    @workflow.run
    async def run(self, seconds: float) -> dict[str, float]:
        start = workflow.now().timestamp()
        await workflow.sleep(seconds)
        after_timer = workflow.now().timestamp()
        activity_scheduled = await workflow.execute_activity(
            scheduled_at, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        return {
            "start": start,
            "after_timer": after_timer,
            "activity_scheduled": activity_scheduled,
            "end": workflow.now().timestamp(),
        }


@workflow.defn
class SleepingChildParentWorkflow:
    """Runs LongSleepWorkflow(`seconds`) as a child and waits for it."""

    @workflow.run
    async def run(self, child_id: str, seconds: float) -> dict[str, float]:
        start = workflow.now().timestamp()
        child = await workflow.execute_child_workflow(LongSleepWorkflow.run, seconds, id=child_id)
        return {
            "start": start,
            "child_start": child["start"],
            "child_end": child["end"],
            "end": workflow.now().timestamp(),
        }


@workflow.defn
class RetryBackoffWorkflow:
    """Runs `fail_first_attempt` with a 2-hour retry interval; returns the attempt that
    succeeded and workflow.now() before and after."""

    @workflow.run
    async def run(self) -> dict[str, float]:
        start = workflow.now().timestamp()
        attempt = await workflow.execute_activity(
            fail_first_attempt,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(hours=2), backoff_coefficient=1.0, maximum_attempts=3
            ),
        )
        return {"attempt": attempt, "start": start, "end": workflow.now().timestamp()}


@workflow.defn
class ClockWorkflow:
    """Sleeps `seconds` (default: longer than any test); its query reads workflow.now(),
    and its signal gives it a workflow task so that the time the query sees is fresh."""

    @workflow.run
    async def run(self, seconds: float = 100_000) -> str:
        await asyncio.sleep(seconds)
        return "all done"

    @workflow.query
    def current_time(self) -> float:
        return workflow.now().timestamp()

    @workflow.signal
    async def poke(self) -> None:
        pass

    @workflow.update
    async def nap(self, seconds: float) -> float:
        """Sleeps `seconds` in the workflow; answers with workflow.now() after."""
        await asyncio.sleep(seconds)
        return workflow.now().timestamp()


@workflow.defn
class HeartbeatTimeoutWorkflow:
    """One attempt of an activity with a 20 s heartbeat timeout that never heartbeats."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity_method(
            EnvActivities.sleep_past_heartbeat_timeout,
            schedule_to_close_timeout=timedelta(seconds=1000),
            heartbeat_timeout=timedelta(seconds=20),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
