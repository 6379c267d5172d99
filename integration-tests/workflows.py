"""Workflows used by the tests.

They live in their own module (not in the test files) so the workflow sandbox can re-import
them cleanly; the activities module is passed through so that its records are shared with
the tests.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import activities
    from activities import echo, flaky, greet, record, stall_after_checkpoint

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class GreetingWorkflow:
    """The Quick Start workflow: one activity, its result is the workflow's result."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, schedule_to_close_timeout=ACTIVITY_TIMEOUT
        )


@workflow.defn
class EchoWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return value


@workflow.defn
class OutcomeWorkflow:
    @workflow.run
    async def run(self, fail: bool) -> str:
        if fail:
            raise ApplicationError("failed on purpose", type="Deliberate")
        return "succeeded"


@workflow.defn
class SleepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return f"slept {seconds:g}s"


@workflow.defn
class TimeoutWorkflow:
    """Starts a long timer and a short one; the short one firing cancels the long one."""

    @workflow.run
    async def run(self) -> str:
        try:
            await asyncio.wait_for(asyncio.sleep(100), 0.5)
        except TimeoutError:
            return "timed out"
        return "slept"


@workflow.defn
class RetryWorkflow:
    @workflow.run
    async def run(self, failures: int, max_attempts: int) -> str:
        return await workflow.execute_activity(
            flaky,
            failures,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=max_attempts,
            ),
        )


@workflow.defn
class StepsWorkflow:
    """Activity, timer, activity: a run that spans two workflow tasks after its first."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.execute_activity(record, "before", start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.sleep(seconds)
        await workflow.execute_activity(record, "after", start_to_close_timeout=ACTIVITY_TIMEOUT)
        return "done"


@workflow.defn
class SequenceWorkflow:
    @workflow.run
    async def run(self, count: int) -> int:
        total = 0
        for i in range(count):
            total += await workflow.execute_activity(
                echo, i, start_to_close_timeout=ACTIVITY_TIMEOUT
            )
        return total


@workflow.defn
class FailFirstTaskWorkflow:
    """Fails its first workflow task (a plain exception fails the task, not the workflow)."""

    @workflow.run
    async def run(self) -> str:
        workflow_id = workflow.info().workflow_id
        if workflow_id not in activities.FAILED_FIRST_TASK:
            activities.FAILED_FIRST_TASK.add(workflow_id)
            raise RuntimeError("first workflow task fails on purpose")
        return "recovered"


@workflow.defn
class HeartbeatWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            stall_after_checkpoint,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
