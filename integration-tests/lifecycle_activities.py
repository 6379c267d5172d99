"""Activities for the lifecycle tests (cancellation, async completion), and what they record.

Like activities.py, they run in the test process, so a test reads these records directly.
Records are keyed by workflow id.
"""

import asyncio

from temporalio import activity

# workflow id -> set once the activity is running (a test waits on it before cancelling)
RUNNING: dict[str, asyncio.Event] = {}
# workflow id -> what a cancelled activity saw: its cancellation details, as a dict
OBSERVED: dict[str, dict[str, bool]] = {}
# workflow id -> task token of the activity that will be completed from outside
TASK_TOKENS: dict[str, bytes] = {}


def running(workflow_id: str) -> asyncio.Event:
    return RUNNING.setdefault(workflow_id, asyncio.Event())


@activity.defn
async def heartbeat_until_cancelled() -> str:
    """Heartbeats until the server tells it (in a heartbeat response) that it is cancelled."""
    workflow_id = activity.info().workflow_id
    running(workflow_id).set()
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        OBSERVED[workflow_id] = {
            "cancel_requested": bool(details and details.cancel_requested),
            "not_found": bool(details and details.not_found),
        }
        raise


@activity.defn
async def complete_later(name: str) -> str:
    """Hands its task token to the test and leaves the completion to it."""
    info = activity.info()
    TASK_TOKENS[info.workflow_id] = info.task_token
    activity.raise_complete_async()


@activity.defn
async def cleanup() -> str:
    return "cleaned up"
