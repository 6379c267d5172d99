"""Crash safety: SIGKILL the server while workflows wait on timers, restart it on the same
database file, and every workflow finishes as if nothing happened. And a database file that
cannot be opened is reported, naming it, before the server says it is up."""

import subprocess

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from activities import RUNS, record
from support import ServerProcess, dev_server_argv, free_port, unique, wait_for_event
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
    missing = tmp_path / "no-such-dir" / "devserver.db"
    started = subprocess.run(
        dev_server_argv(binary, free_port(), "--db-filename", str(missing)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert started.returncode != 0
    assert f"cannot open the database {missing}" in started.stderr
    # Nothing claimed the server was up.
    assert "Temporal Server:" not in started.stdout
