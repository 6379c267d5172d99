"""Continue-as-new: a chain of runs under one workflow id, carrying state from run to run."""

import asyncio
import time

import pytest
from temporalio.api.enums.v1 import ContinueAsNewInitiator
from temporalio.client import WorkflowContinuedAsNewError, WorkflowExecutionStatus
from temporalio.worker import Worker

from composition_workflows import ContinueAsNewWorkflow, ContinueThenWaitWorkflow
from support import event_types, unique, wait_for_event

ONE_TASK_RUN = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
]


async def test_chain_of_runs_carries_state(client, task_queue):
    workflow_id = unique("chain")
    async with Worker(client, task_queue=task_queue, workflows=[ContinueAsNewWorkflow]):
        handle = await client.start_workflow(
            ContinueAsNewWorkflow.run, args=[3, []], id=workflow_id, task_queue=task_queue
        )
        # result() follows the chain from the first run to the last.
        run_ids = await handle.result()

    assert len(run_ids) == 4 and len(set(run_ids)) == 4
    assert run_ids[0] == handle.first_execution_run_id == handle.result_run_id

    for index, run_id in enumerate(run_ids):
        run = client.get_workflow_handle(workflow_id, run_id=run_id)
        last = index == len(run_ids) - 1
        close = "WORKFLOW_EXECUTION_COMPLETED" if last else "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
        assert await event_types(run) == [*ONE_TASK_RUN, close]

        events = (await run.fetch_history()).events
        started = events[0].workflow_execution_started_event_attributes
        assert started.first_execution_run_id == run_ids[0]
        assert started.original_execution_run_id == run_id
        assert started.attempt == 1
        # Each run's input is what the run before it carried over.
        assert started.input.payloads[0].data == str(3 - index).encode()
        if index == 0:
            assert started.continued_execution_run_id == ""
        else:
            assert started.continued_execution_run_id == run_ids[index - 1]
            assert (
                started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
            )
        if not last:
            continued = events[-1].workflow_execution_continued_as_new_event_attributes
            assert continued.new_execution_run_id == run_ids[index + 1]
            assert continued.workflow_type.name == "ContinueAsNewWorkflow"
            assert continued.task_queue.name == task_queue
            assert continued.workflow_task_completed_event_id == 4
            # The real server leaves the initiator out of this event (it is in the next
            # run's started event).
            assert continued.initiator == (
                ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_UNSPECIFIED
            )

        description = await run.describe()
        assert description.run_id == run_id
        assert description.status == (
            WorkflowExecutionStatus.COMPLETED
            if last
            else WorkflowExecutionStatus.CONTINUED_AS_NEW
        )

    # Without a run id, describe and fetch_history mean the newest run.
    latest = client.get_workflow_handle(workflow_id)
    assert (await latest.describe()).run_id == run_ids[-1]
    assert (await event_types(latest))[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_result_without_following_runs(client, task_queue):
    workflow_id = unique("chain")
    async with Worker(client, task_queue=task_queue, workflows=[ContinueAsNewWorkflow]):
        handle = await client.start_workflow(
            ContinueAsNewWorkflow.run, args=[1, []], id=workflow_id, task_queue=task_queue
        )
        run_ids = await handle.result()
    # Bound to the first run and not following, result() stops at its close.
    with pytest.raises(WorkflowContinuedAsNewError) as continued:
        await handle.result(follow_runs=False)
    assert continued.value.new_execution_run_id == run_ids[1]


async def wait_for_run(client, workflow_id: str, run_number: int, timeout: float = 10) -> str:
    """Waits until the current run of ContinueThenWaitWorkflow is its `run_number`-th and
    has completed its first workflow task; returns that run's id."""
    deadline = time.monotonic() + timeout
    while True:
        current = (await client.get_workflow_handle(workflow_id).describe()).run_id
        run = client.get_workflow_handle(workflow_id, run_id=current)
        events = (await run.fetch_history()).events
        started = events[0].workflow_execution_started_event_attributes
        if started.input.payloads[0].data == str(run_number).encode() and (
            "WORKFLOW_TASK_COMPLETED" in await event_types(run)
        ):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"{workflow_id} did not reach run {run_number}")
        await asyncio.sleep(0.1)


async def test_signal_reaches_newest_run(client, task_queue):
    workflow_id = unique("chain")
    async with Worker(client, task_queue=task_queue, workflows=[ContinueThenWaitWorkflow]):
        handle = await client.start_workflow(
            ContinueThenWaitWorkflow.run, 1, id=workflow_id, task_queue=task_queue
        )
        third = await wait_for_run(client, workflow_id, 3)
        assert third != handle.first_execution_run_id

        # The handle is bound to the first run, but a signal names only the workflow id.
        await client.get_workflow_handle(workflow_id).signal(ContinueThenWaitWorkflow.ping, "hi")
        assert await handle.result() == "run 3 got hi"

    newest = client.get_workflow_handle(workflow_id, run_id=third)
    assert await event_types(newest) == [
        *ONE_TASK_RUN,
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    first_run = client.get_workflow_handle(workflow_id, run_id=handle.first_execution_run_id)
    assert await event_types(first_run) == [*ONE_TASK_RUN, "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"]
    await wait_for_event(newest, "WORKFLOW_EXECUTION_COMPLETED")
