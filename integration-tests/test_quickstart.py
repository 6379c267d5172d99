"""The SDK Quick Start shape: a workflow that runs one activity, and the SDK launching the
binary itself through WorkflowEnvironment.start_local."""

from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import greet
from support import event_type, unique
from workflows import GreetingWorkflow


async def test_workflow_returns_activity_result(client, task_queue):
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[GreetingWorkflow],
            activities=[greet],
            activity_executor=executor,
        ):
            handle = await client.start_workflow(
                GreetingWorkflow.run, "World", id=unique("greeting"), task_queue=task_queue
            )
            assert await handle.result() == "Hello, World!"

    history = await handle.fetch_history()
    assert [event_type(e) for e in history.events] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    # The first task goes to the task queue; once the worker has the run cached, the next one
    # goes to that worker's sticky queue.
    queues = [
        e.workflow_task_scheduled_event_attributes.task_queue
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]
    assert (queues[0].kind, queues[0].name) == (TaskQueueKind.TASK_QUEUE_KIND_NORMAL, task_queue)
    assert (queues[1].kind, queues[1].normal_name) == (
        TaskQueueKind.TASK_QUEUE_KIND_STICKY,
        task_queue,
    )
    # The worker records its SDK and flags in sdk_metadata; replays depend on getting it back.
    completions = [
        e.workflow_task_completed_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    assert completions[0].sdk_metadata.sdk_name == "temporal-python"
    assert completions[0].sdk_metadata.sdk_version == version("temporalio")


async def test_start_local_launches_binary(binary):
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(binary)) as env:
        task_queue = unique("tq")
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(
                env.client,
                task_queue=task_queue,
                workflows=[GreetingWorkflow],
                activities=[greet],
                activity_executor=executor,
            ):
                result = await env.client.execute_workflow(
                    GreetingWorkflow.run, "Local", id=unique("greeting"), task_queue=task_queue
                )
        assert result == "Hello, Local!"
