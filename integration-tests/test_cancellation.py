"""Cancelling and terminating workflows, deleting them, and cancelling their activities."""

import asyncio
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.errordetails.v1 import NotFoundFailure
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from lifecycle_activities import OBSERVED, cleanup, heartbeat_until_cancelled, running
from lifecycle_workflows import CancelActivityWorkflow, WaitForCancelWorkflow
from support import event_types, unique, wait_for_event
from workflows import EchoWorkflow

FIRST_TASK = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
]
WORKFLOW_TASK = ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]


async def start_waiting(client: Client, task_queue: str, on_cancel: str) -> WorkflowHandle:
    """Starts WaitForCancelWorkflow and waits until its first workflow task has run."""
    handle = await client.start_workflow(
        WaitForCancelWorkflow.run, on_cancel, id=unique("cancel"), task_queue=task_queue
    )
    await wait_for_event(handle, "WORKFLOW_TASK_COMPLETED")
    return handle


async def the_event(handle: WorkflowHandle, event_type: EventType.ValueType):
    history = await handle.fetch_history()
    return next(e for e in history.events if e.event_type == event_type)


def assert_not_found(err: RPCError, message: str) -> None:
    assert err.status == RPCStatusCode.NOT_FOUND
    assert err.message == message
    details = err.grpc_status.details
    assert len(details) == 1 and details[0].Is(NotFoundFailure.DESCRIPTOR)


def unrecorded(client: Client) -> Client:
    """The same connection without the session client's interceptors: the replay check after
    each test cannot replay the runs a test deleted, so such runs are started with this."""
    return Client(client.service_client, namespace=client.namespace)


async def delete(client: Client, workflow_id: str, run_id: str = "") -> None:
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )


async def test_cancelled_workflow_that_reraises_is_canceled(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[WaitForCancelWorkflow]):
        handle = await start_waiting(client, task_queue, "raise")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert await event_types(handle) == [
        *FIRST_TASK,
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    requested = await the_event(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
    requested_by = requested.workflow_execution_cancel_requested_event_attributes.identity
    assert requested_by == client.identity
    canceled = await the_event(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED)
    # It points at the workflow task that issued the CancelWorkflowExecution command.
    attributes = canceled.workflow_execution_canceled_event_attributes
    assert attributes.workflow_task_completed_event_id == 8


async def test_cancelled_workflow_that_returns_completes(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[WaitForCancelWorkflow]):
        handle = await start_waiting(client, task_queue, "return")
        await handle.cancel()
        assert await handle.result() == "returned after cancel"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await event_types(handle) == [
        *FIRST_TASK,
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_cancelled_workflow_runs_an_activity_before_it_closes(client, task_queue):
    async with Worker(
        client, task_queue=task_queue, workflows=[WaitForCancelWorkflow], activities=[cleanup]
    ):
        handle = await start_waiting(client, task_queue, "cleanup_and_raise")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert await event_types(handle) == [
        *FIRST_TASK,
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        *WORKFLOW_TASK,
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        *WORKFLOW_TASK,
        "WORKFLOW_EXECUTION_CANCELED",
    ]


async def test_cancel_before_the_first_workflow_task(client, task_queue):
    # No worker yet: the request lands while the first workflow task is still scheduled.
    handle = await client.start_workflow(
        WaitForCancelWorkflow.run, "raise", id=unique("cancel"), task_queue=task_queue
    )
    await handle.cancel()
    # A second request adds nothing: the workflow already has one.
    await handle.cancel()
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
    ]
    async with Worker(client, task_queue=task_queue, workflows=[WaitForCancelWorkflow]):
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_CANCELED",
    ]


async def test_terminate(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[WaitForCancelWorkflow]):
        handle = await start_waiting(client, task_queue, "raise")
        await handle.terminate("some detail", reason="enough waiting")
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, TerminatedError)
    assert cause.message == "enough waiting"
    assert cause.details == ("some detail",)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert await event_types(handle) == [*FIRST_TASK, "WORKFLOW_EXECUTION_TERMINATED"]
    terminated = await the_event(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED)
    attributes = terminated.workflow_execution_terminated_event_attributes
    assert attributes.reason == "enough waiting"
    assert attributes.identity == client.identity
    assert len(attributes.details.payloads) == 1


