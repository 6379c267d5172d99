"""Cancelled polls: P pollers long-poll one workflow task queue and cancel their polls at
random moments (as workers do when they shut down or time out) while N workflow tasks flow
through it. Every task must reach a poller that stays to complete it, and none may be handed
out twice under the same attempt: a task given to a poll that was cancelled meanwhile comes
back after its timeout, with its attempt number raised.

Usage: python integration-tests/cancelled_polls.py [--tasks 5000] [--pollers 200]
           [--binary PATH] [--seed N]
Exit code 0 when every check passes. test_cancelled_polls.py runs a small instance.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.api.command.v1 import Command, CompleteWorkflowExecutionCommandAttributes
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import CommandType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
)
from temporalio.client import Client

# Run as a script, it needs what pytest.ini's pythonpath gives the suite.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python" / "src"))

from support import ServerProcess, free_port, run_load_script  # noqa: E402

# A task whose poll was cancelled after the server handed it out comes back after this.
TASK_TIMEOUT = timedelta(seconds=1)


@dataclass
class Report:
    tasks: int
    pollers: int
    seconds: float = 0.0
    cancelled_polls: int = 0
    completed: int = 0
    # (workflow id, attempt) of every task a poll received, kept or not.
    received: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        retried = sum(1 for (_, attempt) in self.received if attempt > 1)
        lines = [
            f"{self.tasks} workflow tasks, {self.pollers} pollers, {self.cancelled_polls} polls "
            f"cancelled, {self.seconds:.1f} s",
            f"{self.completed} completed; {retried} tasks came back with a raised attempt "
            "(handed to a poll cancelled meanwhile)",
        ]
        lines += [f"PROBLEM: {p}" for p in self.problems[:50]]
        lines.append("OK" if not self.problems else f"{len(self.problems)} problems")
        return "\n".join(lines)


async def poller(
    client: Client, task_queue: str, report: Report, done: asyncio.Event, rng: random.Random,
    keeps: bool,
) -> None:  # fmt: skip
    """Polls until every workflow completed, completing what it receives. All but the keeping
    pollers give up each poll after a random moment, which may be after the server handed
    it a task: that task must come back."""
    request = PollWorkflowTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=task_queue),
        identity=f"poller-{uuid.uuid4().hex[:6]}",
    )
    while not done.is_set():
        poll = asyncio.ensure_future(client.workflow_service.poll_workflow_task_queue(request))
        if not keeps:
            await asyncio.sleep(rng.uniform(0, 0.05))
            if not poll.done():
                poll.cancel()
                report.cancelled_polls += 1
                try:
                    await poll
                except asyncio.CancelledError:
                    pass
                continue
        try:
            task = await poll
        except Exception:
            continue
        if not task.task_token:
            continue  # the long poll ended empty
        report.received[(task.workflow_execution.workflow_id, task.attempt)] += 1
        await client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace="default",
                task_token=task.task_token,
                identity=request.identity,
                commands=[
                    Command(
                        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
                        complete_workflow_execution_command_attributes=(
                            CompleteWorkflowExecutionCommandAttributes(result=Payloads())
                        ),
                    )
                ],
            )
        )


async def run(binary: Path, tasks: int, pollers: int, seed: int, workdir: Path) -> Report:
    rng = random.Random(seed)
    report = Report(tasks, pollers)
    port = free_port()
    argv = [str(binary), "start", "--port", str(port), "--headless", "--log-level", "warn"]
    server = ServerProcess(argv, port, workdir / "server.log")
    try:
        client = await server.connect()
        task_queue = f"storm-{uuid.uuid4()}"
        done = asyncio.Event()
        # One poller in ten keeps what it gets; the rest cancel their polls.
        polling = [
            asyncio.ensure_future(
                poller(client, task_queue, report, done, random.Random(rng.random()), i % 10 == 0)
            )
            for i in range(pollers)
        ]
        began = time.monotonic()
        handles = []
        for number in range(tasks):
            handles.append(
                await client.start_workflow(
                    "StormWorkflow", id=f"storm-{seed}-{number}", task_queue=task_queue,
                    task_timeout=TASK_TIMEOUT,
                )
            )  # fmt: skip
        for handle in handles:
            await asyncio.wait_for(handle.result(), timeout=120)
            report.completed += 1
        report.seconds = time.monotonic() - began
        done.set()
        for task in polling:
            task.cancel()
        await asyncio.gather(*polling, return_exceptions=True)
    finally:
        server.stop()
    report.problems += [
        f"workflow {wid} attempt {attempt} was handed out {count} times"
        for (wid, attempt), count in report.received.items()
        if count > 1
    ]
    if report.completed != tasks:
        report.problems.append(f"{report.completed} of {tasks} workflows completed")
    if "panicked" in (workdir / "server.log").read_text(errors="replace"):
        report.problems.append("the server panicked (see its log)")
    return report


if __name__ == "__main__":
    sys.exit(run_load_script(__doc__, run, {"tasks": 5000, "pollers": 200}, "cancelled-polls-"))
