"""A workflow outlives the worker that started it: the server must take its next task away
from the old worker's sticky queue and hand the full history to a new worker."""

import subprocess
import sys
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities import RUNS, record
from support import unique, wait_for_event
from workflows import StepsWorkflow

TIMER_SECONDS = 3


async def started_identities(handle: WorkflowHandle) -> list[str]:
    """Identity of the worker that started each activity, in order."""
    history = await handle.fetch_history()
    return [
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]


def steps_worker(client: Client, task_queue: str, identity: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[StepsWorkflow],
        activities=[record],
        identity=identity,
    )


async def test_new_worker_after_graceful_shutdown(client, task_queue):
    workflow_id = unique("restart")
    async with steps_worker(client, task_queue, "first-worker"):
        handle = await client.start_workflow(
            StepsWorkflow.run, TIMER_SECONDS, id=workflow_id, task_queue=task_queue
        )
        # The first activity is done and the run waits on its timer, cached by this worker.
        await wait_for_event(handle, "TIMER_STARTED")

    async with steps_worker(client, task_queue, "second-worker"):
        assert await handle.result() == "done"
    assert RUNS[(workflow_id, "before")] == 1
    assert RUNS[(workflow_id, "after")] == 1
    assert await started_identities(handle) == ["first-worker", "second-worker"]


async def test_new_worker_after_first_is_killed(server, client, task_queue):
    # A killed worker never says goodbye: its sticky queue is only abandoned when the
    # sticky schedule-to-start timeout (10 s) expires.
    workflow_id = unique("killed")
    killed = subprocess.Popen(
        [sys.executable, "worker_process.py", server.target, task_queue, "killed-worker"],
        cwd=Path(__file__).parent,
    )
    try:
        handle = await client.start_workflow(
            StepsWorkflow.run, TIMER_SECONDS, id=workflow_id, task_queue=task_queue
        )
        await wait_for_event(handle, "TIMER_STARTED")
    finally:
        killed.kill()
        killed.wait()

    async with steps_worker(client, task_queue, "second-worker"):
        assert await handle.result() == "done"
    assert RUNS[(workflow_id, "after")] == 1
    assert await started_identities(handle) == ["killed-worker", "second-worker"]
