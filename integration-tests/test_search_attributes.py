"""Custom search attributes: the OperatorService RPCs that register, list and remove them,
the `--search-attribute` flag, and how starting a workflow checks the attributes it sets."""

import asyncio
import time
import uuid
from datetime import datetime, timezone

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType, WorkflowTaskFailedCause
from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from composition_workflows import InfoWorkflow, UpsertKeywordWorkflow
from support import ServerProcess, dev_server_argv, free_port, unique, wait_for_event

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
INT = IndexedValueType.INDEXED_VALUE_TYPE_INT


def attribute_name(prefix: str) -> str:
    """Unique per test: the session server's namespaces are shared by every test."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def add(client: Client, attributes: dict[str, int], namespace: str = "default") -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=namespace, search_attributes=attributes)
    )


async def remove(client: Client, names: list[str], namespace: str = "default") -> None:
    await client.operator_service.remove_search_attributes(
        RemoveSearchAttributesRequest(namespace=namespace, search_attributes=names)
    )


async def custom_attributes(client: Client, namespace: str = "default") -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


async def custom_attributes_once_known(client: Client, namespace: str) -> dict[str, int]:
    """A new namespace can take the real server a moment to know of."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return await custom_attributes(client, namespace)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


@pytest.fixture
async def registered(client):
    """Registers attributes for one test and removes them afterwards, so that the session
    server stays under its limit of custom attributes per type."""
    names: list[str] = []

    async def register(attributes: dict[str, int]) -> None:
        names.extend(attributes)
        await add(client, attributes)

    yield register
    if names:
        await remove(client, names)


async def test_added_attribute_is_listed_and_usable_at_once(client, task_queue, registered):
    customer = SearchAttributeKey.for_keyword(attribute_name("Customer"))
    amount = SearchAttributeKey.for_int(attribute_name("Amount"))
    await registered({customer.name: KEYWORD, amount.name: INT})

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert listed.custom_attributes[customer.name] == KEYWORD
    assert listed.custom_attributes[amount.name] == INT
    assert len(listed.system_attributes) == 33
    assert listed.system_attributes["WorkflowType"] == KEYWORD
    assert listed.system_attributes["StartTime"] == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
    assert (
        listed.system_attributes["TemporalChangeVersion"]
        == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
    )

    handle = await client.start_workflow(
        InfoWorkflow.run,
        id=unique("attributes"),
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(customer, "acme"), SearchAttributePair(amount, 42)]
        ),
    )
    description = await handle.describe()
    assert description.typed_search_attributes[customer] == "acme"
    assert description.typed_search_attributes[amount] == 42
    await handle.terminate("test cleanup")


async def test_adding_again_keeps_the_first_type(client, registered):
    name = attribute_name("Twice")
    await registered({name: KEYWORD})
    await add(client, {name: KEYWORD})
    # Another type is accepted too, and ignored.
    await add(client, {name: INT})
    assert (await custom_attributes(client))[name] == KEYWORD


async def test_removed_attribute_is_gone(client, task_queue):
    key = SearchAttributeKey.for_keyword(attribute_name("Removed"))
    await add(client, {key.name: KEYWORD})
    await remove(client, [key.name])
    assert key.name not in await custom_attributes(client)
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            InfoWorkflow.run,
            id=unique("attributes"),
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(key, "value")]),
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    # Removing a name that is not registered is not an error.
    await remove(client, [key.name])


@pytest.mark.parametrize(
    "request_, message",
    [
        (
            AddSearchAttributesRequest(
                namespace="default", search_attributes={"WorkflowType": KEYWORD}
            ),
            "Search attribute WorkflowType is reserved by system.",
        ),
        (
            AddSearchAttributesRequest(
                namespace="default",
                search_attributes={"Unspecified": IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED},
            ),
            "Unable to create search attributes: cannot have more than 0 search attribute of "
            "type Unspecified.",
        ),
        (
            AddSearchAttributesRequest(namespace="default"),
            "SearchAttributes are not set on request.",
        ),
        (
            RemoveSearchAttributesRequest(namespace="default", search_attributes=["WorkflowId"]),
            "Unable to remove non-custom search attributes: WorkflowId.",
        ),
        (
            ListSearchAttributesRequest(),
            "Namespace is not set on request.",
        ),
    ],
    ids=["add-system", "add-unspecified", "add-nothing", "remove-system", "no-namespace"],
)
async def test_invalid_operator_requests(client, request_, message):
    call = {
        AddSearchAttributesRequest: client.operator_service.add_search_attributes,
        RemoveSearchAttributesRequest: client.operator_service.remove_search_attributes,
        ListSearchAttributesRequest: client.operator_service.list_search_attributes,
    }[type(request_)]
    with pytest.raises(RPCError) as error:
        await call(request_)
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == message


