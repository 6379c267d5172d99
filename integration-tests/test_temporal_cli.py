"""The `temporal` CLI as a client: the workflow, namespace and search attribute commands a
user runs against a dev server, each checked through its JSON output and, for a few, the
text it prints."""

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import RemoveSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.worker import Worker

from activities import greet
from lifecycle_workflows import QueriesWorkflow, SignalsWorkflow, WaitForCancelWorkflow
from support import event_types, find_temporal_cli, unique, wait_for_event
from workflows import GreetingWorkflow, OutcomeWorkflow


class Temporal:
    """Runs the `temporal` CLI against the session server, isolated from any configuration
    of the machine it runs on."""

    def __init__(self, cli: Path, target: str):
        self.cli = cli
        self.target = target

    async def run(self, *args: str, namespace: str = "default") -> tuple[int, str, str]:
        """Exit code, stdout and stderr. The CLI runs beside the event loop (which the
        worker needs), not in it."""
        argv = [
            str(self.cli), *args,
            "--address", self.target, "--namespace", namespace,
            "--disable-config-file", "--disable-config-env", "--color", "never",
            "--command-timeout", "60s",
        ]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
        except TimeoutError:
            process.kill()
            raise AssertionError(f"`temporal {' '.join(args)}` did not finish in 90 s")
        return process.returncode, stdout.decode(), stderr.decode()

    async def text(self, *args: str, namespace: str = "default") -> str:
        """What a successful command prints."""
        code, stdout, stderr = await self.run(*args, namespace=namespace)
        assert code == 0, f"`temporal {' '.join(args)}` exited {code}:\n{stdout}{stderr}"
        return stdout

    async def json(self, *args: str, namespace: str = "default"):
        return json.loads(await self.text(*args, "--output", "json", namespace=namespace))

    async def fails(self, *args: str, namespace: str = "default") -> str:
        """What a failing command prints (stdout and stderr)."""
        code, stdout, stderr = await self.run(*args, namespace=namespace)
        assert code != 0, f"`temporal {' '.join(args)}` succeeded:\n{stdout}"
        return stdout + stderr

    async def eventually(self, predicate: Callable[[object], bool], *args: str):
        """The JSON output of a listing, once it satisfies `predicate`: the real server's
        visibility lags its writes a little."""
        deadline = time.monotonic() + 15
        while True:
            output = await self.json(*args)
            if predicate(output) or time.monotonic() > deadline:
                return output
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def cli() -> Path:
    path = find_temporal_cli()
    if path is None:
        pytest.fail(
            "no `temporal` CLI next to this Python or on PATH: "
            "`pip install -r integration-tests/requirements.txt` installs it"
        )
    return path


@pytest.fixture
def temporal(cli, server) -> Temporal:
    return Temporal(cli, server.target)


@pytest.fixture
async def worker(client, task_queue):
    """A worker for the workflows these tests start, on the test's own task queue."""
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[
                GreetingWorkflow,
                OutcomeWorkflow,
                QueriesWorkflow,
                SignalsWorkflow,
                WaitForCancelWorkflow,
            ],
            activities=[greet],
            activity_executor=executor,
        ):
            yield


def start_args(workflow_type: str, workflow_id: str, task_queue: str) -> list[str]:
    return ["--type", workflow_type, "--workflow-id", workflow_id, "--task-queue", task_queue]


def camel_case(event_type: str) -> str:
    """How the CLI's tables name an event type: WORKFLOW_TASK_STARTED is WorkflowTaskStarted."""
    return "".join(word.capitalize() for word in event_type.split("_"))


