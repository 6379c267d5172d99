"""Workflows that schedules start in test_schedules.py."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError


@workflow.defn
class GreetWorkflow:
    """Greets, and says what the schedule's previous run returned."""

    @workflow.run
    async def run(self, name: str) -> str:
        previous = None
        if workflow.has_last_completion_result():
            previous = workflow.get_last_completion_result(str)
        return f"hello {name} (after {previous})"


@workflow.defn
class HoldWorkflow:
    """Runs until signalled, so that the schedule's next start overlaps it."""

    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.released)
        return "released"

    @workflow.signal
    def release(self) -> None:
        self.released = True


@workflow.defn
class FailWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("scheduled failure", non_retryable=True)


@workflow.defn
class NapWorkflow:
    """Sleeps an hour of workflow time (time skipping makes it short)."""

    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(timedelta(hours=1).total_seconds())
        return workflow.now().isoformat()
