"""Server-level API: health (and `devserver health`, the probe for container
healthchecks), system info, namespaces, describe, and NOT_FOUND errors."""

import subprocess

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    ListNamespacesRequest,
    ListTaskQueuePartitionsRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import EXTRA_NAMESPACE
from support import ServerProcess, devserver_bin, free_port, unique
from workflows import EchoWorkflow


async def test_health_and_system_info(client):
    assert await client.service_client.check_health()
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    # Without this capability the SDK leaves sdk_metadata out of its completions.
    assert info.capabilities.sdk_metadata


@pytest.mark.devserver_only
def probe(target: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(devserver_bin()), "health", "--address", target, "--timeout", "5"],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.devserver_only  # under --real-server the binary is the `temporal` CLI
def test_the_health_probe_passes_on_a_serving_server(server):
    checked = probe(server.target)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == "SERVING"


@pytest.mark.devserver_only
def test_the_health_probe_fails_where_no_server_listens():
    checked = probe(f"127.0.0.1:{free_port()}")
    assert checked.returncode != 0
    assert "cannot connect to 127.0.0.1:" in checked.stderr


@pytest.mark.devserver_only
@pytest.mark.parametrize(
    "flags, ready, warns",
    [
        (["--ip", "127.0.0.1"], "Ready: clients connect to 127.0.0.1:{port}", False),
        (["--ip", "0.0.0.0"], "Ready: listening on every interface; clients connect to HOST:{port}", True),
        (["--ip", "0.0.0.0", "--api-key", "k"], "Ready: listening on every interface", False),
    ],
)
async def test_the_banner_says_where_to_connect_once_ready(flags, ready, warns, tmp_path):
    port = free_port()
    argv = [str(devserver_bin()), "start", "--port", str(port), "--log-level", "warn", *flags]
    server = ServerProcess(argv, port, tmp_path / "server.log")
    try:
        await server.connect(api_key="k" if "--api-key" in flags else None, tls=False)
        log = server.log_path.read_text()
    finally:
        server.stop()
    assert any(line.startswith(ready.format(port=port)) for line in log.splitlines())
    # Only a server others can reach, and without --api-key, warns that anyone may use it.
    assert ("not only on loopback: whoever reaches port" in log) == warns


async def test_rpc_not_implemented_yet_answers_unimplemented(client):
    # Never INTERNAL: clients retry that for seconds before giving up.
    with pytest.raises(RPCError) as error:
        await client.workflow_service.list_task_queue_partitions(
            ListTaskQueuePartitionsRequest(namespace="default"), retry=True
        )
    assert error.value.status == RPCStatusCode.UNIMPLEMENTED


async def test_describe_unknown_workflow_is_not_found(client):
    with pytest.raises(RPCError) as error:
        await client.get_workflow_handle(unique("nope")).describe()
    assert error.value.status == RPCStatusCode.NOT_FOUND


async def test_describe_unknown_namespace_is_not_found(client):
    with pytest.raises(RPCError) as error:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=unique("no-such-namespace"))
        )
    assert error.value.status == RPCStatusCode.NOT_FOUND


async def test_workflow_on_namespace_from_command_line(server, task_queue):
    client = await Client.connect(server.target, namespace=EXTRA_NAMESPACE)
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        handle = await client.start_workflow(
            EchoWorkflow.run, "extra", id=unique("extra"), task_queue=task_queue
        )
        assert await handle.result() == "extra"
    assert (await handle.describe()).namespace == EXTRA_NAMESPACE


async def test_register_namespace(client):
    name = unique("registered")
    register = RegisterNamespaceRequest(
        namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
    )
    await client.workflow_service.register_namespace(register)

    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=name)
    )
    assert described.namespace_info.name == name
    assert described.config.workflow_execution_retention_ttl.seconds == 86400

    listed = await client.workflow_service.list_namespaces(ListNamespacesRequest())
    names = {n.namespace_info.name for n in listed.namespaces}
    assert {name, "default"} <= names

    with pytest.raises(RPCError) as again:
        await client.workflow_service.register_namespace(register)
    assert again.value.status == RPCStatusCode.ALREADY_EXISTS


async def test_describe_running_then_completed(client, task_queue):
    # No worker yet: the run stays open until one starts.
    handle = await client.start_workflow(
        EchoWorkflow.run, "described", id=unique("describe"), task_queue=task_queue
    )
    running = await handle.describe()
    assert running.status == WorkflowExecutionStatus.RUNNING
    assert running.workflow_type == "EchoWorkflow"
    assert running.task_queue == task_queue
    assert running.run_id == handle.result_run_id
    assert running.close_time is None

    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        assert await handle.result() == "described"
    completed = await handle.describe()
    assert completed.status == WorkflowExecutionStatus.COMPLETED
    assert completed.close_time is not None
    assert completed.history_length == len((await handle.fetch_history()).events)
