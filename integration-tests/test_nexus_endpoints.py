"""Nexus endpoints: the OperatorService RPCs that create, read, update, delete and list them,
the real server's checks and errors, the SDK's WorkflowEnvironment helpers, and durability.

Endpoints are global to a server, so the tests on the session server give theirs unique
names and never assume they are alone."""

import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.nexus.v1 import Endpoint, EndpointSpec, EndpointTarget
from temporalio.api.operatorservice.v1 import (
    CreateNexusEndpointRequest,
    DeleteNexusEndpointRequest,
    GetNexusEndpointRequest,
    ListNexusEndpointsRequest,
    UpdateNexusEndpointRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from conftest import EXTRA_NAMESPACE
from support import ServerProcess, dev_server_argv, free_port

# The real server's rule, quoted as Go's %q shows it.
NAME_RULE = r'endpoint name must match the regex: "^[a-zA-Z][a-zA-Z0-9\\-]*[a-zA-Z0-9]$"'


def endpoint_name() -> str:
    return f"ep-{uuid.uuid4().hex[:12]}"


def worker_target(task_queue: str = "q", namespace: str = "default") -> EndpointTarget:
    return EndpointTarget(
        worker=EndpointTarget.Worker(namespace=namespace, task_queue=task_queue)
    )


def external_target(url: str) -> EndpointTarget:
    return EndpointTarget(external=EndpointTarget.External(url=url))


async def create(client: Client, name: str, target: EndpointTarget | None = None) -> Endpoint:
    response = await client.operator_service.create_nexus_endpoint(
        CreateNexusEndpointRequest(spec=EndpointSpec(name=name, target=target or worker_target()))
    )
    return response.endpoint


async def get(client: Client, endpoint_id: str) -> Endpoint:
    response = await client.operator_service.get_nexus_endpoint(
        GetNexusEndpointRequest(id=endpoint_id)
    )
    return response.endpoint


async def update(client: Client, endpoint_id: str, version: int, spec: EndpointSpec) -> Endpoint:
    response = await client.operator_service.update_nexus_endpoint(
        UpdateNexusEndpointRequest(id=endpoint_id, version=version, spec=spec)
    )
    return response.endpoint


async def delete(client: Client, endpoint_id: str, version: int) -> None:
    await client.operator_service.delete_nexus_endpoint(
        DeleteNexusEndpointRequest(id=endpoint_id, version=version)
    )


async def named(client: Client, name: str) -> list[Endpoint]:
    response = await client.operator_service.list_nexus_endpoints(
        ListNexusEndpointsRequest(name=name)
    )
    assert not response.next_page_token
    return list(response.endpoints)


async def failure(call) -> RPCError:
    with pytest.raises(RPCError) as error:
        await call
    return error.value


async def test_created_endpoint_is_found_by_id_and_name(client):
    name = endpoint_name()
    created = await create(client, name, worker_target("nexus-q"))
    assert created.version == 1
    assert str(uuid.UUID(created.id)) == created.id
    assert created.url_prefix == f"/nexus/endpoints/{created.id}/services"
    assert created.spec.name == name
    assert created.spec.target.worker.namespace == "default"
    assert created.spec.target.worker.task_queue == "nexus-q"
    assert created.HasField("created_time")
    assert not created.HasField("last_modified_time")

    assert await get(client, created.id) == created
    assert await named(client, name) == [created]
    assert await named(client, endpoint_name()) == []
    # Get reads any spelling of the id and answers under it.
    upper = await get(client, created.id.upper())
    assert upper.id == created.id.upper()
    assert upper.spec == created.spec


async def test_targets_of_another_namespace_and_external_urls(client):
    in_extra = await create(client, endpoint_name(), worker_target("q", EXTRA_NAMESPACE))
    assert (await get(client, in_extra.id)).spec.target.worker.namespace == EXTRA_NAMESPACE
    external = await create(client, endpoint_name(), external_target("http://localhost:7243/x"))
    assert (await get(client, external.id)).spec.target.external.url == "http://localhost:7243/x"


async def test_names_are_unique(client):
    name = endpoint_name()
    await create(client, name)
    error = await failure(create(client, name, worker_target("other")))
    assert error.status == RPCStatusCode.ALREADY_EXISTS
    assert error.message == (
        f"error creating Nexus endpoint. Endpoint with name {name} already registered"
    )


async def test_update_needs_the_current_version_and_bumps_it(client):
    name = endpoint_name()
    created = await create(client, name)
    spec = EndpointSpec(
        name=name,
        description=Payload(metadata={"encoding": b"json/plain"}, data=b'"Orders"'),
        target=worker_target("q2"),
    )
    updated = await update(client, created.id, 1, spec)
    assert updated.version == 2
    assert updated.id == created.id
    assert updated.url_prefix == created.url_prefix
    assert updated.spec == spec
    assert updated.HasField("last_modified_time")
    assert await get(client, created.id) == updated

    error = await failure(update(client, created.id, 1, spec))
    assert error.status == RPCStatusCode.FAILED_PRECONDITION
    assert error.message == "nexus endpoint version mismatch. received: 1 expected 2"
    assert (await update(client, created.id, 2, spec)).version == 3

    missing = str(uuid.uuid4())
    error = await failure(update(client, missing, 1, spec))
    assert error.status == RPCStatusCode.NOT_FOUND
    assert error.message == f"error updating Nexus endpoint. endpoint ID {missing} not found"
    # Unlike Get, Update takes the id only as the server spells it.
    error = await failure(update(client, created.id.upper(), 3, spec))
    assert error.status == RPCStatusCode.NOT_FOUND


async def test_delete_takes_any_positive_version_and_frees_the_name(client):
    name = endpoint_name()
    created = await create(client, name)
    await update(client, created.id, 1, EndpointSpec(name=name, target=worker_target("q2")))

    error = await failure(delete(client, created.id, 0))
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == "endpoint version is non-positive"
    # Version 1 is stale (the endpoint is at 2): the real server deletes all the same.
    await delete(client, created.id, 1)

    error = await failure(get(client, created.id))
    assert error.status == RPCStatusCode.NOT_FOUND
    assert error.message == f"Nexus endpoint with ID `{created.id}` not found"
    error = await failure(delete(client, created.id, 2))
    assert error.status == RPCStatusCode.NOT_FOUND
    assert error.message == f"error deleting nexus endpoint with ID: {created.id}"
    assert await named(client, name) == []
    assert (await create(client, name)).id != created.id


@pytest.mark.parametrize(
    "spec, status, message",
    [
        (EndpointSpec(), "INVALID_ARGUMENT", "endpoint name not set, empty target variant"),
        (EndpointSpec(name="a", target=worker_target()), "INVALID_ARGUMENT", NAME_RULE),
        (EndpointSpec(name="ab_c", target=worker_target()), "INVALID_ARGUMENT", NAME_RULE),
        (EndpointSpec(name="ab-", target=worker_target()), "INVALID_ARGUMENT", NAME_RULE),
        (
            EndpointSpec(name="a" * 201, target=worker_target()),
            "INVALID_ARGUMENT",
            "endpoint name exceeds length limit of 200",
        ),
        (EndpointSpec(name="ab"), "INVALID_ARGUMENT", "empty target variant"),
        (
            EndpointSpec(name="_", target=worker_target("", "")),
            "INVALID_ARGUMENT",
            f"{NAME_RULE}, target namespace not set, "
            'invalid target task queue: "taskQueue is not set"',
        ),
        (
            EndpointSpec(name="ab", target=worker_target("/_sys/q")),
            "INVALID_ARGUMENT",
            'invalid target task queue: "task queue name cannot start with reserved prefix '
            '/_sys/"',
        ),
        (
            EndpointSpec(name="ab", target=worker_target("q" * 1001)),
            "INVALID_ARGUMENT",
            'invalid target task queue: "taskQueue length exceeds limit"',
        ),
        # An unknown namespace is reported alone, even with other issues.
        (
            EndpointSpec(name="_", target=worker_target("", "no-such-namespace")),
            "FAILED_PRECONDITION",
            "could not verify namespace referenced by target exists: "
            "Namespace no-such-namespace is not found.",
        ),
        (EndpointSpec(name="ab", target=external_target("")), "INVALID_ARGUMENT", "empty target URL"),
        (
            EndpointSpec(name="ab", target=external_target("localhost:8080")),
            "INVALID_ARGUMENT",
            'invalid target URL scheme: "localhost", expected http or https',
        ),
        (
            EndpointSpec(name="ab", target=external_target("http://[::1")),
            "INVALID_ARGUMENT",
            """invalid target URL: parse "http://[::1": missing ']' in host""",
        ),
        (
            EndpointSpec(name="ab", target=external_target("http://x/%zz")),
            "INVALID_ARGUMENT",
            'invalid target URL: parse "http://x/%zz": invalid URL escape "%zz"',
        ),
        (
            EndpointSpec(name="ab", target=external_target("http://" + "h" * 4090)),
            "INVALID_ARGUMENT",
            "target URL length exceeds limit of 4096",
        ),
        (
            EndpointSpec(
                name="ab", description=Payload(data=b"x" * 19_997), target=worker_target()
            ),
            "INVALID_ARGUMENT",
            "description size exceeds limit of 20000",
        ),
    ],
    ids=[
        "empty", "short-name", "underscore", "trailing-dash", "long-name", "no-target",
        "all-issues", "reserved-queue", "long-queue", "unknown-namespace", "empty-url",
        "url-scheme", "url-host", "url-escape", "long-url", "description-size",
    ],  # fmt: skip
)
async def test_invalid_specs_are_refused_on_create_and_update(client, spec, status, message):
    error = await failure(
        client.operator_service.create_nexus_endpoint(CreateNexusEndpointRequest(spec=spec))
    )
    assert (error.status.name, error.message) == (status, message)
    # Update checks the spec before it looks for the endpoint.
    error = await failure(update(client, str(uuid.uuid4()), 1, spec))
    assert (error.status.name, error.message) == (status, message)


async def test_limits_are_inclusive(client):
    created = await create(client, "a" + uuid.uuid4().hex + "b" * 167)
    assert len(created.spec.name) == 200
    described = await client.operator_service.create_nexus_endpoint(
        CreateNexusEndpointRequest(
            spec=EndpointSpec(
                name=endpoint_name(),
                # 20000 bytes encoded: a tag, a 3-byte length and the data.
                description=Payload(data=b"x" * 19_996),
                target=worker_target(),
            )
        )
    )
    assert len(described.endpoint.spec.description.data) == 19_996


@pytest.mark.parametrize(
    "endpoint_id, message",
    [
        ("", "endpoint ID not set"),
        ("not-a-uuid", 'malformed endpoint ID: "invalid UUID length: 10"'),
        ("z" * 36, 'malformed endpoint ID: "invalid UUID format"'),
    ],
    ids=["empty", "length", "format"],
)
async def test_malformed_ids_are_invalid(client, endpoint_id, message):
    error = await failure(get(client, endpoint_id))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, message)
    error = await failure(delete(client, endpoint_id, 0))
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == f"{message}, endpoint version is non-positive"


