"""Activities completed from outside the worker (`activity.raise_complete_async()`), by task
token and by workflow id + activity id."""

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.errordetails.v1 import NotFoundFailure
from temporalio.client import (
    AsyncActivityCancelledError,
    AsyncActivityHandle,
    Client,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from lifecycle_activities import TASK_TOKENS, complete_later
from lifecycle_workflows import AsyncCompletionWorkflow
from support import event_types, unique, wait_for_event

ACTIVITY_ID = "async-activity"  # the id AsyncCompletionWorkflow gives its activity

FIRST_TASK = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
]
WORKFLOW_TASK = ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]


async def start(client: Client, task_queue: str) -> tuple[WorkflowHandle, bytes]:
    """Starts AsyncCompletionWorkflow; returns it and, once the activity ran, its task token."""
    workflow_id = unique("async")
    handle = await client.start_workflow(
        AsyncCompletionWorkflow.run, "input", id=workflow_id, task_queue=task_queue
    )
    for _ in range(200):
        if workflow_id in TASK_TOKENS:
            return handle, TASK_TOKENS[workflow_id]
        await asyncio.sleep(0.05)
    raise AssertionError(f"the activity of {workflow_id} never ran")


def by_id(client: Client, handle: WorkflowHandle, with_run_id: bool = True) -> AsyncActivityHandle:
    run_id = handle.result_run_id if with_run_id else None
    return client.get_async_activity_handle(
        workflow_id=handle.id, run_id=run_id, activity_id=ACTIVITY_ID
    )


def worker(client: Client, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AsyncCompletionWorkflow],
        activities=[complete_later],
    )


async def the_event(handle: WorkflowHandle, event_type: EventType.ValueType):
    history = await handle.fetch_history()
    return next(e for e in history.events if e.event_type == event_type)


ACTIVITY_CLOSED = [
    *FIRST_TASK,
    "ACTIVITY_TASK_SCHEDULED",
    "ACTIVITY_TASK_STARTED",
]


async def test_complete_by_task_token(client, task_queue):
    async with worker(client, task_queue):
        handle, token = await start(client, task_queue)
        activity = client.get_async_activity_handle(task_token=token)
        await activity.complete("completed from outside")
        assert await handle.result() == "completed from outside"
    assert await event_types(handle) == [
        *ACTIVITY_CLOSED,
        "ACTIVITY_TASK_COMPLETED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    completed = await the_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    attributes = completed.activity_task_completed_event_attributes
    assert (attributes.scheduled_event_id, attributes.started_event_id) == (5, 6)
    assert attributes.identity == client.identity

    # The activity is gone, and so is the workflow.
    with pytest.raises(RPCError) as err:
        await activity.complete("again")
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert err.value.message == "workflow execution already completed"
    assert err.value.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)


