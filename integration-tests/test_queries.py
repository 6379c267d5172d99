"""Queries: of running and closed workflows, after a signal, failing, unknown, rejected by
their reject condition, and with no worker to answer them."""

from datetime import timedelta

import pytest
from temporalio.api.errordetails.v1 import NotFoundFailure
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from lifecycle_workflows import QueriesWorkflow
from support import event_types, unique, wait_for_event


def worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=[QueriesWorkflow])


async def start(client: Client, task_queue: str) -> WorkflowHandle:
    return await client.start_workflow(
        QueriesWorkflow.run, id=unique("query"), task_queue=task_queue
    )


async def test_query_running_workflow(client, task_queue):
    async with worker(client, task_queue):
        handle = await start(client, task_queue)
        # Straight after the start: the server holds the query until the first task is done.
        assert await handle.query(QueriesWorkflow.get_value) == "initial"
        assert await handle.query("get_value") == "initial"
        events = await event_types(handle)
        assert await handle.query(QueriesWorkflow.get_value) == "initial"
    # Queries leave no trace in the history.
    assert await event_types(handle) == events == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
    ]


async def test_query_after_signal_sees_it(client, task_queue):
    async with worker(client, task_queue):
        handle = await start(client, task_queue)
        for value in ("first", "second", "third"):
            await handle.signal(QueriesWorkflow.set_value, value)
            assert await handle.query(QueriesWorkflow.get_value) == value
        await handle.signal(QueriesWorkflow.finish, "complete")
        assert await handle.result() == "third"


async def test_query_that_raises(client, task_queue):
    async with worker(client, task_queue):
        handle = await start(client, task_queue)
        with pytest.raises(WorkflowQueryFailedError) as err:
            await handle.query(QueriesWorkflow.broken)
        assert err.value.message == "this query always fails"
        # The workflow is unharmed.
        assert await handle.query(QueriesWorkflow.get_value) == "initial"
        await handle.signal(QueriesWorkflow.finish, "complete")
        assert await handle.result() == "initial"
    assert "WORKFLOW_TASK_FAILED" not in await event_types(handle)


async def test_unknown_query(client, task_queue):
    async with worker(client, task_queue):
        handle = await start(client, task_queue)
        with pytest.raises(WorkflowQueryFailedError) as err:
            await handle.query("no_such_query")
    # The worker's answer, passed on by the server.
    assert err.value.message.startswith("Query handler for 'no_such_query' expected but not found")
    assert "get_value" in err.value.message


async def test_query_unknown_workflow(client, task_queue):
    workflow_id = unique("unknown")
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(workflow_id).query(QueriesWorkflow.get_value)
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert err.value.message == f"workflow not found for ID: {workflow_id}"
    assert err.value.grpc_status.details[0].Is(NotFoundFailure.DESCRIPTOR)


async def test_query_completed_workflow_is_answered_by_replay(client, task_queue):
    async with worker(client, task_queue):
        handle = await start(client, task_queue)
        await handle.signal(QueriesWorkflow.set_value, "final")
        await handle.signal(QueriesWorkflow.finish, "complete")
        assert await handle.result() == "final"
        events = await event_types(handle)
        assert await handle.query(QueriesWorkflow.get_value) == "final"
        with pytest.raises(WorkflowQueryFailedError):
            await handle.query(QueriesWorkflow.broken)
    # Worker restarted, so no cached copy of the run: it is replayed from its history.
    async with worker(client, task_queue):
        assert await handle.query(QueriesWorkflow.get_value) == "final"
    assert await event_types(handle) == events
    assert events[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_reject_condition_on_closed_runs(client, task_queue):
    async with worker(client, task_queue):
        completed = await start(client, task_queue)
        await completed.signal(QueriesWorkflow.finish, "complete")
        await completed.result()

        failed = await start(client, task_queue)
        await failed.signal(QueriesWorkflow.finish, "fail")
        with pytest.raises(WorkflowFailureError):
            await failed.result()

        terminated = await start(client, task_queue)
        await wait_for_event(terminated, "WORKFLOW_TASK_COMPLETED")
        await terminated.terminate(reason="for the query test")

        running = await start(client, task_queue)

        async def query(handle: WorkflowHandle, condition: QueryRejectCondition) -> str:
            return await handle.query(QueriesWorkflow.get_value, reject_condition=condition)

        not_open = QueryRejectCondition.NOT_OPEN
        not_clean = QueryRejectCondition.NOT_COMPLETED_CLEANLY
        expected_rejections = [
            (completed, not_open, WorkflowExecutionStatus.COMPLETED),
            (failed, not_open, WorkflowExecutionStatus.FAILED),
            (failed, not_clean, WorkflowExecutionStatus.FAILED),
            (terminated, not_open, WorkflowExecutionStatus.TERMINATED),
            (terminated, not_clean, WorkflowExecutionStatus.TERMINATED),
        ]
        for handle, condition, status in expected_rejections:
            with pytest.raises(WorkflowQueryRejectedError) as err:
                await query(handle, condition)
            assert err.value.status == status, (handle.id, condition)

        # Conditions that do not apply: answered as usual.
        assert await query(completed, not_clean) == "initial"
        assert await query(running, not_open) == "initial"
        assert await query(running, not_clean) == "initial"
        assert await query(completed, QueryRejectCondition.NONE) == "initial"
        assert await failed.query(QueriesWorkflow.get_value) == "initial"
        assert await terminated.query(QueriesWorkflow.get_value) == "initial"


async def test_reject_condition_needs_no_worker(client, task_queue):
    async with worker(client, task_queue):
        handle = await start(client, task_queue)
        await handle.signal(QueriesWorkflow.finish, "complete")
        await handle.result()
    # No worker now: a rejection comes from the server alone, straight away.
    with pytest.raises(WorkflowQueryRejectedError) as err:
        await handle.query(
            QueriesWorkflow.get_value,
            reject_condition=QueryRejectCondition.NOT_OPEN,
            rpc_timeout=timedelta(seconds=5),
        )
    assert err.value.status == WorkflowExecutionStatus.COMPLETED


async def test_query_with_no_worker_does_not_answer(client, task_queue):
    handle = await start(client, task_queue)
    # Nobody polls the task queue. The real server holds the query until the client's deadline,
    # and the SDK then raises an RPCError (CANCELLED, "Timeout expired", after rpc_timeout);
    # how and when a server gives up is not asserted here, only that there is no answer.
    with pytest.raises(RPCError):
        await handle.query(QueriesWorkflow.get_value, rpc_timeout=timedelta(seconds=1))
    assert await event_types(handle) == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    # Once a worker is there the same query is answered.
    async with worker(client, task_queue):
        assert await handle.query(QueriesWorkflow.get_value) == "initial"
        await handle.signal(QueriesWorkflow.finish, "complete")
        assert await handle.result() == "initial"