async def test_list_pages_through_every_endpoint_in_id_order(client):
    ours = {(await create(client, endpoint_name())).id for _ in range(3)}
    everything = await client.operator_service.list_nexus_endpoints(
        ListNexusEndpointsRequest(page_size=1000)
    )
    all_ids = [e.id for e in everything.endpoints]
    assert ours <= set(all_ids)
    assert all_ids == sorted(all_ids)

    paged: list[str] = []
    token = b""
    while True:
        page = await client.operator_service.list_nexus_endpoints(
            ListNexusEndpointsRequest(page_size=2, next_page_token=token)
        )
        paged.extend(e.id for e in page.endpoints)
        # A full page has a token, even when nothing follows; a short one ends the list.
        assert bool(page.next_page_token) == (len(page.endpoints) == 2)
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert paged == all_ids
    # Without a page size, the first 100.
    default = await client.operator_service.list_nexus_endpoints(ListNexusEndpointsRequest())
    assert [e.id for e in default.endpoints] == all_ids[:100]


@pytest.mark.parametrize(
    "request_, status, message",
    [
        (ListNexusEndpointsRequest(page_size=-1), "INVALID_ARGUMENT", "page_size is negative"),
        (
            ListNexusEndpointsRequest(page_size=1001),
            "INVALID_ARGUMENT",
            "page_size exceeds limit of 1000",
        ),
    ],
    ids=["negative", "too-large"],
)
async def test_list_refuses_bad_paging(client, request_, status, message):
    error = await failure(client.operator_service.list_nexus_endpoints(request_))
    assert (error.status.name, error.message) == (status, message)


