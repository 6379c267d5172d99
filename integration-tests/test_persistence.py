"""Crash safety: SIGKILL the server while workflows wait on timers, restart it on the same
database file, and every workflow finishes as if nothing happened. And a database file that
cannot be used (missing directory, not a database, a newer schema, another server on it) is
reported, naming it and the cause, before the server says it is up, and left untouched. A
disk that fills up refuses changes with an error naming the file and loses nothing."""

import errno
import sqlite3
import subprocess
import uuid

import pytest
from temporalio.api.common.v1 import Payload, Payloads, WorkflowType
from temporalio.api.enums.v1 import EventType, ResourceExhaustedCause
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities import RUNS, record
from support import (
    ServerProcess,
    dev_server_argv,
    free_port,
    refused_start,
    unique,
    wait_for_event,
)
from workflows import StepsWorkflow

WORKFLOWS = 5
TIMER_SECONDS = 3


async def test_sigkill_loses_nothing_acknowledged(binary, tmp_path, task_queue):
    port = free_port()
    argv = dev_server_argv(binary, port, "--db-filename", str(tmp_path / "devserver.db"))
    workflow_ids = [unique("crash") for _ in range(WORKFLOWS)]

    server = ServerProcess(argv, port, tmp_path / "before-crash.log")
    try:
        client = await server.connect()
        async with Worker(
            client, task_queue=task_queue, workflows=[StepsWorkflow], activities=[record]
        ):
            for workflow_id in workflow_ids:
                handle = await client.start_workflow(
                    StepsWorkflow.run, TIMER_SECONDS, id=workflow_id, task_queue=task_queue
                )
                # The first activity's completion was acknowledged, the timer is pending.
                await wait_for_event(handle, "TIMER_STARTED")
            server.kill()
        # The worker shut down against a dead server; its sticky queue is left behind.

        server = ServerProcess(argv, port, tmp_path / "after-crash.log")
        client = await server.connect()
        async with Worker(
            client, task_queue=task_queue, workflows=[StepsWorkflow], activities=[record]
        ):
            for workflow_id in workflow_ids:
                assert await client.get_workflow_handle(workflow_id).result() == "done"

        for workflow_id in workflow_ids:
            assert RUNS[(workflow_id, "before")] == 1
            assert RUNS[(workflow_id, "after")] == 1
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            closes = [
                e
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
            ]
            assert len(closes) == 1
    finally:
        server.stop()


@pytest.mark.devserver_only  # the real CLI words its errors its own way
def test_a_database_that_cannot_be_opened_is_named_before_anything_is_announced(
    binary, tmp_path
):
    refused(binary, tmp_path / "no-such-dir" / "devserver.db")


def refused(binary, database) -> str:
    """The start on `database` fails, naming it, before any banner; its stderr."""
    stderr = refused_start(dev_server_argv(binary, free_port(), "--db-filename", str(database)))
    assert f"cannot open the database {database}" in stderr
    return stderr


def file_server(binary, database, log) -> ServerProcess:
    port = free_port()
    return ServerProcess(dev_server_argv(binary, port, "--db-filename", str(database)), port, log)


@pytest.mark.devserver_only  # the real CLI words its errors its own way
def test_a_file_that_is_not_a_database_is_refused_untouched(binary, tmp_path):
    database = tmp_path / "notes.txt"
    text = "not a database, " * 100
    database.write_text(text)
    assert "file is not a database" in refused(binary, database)
    assert database.read_text() == text


@pytest.mark.devserver_only
async def test_a_database_of_a_newer_devserver_is_refused_untouched(binary, tmp_path):
    database = tmp_path / "devserver.db"
    server = file_server(binary, database, tmp_path / "log")
    try:
        await server.connect()
    finally:
        server.stop()
    db = sqlite3.connect(database)
    with db:
        db.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)"
            " VALUES (9999, 'from a newer devserver', 1, x'00', 0)"
        )
    # Closing the last connection checkpoints the write-ahead log into the file.
    db.close()
    before = database.read_bytes()
    assert "schema (version 9999) is newer than this devserver's" in refused(binary, database)
    assert database.read_bytes() == before


@pytest.mark.devserver_only
async def test_a_second_server_on_one_database_file_is_refused(binary, tmp_path, task_queue):
    """Two servers would each trust their own cache of the file's runs and tasks."""
    database = tmp_path / "devserver.db"
    first = file_server(binary, database, tmp_path / "log")
    try:
        client = await first.connect()
        assert "another process (another devserver?) is using" in refused(binary, database)
        # The first one serves on, undisturbed.
        async with Worker(client, task_queue=task_queue, workflows=[StepsWorkflow], activities=[record]):
            await client.execute_workflow(StepsWorkflow.run, 0.01, id=unique("first"), task_queue=task_queue)
    finally:
        first.stop()
    # Once it is gone, the file opens again.
    again = file_server(binary, database, tmp_path / "log2")
    try:
        await again.connect()
    finally:
        again.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs: a disk that fills up without filling the machine's."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk) -> None:
    """Writes a file until the disk has no room left."""
    with open(disk / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC


def start_request(workflow_id: str, task_queue: str, payload_bytes: int):
    return StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="StepsWorkflow"),
        task_queue=TaskQueue(name=task_queue),
        input=Payloads(payloads=[Payload(data=b"x" * payload_bytes)]),
        request_id=str(uuid.uuid4()),
    )


@pytest.mark.devserver_only  # the real server's words and status for a full disk differ
async def test_a_full_disk_refuses_changes_naming_the_file_and_loses_nothing(
    binary, tmp_path, small_disk, task_queue
):
    database = small_disk / "devserver.db"
    server = file_server(binary, database, tmp_path / "log")
    try:
        client = await server.connect()
        service = client.workflow_service
        acknowledged = [unique("before-full") for _ in range(5)]
        for workflow_id in acknowledged:
            await service.start_workflow_execution(start_request(workflow_id, task_queue, 100))

        fill(small_disk)
        refused_id = unique("while-full")
        with pytest.raises(RPCError) as refused_error:
            # Without the client's retries, which would wait for the disk to be freed.
            await service.start_workflow_execution(
                start_request(refused_id, task_queue, 1 << 20), retry=False
            )
        error = refused_error.value
        assert error.status == RPCStatusCode.RESOURCE_EXHAUSTED
        assert f"the disk holding the database {database} is full" in error.message
        detail = ResourceExhaustedFailure()
        assert error.grpc_status.details[0].Unpack(detail)
        assert detail.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_PERSISTENCE_STORAGE_LIMIT

        (small_disk / "filler").unlink()
        await service.start_workflow_execution(start_request(refused_id, task_queue, 1 << 20))
        for workflow_id in [*acknowledged, refused_id]:
            description = await client.get_workflow_handle(workflow_id).describe()
            assert description.workflow_type == "StepsWorkflow"
    finally:
        server.stop()
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
