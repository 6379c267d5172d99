"""Nexus operations: a workflow calls operations of a Nexus service through an endpoint whose
target is a task queue, and a worker of that queue handles them. Synchronous results,
workflow-backed (asynchronous) operations whose result comes back through the completion
callback, failures, cancellation and timeouts, as the caller's workflow sees them and as its
history records them."""

import uuid
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import Callback, WorkflowType
from temporalio.api.enums.v1 import (
    PendingNexusOperationState,
    TimeoutType,
    WorkflowTaskFailedCause,
)
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.operatorservice.v1 import (
    CreateNexusEndpointRequest,
    DeleteNexusEndpointRequest,
)
from temporalio.api.workflowservice.v1 import (
    RespondNexusTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import (
    ApplicationError,
    NexusOperationError,
    TimeoutError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

import nexus_handlers
from nexus_workflows import (
    CallInput,
    NexusGreetingWorkflow,
    NexusCallerWorkflow,
    NexusCancellingCallerWorkflow,
)
from support import (
    ServerProcess,
    dev_server_argv,
    event_types,
    free_port,
    unique,
    wait_for_event,
)

WORKFLOWS = [NexusGreetingWorkflow, NexusCallerWorkflow, NexusCancellingCallerWorkflow]


async def create_endpoint(client, task_queue):
    name = f"ep-{uuid.uuid4().hex[:12]}"
    spec = EndpointSpec(
        name=name,
        target=EndpointTarget(
            worker=EndpointTarget.Worker(namespace=client.namespace, task_queue=task_queue)
        ),
    )
    response = await client.operator_service.create_nexus_endpoint(
        CreateNexusEndpointRequest(spec=spec)
    )
    return response.endpoint


@pytest.fixture
async def endpoint(client, task_queue):
    """An endpoint whose target is the test's task queue (endpoints are server-wide)."""
    created = await create_endpoint(client, task_queue)
    name = created.spec.name
    yield name
    await client.operator_service.delete_nexus_endpoint(
        DeleteNexusEndpointRequest(id=created.id, version=created.version)
    )


def worker(client, task_queue) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        nexus_service_handlers=[nexus_handlers.GreetingHandler()],
    )


async def call(client, task_queue, endpoint, operation, timeout=None, caller=NexusCallerWorkflow):
    """Starts a caller of `operation`; the name it passes is unique, and names the workflow
    that backs an asynchronous operation."""
    name = unique(operation)
    return await client.start_workflow(
        caller.run,
        CallInput(endpoint, operation, name, timeout),
        id=f"caller-{name}",
        task_queue=task_queue,
    ), name


async def operation_events(handle) -> list[str]:
    """The caller's events without its workflow tasks: a handler answers while they run, so
    where they fall among the operation's events varies; the others come in a fixed order."""
    return [e for e in await event_types(handle) if not e.startswith("WORKFLOW_TASK_")]


def one_operation(*events: str) -> list[str]:
    """What `operation_events` holds for a caller of one operation: its start, the
    operation's scheduling, then `events`."""
    return ["WORKFLOW_EXECUTION_STARTED", "NEXUS_OPERATION_SCHEDULED", *events]


async def operation_error(handle) -> NexusOperationError:
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, NexusOperationError)
    return failure.value.cause


async def test_a_synchronous_operation_returns_its_result(client, task_queue, endpoint):
    async with worker(client, task_queue):
        handle, name = await call(client, task_queue, endpoint, "greet")
        assert await handle.result() == f"Hello, {name}"

    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "NEXUS_OPERATION_SCHEDULED",
        "NEXUS_OPERATION_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    history = await handle.fetch_history()
    scheduled = history.events[4].nexus_operation_scheduled_event_attributes
    assert (scheduled.endpoint, scheduled.service, scheduled.operation) == (
        endpoint,
        "Greeting",
        "greet",
    )
    completed = history.events[5].nexus_operation_completed_event_attributes
    assert completed.scheduled_event_id == 5
    assert completed.request_id == scheduled.request_id

    # What the handler was given: the operation's request id, the server's own callback
    # address, and a link back to the event that scheduled the operation.
    request = nexus_handlers.requests[name]
    assert request.request_id == scheduled.request_id
    assert request.callback_url == "temporal://system"
    assert "temporal-callback-token" in request.callback_headers
    [link] = request.inbound_links
    assert link.type == "temporal.api.common.v1.Link.WorkflowEvent"
    assert link.url == (
        f"temporal:///namespaces/default/workflows/{handle.id}/{history.run_id}/history"
        "?eventID=5&eventType=NexusOperationScheduled&referenceType=EventReference"
    )
    assert "request-timeout" in request.headers