@pytest.mark.devserver_only
async def test_list_refuses_a_bad_page_token_as_the_clients_error(client):
    # The real dev server answers INTERNAL "error listing Nexus endpoints", which has the
    # client retry a token that can never work.
    request = ListNexusEndpointsRequest(next_page_token=b"garbage")
    error = await failure(client.operator_service.list_nexus_endpoints(request))
    assert (error.status.name, error.message) == (
        "INVALID_ARGUMENT",
        "error listing Nexus endpoints: invalid page token",
    )


async def test_a_name_filter_ignores_paging(client):
    name = endpoint_name()
    created = await create(client, name)
    response = await client.operator_service.list_nexus_endpoints(
        ListNexusEndpointsRequest(name=name, page_size=-1, next_page_token=b"garbage")
    )
    assert list(response.endpoints) == [created]


async def test_workflow_environment_helpers(binary):
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(binary)) as env:
        name = endpoint_name()
        endpoint = await env.create_nexus_endpoint(name, "nexus-queue")
        assert endpoint.spec.name == name
        assert endpoint.spec.target.worker.namespace == env.client.namespace
        assert endpoint.spec.target.worker.task_queue == "nexus-queue"
        assert await named(env.client, name) == [endpoint]
        await env.delete_nexus_endpoint(endpoint)
        assert await named(env.client, name) == []


