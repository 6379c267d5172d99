"""Activities for the workflow-composition tests (updates, children, continue-as-new,
workflow options), and what they record about their runs.

Like activities.py, this module is passed through the workflow sandbox, so the tests read
its records directly. Records are keyed by workflow id.
"""

import asyncio
from collections import defaultdict

from temporalio import activity

# workflow id -> the values `remember` was given, in order
REMEMBERED: defaultdict[str, list[str]] = defaultdict(list)
# keys `wait_until_released` may return for (the test adds them)
RELEASED: set[str] = set()


@activity.defn
async def remember(value: str) -> None:
    REMEMBERED[activity.info().workflow_id].append(value)


@activity.defn
async def wait_until_released(key: str) -> str:
    """Stays running (a pending activity) until the test releases the key."""
    while key not in RELEASED:
        await asyncio.sleep(0.05)
    return f"released {key}"


@activity.defn
async def pause(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"paused {seconds:g}s"
