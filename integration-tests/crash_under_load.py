"""Crash under load: N workflows (an activity that fails before it succeeds, a timer, a
signal, a child workflow) run on a server with a database file, which is killed with SIGKILL
at random moments and restarted on the same file each time. Then: every workflow completed
exactly once with the result it should have, no activity ran more attempts than its retry
policy allows, and the database passes SQLite's integrity check.

Usage: python integration-tests/crash_under_load.py [--workflows 1000] [--kills 10]
           [--binary PATH] [--seed N]
The binary defaults to DEVSERVER_BIN or target/release/devserver. Exit code 0 when every
check passes. test_crash_under_load.py runs a small instance of it in the suite.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.worker import Worker

# Run as a script, it needs what pytest.ini's pythonpath gives the suite.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python" / "src"))

import crash_workflows  # noqa: E402
from crash_workflows import MAX_ATTEMPTS, DoubleWorkflow, OrderWorkflow, charge, expected_result
from support import ServerProcess, free_port, run_load_script  # noqa: E402

# In-flight client calls at once: enough load that kills land mid-request.
CONCURRENCY = 50

# The SDK warns of every call it retries while the server is down: expected here, so only
# errors are shown.
QUIET = Runtime(
    telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    )
)


@dataclass
class Report:
    workflows: int
    kills: int = 0
    seconds: float = 0.0
    client_retries: int = 0
    problems: list[str] = field(default_factory=list)
    attempts: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        lines = [
            f"{self.workflows} workflows, {self.kills} SIGKILLs and restarts, "
            f"{self.seconds:.1f} s, {self.client_retries} client calls retried across crashes",
            "activity attempts that ran: "
            + ", ".join(f"attempt {a}: {n}" for a, n in sorted(self.attempts.items())),
        ]
        lines += [f"PROBLEM: {p}" for p in self.problems[:50]]
        lines.append("OK" if not self.problems else f"{len(self.problems)} problems")
        return "\n".join(lines)


class CrashingServer:
    """The binary on one port and one database file, killed and restarted at will."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary, self.workdir = binary, workdir
        self.database = workdir / "devserver.db"
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.starts = 0
        self.process: ServerProcess | None = None

    def start(self) -> None:
        self.starts += 1
        argv = [
            str(self.binary), "start", "--port", str(self.port), "--headless",
            "--log-level", "warn", "--db-filename", str(self.database),
        ]  # fmt: skip
        self.process = ServerProcess(argv, self.port, self.workdir / f"server-{self.starts}.log")

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()

    def panicked(self) -> list[str]:
        return [
            f"{log.name}: {line}"
            for log in sorted(self.workdir.glob("server-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if "panicked" in line
        ]


async def retried(report: Report, call, what: str):
    """A client call, repeated while the server is down or restarting."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return await call()
        except (RPCError, RuntimeError) as error:
            if isinstance(error, WorkflowAlreadyStartedError) or time.monotonic() > deadline:
                raise
            report.client_retries += 1
            await asyncio.sleep(0.2)


async def drive(client: Client, report: Report, task_queue: str, prefix: str) -> None:
    """Start, signal and await every workflow; checks each result."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(number: int) -> None:
        workflow_id = f"{prefix}-{number}"
        async with gate:
            try:
                await retried(
                    report,
                    lambda: client.start_workflow(
                        OrderWorkflow.run, number, id=workflow_id, task_queue=task_queue,
                        # A start repeated after a crash must find the first run, not begin a second.
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    ),
                    "start",
                )  # fmt: skip
            except WorkflowAlreadyStartedError:
                pass  # the first attempt landed before the crash
            handle: WorkflowHandle = client.get_workflow_handle(workflow_id)
            await retried(report, lambda: handle.signal(OrderWorkflow.approve, "tester"), "signal")
        result = await retried(report, lambda: handle.result(), "result")
        if result != expected_result(number):
            report.problems.append(f"{workflow_id}: result {result!r}, not {expected_result(number)!r}")

    await asyncio.gather(*(one(n) for n in range(report.workflows)))


async def killer(server: CrashingServer, report: Report, kills: int, rng: random.Random) -> None:
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(0.3, 2.0))
        server.kill()
        report.kills += 1
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        server.start()


async def exactly_once(client: Client, report: Report, prefix: str) -> None:
    """One run per workflow id, completed; one child each."""
    for workflow_type in ("OrderWorkflow", "DoubleWorkflow"):
        runs = Counter()
        async for execution in client.list_workflows(
            f"WorkflowType = '{workflow_type}' AND WorkflowId STARTS_WITH '{prefix}-'"
        ):
            runs[(execution.id, execution.status.name)] += 1
        ids = Counter(workflow_id for workflow_id, _ in runs.elements())
        if len(ids) != report.workflows:
            report.problems.append(f"{len(ids)} {workflow_type} ids, not {report.workflows}")
        for (workflow_id, status), count in runs.items():
            if status != "COMPLETED" or ids[workflow_id] != 1:
                report.problems.append(f"{workflow_id}: {ids[workflow_id]} runs, one {status}")


async def run(binary: Path, workflows: int, kills: int, seed: int, workdir: Path) -> Report:
    rng = random.Random(seed)
    report = Report(workflows)
    crash_workflows.LEDGER.clear()
    server = CrashingServer(binary, workdir)
    server.start()
    began = time.monotonic()
    try:
        client = await server.process.connect(runtime=QUIET)
        task_queue = f"crash-{uuid.uuid4()}"
        prefix = f"order-{seed}-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[OrderWorkflow, DoubleWorkflow],
            activities=[charge],
        ):
            await asyncio.gather(
                drive(client, report, task_queue, prefix),
                killer(server, report, kills, rng),
            )
            report.seconds = time.monotonic() - began
            await exactly_once(client, report, prefix)
    finally:
        server.stop()
    report.attempts = Counter(attempt for _, attempt in crash_workflows.LEDGER)
    over = {wid for wid, attempt in crash_workflows.LEDGER if attempt > MAX_ATTEMPTS}
    report.problems += [f"{wid}: an activity ran more than {MAX_ATTEMPTS} attempts" for wid in over]
    report.problems += server.panicked()
    with sqlite3.connect(server.database) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
    if integrity != [("ok",)]:
        report.problems.append(f"integrity_check: {integrity}")
    return report


if __name__ == "__main__":
    # Each failing attempt logs its traceback as a warning; those failures are the plan.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    counts = {"workflows": 1000, "kills": 10}
    sys.exit(run_load_script(__doc__, run, counts, "crash-under-load-"))