@pytest.mark.parametrize("rpc", ["add", "remove", "list"])
async def test_unknown_namespace_is_not_found(client, rpc):
    namespace = unique("no-such-namespace")
    with pytest.raises(RPCError) as error:
        if rpc == "add":
            await add(client, {"Anything": KEYWORD}, namespace)
        elif rpc == "remove":
            await remove(client, ["Anything"], namespace)
        else:
            await custom_attributes(client, namespace)
    assert error.value.status == RPCStatusCode.NOT_FOUND
    assert error.value.message == f"Namespace {namespace} is not found."
    detail = NamespaceNotFoundFailure()
    assert error.value.grpc_status.details[0].Unpack(detail)
    assert detail.namespace == namespace


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            SearchAttributeKey.for_keyword("WorkflowType"),
            "Fake",
            "WorkflowType attribute can't be set in SearchAttributes",
        ),
        (
            SearchAttributeKey.for_datetime("StartTime"),
            datetime(2024, 1, 1, tzinfo=timezone.utc),
            "StartTime attribute can't be set in SearchAttributes",
        ),
    ],
    ids=["WorkflowType", "StartTime"],
)
async def test_start_with_server_maintained_attribute_is_rejected(
    client, task_queue, key, value, message
):
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            InfoWorkflow.run,
            id=unique("attributes"),
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(key, value)]),
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == message


async def test_start_may_set_change_version_and_build_ids(client, task_queue):
    change_version = SearchAttributeKey.for_keyword_list("TemporalChangeVersion")
    build_ids = SearchAttributeKey.for_keyword_list("BuildIds")
    handle = await client.start_workflow(
        InfoWorkflow.run,
        id=unique("attributes"),
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(change_version, ["my-change-1"]),
                SearchAttributePair(build_ids, ["unversioned"]),
            ]
        ),
    )
    description = await handle.describe()
    assert description.typed_search_attributes[change_version] == ["my-change-1"]
    assert description.typed_search_attributes[build_ids] == ["unversioned"]
    await handle.terminate("test cleanup")


async def test_value_of_another_type_is_rejected(client, task_queue, registered):
    name = attribute_name("Count")
    await registered({name: INT})
    # The key's type is the client's idea; the server checks against the registered one.
    as_keyword = SearchAttributeKey.for_keyword(name)
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            InfoWorkflow.run,
            id=unique("attributes"),
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(as_keyword, "many")]),
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == f"invalid value for search attribute {name} of type Int: many"


@pytest.mark.parametrize(
    "attribute, message",
    [
        ("unregistered", "Namespace default has no mapping defined for search attribute {name}"),
        ("int", "invalid value for search attribute {name} of type Int: not a number"),
    ],
)
async def test_upserting_a_bad_attribute_fails_the_workflow_task(
    client, task_queue, registered, attribute, message
):
    """An upsert of an attribute the namespace does not have, or of a value of another
    type, fails the workflow task with BadSearchAttributes, as on the real server (the
    worker retries it, so the workflow stays running)."""
    name = attribute_name(attribute.capitalize())
    if attribute == "int":
        await registered({name: INT})
    async with Worker(client, task_queue=task_queue, workflows=[UpsertKeywordWorkflow]):
        handle = await client.start_workflow(
            UpsertKeywordWorkflow.run,
            args=[name, "not a number"],
            id=unique("bad-upsert"),
            task_queue=task_queue,
        )
        await wait_for_event(handle, "WORKFLOW_TASK_FAILED")
    failed = [
        e.workflow_task_failed_event_attributes
        for e in (await handle.fetch_history()).events
        if e.HasField("workflow_task_failed_event_attributes")
    ]
    assert failed[0].cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES
    assert failed[0].failure.message == "BadSearchAttributes: " + message.format(name=name)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await handle.terminate()


async def test_signal_with_start_checks_attributes_too(client, task_queue):
    unknown = SearchAttributeKey.for_keyword(attribute_name("NotRegistered"))
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            InfoWorkflow.run,
            id=unique("attributes"),
            task_queue=task_queue,
            start_signal="hello",
            search_attributes=TypedSearchAttributes([SearchAttributePair(unknown, "value")]),
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == (
        f"Namespace default has no mapping defined for search attribute {unknown.name}"
    )


async def test_search_attribute_flag_registers_in_namespaces_created_at_start(binary, tmp_path):
    port = free_port()
    argv = dev_server_argv(
        binary, port,
        "--namespace", "orders",
        "--search-attribute", "Region=Keyword",
        "--search-attribute", "Priority=int",
        "--search-attribute", "Score=Int",
        "--search-attribute", "Weight=Int",
    )  # fmt: skip
    server = ServerProcess(argv, port, tmp_path / "server.log")
    try:
        client = await server.connect()
        expected = {"Region": KEYWORD, "Priority": INT, "Score": INT, "Weight": INT}
        assert await custom_attributes(client, "default") == expected
        assert await custom_attributes(client, "orders") == expected

        # They count towards the limit of custom attributes per type (3 Int).
        with pytest.raises(RPCError) as error:
            await add(client, {"Fourth": INT})
        assert error.value.message == (
            "Unable to create search attributes: cannot have more than 3 search attribute of "
            "type Int."
        )

        # A namespace registered later starts without them.
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace="later", workflow_execution_retention_period=Duration(seconds=86400)
            )
        )
        assert await custom_attributes_once_known(client, "later") == {}
    finally:
        server.stop()


async def test_added_attributes_survive_a_restart(binary, tmp_path):
    port = free_port()
    argv = dev_server_argv(binary, port, "--db-filename", str(tmp_path / "devserver.db"))
    server = ServerProcess(argv, port, tmp_path / "first.log")
    try:
        client = await server.connect()
        await add(client, {"Customer": KEYWORD})
    finally:
        server.stop()
    server = ServerProcess(argv, port, tmp_path / "second.log")
    try:
        client = await server.connect()
        assert await custom_attributes(client) == {"Customer": KEYWORD}
    finally:
        server.stop()
