"""Reading histories: the result long poll across the server's poll interval, and paging."""

from temporalio.worker import Worker

from activities import echo
from support import event_type, unique
from workflows import SequenceWorkflow, SleepWorkflow


async def test_result_outlasts_history_long_poll(client, task_queue):
    # The server ends each history long poll after about 20 s with an empty page and a
    # token; result() must keep waiting through that instead of failing.
    async with Worker(client, task_queue=task_queue, workflows=[SleepWorkflow]):
        handle = await client.start_workflow(
            SleepWorkflow.run, 25, id=unique("long"), task_queue=task_queue
        )
        assert await handle.result() == "slept 25s"


async def test_long_history_is_paged_completely(client, task_queue):
    count = 150
    async with Worker(
        client, task_queue=task_queue, workflows=[SequenceWorkflow], activities=[echo]
    ):
        handle = await client.start_workflow(
            SequenceWorkflow.run, count, id=unique("paging"), task_queue=task_queue
        )
        assert await handle.result() == sum(range(count))

    events = (await handle.fetch_history()).events
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    types = [event_type(e) for e in events]
    assert types.count("ACTIVITY_TASK_COMPLETED") == count
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"

    # Small pages must add up to the same history.
    paged = [e async for e in handle.fetch_history_events(page_size=37)]
    assert paged == list(events)