async def test_terminate_with_a_workflow_task_pending(client, task_queue):
    handle = await client.start_workflow(
        WaitForCancelWorkflow.run, "raise", id=unique("terminate"), task_queue=task_queue
    )
    await handle.terminate(reason="never ran")
    # The scheduled workflow task leaves no trace of its own.
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, TerminatedError)


async def test_terminate_or_cancel_unknown_workflow(client):
    workflow_id = unique("unknown")
    handle = client.get_workflow_handle(workflow_id)
    for request in (handle.terminate(reason="no such workflow"), handle.cancel()):
        with pytest.raises(RPCError) as err:
            await request
        assert_not_found(err.value, f"workflow not found for ID: {workflow_id}")


async def test_cancel_unknown_run_of_known_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        known = await client.start_workflow(
            EchoWorkflow.run, "done", id=unique("known"), task_queue=task_queue
        )
        await known.result()
    run_id = str(uuid.uuid4())
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(known.id, run_id=run_id).cancel()
    assert_not_found(
        err.value,
        f'workflow execution not found for workflow ID "{known.id}" and run ID "{run_id}"',
    )
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(known.id, run_id="not-a-uuid").cancel()
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_terminate_or_cancel_closed_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        handle = await client.start_workflow(
            EchoWorkflow.run, "done", id=unique("closed"), task_queue=task_queue
        )
        assert await handle.result() == "done"
    before = await event_types(handle)

    with pytest.raises(RPCError) as err:
        await handle.terminate(reason="too late")
    assert_not_found(err.value, "workflow execution already completed")
    # Cancelling a closed workflow is not an error, and changes nothing.
    await handle.cancel()
    await client.get_workflow_handle(handle.id).cancel()
    assert await event_types(handle) == before
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_delete_running_workflow(client, task_queue):
    handle = await unrecorded(client).start_workflow(
        WaitForCancelWorkflow.run, "raise", id=unique("delete"), task_queue=task_queue
    )
    await delete(client, handle.id)
    # The real server forgets an open run within a fraction of a second (for a moment the id
    # may still point at the run: NOT_FOUND naming the run id); poll until the id is free.
    gone = f"workflow not found for ID: {handle.id}"
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            await client.get_workflow_handle(handle.id).describe()
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND
            if err.message == gone:
                assert_not_found(err, gone)
                break
        assert asyncio.get_running_loop().time() < deadline, "still there 10 s after the delete"
        await asyncio.sleep(0.1)
    with pytest.raises(RPCError) as err:
        await handle.fetch_history()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as err:
        await delete(client, handle.id)
    assert_not_found(err.value, f"workflow not found for ID: {handle.id}")

    # The id is free again.
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        again = await client.start_workflow(
            EchoWorkflow.run, "again", id=handle.id, task_queue=task_queue
        )
        assert await again.result() == "again"


