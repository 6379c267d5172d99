"""Activity retries and the ways a workflow or its task can fail."""

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.api.enums.v1 import TimeoutType
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.worker import Worker

from activities import ATTEMPTS, flaky, stall_after_checkpoint
from support import event_types, unique
from workflows import FailFirstTaskWorkflow, HeartbeatWorkflow, OutcomeWorkflow, RetryWorkflow


async def test_activity_retried_until_it_succeeds(client, task_queue):
    workflow_id = unique("retry")
    async with Worker(client, task_queue=task_queue, workflows=[RetryWorkflow], activities=[flaky]):
        result = await client.execute_workflow(
            RetryWorkflow.run, args=[2, 5], id=workflow_id, task_queue=task_queue
        )
    assert result == "succeeded on attempt 3"
    assert ATTEMPTS[workflow_id] == [1, 2, 3]

    # Failed attempts leave no events: only the attempt that finished is recorded as started.
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert [s.attempt for s in started] == [3]


async def test_activity_out_of_attempts_fails_workflow(client, task_queue):
    workflow_id = unique("retry")
    async with Worker(client, task_queue=task_queue, workflows=[RetryWorkflow], activities=[flaky]):
        with pytest.raises(WorkflowFailureError) as failure:
            await client.execute_workflow(
                RetryWorkflow.run, args=[100, 2], id=workflow_id, task_queue=task_queue
            )
    assert ATTEMPTS[workflow_id] == [1, 2]
    activity_error = failure.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    assert isinstance(activity_error.cause, ApplicationError)
    assert activity_error.cause.message == "attempt 2 failed"


async def test_workflow_raising_application_error_fails(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[OutcomeWorkflow]):
        handle = await client.start_workflow(
            OutcomeWorkflow.run, True, id=unique("fail"), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.message, cause.type) == ("failed on purpose", "Deliberate")
    assert (await event_types(handle))[-1] == "WORKFLOW_EXECUTION_FAILED"


async def test_failed_workflow_task_is_retried(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[FailFirstTaskWorkflow]):
        handle = await client.start_workflow(
            FailFirstTaskWorkflow.run, id=unique("task-fail"), task_queue=task_queue
        )
        assert await handle.result() == "recovered"
    events = await event_types(handle)
    assert events[:4] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
    ]
    assert events[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_attempt_that_stops_heartbeating_is_retried_with_its_details(client, task_queue):
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[HeartbeatWorkflow],
        activities=[stall_after_checkpoint],
    ):
        handle = await client.start_workflow(
            HeartbeatWorkflow.run, id=unique("heartbeat"), task_queue=task_queue
        )
        assert await handle.result() == "attempt 2 resumed from checkpoint"
    history = await handle.fetch_history()
    started = next(
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    )
    assert started.attempt == 2
    timeout = started.last_failure.timeout_failure_info
    assert timeout.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