async def test_endpoints_survive_a_restart(binary, tmp_path):
    port = free_port()
    argv = dev_server_argv(binary, port, "--db-filename", str(tmp_path / "devserver.db"))
    server = ServerProcess(argv, port, tmp_path / "first.log")
    try:
        client = await server.connect()
        kept = await create(client, "kept", worker_target("q1"))
        changed = await create(client, "changed", external_target("https://example.com/nexus"))
        changed = await update(
            client, changed.id, 1, EndpointSpec(name="changed", target=worker_target("q2"))
        )
        deleted = await create(client, "deleted")
        await delete(client, deleted.id, 1)
        before = await client.operator_service.list_nexus_endpoints(ListNexusEndpointsRequest())
    finally:
        server.stop()

    server = ServerProcess(argv, port, tmp_path / "second.log")
    try:
        client = await server.connect()
        after = await client.operator_service.list_nexus_endpoints(ListNexusEndpointsRequest())
        assert after == before
        assert sorted(e.id for e in after.endpoints) == sorted([kept.id, changed.id])
        assert await get(client, kept.id) == kept
        assert await get(client, changed.id) == changed
        assert (await failure(get(client, deleted.id))).status == RPCStatusCode.NOT_FOUND
        # Names and versions carry on where they were.
        error = await failure(create(client, "kept"))
        assert error.status == RPCStatusCode.ALREADY_EXISTS
        error = await failure(update(client, changed.id, 1, changed.spec))
        assert error.message == "nexus endpoint version mismatch. received: 1 expected 2"
        assert (await update(client, changed.id, 2, changed.spec)).version == 3
        assert (await create(client, "deleted")).version == 1
    finally:
        server.stop()


@pytest.mark.devserver_only
async def test_renames_keep_names_unique(client):
    # The real dev server keeps a renamed endpoint's old name taken (until it restarts) and
    # lets a rename take a name another endpoint has; devserver does neither.
    old_name, other_name = endpoint_name(), endpoint_name()
    created = await create(client, old_name)
    other = await create(client, other_name)
    renamed = await update(
        client, created.id, 1, EndpointSpec(name=endpoint_name(), target=worker_target())
    )
    assert await named(client, old_name) == []
    assert (await create(client, old_name)).spec.name == old_name

    error = await failure(
        update(client, renamed.id, 2, EndpointSpec(name=other_name, target=worker_target()))
    )
    assert error.status == RPCStatusCode.ALREADY_EXISTS
    assert error.message == (
        f"error updating Nexus endpoint. Endpoint with name {other_name} already registered"
    )
    assert await named(client, other_name) == [other]


@pytest.mark.devserver_only
async def test_update_keeps_the_created_time(client):
    # The real dev server leaves created_time out once an endpoint has been updated.
    name = endpoint_name()
    created = await create(client, name)
    updated = await update(client, created.id, 1, EndpointSpec(name=name, target=worker_target()))
    assert updated.created_time == created.created_time
    assert updated.last_modified_time.ToMilliseconds() >= created.created_time.ToMilliseconds()
