"""The bad-input table: bad requests, each with the exact gRPC status code, message and error
detail type that the real Temporal dev server answers (or OK, for the few it accepts), and,
where it tells more, what the request did to the run's history.

Every row is sent raw through the SDK's gRPC stubs (`client.workflow_service`), so the
request is exactly the one the row builds. The same table runs against devserver and, with
`--real-server`, against the real dev server, where the expected answers come from. To see
both servers' answers side by side: `python scripts/bad_input_table.py`.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from temporalio.api.command.v1 import (
    Command,
    CompleteWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
)
from temporalio.api.common.v1 import (
    ActivityType,
    Memo,
    Payload,
    Payloads,
    RetryPolicy,
    SearchAttributes,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import (
    CommandType,
    EventType,
    IndexedValueType,
    WorkflowTaskFailedCause,
)
from temporalio.api.failure.v1 import ApplicationFailureInfo, CanceledFailureInfo, Failure
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    ListWorkflowExecutionsRequest,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    PollWorkflowTaskQueueRequest,
    PollWorkflowTaskQueueResponse,
    QueryWorkflowRequest,
    RecordActivityTaskHeartbeatRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
    RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskFailedRequest,
    SignalWithStartWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import GrpcCompression, RPCError

from support import unique

NAMESPACE = "default"
UNKNOWN_NAMESPACE = "no-such-namespace"
# The real server's default limit on ids and names (limit.maxIDLength), in bytes.
MAX_ID_LENGTH = 1000
TOO_LONG = "x" * (MAX_ID_LENGTH + 1)
# The real server's default limit on one payload (limit.blobSize.error).
BLOB_SIZE_LIMIT = 2 * 1024 * 1024
# A custom search attribute the table registers, to set it to a value of another type.
INT_ATTRIBUTE = "BadInputInt"
POLL_TIMEOUT = timedelta(seconds=10)
# The error details the rows expect.
NAMESPACE_NOT_FOUND = "temporal.api.errordetails.v1.NamespaceNotFoundFailure"
NOT_FOUND = "temporal.api.errordetails.v1.NotFoundFailure"


def payloads(size: int) -> Payloads:
    return Payloads(payloads=[Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * size)])


def seconds(value: int) -> Duration:
    return Duration(seconds=value)


def set_field(message: Message, name: str, value) -> None:
    # Protobuf assigns message fields by copy, scalar ones directly.
    if isinstance(value, Message):
        getattr(message, name).CopyFrom(value)
    else:
        setattr(message, name, value)


@dataclass
class Probe:
    """What a row's request needs: a client on the server under test, a fresh workflow id and
    task queue, and the values (ids) that the expected message mentions."""

    client: Client
    workflow_id: str = field(default_factory=lambda: unique("bad-input"))
    task_queue: str = field(default_factory=lambda: unique("bad-input-tq"))
    values: dict[str, str] = field(default_factory=dict)

    @property
    def service(self):
        return self.client.workflow_service

    def start_request(self, **fields) -> StartWorkflowExecutionRequest:
        request = StartWorkflowExecutionRequest(
            namespace=NAMESPACE,
            workflow_id=self.workflow_id,
            workflow_type=WorkflowType(name="BadInputWorkflow"),
            task_queue=TaskQueue(name=self.task_queue),
            request_id=unique("request"),
        )
        for name, value in fields.items():
            set_field(request, name, value)
        return request

    async def start(self, **fields) -> str:
        response = await self.service.start_workflow_execution(self.start_request(**fields))
        self.values["workflow_id"] = self.workflow_id
        self.values["run_id"] = response.run_id
        return response.run_id

    async def outcome(self) -> str:
        """What a bad request that the server accepted, or a bad command, led to: the run's
        last event (before the workflow task scheduled after it), with its cause or reason."""
        history = await self.service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=NAMESPACE, execution=WorkflowExecution(workflow_id=self.workflow_id)
            )
        )
        events = list(history.history.events)
        while events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            events.pop()
        event = events[-1]
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if event.HasField("workflow_task_failed_event_attributes"):
            cause = event.workflow_task_failed_event_attributes.cause
            return f"{name} {WorkflowTaskFailedCause.Name(cause)}"
        if event.HasField("activity_task_failed_event_attributes"):
            return f"{name} {event.activity_task_failed_event_attributes.failure.message!r}"
        if event.HasField("workflow_execution_terminated_event_attributes"):
            return f"{name} {event.workflow_execution_terminated_event_attributes.reason!r}"
        return name

    async def workflow_task(self) -> PollWorkflowTaskQueueResponse:
        """Starts a workflow and takes its first workflow task."""
        await self.start()
        task = await self.service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=NAMESPACE, task_queue=TaskQueue(name=self.task_queue), identity="probe"
            ),
            timeout=POLL_TIMEOUT,
        )
        assert task.task_token, "no workflow task came"
        return task

    async def complete_workflow_task(self, token: bytes, *commands: Command) -> None:
        await self.service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=NAMESPACE, task_token=token, commands=commands, identity="probe"
            )
        )

    async def activity_task(self) -> PollActivityTaskQueueResponse:
        """A workflow whose first task schedules one activity, and that activity's task."""
        task = await self.workflow_task()
        await self.complete_workflow_task(task.task_token, schedule_activity(self.task_queue))
        activity = await self.service.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=NAMESPACE, task_queue=TaskQueue(name=self.task_queue), identity="probe"
            ),
            timeout=POLL_TIMEOUT,
        )
        assert activity.task_token, "no activity task came"
        return activity

    async def completed_activity_token(self) -> bytes:
        token = (await self.activity_task()).task_token
        await self.complete_activity(token)
        return token

    async def complete_activity(
        self, token: bytes, result: Payloads | None = None, identity: str = "probe"
    ) -> None:
        await self.service.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(
                namespace=NAMESPACE, task_token=token, result=result, identity=identity
            )
        )


