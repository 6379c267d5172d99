"""Workflows for the lifecycle tests: cancellation, terminate, async activity completion,
signals and queries. Kept apart from workflows.py so that each area stays readable."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from lifecycle_activities import cleanup, complete_later, heartbeat_until_cancelled

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class WaitForCancelWorkflow:
    """Waits until cancelled, then, depending on `on_cancel`:
    "raise"              re-raises the CancelledError (the run closes CANCELED);
    "return"             ignores it and returns a value (the run completes);
    "cleanup_and_raise"  runs an activity first, then re-raises."""

    @workflow.run
    async def run(self, on_cancel: str) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            if on_cancel == "return":
                return "returned after cancel"
            if on_cancel == "cleanup_and_raise":
                await workflow.execute_activity(cleanup, start_to_close_timeout=ACTIVITY_TIMEOUT)
            raise
        return "unreachable"


@workflow.defn
class CancelActivityWorkflow:
    """Runs `heartbeat_until_cancelled` (on `task_queue`, or the workflow's own) until the
    workflow is cancelled, then returns what the awaiting code saw."""

    @workflow.run
    async def run(self, cancellation_type: str, task_queue: str | None = None) -> str:
        try:
            await workflow.execute_activity(
                heartbeat_until_cancelled,
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=timedelta(seconds=1),
                retry_policy=RetryPolicy(maximum_attempts=1),
                cancellation_type=ActivityCancellationType[cancellation_type],
            )
        except ActivityError as err:
            return f"ActivityError caused by {type(err.cause).__name__}"
        return "activity finished"


@workflow.defn
class AsyncCompletionWorkflow:
    """Runs `complete_later`, which the test completes; returns its result or its error."""

    @workflow.run
    async def run(self, name: str) -> str:
        try:
            return await workflow.execute_activity(
                complete_later,
                name,
                activity_id="async-activity",
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=1),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                return f"failed: {cause.message} ({cause.type})"
            raise


@workflow.defn
class SignalsWorkflow:
    """Collects signals until `finish` is signalled, then returns them in arrival order."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.finished = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.finished and workflow.all_handlers_finished())
        return self.received

    @workflow.signal
    def add(self, value: str) -> None:
        self.received.append(value)

    @workflow.signal
    def add_many(self, value: str, times: int) -> None:
        self.received.extend([value] * times)

    @workflow.signal
    async def add_after_activity(self, value: str) -> None:
        result = await workflow.execute_activity(cleanup, start_to_close_timeout=ACTIVITY_TIMEOUT)
        self.received.append(f"{value} {result}")

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.query
    def values(self) -> list[str]:
        return self.received


@workflow.defn
class QueriesWorkflow:
    """Holds a value that a signal sets and queries read; `finish` ends it, `fail` fails it."""

    def __init__(self) -> None:
        self.value = "initial"
        self.outcome: str | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.outcome is not None)
        if self.outcome == "fail":
            raise ApplicationError("failed on request", type="Requested")
        return self.value

    @workflow.signal
    def set_value(self, value: str) -> None:
        self.value = value

    @workflow.signal
    def finish(self, outcome: str) -> None:
        self.outcome = outcome

    @workflow.query
    def get_value(self) -> str:
        return self.value

    @workflow.query
    def broken(self) -> str:
        raise ApplicationError("this query always fails", type="BrokenQuery")