@pytest.mark.parametrize("with_run_id", [True, False], ids=["with-run-id", "without-run-id"])
async def test_complete_by_activity_id(client, task_queue, with_run_id):
    async with worker(client, task_queue):
        handle, _ = await start(client, task_queue)
        await by_id(client, handle, with_run_id).complete("completed by id")
        assert await handle.result() == "completed by id"
    assert await event_types(handle) == [
        *ACTIVITY_CLOSED,
        "ACTIVITY_TASK_COMPLETED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_complete_by_id_before_the_activity_started(client, task_queue):
    # A worker for the workflow only: nobody polls the activity.
    async with Worker(client, task_queue=task_queue, workflows=[AsyncCompletionWorkflow]):
        handle = await client.start_workflow(
            AsyncCompletionWorkflow.run, "input", id=unique("async"), task_queue=task_queue
        )
        await wait_for_event(handle, "ACTIVITY_TASK_SCHEDULED")
        await by_id(client, handle).complete("completed before it started")
        assert await handle.result() == "completed before it started"
    # The server records a start for the attempt it completes.
    assert await event_types(handle) == [
        *ACTIVITY_CLOSED,
        "ACTIVITY_TASK_COMPLETED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    started = await the_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.scheduled_event_id == 5
    assert started.activity_task_started_event_attributes.attempt == 1


async def test_fail_by_task_token(client, task_queue):
    async with worker(client, task_queue):
        handle, token = await start(client, task_queue)
        await client.get_async_activity_handle(task_token=token).fail(
            ApplicationError("broken outside", type="Outside")
        )
        # The activity allows one attempt, so the failure reaches the workflow.
        assert await handle.result() == "failed: broken outside (Outside)"
    assert await event_types(handle) == [
        *ACTIVITY_CLOSED,
        "ACTIVITY_TASK_FAILED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    failed = await the_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    attributes = failed.activity_task_failed_event_attributes
    assert attributes.failure.message == "broken outside"
    assert attributes.failure.application_failure_info.type == "Outside"
    assert (attributes.scheduled_event_id, attributes.started_event_id) == (5, 6)


async def test_fail_by_activity_id(client, task_queue):
    async with worker(client, task_queue):
        handle, _ = await start(client, task_queue)
        await by_id(client, handle).fail(ApplicationError("broken by id", type="Outside"))
        assert await handle.result() == "failed: broken by id (Outside)"
    assert "ACTIVITY_TASK_FAILED" in await event_types(handle)


@pytest.mark.parametrize("how", ["task-token", "activity-id"])
async def test_heartbeat_records_details(client, task_queue, how):
    async with worker(client, task_queue):
        handle, token = await start(client, task_queue)
        if how == "task-token":
            activity = client.get_async_activity_handle(task_token=token)
        else:
            activity = by_id(client, handle)
        await activity.heartbeat("halfway", 50)

        [pending] = (await handle.describe()).raw_description.pending_activities
        assert pending.activity_id == ACTIVITY_ID
        details = await DataConverter.default.decode(pending.heartbeat_details.payloads)
        assert details == ["halfway", 50]
        assert pending.HasField("last_heartbeat_time")

        await activity.complete("done after heartbeat")
        assert await handle.result() == "done after heartbeat"
    # Heartbeats leave no events.
    assert await event_types(handle) == [
        *ACTIVITY_CLOSED,
        "ACTIVITY_TASK_COMPLETED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


@pytest.mark.parametrize("how", ["task-token", "activity-id"])
async def test_report_cancellation(client, task_queue, how):
    async with worker(client, task_queue):
        handle, token = await start(client, task_queue)
        if how == "task-token":
            activity = client.get_async_activity_handle(task_token=token)
        else:
            activity = by_id(client, handle)

        # Only an activity the workflow asked to cancel can be reported cancelled.
        with pytest.raises(RPCError) as err:
            await activity.report_cancellation("too early")
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT

        await handle.cancel()
        await wait_for_event(handle, "ACTIVITY_TASK_CANCEL_REQUESTED")
        # A heartbeat is how the activity learns it was cancelled.
        with pytest.raises(AsyncActivityCancelledError):
            await activity.heartbeat()
        await activity.report_cancellation("gave up")

        # The workflow re-raises the activity's cancellation: it is cancelled.
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
    assert await event_types(handle) == [
        *FIRST_TASK,
        "ACTIVITY_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        *WORKFLOW_TASK,
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_CANCELED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    canceled = await the_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
    attributes = canceled.activity_task_canceled_event_attributes
    assert await DataConverter.default.decode(attributes.details.payloads) == ["gave up"]
    assert attributes.scheduled_event_id == 5
    assert attributes.latest_cancel_requested_event_id == 10
    assert attributes.started_event_id == 11


async def test_unknown_activity_and_bad_token(client, task_queue):
    async with worker(client, task_queue):
        handle, token = await start(client, task_queue)

        unknown_activity = client.get_async_activity_handle(
            workflow_id=handle.id, run_id=handle.result_run_id, activity_id="no-such-activity"
        )
        for request in (
            unknown_activity.complete("nothing to complete"),
            unknown_activity.heartbeat(),
            unknown_activity.fail(ApplicationError("nothing to fail")),
        ):
            with pytest.raises(RPCError) as err:
                await request
            assert err.value.status == RPCStatusCode.NOT_FOUND
            assert err.value.message == (
                "cannot find pending activity with ActivityID no-such-activity, "
                "check workflow execution history for more details"
            )
            assert err.value.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)

        unknown_workflow_id = unique("unknown")
        with pytest.raises(RPCError) as err:
            await client.get_async_activity_handle(
                workflow_id=unknown_workflow_id, run_id=None, activity_id=ACTIVITY_ID
            ).complete("nothing to complete")
        assert err.value.status == RPCStatusCode.NOT_FOUND
        assert err.value.message == f"workflow not found for ID: {unknown_workflow_id}"

        with pytest.raises(RPCError) as err:
            await client.get_async_activity_handle(task_token=b"not a task token").complete("x")
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT

        # None of that touched the real activity, which still completes.
        await client.get_async_activity_handle(task_token=token).complete("still there")
        assert await handle.result() == "still there"