async def test_a_workflow_backed_operation_completes_with_the_workflows_result(
    client, task_queue, endpoint
):
    async with worker(client, task_queue):
        handle, name = await call(client, task_queue, endpoint, "greet_later")
        assert await handle.result() == f"Hello, {name}, later"

    assert await operation_events(handle) == one_operation(
        "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"
    )
    history = await handle.fetch_history()
    [started] = [e for e in history.events if e.HasField("nexus_operation_started_event_attributes")]
    assert started.nexus_operation_started_event_attributes.operation_token
    # The started event links to the start of the workflow that backs the operation.
    backing = client.get_workflow_handle(name)
    backing_history = await backing.fetch_history()
    [link] = started.links
    assert link.workflow_event.workflow_id == name
    assert link.workflow_event.run_id == backing_history.run_id
    assert link.workflow_event.event_ref.event_id == 1

    # That workflow carries the callback that told the caller, with a link to the caller.
    backing_started = backing_history.events[0].workflow_execution_started_event_attributes
    [callback] = backing_started.completion_callbacks
    assert callback.nexus.url == "temporal://system"
    [caller_link] = callback.links
    assert caller_link.workflow_event.workflow_id == handle.id
    assert caller_link.workflow_event.event_ref.event_id == 5


async def test_describe_shows_a_pending_operation(client, task_queue, endpoint):
    async with worker(client, task_queue):
        handle, name = await call(client, task_queue, endpoint, "wait")
        await wait_for_event(handle, "NEXUS_OPERATION_STARTED")
        description = await handle.describe()
        [pending] = description.raw_description.pending_nexus_operations
        await handle.terminate("done looking")
        await client.get_workflow_handle(name).terminate("done looking")

    assert (pending.endpoint, pending.service, pending.operation) == (endpoint, "Greeting", "wait")
    assert pending.state == PendingNexusOperationState.PENDING_NEXUS_OPERATION_STATE_STARTED
    assert pending.scheduled_event_id == 5
    assert pending.attempt == 1
    assert pending.operation_token
    assert not pending.HasField("cancellation_info")


async def test_operations_can_share_the_workflow_that_backs_them(client, task_queue, endpoint):
    """The second operation finds the workflow running and attaches its callback to it
    (conflict policy USE_EXISTING): both callers get its result."""
    name = unique("shared")

    async def caller(n: int):
        return await client.start_workflow(
            NexusCallerWorkflow.run,
            CallInput(endpoint, "greet_together", name),
            id=f"caller-{n}-{name}",
            task_queue=task_queue,
        )

    async with worker(client, task_queue):
        first = await caller(1)
        await wait_for_event(first, "NEXUS_OPERATION_STARTED")
        second = await caller(2)
        await wait_for_event(second, "NEXUS_OPERATION_STARTED")
        await client.get_workflow_handle(name).signal(NexusGreetingWorkflow.release)
        assert await first.result() == f"Hello, {name}, later"
        assert await second.result() == f"Hello, {name}, later"

    backing = await client.get_workflow_handle(name).fetch_history()
    [attached] = [
        e for e in backing.events if e.HasField("workflow_execution_options_updated_event_attributes")
    ]
    assert attached.worker_may_ignore
    attributes = attached.workflow_execution_options_updated_event_attributes
    second_history = await second.fetch_history()
    scheduled = second_history.events[4].nexus_operation_scheduled_event_attributes
    assert attributes.attached_request_id == scheduled.request_id
    [callback] = attributes.attached_completion_callbacks
    assert callback.nexus.url == "temporal://system"
    # The second operation's start links to the event that attached it.
    [started] = [
        e for e in second_history.events if e.HasField("nexus_operation_started_event_attributes")
    ]
    [link] = started.links
    assert link.workflow_event.request_id_ref.request_id == scheduled.request_id