def schedule_activity(task_queue: str, **fields) -> Command:
    attributes = ScheduleActivityTaskCommandAttributes(
        activity_id="1",
        activity_type=ActivityType(name="BadInputActivity"),
        task_queue=TaskQueue(name=task_queue),
        start_to_close_timeout=seconds(30),
    )
    for name, value in fields.items():
        set_field(attributes, name, value)
    return Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=attributes,
    )


# --- the requests ---------------------------------------------------------------------------


def start(**fields) -> Callable[[Probe], Awaitable[object]]:
    return lambda p: p.service.start_workflow_execution(p.start_request(**fields))


def start_with_id_of_length(length: int) -> Callable[[Probe], Awaitable[object]]:
    def call(p: Probe):
        p.workflow_id = p.workflow_id.ljust(length, "x")
        return p.service.start_workflow_execution(p.start_request())

    return call


def start_in(namespace: str) -> Callable[[Probe], Awaitable[object]]:
    return start(namespace=namespace)


def retry(**fields) -> RetryPolicy:
    policy = RetryPolicy()
    for name, value in fields.items():
        set_field(policy, name, value)
    return policy


def describe(execution: WorkflowExecution | None):
    return lambda p: p.service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=NAMESPACE, execution=execution)
    )


async def signal_unknown_workflow(p: Probe):
    p.values["workflow_id"] = p.workflow_id
    return await p.service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=NAMESPACE,
            workflow_execution=WorkflowExecution(workflow_id=p.workflow_id),
            signal_name="go",
        )
    )


def list_page_size(size: int):
    return lambda p: p.service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=NAMESPACE, page_size=size)
    )


async def describe_unknown_namespace(p: Probe):
    return await p.service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=UNKNOWN_NAMESPACE, execution=WorkflowExecution(workflow_id=p.workflow_id)
        )
    )


def signal(namespace: str = NAMESPACE, name: str = "go", request_id: str = "", size: int = 0):
    async def call(p: Probe):
        if namespace == NAMESPACE:
            await p.start()
        return await p.service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=namespace,
                workflow_execution=WorkflowExecution(workflow_id=p.workflow_id),
                signal_name=name,
                request_id=request_id,
                input=payloads(size) if size else None,
                identity="probe",
            )
        )

    return call


def signal_with_start(name: str):
    async def call(p: Probe):
        start = p.start_request()
        return await p.service.signal_with_start_workflow_execution(
            SignalWithStartWorkflowExecutionRequest(
                namespace=start.namespace,
                workflow_id=start.workflow_id,
                workflow_type=start.workflow_type,
                task_queue=start.task_queue,
                request_id=start.request_id,
                signal_name=name,
            )
        )

    return call


def poll_workflow_task(
    namespace: str = NAMESPACE, task_queue: str | None = None, identity: str = "probe"
):
    async def call(p: Probe):
        return await p.service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=p.task_queue if task_queue is None else task_queue),
                identity=identity,
            ),
            timeout=POLL_TIMEOUT,
        )

    return call


