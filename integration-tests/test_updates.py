"""Workflow updates: results, validator rejection, handler failure, the accepted stage,
idempotency by update id, update handles, closed and unknown workflows, update-with-start."""

import uuid

import pytest
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from composition_workflows import CounterWorkflow
from support import event_types, unique, wait_for_event

# The events one accepted update adds to a workflow that is waiting: the workflow task it
# was delivered on, then its acceptance and completion.
ONE_UPDATE = [
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
]
FIRST_TASK = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
]


async def start_counter(client, task_queue):
    """A CounterWorkflow whose first workflow task has completed, so that each update
    arrives on a workflow task of its own."""
    handle = await client.start_workflow(
        CounterWorkflow.run, id=unique("counter"), task_queue=task_queue
    )
    await wait_for_event(handle, "WORKFLOW_TASK_COMPLETED")
    return handle


async def test_update_returns_result_and_is_recorded(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        handle = await start_counter(client, task_queue)
        assert await handle.execute_update(CounterWorkflow.add, 5) == 5
        assert await handle.execute_update(CounterWorkflow.add, 3) == 8
        assert await handle.execute_update(CounterWorkflow.finish) == 8
        assert await handle.result() == [8, 2]

    assert await event_types(handle) == [
        *FIRST_TASK,
        *ONE_UPDATE,
        *ONE_UPDATE,
        # The workflow returns in the same workflow task as `finish` completes.
        *ONE_UPDATE,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    history = await handle.fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    completed = [
        e.workflow_execution_update_completed_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_update_completed_event_attributes")
    ]
    assert [a.accepted_request.input.name for a in accepted] == ["add", "add", "finish"]
    # Each completion points back at its acceptance and carries the same update id.
    by_id = {e.event_id: e for e in history.events}
    for acc, comp in zip(accepted, completed):
        assert comp.meta.update_id == acc.protocol_instance_id
        assert comp.accepted_event_id in by_id
        assert (
            by_id[comp.accepted_event_id].workflow_execution_update_accepted_event_attributes
            == acc
        )
        assert comp.outcome.HasField("success")


async def test_rejected_update_leaves_no_trace(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        handle = await start_counter(client, task_queue)
        before = await event_types(handle)
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(CounterWorkflow.add, -1)
        cause = rejected.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.message == "cannot add -1"
        assert cause.type == "ValueError"
        # The workflow task that carried the rejected update is not in the history.
        assert await event_types(handle) == before == FIRST_TASK

        # An update the workflow has no handler for is rejected by the worker the same way.
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await handle.execute_update("no_such_update", 1)
        assert isinstance(unknown.value.cause, ApplicationError)
        assert "no_such_update" in unknown.value.cause.message
        assert await event_types(handle) == FIRST_TASK

        assert await handle.execute_update(CounterWorkflow.add, 2) == 2
        await handle.execute_update(CounterWorkflow.finish)
        assert await handle.result() == [2, 1]
    assert (await event_types(handle))[:9] == [*FIRST_TASK, *ONE_UPDATE]


async def test_update_handler_failing_after_acceptance(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        handle = await start_counter(client, task_queue)
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(CounterWorkflow.fail, "handler failed")
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.message, cause.type) == ("handler failed", "UpdateFailed")
        # A failed update does not fail the workflow.
        assert await handle.execute_update(CounterWorkflow.finish) == 0
        assert await handle.result() == [0, 0]

    assert (await event_types(handle))[:9] == [*FIRST_TASK, *ONE_UPDATE]
    history = await handle.fetch_history()
    completed = next(
        e.workflow_execution_update_completed_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_update_completed_event_attributes")
    )
    assert completed.outcome.failure.message == "handler failed"
    assert completed.outcome.failure.application_failure_info.type == "UpdateFailed"


async def test_start_update_waits_for_acceptance_only(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        handle = await start_counter(client, task_queue)
        update = await handle.start_update(
            CounterWorkflow.add_later, 4, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        # Accepted, and its handler is now waiting on a timer.
        events = await event_types(handle)
        assert events == [
            *FIRST_TASK,
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_COMPLETED",
            "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
            "TIMER_STARTED",
        ]
        assert update.id and update.workflow_id == handle.id
        assert await update.result() == 4
        await handle.execute_update(CounterWorkflow.finish)
        assert await handle.result() == [4, 1]

    assert (await event_types(handle))[:14] == [
        *FIRST_TASK,
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "TIMER_STARTED",
        "TIMER_FIRED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]


async def test_same_update_id_runs_handler_once(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        handle = await start_counter(client, task_queue)
        first = await handle.execute_update(CounterWorkflow.add, 5, id="add-five")
        again = await handle.execute_update(CounterWorkflow.add, 5, id="add-five")
        assert first == again == 5

        # A rejected update id is not remembered: it may be used again.
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(CounterWorkflow.add, -1, id="reused")
        assert await handle.execute_update(CounterWorkflow.add, 1, id="reused") == 6

        # An earlier update's outcome, from a handle made from its id alone.
        earlier = handle.get_update_handle("add-five", result_type=int)
        assert await earlier.result() == 5
        by_run = client.get_workflow_handle(handle.id).get_update_handle(
            "add-five", workflow_run_id=handle.result_run_id
        )
        assert await by_run.result() == 5

        await handle.execute_update(CounterWorkflow.finish)
        assert await handle.result() == [6, 2]
    events = await event_types(handle)
    assert events.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 3


def assert_not_found(error: RPCError, message: str) -> None:
    assert error.status == RPCStatusCode.NOT_FOUND
    assert error.message == message
    assert [d.type_url.rsplit(".", 1)[-1] for d in error.grpc_status.details] == [
        "NotFoundFailure"
    ]


async def test_update_handle_of_unknown_update_id(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        handle = await start_counter(client, task_queue)
        with pytest.raises(RPCError) as error:
            await handle.get_update_handle("never-sent").result()
        assert_not_found(error.value, 'update "never-sent" not found')
        await handle.execute_update(CounterWorkflow.finish)


async def test_update_of_closed_workflow(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        handle = await start_counter(client, task_queue)
        await handle.execute_update(CounterWorkflow.add, 1, id="before-close")
        await handle.execute_update(CounterWorkflow.finish)
        await handle.result()

        with pytest.raises(RPCError) as error:
            await handle.execute_update(CounterWorkflow.add, 1)
        assert_not_found(error.value, "workflow execution already completed")

        # The outcome of an update from before the close is still there.
        assert await handle.get_update_handle("before-close").result() == 1


async def test_update_of_unknown_workflow(client, task_queue):
    workflow_id = unique("nope")
    with pytest.raises(RPCError) as error:
        await client.get_workflow_handle(workflow_id).execute_update("add", 1)
    assert_not_found(error.value, f"workflow not found for ID: {workflow_id}")

    # A known workflow id with a run id that does not exist.
    handle = await client.start_workflow(
        CounterWorkflow.run, id=unique("counter"), task_queue=task_queue
    )
    run_id = str(uuid.uuid4())
    with pytest.raises(RPCError) as error:
        await client.get_workflow_handle(handle.id, run_id=run_id).execute_update("add", 1)
    assert_not_found(
        error.value,
        f'workflow execution not found for workflow ID "{handle.id}" and run ID "{run_id}"',
    )
    await handle.terminate("test cleanup")


async def test_update_with_start_new_then_existing(client, task_queue):
    workflow_id = unique("update-with-start")

    def start_op():
        return WithStartWorkflowOperation(
            CounterWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        first_op = start_op()
        assert (
            await client.execute_update_with_start_workflow(
                CounterWorkflow.add, 3, start_workflow_operation=first_op
            )
            == 3
        )
        first = await first_op.workflow_handle()
        assert first.id == workflow_id
        # The workflow was started with the update: one workflow task did both.
        assert await event_types(first) == [*FIRST_TASK, *ONE_UPDATE[3:]]

        second_op = start_op()
        update = await client.start_update_with_start_workflow(
            CounterWorkflow.add,
            4,
            start_workflow_operation=second_op,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        assert await update.result() == 7
        second = await second_op.workflow_handle()
        assert second.first_execution_run_id == first.first_execution_run_id
        assert await event_types(first) == [*FIRST_TASK, *ONE_UPDATE[3:], *ONE_UPDATE]

        await first.execute_update(CounterWorkflow.finish)
        assert await first.result() == [7, 2]


async def test_update_with_start_refused_by_the_conflict_policy(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[CounterWorkflow]):
        running = await start_counter(client, task_queue)
        start_op = WithStartWorkflowOperation(
            CounterWorkflow.run,
            id=running.id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        with pytest.raises(WorkflowAlreadyStartedError) as refused:
            await client.execute_update_with_start_workflow(
                CounterWorkflow.add, 1, start_workflow_operation=start_op
            )
        assert refused.value.run_id == running.result_run_id
        # Neither operation changed the running workflow.
        assert await event_types(running) == FIRST_TASK
