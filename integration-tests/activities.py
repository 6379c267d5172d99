"""Activities used by the tests, and what they record about their runs.

Activities run in the test process, outside the workflow sandbox, so a test reads these
records directly once its workflow has finished. Records are keyed by workflow id, so tests
do not see each other's runs.
"""

import asyncio
from collections import Counter, defaultdict

from temporalio import activity
from temporalio.exceptions import ApplicationError

# workflow id -> attempt numbers `flaky` saw, in order
ATTEMPTS: defaultdict[str, list[int]] = defaultdict(list)
# (workflow id, step) -> how many times `record` ran for that step
RUNS: Counter[tuple[str, str]] = Counter()
# workflow ids whose first workflow task has already failed (written by FailFirstTaskWorkflow)
FAILED_FIRST_TASK: set[str] = set()


@activity.defn
def greet(name: str) -> str:
    """The Quick Start activity: synchronous, so the worker needs an activity executor."""
    return f"Hello, {name}!"


@activity.defn
async def flaky(failures: int) -> str:
    info = activity.info()
    ATTEMPTS[info.workflow_id].append(info.attempt)
    if info.attempt <= failures:
        raise ApplicationError(f"attempt {info.attempt} failed")
    return f"succeeded on attempt {info.attempt}"


@activity.defn
async def record(step: str) -> None:
    RUNS[(activity.info().workflow_id, step)] += 1


@activity.defn
async def echo(value: int) -> int:
    return value


@activity.defn
async def stall_after_checkpoint() -> str:
    """The first attempt heartbeats once, then stops heartbeating; the retry resumes."""
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat("checkpoint")
        await asyncio.sleep(60)
        return "the stalled attempt finished"
    return f"attempt {info.attempt} resumed from {info.heartbeat_details[0]}"