def poll_activity_task(namespace: str = NAMESPACE, task_queue: str | None = None):
    async def call(p: Probe):
        return await p.service.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=p.task_queue if task_queue is None else task_queue),
                identity="probe",
            ),
            timeout=POLL_TIMEOUT,
        )

    return call


def query(query: WorkflowQuery | None):
    return lambda p: p.service.query_workflow(
        QueryWorkflowRequest(
            namespace=NAMESPACE,
            execution=WorkflowExecution(workflow_id=p.workflow_id),
            query=query,
        )
    )


async def list_unknown_namespace(p: Probe):
    return await p.service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=UNKNOWN_NAMESPACE)
    )


def activity_completed(
    token: Callable[[Probe], Awaitable[bytes]], size: int = 0, identity: str = "probe"
):
    async def call(p: Probe):
        await p.complete_activity(await token(p), payloads(size) if size else None, identity)

    return call


def activity_failed(
    token: Callable[[Probe], Awaitable[bytes]], failure: Failure | None = None
):
    async def call(p: Probe):
        response = await p.service.respond_activity_task_failed(
            RespondActivityTaskFailedRequest(
                namespace=NAMESPACE,
                task_token=await token(p),
                failure=failure or application_failure("boom"),
                identity="probe",
            )
        )
        return ", ".join(repr(f.message) for f in response.failures)

    return call


def application_failure(message: str) -> Failure:
    return Failure(message=message, application_failure_info=ApplicationFailureInfo(type="Boom"))


def heartbeat(token: Callable[[Probe], Awaitable[bytes]], size: int = 0):
    async def call(p: Probe):
        response = await p.service.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(
                namespace=NAMESPACE,
                task_token=await token(p),
                details=payloads(size) if size else None,
                identity="probe",
            )
        )
        return f"cancel_requested={response.cancel_requested}"

    return call


def workflow_task_failed(token: Callable[[Probe], Awaitable[bytes]]):
    async def call(p: Probe):
        return await p.service.respond_workflow_task_failed(
            RespondWorkflowTaskFailedRequest(
                namespace=NAMESPACE, task_token=await token(p), identity="probe"
            )
        )

    return call


def workflow_task_completed(token: Callable[[Probe], Awaitable[bytes]]):
    async def call(p: Probe):
        return await p.complete_workflow_task(await token(p))

    return call


def fixed(token: bytes) -> Callable[[Probe], Awaitable[bytes]]:
    async def get(_: Probe) -> bytes:
        return token

    return get


async def completed_activity(p: Probe) -> bytes:
    return await p.completed_activity_token()


async def running_activity(p: Probe) -> bytes:
    return (await p.activity_task()).task_token


async def completed_workflow_task(p: Probe) -> bytes:
    task = await p.workflow_task()
    await p.complete_workflow_task(task.task_token)
    return task.task_token


GARBAGE = b"\xff\x00garbage-token\xfe"


def schedule_activity_with(**fields):
    async def call(p: Probe):
        task = await p.workflow_task()
        command = schedule_activity(p.task_queue, **fields)
        return await p.complete_workflow_task(task.task_token, command)

    return call


def complete_workflow_with(size: int):
    async def call(p: Probe):
        task = await p.workflow_task()
        attributes = CompleteWorkflowExecutionCommandAttributes(result=payloads(size))
        command = Command(
            command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
            complete_workflow_execution_command_attributes=attributes,
        )
        return await p.complete_workflow_task(task.task_token, command)

    return call


async def unknown_command(p: Probe):
    task = await p.workflow_task()
    return await p.complete_workflow_task(task.task_token, Command(command_type=99))


async def command_after_completion(p: Probe):
    task = await p.workflow_task()
    complete = Command(
        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes(),
    )
    return await p.complete_workflow_task(
        task.task_token, complete, schedule_activity(p.task_queue)
    )


def uncompressed_start(size: int):
    """A start sent without compression, so the server sees its full size on the wire."""

    async def call(p: Probe):
        plain = await Client.connect(
            p.client.service_client.config.target_host, grpc_compression=GrpcCompression.NONE
        )
        request = p.start_request(input=payloads(size))
        p.values["size"] = str(request.ByteSize())
        return await plain.workflow_service.start_workflow_execution(request)

    return call


