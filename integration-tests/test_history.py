"""Reading histories: the result long poll across the server's poll interval, and paging,
including the history a workflow task carries."""

from datetime import timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskFailedRequest,
    SignalWorkflowExecutionRequest,
)
from temporalio.worker import Worker

from activities import echo
from support import event_type, unique
from workflows import SequenceWorkflow, SleepWorkflow

# Events a workflow task carries before the worker must fetch the rest (the real server's).
TASK_HISTORY_PAGE = 256


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


async def test_a_worker_without_a_cache_replays_long_histories_from_pages(client, task_queue):
    # Without a cache every task is replayed from event 1; past the first page the worker
    # fetches the rest with the token the task came with.
    count = 60
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[SequenceWorkflow],
        activities=[echo],
        max_cached_workflows=0,
    ):
        handle = await client.start_workflow(
            SequenceWorkflow.run, count, id=unique("paged-task"), task_queue=task_queue
        )
        assert await handle.result() == sum(range(count))
    assert len((await handle.fetch_history()).events) > TASK_HISTORY_PAGE


async def test_a_task_history_page_leads_to_the_rest_and_the_attempt_not_yet_written(
    client, task_queue
):
    service = client.workflow_service
    handle = await client.start_workflow(
        "Waiter", id=unique("task-pages"), task_queue=task_queue,
        task_timeout=timedelta(seconds=60),
    )  # fmt: skip
    signals = 300
    for n in range(signals):
        await service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=handle.id),
                signal_name="tick",
                identity="test",
                request_id=f"tick-{n}",
            )
        )

    def poll():
        return service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=task_queue), identity="test"
            )
        )

    first_attempt = await poll()
    await service.respond_workflow_task_failed(
        RespondWorkflowTaskFailedRequest(
            namespace=client.namespace,
            task_token=first_attempt.task_token,
            cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
            identity="test",
        )
    )
    # The retry's scheduled and started events are not written until it completes: they
    # come at the end of the last page, after every stored event.
    task = await poll()
    assert task.attempt == 2
    # The real server counts its pages in write batches, and its first batch holds two
    # events (started and the first task's scheduled).
    assert len(task.history.events) in (TASK_HISTORY_PAGE, TASK_HISTORY_PAGE + 1)
    assert task.next_page_token
    events = list(task.history.events)
    token = task.next_page_token
    while token:
        page = await service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=task.workflow_execution,
                next_page_token=token,
                maximum_page_size=100,
            )
        )
        events.extend(page.history.events)
        token = page.next_page_token
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    types = [e.event_type for e in events]
    assert types.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == signals
    assert types[-3:] == [
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    ]
    assert events[-1].event_id == task.started_event_id
    # An SDK reading the history (not the CLI, which shows what is stored) gets the same.
    assert list((await handle.fetch_history()).events) == events