def table_rows(text: str) -> list[tuple[int, str]]:
    """(event id, event type) of each row of a `workflow show` or `execute` table."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].isdigit():
            rows.append((int(fields[0]), fields[-1]))
    return rows


async def test_execute_waits_for_the_result_and_result_reads_it_again(
    temporal, worker, task_queue
):
    workflow_id = unique("cli-execute")
    executed = await temporal.json(
        "workflow", "execute", *start_args("GreetingWorkflow", workflow_id, task_queue),
        "--input", '"CLI"',
    )  # fmt: skip
    assert executed["workflowId"] == workflow_id
    assert executed["type"] == "GreetingWorkflow"
    assert executed["namespace"] == "default"
    assert executed["taskQueue"] == task_queue
    assert executed["status"] == "COMPLETED"
    assert executed["result"] == "Hello, CLI!"
    assert executed["closeEvent"]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"

    result = await temporal.json("workflow", "result", "--workflow-id", workflow_id)
    assert result["runId"] == executed["runId"]
    assert (result["status"], result["result"]) == ("COMPLETED", "Hello, CLI!")
    text = await temporal.text("workflow", "result", "--workflow-id", workflow_id)
    assert "COMPLETED" in text
    assert '"Hello, CLI!"' in text


async def test_execute_prints_the_progress_and_the_failure(temporal, worker, task_queue):
    workflow_id = unique("cli-fail")
    printed = await temporal.fails(
        "workflow", "execute", *start_args("OutcomeWorkflow", workflow_id, task_queue),
        "--input", "true",
    )  # fmt: skip
    assert [event_type for _, event_type in table_rows(printed)] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionFailed",
    ]
    assert "FAILED" in printed
    assert "failed on purpose" in printed
    assert "workflow failed" in printed


async def test_show_lists_the_history_forwards_and_backwards(
    client: Client, temporal, worker, task_queue
):
    workflow_id = unique("cli-show")
    handle = await client.start_workflow(
        GreetingWorkflow.run, "show", id=workflow_id, task_queue=task_queue
    )
    assert await handle.result() == "Hello, show!"
    expected = await event_types(handle)
    assert expected[0] == "WORKFLOW_EXECUTION_STARTED"
    assert expected[-1] == "WORKFLOW_EXECUTION_COMPLETED"

    shown = await temporal.json("workflow", "show", "--workflow-id", workflow_id)
    events = shown["events"]
    assert [e["eventType"].removeprefix("EVENT_TYPE_") for e in events] == expected
    assert [int(e["eventId"]) for e in events] == list(range(1, len(expected) + 1))

    table = [(i + 1, camel_case(t)) for i, t in enumerate(expected)]
    text = await temporal.text("workflow", "show", "--workflow-id", workflow_id)
    assert table_rows(text) == table
    assert '"Hello, show!"' in text
    backwards = await temporal.text("workflow", "show", "--workflow-id", workflow_id, "--reverse")
    assert table_rows(backwards) == table[::-1]
    backwards = await temporal.json("workflow", "show", "--workflow-id", workflow_id, "--reverse")
    assert [int(e["eventId"]) for e in backwards["events"]] == list(range(len(expected), 0, -1))


async def test_start_signal_query_describe_and_result(
    client: Client, temporal, worker, task_queue
):
    workflow_id = unique("cli-queries")
    started = await temporal.json(
        "workflow", "start", *start_args("QueriesWorkflow", workflow_id, task_queue),
        "--static-summary", "started from the CLI", "--memo", 'origin="cli"',
        "--execution-timeout", "1h",
    )  # fmt: skip
    assert started["workflowId"] == workflow_id
    assert started["taskQueue"] == task_queue
    run_id = started["runId"]
    handle = client.get_workflow_handle(workflow_id)
    await wait_for_event(handle, "WORKFLOW_TASK_COMPLETED")

    signaled = await temporal.text(
        "workflow", "signal", "--workflow-id", workflow_id,
        "--name", "set_value", "--input", '"changed"',
    )  # fmt: skip
    assert "Signal workflow succeeded" in signaled
    queried = await temporal.json(
        "workflow", "query", "--workflow-id", workflow_id, "--type", "get_value"
    )
    assert queried["queryResult"] == ["changed"]
    failed_query = await temporal.fails(
        "workflow", "query", "--workflow-id", workflow_id, "--type", "broken"
    )
    assert "this query always fails" in failed_query

    described = await temporal.json("workflow", "describe", "--workflow-id", workflow_id)
    info = described["workflowExecutionInfo"]
    assert info["execution"] == {"workflowId": workflow_id, "runId": run_id}
    assert info["type"]["name"] == "QueriesWorkflow"
    assert info["taskQueue"] == task_queue
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    assert info["memo"]["fields"]["origin"] == "cli"
    config = described["executionConfig"]
    assert config["userMetadata"]["summary"] == "started from the CLI"
    assert config["workflowExecutionTimeout"] == "3600s"
    extended = described["workflowExtendedInfo"]
    assert extended.get("cancelRequested", False) is False
    assert "executionExpirationTime" in extended
    assert "originalStartTime" in extended
    # The SDK sees what the CLI set.
    description = await handle.describe()
    assert await description.static_summary() == "started from the CLI"
    assert await description.memo() == {"origin": "cli"}

    text = await temporal.text("workflow", "describe", "--workflow-id", workflow_id)
    for shown in [
        "Execution Info:",
        workflow_id,
        run_id,
        "QueriesWorkflow",
        "Extended Execution Info:",
        "CancelRequested",
        "StaticSummary",
        "started from the CLI",
        "Pending Activities: 0",
    ]:
        assert shown in text

    await temporal.text(
        "workflow", "signal", "--workflow-id", workflow_id, "--name", "finish", "--input", '"done"'
    )
    result = await temporal.json("workflow", "result", "--workflow-id", workflow_id)
    assert (result["status"], result["result"]) == ("COMPLETED", "changed")
    text = await temporal.text("workflow", "describe", "--workflow-id", workflow_id)
    assert "COMPLETED" in text
    assert "CloseTime" in text


async def test_cancel_and_terminate(client: Client, temporal, worker, task_queue):
    cancelled_id = unique("cli-cancel")
    await temporal.json(
        "workflow", "start", *start_args("WaitForCancelWorkflow", cancelled_id, task_queue),
        "--input", '"raise"',
    )  # fmt: skip
    cancelled = client.get_workflow_handle(cancelled_id)
    await wait_for_event(cancelled, "WORKFLOW_TASK_COMPLETED")
    assert "Canceled workflow" in await temporal.text(
        "workflow", "cancel", "--workflow-id", cancelled_id
    )
    await wait_for_event(cancelled, "WORKFLOW_EXECUTION_CANCELED")
    described = await temporal.json("workflow", "describe", "--workflow-id", cancelled_id)
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_CANCELED"
    assert described["workflowExtendedInfo"]["cancelRequested"] is True
    assert "CANCELED" in await temporal.fails("workflow", "result", "--workflow-id", cancelled_id)

    terminated_id = unique("cli-terminate")
    await temporal.json(
        "workflow", "start", *start_args("SignalsWorkflow", terminated_id, task_queue)
    )
    assert "Workflow terminated" in await temporal.text(
        "workflow", "terminate", "--workflow-id", terminated_id, "--reason", "enough"
    )
    assert (
        await client.get_workflow_handle(terminated_id).describe()
    ).status == WorkflowExecutionStatus.TERMINATED
    shown = await temporal.json("workflow", "show", "--workflow-id", terminated_id)
    last = shown["events"][-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert last["workflowExecutionTerminatedEventAttributes"]["reason"] == "enough"
    # A cancellation request to a closed workflow is a success that changes nothing; a
    # termination is refused.
    assert "Canceled workflow" in await temporal.text(
        "workflow", "cancel", "--workflow-id", terminated_id
    )
    printed = await temporal.fails("workflow", "terminate", "--workflow-id", terminated_id)
    assert "workflow execution already completed" in printed
    assert (await event_types(client.get_workflow_handle(terminated_id)))[-1] == (
        "WORKFLOW_EXECUTION_TERMINATED"
    )


async def test_list_and_count(temporal, worker, task_queue):
    running = [unique("cli-running") for _ in range(2)]
    for workflow_id in running:
        await temporal.json(
            "workflow", "start", *start_args("QueriesWorkflow", workflow_id, task_queue)
        )
    completed = unique("cli-completed")
    await temporal.json(
        "workflow", "execute", *start_args("GreetingWorkflow", completed, task_queue),
        "--input", '"list"',
    )  # fmt: skip
    query = f'TaskQueue="{task_queue}"'
    wanted = {
        **{workflow_id: "WORKFLOW_EXECUTION_STATUS_RUNNING" for workflow_id in running},
        completed: "WORKFLOW_EXECUTION_STATUS_COMPLETED",
    }

    def statuses(listed) -> dict[str, str]:
        return {w["execution"]["workflowId"]: w["status"] for w in listed}

    listed = await temporal.eventually(
        lambda listed: statuses(listed) == wanted, "workflow", "list", "--query", query
    )
    assert statuses(listed) == wanted
    assert {w["type"]["name"] for w in listed} == {"QueriesWorkflow", "GreetingWorkflow"}
    text = await temporal.text("workflow", "list", "--query", query)
    for shown in [*running, completed, "Running", "Completed", "QueriesWorkflow"]:
        assert shown in text

    counted = await temporal.json("workflow", "count", "--query", query)
    assert counted["count"] == "3"
    grouped = await temporal.json(
        "workflow", "count", "--query", f"{query} GROUP BY ExecutionStatus"
    )
    assert grouped["count"] == "3"
    assert {g["groupValues"][0]: g["count"] for g in grouped["groups"]} == {
        "Running": "2",
        "Completed": "1",
    }
    one = f"{query} AND WorkflowId='{completed}'"
    text = await temporal.text("workflow", "count", "--query", one)
    assert text.strip() == "Total: 1"


async def test_namespace_create_list_and_describe(temporal):
    name = unique("cli-namespace")
    created = await temporal.text(
        "operator", "namespace", "create",
        "--description", "made by the CLI", "--email", "team@example.com",
        "--retention", "72h", "--data", "team=payments",
        namespace=name,
    )  # fmt: skip
    assert f"Namespace {name} successfully registered." in created

    listed = await temporal.json("operator", "namespace", "list")
    names = {n["namespaceInfo"]["name"] for n in listed}
    assert {"default", name} <= names

    described = await temporal.json("operator", "namespace", "describe", namespace=name)
    info = described["namespaceInfo"]
    assert info["name"] == name
    assert info["state"] == "NAMESPACE_STATE_REGISTERED"
    assert info["description"] == "made by the CLI"
    assert info["ownerEmail"] == "team@example.com"
    assert info["data"] == {"team": "payments"}
    assert described["config"]["workflowExecutionRetentionTtl"] == "259200s"
    assert described["replicationConfig"]["activeClusterName"] == "active"
    assert described["replicationConfig"]["state"] == "REPLICATION_STATE_NORMAL"
    text = await temporal.text("operator", "namespace", "describe", namespace=name)
    for shown in [name, "made by the CLI", "map[team:payments]", "72h0m0s", "Registered"]:
        assert shown in text

    again = await temporal.fails("operator", "namespace", "create", namespace=name)
    assert f'Namespace "{name}" already exists' in again
    too_short = await temporal.fails(
        "operator", "namespace", "create", "--retention", "1m", namespace=unique("cli-short")
    )
    assert "A valid retention period is not set on request." in too_short
    missing = await temporal.fails("operator", "namespace", "describe", namespace=unique("nope"))
    assert "is not found" in missing


async def test_search_attributes_list_and_values_set_by_the_cli(
    client: Client, temporal, task_queue
):
    listed = await temporal.json("operator", "search-attribute", "list")
    system = listed["systemAttributes"]
    assert system["WorkflowId"] == "INDEXED_VALUE_TYPE_KEYWORD"
    assert system["StartTime"] == "INDEXED_VALUE_TYPE_DATETIME"
    assert system["HistoryLength"] == "INDEXED_VALUE_TYPE_INT"
    assert system["TemporalChangeVersion"] == "INDEXED_VALUE_TYPE_KEYWORD_LIST"
    text = await temporal.text("operator", "search-attribute", "list")
    rows = {tuple(line.split()) for line in text.splitlines()}
    assert {("WorkflowType", "Keyword"), ("CloseTime", "Datetime")} <= rows

    # Unique, and removed afterwards: the session server allows few attributes per type.
    name = f"CliColor{unique('')[1:9]}"
    await temporal.text(
        "operator", "search-attribute", "create", "--name", name, "--type", "Keyword"
    )
    try:
        listed = await temporal.json("operator", "search-attribute", "list")
        assert listed["customAttributes"][name] == "INDEXED_VALUE_TYPE_KEYWORD"
        workflow_id = unique("cli-attributes")
        # No worker: the workflow only needs to exist.
        await temporal.json(
            "workflow", "start", *start_args("SignalsWorkflow", workflow_id, task_queue),
            "--search-attribute", f'{name}="blue"',
        )  # fmt: skip
        handle = client.get_workflow_handle(workflow_id)
        # The CLI sends the value without its type; the SDK reads it typed all the same.
        description = await handle.describe()
        assert description.typed_search_attributes[SearchAttributeKey.for_keyword(name)] == "blue"
        found = await temporal.eventually(
            lambda listed: len(listed) == 1,
            "workflow", "list", "--query", f'{name}="blue"',
        )  # fmt: skip
        assert [w["execution"]["workflowId"] for w in found] == [workflow_id]
        await handle.terminate("test cleanup")
    finally:
        await client.operator_service.remove_search_attributes(
            RemoveSearchAttributesRequest(namespace="default", search_attributes=[name])
        )


async def test_unknown_workflows_are_reported_by_id(temporal):
    workflow_id = unique("cli-missing")
    for command in ["describe", "show", "result", "cancel", "terminate"]:
        printed = await temporal.fails("workflow", command, "--workflow-id", workflow_id)
        assert f"workflow not found for ID: {workflow_id}" in printed
