"""Child workflows: results, failures, cancellation, timeouts, parent close policies, an id
already in use, and how parent and child are linked in their histories."""

import asyncio
import time

import pytest
from temporalio.api.enums.v1 import (
    EventType,
    ParentClosePolicy,
    StartChildWorkflowExecutionFailedCause,
)
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.worker import Worker

from composition_workflows import (
    AbandoningParentWorkflow,
    CancelChildWorkflow,
    ChildWorkflow,
    DuplicateChildWorkflow,
    ParentWorkflow,
    TimeoutChildWorkflow,
)
from support import event_types, unique, wait_for_event

WORKFLOWS = [
    AbandoningParentWorkflow,
    CancelChildWorkflow,
    ChildWorkflow,
    DuplicateChildWorkflow,
    ParentWorkflow,
    TimeoutChildWorkflow,
]


def without_workflow_tasks(events: list[str]) -> list[str]:
    """Parent and child run concurrently, so where the parent's workflow tasks fall among
    the child's events can vary; the other events are in a fixed order."""
    return [e for e in events if not e.startswith("WORKFLOW_TASK_")]


async def wait_for_status(handle, status: WorkflowExecutionStatus, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while (description := await handle.describe()).status != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle.id} is {description.status}, not {status}")
        await asyncio.sleep(0.1)
    return description


async def test_child_result_reaches_parent(client, task_queue):
    parent_id, child_id = unique("parent"), unique("child")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        parent = await client.start_workflow(
            ParentWorkflow.run, args=[child_id, "return"], id=parent_id, task_queue=task_queue
        )
        assert await parent.result() == f"{child_id} of {parent_id}"

    assert await event_types(parent) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "CHILD_WORKFLOW_EXECUTION_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    child = client.get_workflow_handle(child_id)
    assert await event_types(child) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_parent_and_child_histories_are_linked(client, task_queue):
    parent_id, child_id = unique("parent"), unique("child")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        parent = await client.start_workflow(
            ParentWorkflow.run, args=[child_id, "return"], id=parent_id, task_queue=task_queue
        )
        await parent.result()
    parent_events = (await parent.fetch_history()).events
    child = client.get_workflow_handle(child_id)
    child_events = (await child.fetch_history()).events
    child_started = child_events[0].workflow_execution_started_event_attributes
    child_run_id = child_started.original_execution_run_id

    by_type = {e.event_type: e for e in parent_events}
    initiated_event = by_type[EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]
    initiated = initiated_event.start_child_workflow_execution_initiated_event_attributes
    assert initiated.workflow_id == child_id
    assert initiated.workflow_type.name == "ChildWorkflow"
    assert initiated.task_queue.name == task_queue
    assert initiated.namespace == client.namespace
    assert initiated.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE

    started = by_type[
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ].child_workflow_execution_started_event_attributes
    assert started.initiated_event_id == initiated_event.event_id
    assert started.workflow_execution.workflow_id == child_id
    assert started.workflow_execution.run_id == child_run_id
    assert started.workflow_type.name == "ChildWorkflow"

    completed = by_type[
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED
    ].child_workflow_execution_completed_event_attributes
    assert completed.initiated_event_id == initiated_event.event_id
    assert completed.started_event_id == by_type[
        EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ].event_id
    assert completed.workflow_execution.run_id == child_run_id
    assert completed.result.payloads[0].data == f'"{child_id} of {parent_id}"'.encode()

    assert child_started.parent_workflow_namespace == client.namespace
    assert child_started.parent_workflow_execution.workflow_id == parent_id
    assert child_started.parent_workflow_execution.run_id == parent.result_run_id
    assert child_started.parent_initiated_event_id == initiated_event.event_id
    assert child_started.root_workflow_execution.workflow_id == parent_id
    assert child_started.root_workflow_execution.run_id == parent.result_run_id

    description = await child.describe()
    assert description.parent_id == parent_id
    assert description.parent_run_id == parent.result_run_id
    root = description.raw_description.workflow_execution_info.root_execution
    assert root.workflow_id == parent_id