async def test_an_operation_that_fails_raises_its_cause_in_the_caller(
    client, task_queue, endpoint
):
    async with worker(client, task_queue):
        handle, name = await call(client, task_queue, endpoint, "refuse")
        error = await operation_error(handle)

    assert (error.endpoint, error.service, error.operation) == (endpoint, "Greeting", "refuse")
    assert error.scheduled_event_id == 5
    assert isinstance(error.cause, ApplicationError)
    assert error.cause.type == "OperationError"
    assert error.cause.message == f"{name} is not welcome"
    assert await operation_events(handle) == one_operation(
        "NEXUS_OPERATION_FAILED", "WORKFLOW_EXECUTION_FAILED"
    )


async def test_a_handler_error_that_is_not_retried_fails_the_operation(
    client, task_queue, endpoint
):
    async with worker(client, task_queue):
        handle, name = await call(client, task_queue, endpoint, "crash")
        error = await operation_error(handle)

    # The handler error, with what the handler raised as its cause.
    handler_error = error.cause
    assert type(handler_error).__name__ == "HandlerError"
    assert isinstance(handler_error.__cause__, ApplicationError)
    assert handler_error.__cause__.message == f"cannot greet {name}"
    assert await operation_events(handle) == one_operation(
        "NEXUS_OPERATION_FAILED", "WORKFLOW_EXECUTION_FAILED"
    )


async def test_a_backing_workflow_that_fails_fails_the_operation(client, task_queue, endpoint):
    async with worker(client, task_queue):
        handle, name = await call(client, task_queue, endpoint, "fail_later")
        error = await operation_error(handle)

    assert error.operation_token
    assert isinstance(error.cause, ApplicationError)
    assert (error.cause.type, error.cause.message) == ("GreetingRefused", f"no greeting for {name}")
    assert await operation_events(handle) == one_operation(
        "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_FAILED", "WORKFLOW_EXECUTION_FAILED"
    )


async def test_cancelling_a_workflow_backed_operation_cancels_its_workflow(
    client, task_queue, endpoint
):
    async with worker(client, task_queue):
        handle, name = await call(
            client, task_queue, endpoint, "wait", caller=NexusCancellingCallerWorkflow
        )
        assert await handle.result() == "CancelledError: operation canceled"
        backing = client.get_workflow_handle(name)
        assert (await event_types(backing))[-1] == "WORKFLOW_EXECUTION_CANCELED"

    events = await operation_events(handle)
    assert events[:4] == one_operation(
        "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_CANCEL_REQUESTED"
    )
    # The handler's answer to the cancel request and the backing workflow's end race.
    assert sorted(events[4:6]) == [
        "NEXUS_OPERATION_CANCELED",
        "NEXUS_OPERATION_CANCEL_REQUEST_COMPLETED",
    ]
    assert events[6:] == ["WORKFLOW_EXECUTION_COMPLETED"]
    history = await handle.fetch_history()
    [completed] = [
        e for e in history.events if e.HasField("nexus_operation_cancel_request_completed_event_attributes")
    ]
    assert completed.worker_may_ignore
    attributes = completed.nexus_operation_cancel_request_completed_event_attributes
    assert (attributes.scheduled_event_id, attributes.requested_event_id) == (
        5,
        next(
            e.event_id
            for e in history.events
            if e.HasField("nexus_operation_cancel_requested_event_attributes")
        ),
    )


async def test_an_operation_times_out_after_its_schedule_to_close_timeout(
    client, task_queue, endpoint
):
    async with worker(client, task_queue):
        handle, _ = await call(client, task_queue, endpoint, "stall", timeout=3)
        error = await operation_error(handle)

    assert isinstance(error.cause, TimeoutError)
    assert error.cause.type == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE
    assert await operation_events(handle) == one_operation(
        "NEXUS_OPERATION_TIMED_OUT", "WORKFLOW_EXECUTION_FAILED"
    )
    history = await handle.fetch_history()
    scheduled = history.events[4].nexus_operation_scheduled_event_attributes
    assert scheduled.schedule_to_close_timeout.ToTimedelta() == timedelta(seconds=3)