async def ensure_int_attribute(client: Client) -> None:
    """Registers the Int search attribute the type-mismatch row sets (once per server)."""
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=NAMESPACE,
                search_attributes={INT_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_INT},
            )
        )
    except RPCError as error:
        if "already exists" not in error.message:
            raise


def search_attributes(**values: bytes) -> SearchAttributes:
    return SearchAttributes(
        indexed_fields={
            name: Payload(metadata={"encoding": b"json/plain"}, data=data)
            for name, data in values.items()
        }
    )


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Probe], Awaitable[object]]
    code: str  # the status code's name, "OK" when the server accepts the request
    message: str = ""  # exact, after substituting the probe's values ({run_id}, …)
    detail: str | None = None  # the full name of the error detail's type
    # What the request led to in the run's history (Probe.outcome), where that tells more.
    outcome: str | None = None


CASES = [
    # Unknown or empty namespace.
    Case("start, unknown namespace", start_in(UNKNOWN_NAMESPACE), "NOT_FOUND", "Namespace no-such-namespace is not found.", NAMESPACE_NOT_FOUND),
    Case("describe, unknown namespace", describe_unknown_namespace, "NOT_FOUND", "Namespace no-such-namespace is not found.", NAMESPACE_NOT_FOUND),
    Case("signal, unknown namespace", signal(namespace=UNKNOWN_NAMESPACE), "NOT_FOUND", "Namespace no-such-namespace is not found.", NAMESPACE_NOT_FOUND),
    Case("poll workflow task, unknown namespace", poll_workflow_task(UNKNOWN_NAMESPACE), "NOT_FOUND", "Namespace no-such-namespace is not found.", NAMESPACE_NOT_FOUND),
    Case("poll activity task, unknown namespace", poll_activity_task(UNKNOWN_NAMESPACE), "NOT_FOUND", "Namespace no-such-namespace is not found.", NAMESPACE_NOT_FOUND),
    Case("list, unknown namespace", list_unknown_namespace, "NOT_FOUND", "Namespace no-such-namespace is not found.", NAMESPACE_NOT_FOUND),
    Case("start, empty namespace", start_in(""), "INVALID_ARGUMENT", "Namespace is empty."),
    # Ids and names: empty, over the limit (1000 bytes), at it.
    Case("start, empty workflow id", start(workflow_id=""), "INVALID_ARGUMENT", "WorkflowId is not set on request."),
    Case("start, workflow id over the limit", start(workflow_id=TOO_LONG), "INVALID_ARGUMENT", "WorkflowId exceeds maximum allowed length (1001/1000)"),
    Case("start, workflow id at the limit", start_with_id_of_length(MAX_ID_LENGTH), "OK"),
    Case("start, empty workflow type", start(workflow_type=WorkflowType(name="")), "INVALID_ARGUMENT", "WorkflowType is not set on request."),
    Case("start, workflow type over the limit", start(workflow_type=WorkflowType(name=TOO_LONG)), "INVALID_ARGUMENT", "WorkflowType length exceeds limit."),
    Case("start, empty task queue", start(task_queue=TaskQueue(name="")), "INVALID_ARGUMENT", "missing task queue name"),
    Case("start, task queue over the limit", start(task_queue=TaskQueue(name=TOO_LONG)), "INVALID_ARGUMENT", "taskQueue length exceeds limit"),
    Case("start, empty request id", start(request_id=""), "OK"),
    Case("start, request id over the limit", start(request_id=TOO_LONG), "INVALID_ARGUMENT", "RequestId length exceeds limit."),
    Case("start, identity over the limit", start(identity=TOO_LONG), "OK"),
    Case("signal, empty signal name", signal(name=""), "INVALID_ARGUMENT", "SignalName is not set on request."),
    Case("signal, signal name over the limit", signal(name=TOO_LONG), "INVALID_ARGUMENT", "SignalName length exceeds limit."),
    Case("signal, request id over the limit", signal(request_id=TOO_LONG), "INVALID_ARGUMENT", "RequestId length exceeds limit."),
    Case("signal with start, empty signal name", signal_with_start(""), "INVALID_ARGUMENT", "signal not set"),
    Case("signal with start, signal name over the limit", signal_with_start(TOO_LONG), "INVALID_ARGUMENT", "signal name exceeds maximum allowed length (1001/1000)"),
    Case("poll workflow task, empty task queue", poll_workflow_task(task_queue=""), "INVALID_ARGUMENT", "missing task queue name"),
    Case("poll workflow task, task queue over the limit", poll_workflow_task(task_queue=TOO_LONG), "INVALID_ARGUMENT", "taskQueue length exceeds limit"),
    Case("poll workflow task, identity over the limit", poll_workflow_task(identity=TOO_LONG), "INVALID_ARGUMENT", "Identity length exceeds limit."),
    Case("activity completed, identity over the limit", activity_completed(running_activity, identity=TOO_LONG), "INVALID_ARGUMENT", "Identity length exceeds limit."),
    Case("poll activity task, task queue over the limit", poll_activity_task(task_queue=TOO_LONG), "INVALID_ARGUMENT", "taskQueue length exceeds limit"),
    # Executions missing, malformed or unknown.
    Case("describe, no execution", describe(None), "INVALID_ARGUMENT", "Execution is not set on request."),
    Case("describe, empty workflow id", describe(WorkflowExecution()), "INVALID_ARGUMENT", "WorkflowId is not set on request."),
    Case("describe, malformed run id", describe(WorkflowExecution(workflow_id="w", run_id="not-a-uuid")), "INVALID_ARGUMENT", "Invalid RunId."),
    Case("describe, unknown workflow", describe(WorkflowExecution(workflow_id="no-such-workflow")), "NOT_FOUND", "workflow not found for ID: no-such-workflow", NOT_FOUND),
    Case("query, no query", query(None), "INVALID_ARGUMENT", "WorkflowQuery is not set on request."),
    Case("query, empty query type", query(WorkflowQuery()), "INVALID_ARGUMENT", "QueryType is not set on request."),
    Case("signal, unknown workflow", signal_unknown_workflow, "NOT_FOUND", "workflow not found for ID: {workflow_id}", NOT_FOUND),
    # Policies, schedules and enum values.
    Case("start, invalid cron schedule", start(cron_schedule="not a cron"), "INVALID_ARGUMENT", "invalid CronSchedule."),
    Case("start, terminate-if-running with a conflict policy", start(workflow_id_reuse_policy=4, workflow_id_conflict_policy=1), "INVALID_ARGUMENT", "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used together with a WorkflowIDConflictPolicy"),
    Case("start, unknown id reuse policy", start(workflow_id_reuse_policy=99), "OK"),
    Case("start, unknown id conflict policy", start(workflow_id_conflict_policy=99), "OK"),
    Case("list, page size over the limit", list_page_size(10_000), "OK"),
    # Malformed task tokens.
    Case("activity completed, empty token", activity_completed(fixed(b"")), "INVALID_ARGUMENT", "Task token not set on request."),
    Case("activity completed, garbage token", activity_completed(fixed(GARBAGE)), "INVALID_ARGUMENT", "Error deserializing task token."),
    Case("activity failed, empty token", activity_failed(fixed(b"")), "INVALID_ARGUMENT", "Task token not set on request."),
    Case("activity failed, garbage token", activity_failed(fixed(GARBAGE)), "INVALID_ARGUMENT", "Error deserializing task token."),
    Case("heartbeat, empty token", heartbeat(fixed(b"")), "INVALID_ARGUMENT", "Task token not set on request."),
    Case("heartbeat, garbage token", heartbeat(fixed(GARBAGE)), "INVALID_ARGUMENT", "Error deserializing task token."),
    Case("workflow task completed, empty token", workflow_task_completed(fixed(b"")), "INVALID_ARGUMENT", "Task token not set on request."),
    Case("workflow task completed, garbage token", workflow_task_completed(fixed(GARBAGE)), "INVALID_ARGUMENT", "Error deserializing task token."),
    Case("activity failed, not an application failure", activity_failed(running_activity, Failure(message="x", canceled_failure_info=CanceledFailureInfo())), "INVALID_ARGUMENT", "Failure must have ApplicationFailureInfo."),
    Case("workflow task failed, empty token", workflow_task_failed(fixed(b"")), "INVALID_ARGUMENT", "Task token not set on request."),
    # Stale task tokens: of a completed activity or workflow task.
    Case("activity completed twice", activity_completed(completed_activity), "NOT_FOUND", "invalid activityID or activity already timed out or invoking workflow is completed", NOT_FOUND, outcome="ACTIVITY_TASK_COMPLETED"),
    Case("activity failed after completion", activity_failed(completed_activity), "NOT_FOUND", "invalid activityID or activity already timed out or invoking workflow is completed", NOT_FOUND, outcome="ACTIVITY_TASK_COMPLETED"),
    Case("heartbeat after completion", heartbeat(completed_activity), "NOT_FOUND", "invalid activityID or activity already timed out or invoking workflow is completed", NOT_FOUND, outcome="ACTIVITY_TASK_COMPLETED"),
    Case("workflow task completed twice", workflow_task_completed(completed_workflow_task), "NOT_FOUND", "Workflow task not found.", NOT_FOUND, outcome="WORKFLOW_TASK_COMPLETED"),
    # Negative and absurd durations, retry policies.
    Case("start, negative execution timeout", start(workflow_execution_timeout=seconds(-1)), "INVALID_ARGUMENT", "An invalid WorkflowExecutionTimeoutSeconds is set on request. cause: negative duration"),
    Case("start, negative run timeout", start(workflow_run_timeout=seconds(-1)), "INVALID_ARGUMENT", "An invalid WorkflowRunTimeoutSeconds is set on request. cause: negative duration"),
    Case("start, negative task timeout", start(workflow_task_timeout=seconds(-1)), "INVALID_ARGUMENT", "An invalid WorkflowTaskTimeoutSeconds is set on request. cause: negative duration"),
    Case("start, negative start delay", start(workflow_start_delay=seconds(-1)), "INVALID_ARGUMENT", "An invalid WorkflowStartDelaySeconds is set on request. cause: negative duration"),
    Case("start, execution timeout past the proto range", start(workflow_execution_timeout=seconds(10**12)), "OK"),
    Case("start, execution timeout with seconds and nanos of different signs", start(workflow_execution_timeout=Duration(seconds=1, nanos=-1)), "INVALID_ARGUMENT", "An invalid WorkflowExecutionTimeoutSeconds is set on request. cause: duration has seconds and nanos with different signs"),
    Case("start, cron schedule and start delay", start(cron_schedule="* * * * *", workflow_start_delay=seconds(5)), "INVALID_ARGUMENT", "CronSchedule and WorkflowStartDelay may not be used together."),
    Case("start, negative retry initial interval", start(retry_policy=retry(initial_interval=seconds(-1))), "INVALID_ARGUMENT", "invalid InitialInterval set on retry policy: negative duration"),
    Case("start, retry maximum interval below the initial", start(retry_policy=retry(initial_interval=seconds(10), maximum_interval=seconds(5))), "INVALID_ARGUMENT", "MaximumInterval cannot be less than InitialInterval on retry policy."),
    Case("start, negative retry maximum attempts", start(retry_policy=retry(maximum_attempts=-1)), "INVALID_ARGUMENT", "MaximumAttempts cannot be negative on retry policy."),
    Case("start, retry backoff coefficient below 1", start(retry_policy=retry(backoff_coefficient=0.5)), "INVALID_ARGUMENT", "BackoffCoefficient cannot be less than 1 on retry policy."),
    Case("start, retry backoff coefficient below 1, one attempt", start(retry_policy=retry(backoff_coefficient=0.5, maximum_attempts=1)), "OK"),
    Case("start, negative retry maximum interval", start(retry_policy=retry(maximum_interval=seconds(-1))), "INVALID_ARGUMENT", "invalid MaximumInterval set on retry policy: negative duration"),
    # Bad commands in a workflow task completion.
    Case("schedule activity, negative start-to-close timeout", schedule_activity_with(start_to_close_timeout=seconds(-1)), "INVALID_ARGUMENT", "BadScheduleActivityAttributes: invalid StartToCloseTimeout: negative duration", outcome="WORKFLOW_TASK_FAILED WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES"),
    Case("schedule activity, no activity id", schedule_activity_with(activity_id=""), "INVALID_ARGUMENT", "BadScheduleActivityAttributes: activityId is not set", outcome="WORKFLOW_TASK_FAILED WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES"),
    Case("workflow task completed, unknown command type", unknown_command, "INVALID_ARGUMENT", "unknown command type: 99", outcome="WORKFLOW_TASK_STARTED"),
    Case("workflow task completed, a command after the workflow's completion", command_after_completion, "INVALID_ARGUMENT", "invalid command sequence: [CompleteWorkflowExecution, ScheduleActivityTask], command CompleteWorkflowExecution must be the last command.", outcome="WORKFLOW_TASK_STARTED"),
    # Payloads over the blob size limit (2 MiB).
    Case("start, input over the blob size limit", start(input=payloads(BLOB_SIZE_LIMIT + 1)), "INVALID_ARGUMENT", "Blob data size exceeds limit."),
    Case("start, memo over the blob size limit", start(memo=Memo(fields={"m": payloads(BLOB_SIZE_LIMIT + 1).payloads[0]})), "INVALID_ARGUMENT", "Memo size exceeds limit."),
    Case("signal, input over the blob size limit", signal(size=BLOB_SIZE_LIMIT + 1), "INVALID_ARGUMENT", "Blob data size exceeds limit.", outcome="WORKFLOW_EXECUTION_STARTED"),
    Case("activity completed, result over the blob size limit", activity_completed(running_activity, BLOB_SIZE_LIMIT + 1), "OK", outcome="ACTIVITY_TASK_FAILED 'Complete result exceeds size limit.'"),
    Case("activity failed, failure over the blob size limit", activity_failed(running_activity, application_failure("x" * (BLOB_SIZE_LIMIT + 1))), "OK", "'Failure exceeds size limit.'", outcome="ACTIVITY_TASK_FAILED 'Failure exceeds size limit.'"),
    Case("heartbeat, details over the blob size limit", heartbeat(running_activity, BLOB_SIZE_LIMIT + 1), "OK", "cancel_requested=True", outcome="ACTIVITY_TASK_FAILED 'Heartbeat details exceed size limit.'"),
    Case("complete workflow, result over the blob size limit", complete_workflow_with(BLOB_SIZE_LIMIT + 1), "INVALID_ARGUMENT", "BadScheduleActivityAttributes: CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.", outcome="WORKFLOW_EXECUTION_TERMINATED 'BadScheduleActivityAttributes: CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.'"),
    # Search attributes.
    Case("start, unknown search attribute", start(search_attributes=search_attributes(NoSuchAttribute=b'"x"')), "INVALID_ARGUMENT", "Namespace default has no mapping defined for search attribute NoSuchAttribute"),
    Case("start, search attribute of the wrong type", start(search_attributes=search_attributes(**{INT_ATTRIBUTE: b'"not a number"'})), "INVALID_ARGUMENT", "invalid value for search attribute BadInputInt of type Int: not a number"),
    # Requests over the gRPC message size limit (4 MiB, counted after decompression).
    Case("start, request over 4 MiB", start(input=payloads(5 * 1024 * 1024)), "RESOURCE_EXHAUSTED", "grpc: received message after decompression larger than max 4194304"),
    Case("start, request over 4 MiB, uncompressed", uncompressed_start(5 * 1024 * 1024), "RESOURCE_EXHAUSTED", "grpc: received message larger than max ({size} vs. 4194304)"),
]  # fmt: skip