async def test_child_failure_fails_parent(client, task_queue):
    child_id = unique("child")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        parent = await client.start_workflow(
            ParentWorkflow.run, args=[child_id, "fail"], id=unique("parent"), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await parent.result()
    child_error = failure.value.cause
    assert isinstance(child_error, ChildWorkflowError)
    assert child_error.workflow_id == child_id
    assert child_error.workflow_type == "ChildWorkflow"
    assert child_error.namespace == client.namespace
    cause = child_error.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.message, cause.type) == ("child failed on purpose", "ChildFailure")

    assert without_workflow_tasks(await event_types(parent)) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_EXECUTION_FAILED",
    ]
    assert (await event_types(client.get_workflow_handle(child_id)))[-1] == (
        "WORKFLOW_EXECUTION_FAILED"
    )


async def test_parent_cancels_child(client, task_queue):
    child_id = unique("child")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        parent = await client.start_workflow(
            CancelChildWorkflow.run, child_id, id=unique("parent"), task_queue=task_queue
        )
        assert await parent.result() == ["ChildWorkflowError", "CancelledError"]

    assert without_workflow_tasks(await event_types(parent)) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "CHILD_WORKFLOW_EXECUTION_CANCELED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    child = client.get_workflow_handle(child_id)
    assert await event_types(child) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    assert (await child.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_child_times_out(client, task_queue):
    child_id = unique("child")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        parent = await client.start_workflow(
            TimeoutChildWorkflow.run, child_id, id=unique("parent"), task_queue=task_queue
        )
        assert await parent.result() == ["TimeoutError", "TIMEOUT"]

    assert without_workflow_tasks(await event_types(parent)) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_TIMED_OUT",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    child = client.get_workflow_handle(child_id)
    assert await event_types(child) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_TIMED_OUT",
    ]
    assert (await child.describe()).status == WorkflowExecutionStatus.TIMED_OUT


@pytest.mark.parametrize(
    "policy, child_status, child_close_event",
    [
        ("TERMINATE", WorkflowExecutionStatus.TERMINATED, "WORKFLOW_EXECUTION_TERMINATED"),
        ("REQUEST_CANCEL", WorkflowExecutionStatus.CANCELED, "WORKFLOW_EXECUTION_CANCELED"),
        ("ABANDON", WorkflowExecutionStatus.RUNNING, None),
    ],
    ids=["TERMINATE", "REQUEST_CANCEL", "ABANDON"],
)
async def test_parent_close_policy(client, task_queue, policy, child_status, child_close_event):
    child_id = unique("child")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        parent = await client.start_workflow(
            AbandoningParentWorkflow.run,
            args=[child_id, policy],
            id=unique("parent"),
            task_queue=task_queue,
        )
        child_run_id = await parent.result()
        child = client.get_workflow_handle(child_id, run_id=child_run_id)
        if child_close_event:
            await wait_for_event(child, child_close_event)
        else:
            await wait_for_event(child, "WORKFLOW_TASK_COMPLETED")
        await wait_for_status(child, child_status)

        events = await event_types(child)
        if policy == "TERMINATE":
            assert events[-1] == "WORKFLOW_EXECUTION_TERMINATED"
            history = await child.fetch_history()
            terminated = history.events[-1].workflow_execution_terminated_event_attributes
            assert terminated.reason == "by parent close policy"
        elif policy == "REQUEST_CANCEL":
            assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in events
            assert events[-1] == "WORKFLOW_EXECUTION_CANCELED"
        else:
            assert without_workflow_tasks(events) == ["WORKFLOW_EXECUTION_STARTED"]
            await child.terminate("test cleanup")

    # The parent completed right after the child started; the child's end is not in it.
    assert without_workflow_tasks(await event_types(parent)) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_child_id_already_running(client, task_queue):
    child_id = unique("child")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        existing = await client.start_workflow(
            ChildWorkflow.run, "wait", id=child_id, task_queue=task_queue
        )
        parent = await client.start_workflow(
            DuplicateChildWorkflow.run, child_id, id=unique("parent"), task_queue=task_queue
        )
        error_type, message = await parent.result()
        assert error_type == "WorkflowAlreadyStartedError"
        assert message == "Workflow execution already started"
        await existing.terminate("test cleanup")

    assert await event_types(parent) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "START_CHILD_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    history = await parent.fetch_history()
    failed = history.events[5].start_child_workflow_execution_failed_event_attributes
    assert failed.workflow_id == child_id
    assert failed.initiated_event_id == 5
    assert StartChildWorkflowExecutionFailedCause.Name(failed.cause) == (
        "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS"
    )
    # The workflow that held the id is untouched by the attempt.
    assert without_workflow_tasks(await event_types(existing))[0] == "WORKFLOW_EXECUTION_STARTED"
