"""One workflow signalling or cancelling another through an external workflow handle."""

from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    EventType,
    SignalExternalWorkflowExecutionFailedCause,
)
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from composition_workflows import (
    CancelExternalWorkflow,
    ChildWorkflow,
    ReceiverWorkflow,
    SignalExternalWorkflow,
)
from support import event_types, unique, wait_for_event

WORKFLOWS = [CancelExternalWorkflow, ChildWorkflow, ReceiverWorkflow, SignalExternalWorkflow]


def first(history, event_type):
    return next(e for e in history.events if e.event_type == event_type)


async def test_signal_external_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        receiver = await client.start_workflow(
            ReceiverWorkflow.run, id=unique("receiver"), task_queue=task_queue
        )
        await wait_for_event(receiver, "WORKFLOW_TASK_COMPLETED")
        sender = await client.start_workflow(
            SignalExternalWorkflow.run,
            args=[receiver.id, "hello"],
            id=unique("sender"),
            task_queue=task_queue,
        )
        assert await sender.result() == ["signalled"]
        assert await receiver.result() == ["hello"]

    assert await event_types(sender) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert await event_types(receiver) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]

    sent = await sender.fetch_history()
    initiated_event = first(
        sent, EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    )
    initiated = initiated_event.signal_external_workflow_execution_initiated_event_attributes
    assert initiated.workflow_execution.workflow_id == receiver.id
    assert initiated.workflow_execution.run_id == ""  # the handle named no run
    assert initiated.signal_name == "ping"
    assert initiated.input.payloads[0].data == b'"hello"'
    assert not initiated.child_workflow_only
    signalled = first(
        sent, EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED
    ).external_workflow_execution_signaled_event_attributes
    assert signalled.initiated_event_id == initiated_event.event_id
    assert signalled.workflow_execution.workflow_id == receiver.id

    received = first(
        await receiver.fetch_history(), EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ).workflow_execution_signaled_event_attributes
    assert received.signal_name == "ping"
    assert received.input.payloads[0].data == b'"hello"'
    assert received.external_workflow_execution.workflow_id == sender.id
    assert received.external_workflow_execution.run_id == sender.result_run_id


async def test_cancel_external_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        target = await client.start_workflow(
            ChildWorkflow.run, "wait", id=unique("target"), task_queue=task_queue
        )
        await wait_for_event(target, "WORKFLOW_TASK_COMPLETED")
        canceller = await client.start_workflow(
            CancelExternalWorkflow.run, target.id, id=unique("canceller"), task_queue=task_queue
        )
        assert await canceller.result() == ["cancel requested"]
        await wait_for_event(target, "WORKFLOW_EXECUTION_CANCELED")
        assert (await target.describe()).status == WorkflowExecutionStatus.CANCELED

    assert await event_types(canceller) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert await event_types(target) == [
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

    sent = await canceller.fetch_history()
    initiated_event = first(
        sent, EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    )
    initiated = (
        initiated_event.request_cancel_external_workflow_execution_initiated_event_attributes
    )
    assert initiated.workflow_execution.workflow_id == target.id
    assert not initiated.child_workflow_only
    requested = first(
        sent, EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    ).external_workflow_execution_cancel_requested_event_attributes
    assert requested.initiated_event_id == initiated_event.event_id
    assert requested.workflow_execution.workflow_id == target.id

    cancel_requested = first(
        await target.fetch_history(), EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    ).workflow_execution_cancel_requested_event_attributes
    assert cancel_requested.external_initiated_event_id == initiated_event.event_id
    assert cancel_requested.external_workflow_execution.workflow_id == canceller.id
    assert cancel_requested.external_workflow_execution.run_id == canceller.result_run_id


async def test_a_workflow_neither_signals_nor_cancels_itself(client, task_queue):
    # The real server fails both as if the target did not exist, whatever the run id.
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        signaller_id = unique("self-signaller")
        signaller = await client.start_workflow(
            SignalExternalWorkflow.run,
            args=[signaller_id, "hello"],
            id=signaller_id,
            task_queue=task_queue,
        )
        assert await signaller.result() == [
            "ExternalWorkflowExecutionNotFound",
            "Unable to signal external workflow because it was not found",
        ]
        canceller_id = unique("self-canceller")
        canceller = await client.start_workflow(
            CancelExternalWorkflow.run, canceller_id, id=canceller_id, task_queue=task_queue
        )
        assert await canceller.result() == [
            "ExternalWorkflowExecutionNotFound",
            "Unable to cancel external workflow because not found",
        ]
    assert "WORKFLOW_EXECUTION_SIGNALED" not in await event_types(signaller)
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" not in await event_types(canceller)


async def test_signal_unknown_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        sender = await client.start_workflow(
            SignalExternalWorkflow.run,
            args=[unique("nobody"), "hello"],
            id=unique("sender"),
            task_queue=task_queue,
        )
        assert await sender.result() == [
            "ExternalWorkflowExecutionNotFound",
            "Unable to signal external workflow because it was not found",
        ]
    assert await event_types(sender) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    history = await sender.fetch_history()
    initiated = first(history, EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
    failed = first(
        history, EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    ).signal_external_workflow_execution_failed_event_attributes
    assert failed.initiated_event_id == initiated.event_id
    assert SignalExternalWorkflowExecutionFailedCause.Name(failed.cause) == (
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"
    )


async def test_cancel_unknown_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        canceller = await client.start_workflow(
            CancelExternalWorkflow.run,
            unique("nobody"),
            id=unique("canceller"),
            task_queue=task_queue,
        )
        assert await canceller.result() == [
            "ExternalWorkflowExecutionNotFound",
            "Unable to cancel external workflow because not found",
        ]
    assert await event_types(canceller) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    history = await canceller.fetch_history()
    initiated = first(
        history, EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    )
    failed = first(
        history, EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    ).request_cancel_external_workflow_execution_failed_event_attributes
    assert failed.initiated_event_id == initiated.event_id
    assert CancelExternalWorkflowExecutionFailedCause.Name(failed.cause) == (
        "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"
    )
