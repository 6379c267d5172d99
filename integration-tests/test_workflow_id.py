"""Workflow id uniqueness: conflict policies while a run is open, reuse policies after it
closed, and request_id idempotency of StartWorkflowExecution."""

import uuid

import pytest
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import TerminatedError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from support import event_types, unique
from workflows import EchoWorkflow, OutcomeWorkflow


async def test_start_while_running(client, task_queue):
    workflow_id = unique("dup")
    # No worker yet, so the first run stays open.
    first = await client.start_workflow(
        EchoWorkflow.run, "first", id=workflow_id, task_queue=task_queue
    )

    with pytest.raises(WorkflowAlreadyStartedError) as rejected:
        await client.start_workflow(
            EchoWorkflow.run, "second", id=workflow_id, task_queue=task_queue
        )
    assert rejected.value.run_id == first.result_run_id

    existing = await client.start_workflow(
        EchoWorkflow.run,
        "third",
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert existing.result_run_id == first.result_run_id

    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        assert await existing.result() == "first"


async def test_reuse_policies_after_success(client, task_queue):
    workflow_id = unique("reuse")
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        first = await client.start_workflow(
            EchoWorkflow.run, "first", id=workflow_id, task_queue=task_queue
        )
        assert await first.result() == "first"

        for policy in (
            WorkflowIDReusePolicy.REJECT_DUPLICATE,
            WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        ):
            with pytest.raises(WorkflowAlreadyStartedError):
                await client.start_workflow(
                    EchoWorkflow.run,
                    "rejected",
                    id=workflow_id,
                    task_queue=task_queue,
                    id_reuse_policy=policy,
                )

        # The default policy, ALLOW_DUPLICATE, starts a new run.
        second = await client.start_workflow(
            EchoWorkflow.run, "second", id=workflow_id, task_queue=task_queue
        )
        assert second.result_run_id != first.result_run_id
        assert await second.result() == "second"
    # The first run is still there, unchanged.
    assert await first.result() == "first"


async def test_failed_only_policy_after_failure(client, task_queue):
    workflow_id = unique("reuse")
    async with Worker(client, task_queue=task_queue, workflows=[OutcomeWorkflow]):
        failed = await client.start_workflow(
            OutcomeWorkflow.run, True, id=workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError):
            await failed.result()

        retried = await client.start_workflow(
            OutcomeWorkflow.run,
            False,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
        assert await retried.result() == "succeeded"


async def test_terminate_existing(client, task_queue):
    workflow_id = unique("terminate")
    first = await client.start_workflow(
        EchoWorkflow.run, "first", id=workflow_id, task_queue=task_queue
    )
    second = await client.start_workflow(
        EchoWorkflow.run,
        "second",
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    assert second.result_run_id != first.result_run_id

    with pytest.raises(WorkflowFailureError) as failure:
        await first.result()
    assert isinstance(failure.value.cause, TerminatedError)
    first_run = client.get_workflow_handle(workflow_id, run_id=first.result_run_id)
    assert (await event_types(first_run))[-1] == "WORKFLOW_EXECUTION_TERMINATED"

    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        assert await second.result() == "second"


async def test_request_id_makes_start_idempotent(client, task_queue):
    def start_request(request_id: str) -> StartWorkflowExecutionRequest:
        return StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="EchoWorkflow"),
            task_queue=TaskQueue(name=task_queue),
            identity="integration-test",
            request_id=request_id,
        )

    workflow_id = unique("idempotent")
    request_id = str(uuid.uuid4())
    first = await client.workflow_service.start_workflow_execution(start_request(request_id))
    retry = await client.workflow_service.start_workflow_execution(start_request(request_id))
    assert first.run_id and retry.run_id == first.run_id

    # A different request for the same open workflow id is a conflict, not a retry.
    with pytest.raises(RPCError) as conflict:
        await client.workflow_service.start_workflow_execution(start_request(str(uuid.uuid4())))
    assert conflict.value.status == RPCStatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    "field, message",
    [
        ("id", "WorkflowId exceeds maximum allowed length (1001/1000)"),
        ("workflow", "WorkflowType length exceeds limit."),
        ("task_queue", "taskQueue length exceeds limit"),
    ],
)
async def test_names_over_the_length_limit_are_refused(client, field, message):
    """Ids and names over 1000 bytes get INVALID_ARGUMENT with the real server's words,
    and 1000 bytes are fine."""
    options = {"workflow": "Unregistered", "id": unique("long"), "task_queue": unique("tq")}
    options[field] = "x" * 1001
    with pytest.raises(RPCError) as error:
        await client.start_workflow(options.pop("workflow"), **options)
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == message
    handle = await client.start_workflow("Unregistered", id="y" * 1000, task_queue=unique("tq"))
    await handle.terminate()


async def test_an_overlong_namespace_is_refused_before_it_is_echoed(server):
    """The real server refuses namespaces over 1000 bytes; an error that repeated one would
    not fit in the response's headers (the client would see RESOURCE_EXHAUSTED instead)."""
    for length in (1001, 200_000):
        client = await Client.connect(server.target, namespace="n" * length)
        with pytest.raises(RPCError) as error:
            await client.start_workflow("Unregistered", id=unique("ns"), task_queue="q")
        assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert error.value.message == "Namespace length exceeds limit."


async def test_an_error_about_a_huge_input_is_cut_to_4000_bytes(client, task_queue):
    name = "S" * 200_000
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            "Unregistered",
            id=unique("huge"),
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(SearchAttributeKey.for_keyword(name), "v")]
            ),
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    message = error.value.message
    assert message.startswith("Namespace default has no mapping defined for search attribute SSS")
    assert len(message) == 4000
