"""The workload of crash_under_load.py: each workflow runs an activity that fails before it
succeeds (retries), a timer, a signal, and a child workflow, and returns a result computed
from all of them, so a lost or doubled step shows in the result."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

MAX_ATTEMPTS = 4

# Every attempt that ran: (workflow id, attempt number). In-process, read by the script.
LEDGER: list[tuple[str, int]] = []


@activity.defn
async def charge(number: int) -> int:
    info = activity.info()
    LEDGER.append((info.workflow_id, info.attempt))
    if info.attempt < 1 + number % 3:
        raise RuntimeError(f"attempt {info.attempt} of workflow {number} fails on purpose")
    return number * 10


@workflow.defn
class DoubleWorkflow:
    @workflow.run
    async def run(self, number: int) -> int:
        return number * 2


@workflow.defn
class OrderWorkflow:
    def __init__(self) -> None:
        self.approved_by: str | None = None

    @workflow.signal
    def approve(self, by: str) -> None:
        self.approved_by = by

    @workflow.run
    async def run(self, number: int) -> str:
        charged = await workflow.execute_activity(
            charge,
            number,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=MAX_ATTEMPTS,
            ),
        )
        await workflow.sleep(timedelta(milliseconds=200 + number % 800))
        await workflow.wait_condition(lambda: self.approved_by is not None)
        doubled = await workflow.execute_child_workflow(
            DoubleWorkflow.run, number, id=f"{workflow.info().workflow_id}-child"
        )
        return f"{number}:{charged}:{doubled}:{self.approved_by}"


def expected_result(number: int) -> str:
    return f"{number}:{number * 10}:{number * 2}:tester"
