"""Signals: before and after the first workflow task, in order, with arguments, to async
handlers, signal-with-start, and to workflows that do not exist or have closed."""

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.errordetails.v1 import NotFoundFailure
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from lifecycle_activities import cleanup
from lifecycle_workflows import SignalsWorkflow
from support import event_types, unique, wait_for_event

FIRST_TASK = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
]
WORKFLOW_TASK = ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]


async def wait_for_count(handle: WorkflowHandle, wanted: str, count: int, timeout: float = 30):
    """Poll the history until it holds `count` events of the given type."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await event_types(handle)).count(wanted) < count:
        assert asyncio.get_running_loop().time() < deadline, f"fewer than {count} {wanted}"
        await asyncio.sleep(0.1)


async def signals_in_history(handle: WorkflowHandle) -> list[tuple[str, list]]:
    """(signal name, decoded arguments) of each WORKFLOW_EXECUTION_SIGNALED, in order."""
    history = await handle.fetch_history()
    return [
        (
            attributes.signal_name,
            await DataConverter.default.decode(attributes.input.payloads),
        )
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        for attributes in [e.workflow_execution_signaled_event_attributes]
    ]


def assert_not_found(err: RPCError, message: str) -> None:
    assert err.status == RPCStatusCode.NOT_FOUND
    assert err.message == message
    assert err.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)


async def test_signals_before_the_first_workflow_task(client, task_queue):
    # No worker yet: every signal lands while the first workflow task is still scheduled.
    handle = await client.start_workflow(
        SignalsWorkflow.run, id=unique("signals"), task_queue=task_queue
    )
    await handle.signal(SignalsWorkflow.add, "a")
    await handle.signal(SignalsWorkflow.add_many, args=["b", 2])
    await handle.signal(SignalsWorkflow.finish)
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
    ]

    async with Worker(client, task_queue=task_queue, workflows=[SignalsWorkflow]):
        # One workflow task sees all three, in order.
        assert await handle.result() == ["a", "b", "b"]
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert await signals_in_history(handle) == [
        ("add", ["a"]),
        ("add_many", ["b", 2]),
        ("finish", []),
    ]
    history = await handle.fetch_history()
    signaled = history.events[2].workflow_execution_signaled_event_attributes
    assert signaled.identity == client.identity


async def test_signal_after_the_first_workflow_task(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[SignalsWorkflow]):
        handle = await client.start_workflow(
            SignalsWorkflow.run, id=unique("signals"), task_queue=task_queue
        )
        await wait_for_event(handle, "WORKFLOW_TASK_COMPLETED")
        await handle.signal(SignalsWorkflow.add, "late")
        await wait_for_count(handle, "WORKFLOW_TASK_COMPLETED", 2)
        await handle.signal(SignalsWorkflow.finish)
        assert await handle.result() == ["late"]
    assert await event_types(handle) == [
        *FIRST_TASK,
        "WORKFLOW_EXECUTION_SIGNALED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_SIGNALED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_many_signals_arrive_in_order(client, task_queue):
    values = [f"signal-{i}" for i in range(10)]
    async with Worker(client, task_queue=task_queue, workflows=[SignalsWorkflow]):
        handle = await client.start_workflow(
            SignalsWorkflow.run, id=unique("signals"), task_queue=task_queue
        )
        for value in values:
            await handle.signal(SignalsWorkflow.add, value)
        await handle.signal(SignalsWorkflow.finish)
        assert await handle.result() == values
    # How the signals are spread over workflow tasks depends on timing; their order does not.
    assert await signals_in_history(handle) == [
        *(("add", [value]) for value in values),
        ("finish", []),
    ]
    events = await event_types(handle)
    assert events[:2] == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    assert events[-2:] == ["WORKFLOW_TASK_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"]


async def test_signal_with_several_arguments(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[SignalsWorkflow]):
        handle = await client.start_workflow(
            SignalsWorkflow.run, id=unique("signals"), task_queue=task_queue
        )
        await handle.signal(SignalsWorkflow.add_many, args=["x", 3])
        await handle.signal("add_many", args=["y", 1])  # by name
        await handle.signal(SignalsWorkflow.finish)
        assert await handle.result() == ["x", "x", "x", "y"]
    assert await signals_in_history(handle) == [
        ("add_many", ["x", 3]),
        ("add_many", ["y", 1]),
        ("finish", []),
    ]


async def test_async_signal_handler_runs_an_activity(client, task_queue):
    async with Worker(
        client, task_queue=task_queue, workflows=[SignalsWorkflow], activities=[cleanup]
    ):
        handle = await client.start_workflow(
            SignalsWorkflow.run, id=unique("signals"), task_queue=task_queue
        )
        await wait_for_event(handle, "WORKFLOW_TASK_COMPLETED")
        await handle.signal(SignalsWorkflow.add_after_activity, "handled")
        # Let the handler finish (its activity, then the workflow task after it) first.
        await wait_for_count(handle, "WORKFLOW_TASK_COMPLETED", 3)
        await handle.signal(SignalsWorkflow.finish)
        assert await handle.result() == ["handled cleaned up"]
    assert await event_types(handle) == [
        *FIRST_TASK,
        "WORKFLOW_EXECUTION_SIGNALED",
        *WORKFLOW_TASK,
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_SIGNALED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_signal_with_start_new_workflow(client, task_queue):
    handle = await client.start_workflow(
        SignalsWorkflow.run,
        id=unique("signal-with-start"),
        task_queue=task_queue,
        start_signal="add",
        start_signal_args=["from start"],
    )
    # The signal is recorded before the first workflow task is scheduled.
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert (await handle.describe()).run_id == handle.result_run_id
    async with Worker(client, task_queue=task_queue, workflows=[SignalsWorkflow]):
        await wait_for_event(handle, "WORKFLOW_TASK_COMPLETED")
        await handle.signal(SignalsWorkflow.finish)
        assert await handle.result() == ["from start"]
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_SIGNALED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_signal_with_start_running_workflow(client, task_queue):
    workflow_id = unique("signal-with-start")
    first = await client.start_workflow(
        SignalsWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        start_signal="add",
        start_signal_args=["first"],
    )
    # The workflow is running, so this only signals it: same run, no second start.
    second = await client.start_workflow(
        SignalsWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        start_signal="add",
        start_signal_args=["second"],
    )
    assert second.result_run_id == first.result_run_id
    assert await event_types(first) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_SIGNALED",
    ]
    async with Worker(client, task_queue=task_queue, workflows=[SignalsWorkflow]):
        await first.signal(SignalsWorkflow.finish)
        assert await first.result() == ["first", "second"]

        # Once it has closed, signal-with-start starts a new run.
        third = await client.start_workflow(
            SignalsWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            start_signal="add",
            start_signal_args=["third"],
        )
        assert third.result_run_id != first.result_run_id
        await third.signal(SignalsWorkflow.finish)
        assert await third.result() == ["third"]


async def test_signal_unknown_workflow(client):
    workflow_id = unique("unknown")
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(workflow_id).signal(SignalsWorkflow.add, "lost")
    assert_not_found(err.value, f"workflow not found for ID: {workflow_id}")


async def test_signal_closed_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[SignalsWorkflow]):
        handle = await client.start_workflow(
            SignalsWorkflow.run,
            id=unique("signals"),
            task_queue=task_queue,
            start_signal="finish",
        )
        assert await handle.result() == []
    before = await event_types(handle)
    for target in (handle, client.get_workflow_handle(handle.id)):
        with pytest.raises(RPCError) as err:
            await target.signal(SignalsWorkflow.add, "too late")
        assert_not_found(err.value, "workflow execution already completed")
    assert await event_types(handle) == before
