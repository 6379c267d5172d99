"""Durable timers: one that fires, one that is cancelled."""

from temporalio.worker import Worker

from support import event_types, unique
from workflows import SleepWorkflow, TimeoutWorkflow


async def test_timer_fires(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[SleepWorkflow]):
        handle = await client.start_workflow(
            SleepWorkflow.run, 2, id=unique("sleep"), task_queue=task_queue
        )
        assert await handle.result() == "slept 2s"
    events = await event_types(handle)
    assert events.index("TIMER_STARTED") < events.index("TIMER_FIRED")
    assert events[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_timer_cancelled(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[TimeoutWorkflow]):
        handle = await client.start_workflow(
            TimeoutWorkflow.run, id=unique("timeout"), task_queue=task_queue
        )
        assert await handle.result() == "timed out"
    events = await event_types(handle)
    # The 100 s sleep and the 0.5 s wait_for deadline; the deadline fires, the sleep is cancelled.
    assert events.count("TIMER_STARTED") == 2
    assert events.count("TIMER_FIRED") == 1
    assert events.count("TIMER_CANCELED") == 1
    assert events[-1] == "WORKFLOW_EXECUTION_COMPLETED"