@dataclass(frozen=True)
class Answer:
    code: str
    message: str
    detail: str | None
    outcome: str | None

    def __str__(self) -> str:
        text = f"{self.code} {self.message!r}" if self.message else self.code
        if self.detail:
            text += f" [{self.detail.rsplit('.', 1)[-1]}]"
        if self.outcome:
            text += f" -> {self.outcome}"
        return text


def expected(case: Case, values: dict[str, str]) -> Answer:
    """The row's expected answer, with the values of the request it sent substituted."""
    return Answer(case.code, case.message.format_map(values), case.detail, case.outcome)


async def answer(client: Client, case: Case) -> tuple[Answer, dict[str, str]]:
    """Sends the row's request: what the server answered, and the values the request used."""
    probe = Probe(client)
    try:
        result = await case.call(probe)
        code, message, detail = "OK", result if isinstance(result, str) else "", None
    except RPCError as error:
        details = error.grpc_status.details
        code, message = error.status.name, error.message
        detail = details[0].type_url.rsplit("/", 1)[-1] if details else None
    outcome = await probe.outcome() if case.outcome is not None else None
    return Answer(code, message, detail, outcome), probe.values


def normalized(answer: Answer, values: dict[str, str]) -> Answer:
    """The answer with the request's own values (ids) replaced by their names, so that two
    servers' answers to the same row compare equal."""
    message = answer.message
    for name, value in values.items():
        message = message.replace(value, f"{{{name}}}")
    return Answer(answer.code, message, answer.detail, answer.outcome)


@pytest.fixture(scope="module")
async def int_attribute(client):
    await ensure_int_attribute(client)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
async def test_bad_input(client, int_attribute, case):
    got, values = await answer(client, case)
    assert got == expected(case, values)