async def test_an_unknown_endpoint_fails_the_workflow_task(client, task_queue):
    async with worker(client, task_queue):
        handle, _ = await call(client, task_queue, "no-such-endpoint", "greet")
        await wait_for_event(handle, "WORKFLOW_TASK_FAILED")
        await handle.terminate("the endpoint will not appear")

    history = await handle.fetch_history()
    [failed] = [e for e in history.events if e.HasField("workflow_task_failed_event_attributes")][:1]
    attributes = failed.workflow_task_failed_event_attributes
    assert (
        attributes.cause
        == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_NEXUS_OPERATION_ATTRIBUTES
    )
    assert attributes.failure.message == (
        'BadScheduleNexusOperationAttributes: endpoint "no-such-endpoint" not found'
    )


@pytest.mark.parametrize(
    "url, message",
    [
        (
            "http://localhost:1234/callback",
            "invalid url: url does not match any configured callback address: "
            "http://localhost:1234/callback",
        ),
        ("temporal://elsewhere", "invalid url: unknown scheme: temporal://elsewhere"),
    ],
)
async def test_completion_callbacks_go_only_to_the_server_itself(client, task_queue, url, message):
    request = StartWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_id=unique("callbacks"),
        workflow_type=WorkflowType(name="NexusGreetingWorkflow"),
        task_queue=TaskQueue(name=task_queue),
        request_id=str(uuid.uuid4()),
        completion_callbacks=[Callback(nexus=Callback.Nexus(url=url))],
    )
    with pytest.raises(RPCError) as error:
        await client.workflow_service.start_workflow_execution(request)
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == message


async def test_an_answer_to_a_task_that_does_not_exist_is_refused(client):
    with pytest.raises(RPCError) as error:
        await client.workflow_service.respond_nexus_task_completed(
            RespondNexusTaskCompletedRequest(
                namespace=client.namespace, task_token=b"not a token", identity="test"
            )
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_operations_survive_server_crashes(binary, tmp_path, task_queue):
    """SIGKILL while a StartOperation request waits for a worker, and again while the
    operation runs: each restart on the same database picks the operation up where it was."""
    port = free_port()
    argv = dev_server_argv(binary, port, "--db-filename", str(tmp_path / "devserver.db"))
    handler_queue = unique("handlers")
    name = unique("held")

    def callers(client) -> Worker:
        return Worker(client, task_queue=task_queue, workflows=WORKFLOWS)

    server = ServerProcess(argv, port, tmp_path / "first.log")
    try:
        client = await server.connect()
        created = await create_endpoint(client, handler_queue)
        async with callers(client):
            # No worker polls the endpoint's queue: the request waits.
            handle = await client.start_workflow(
                NexusCallerWorkflow.run,
                CallInput(created.spec.name, "greet_when_released", name),
                id=f"caller-{name}",
                task_queue=task_queue,
            )
            await wait_for_event(handle, "NEXUS_OPERATION_SCHEDULED")
            server.kill()

        server = ServerProcess(argv, port, tmp_path / "second.log")
        client = await server.connect()
        async with callers(client), worker(client, handler_queue):
            handle = client.get_workflow_handle(f"caller-{name}")
            await wait_for_event(handle, "NEXUS_OPERATION_STARTED")
            server.kill()

        server = ServerProcess(argv, port, tmp_path / "third.log")
        client = await server.connect()
        async with callers(client), worker(client, handler_queue):
            await client.get_workflow_handle(name).signal(NexusGreetingWorkflow.release)
            handle = client.get_workflow_handle(f"caller-{name}")
            assert await handle.result() == f"Hello, {name}, later"
        assert await operation_events(handle) == one_operation(
            "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"
        )
    finally:
        server.stop()