async def test_delete_closed_and_unknown_workflows(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        handle = await unrecorded(client).start_workflow(
            EchoWorkflow.run, "done", id=unique("delete"), task_queue=task_queue
        )
        await handle.result()
    # Accepted; the real server removes a closed run in the background (it took ~30 s), so
    # this test does not wait for it to go.
    await delete(client, handle.id, handle.result_run_id)

    workflow_id = unique("unknown")
    with pytest.raises(RPCError) as err:
        await delete(client, workflow_id)
    assert_not_found(err.value, f"workflow not found for ID: {workflow_id}")


# What the history holds after the workflow was cancelled while its activity ran, for each
# cancellation type; the workflow catches the ActivityError and completes.
ACTIVITY_CANCELLED_TAILS = {
    "TRY_CANCEL": ["ACTIVITY_TASK_CANCEL_REQUESTED"],
    "WAIT_CANCELLATION_COMPLETED": [
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_CANCELED",
        *WORKFLOW_TASK,
    ],
    "ABANDON": [],
}


@pytest.mark.parametrize("cancellation_type", list(ACTIVITY_CANCELLED_TAILS))
async def test_cancel_running_activity(client, task_queue, cancellation_type):
    workflow_id = unique("cancel-activity")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[CancelActivityWorkflow],
        activities=[heartbeat_until_cancelled],
    ):
        handle = await client.start_workflow(
            CancelActivityWorkflow.run, cancellation_type, id=workflow_id, task_queue=task_queue
        )
        await asyncio.wait_for(running(workflow_id).wait(), 10)
        await handle.cancel()
        assert await handle.result() == "ActivityError caused by CancelledError"
        # With TRY_CANCEL and ABANDON the activity finds out after the workflow closed.
        for _ in range(100):
            if workflow_id in OBSERVED:
                break
            await asyncio.sleep(0.1)

    assert await event_types(handle) == [
        *FIRST_TASK,
        "ACTIVITY_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        *WORKFLOW_TASK,
        *ACTIVITY_CANCELLED_TAILS[cancellation_type],
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    if cancellation_type == "WAIT_CANCELLATION_COMPLETED":
        # A heartbeat response told the activity it was cancelled.
        assert OBSERVED[workflow_id] == {"cancel_requested": True, "not_found": False}
        canceled = await the_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
        attributes = canceled.activity_task_canceled_event_attributes
        assert attributes.scheduled_event_id == 5
        assert attributes.latest_cancel_requested_event_id == 10
        assert attributes.started_event_id == 11
    else:
        # The workflow had closed by its next heartbeat, which found no such activity.
        assert OBSERVED[workflow_id] == {"cancel_requested": False, "not_found": True}
    if cancellation_type != "ABANDON":
        requested = await the_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
        attributes = requested.activity_task_cancel_requested_event_attributes
        assert attributes.scheduled_event_id == 5
        assert attributes.workflow_task_completed_event_id == 9


ACTIVITY_NOT_STARTED_TAILS = {
    "TRY_CANCEL": ["ACTIVITY_TASK_CANCEL_REQUESTED"],
    # The server cancels an activity no worker has picked up without asking anyone.
    "WAIT_CANCELLATION_COMPLETED": [
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_CANCELED",
        *WORKFLOW_TASK,
    ],
    "ABANDON": [],
}


@pytest.mark.parametrize("cancellation_type", list(ACTIVITY_NOT_STARTED_TAILS))
async def test_cancel_activity_not_started(client, task_queue, cancellation_type):
    no_worker_queue = unique("no-worker")
    async with Worker(client, task_queue=task_queue, workflows=[CancelActivityWorkflow]):
        handle = await client.start_workflow(
            CancelActivityWorkflow.run,
            args=[cancellation_type, no_worker_queue],
            id=unique("cancel-activity"),
            task_queue=task_queue,
        )
        await wait_for_event(handle, "ACTIVITY_TASK_SCHEDULED")
        await handle.cancel()
        assert await handle.result() == "ActivityError caused by CancelledError"
    assert await event_types(handle) == [
        *FIRST_TASK,
        "ACTIVITY_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        *WORKFLOW_TASK,
        *ACTIVITY_NOT_STARTED_TAILS[cancellation_type],
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    if cancellation_type == "WAIT_CANCELLATION_COMPLETED":
        canceled = await the_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
        attributes = canceled.activity_task_canceled_event_attributes
        assert attributes.scheduled_event_id == 5
        assert attributes.latest_cancel_requested_event_id == 10
        assert attributes.started_event_id == 0
