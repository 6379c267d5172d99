#!/usr/bin/env python3
"""Schedule benchmark: how soon a triggered schedule's workflow starts and finishes.

For each server (devserver, and the real dev server when its CLI is found), a schedule that
never fires on its own is triggered N times, one after the other; each time, the wall time
from the trigger call to the action showing in describe() (the workflow started) and to the
workflow's result is taken. See README.md in this folder.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from common import describe, find_temporal_cli, log_tail, machine_header, pct

REPO = Path(__file__).resolve().parent.parent


@workflow.defn
class TickWorkflow:
    @workflow.run
    async def run(self) -> str:
        return "tick"


async def connect(target: str, proc: subprocess.Popen, timeout: float) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            return await Client.connect(target)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def bench_server(argv: list[str], port: int, log: Path, args) -> tuple[list, list]:
    """Milliseconds from trigger to start and from trigger to result, per trigger."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        client = await connect(f"127.0.0.1:{port}", proc, args.startup_timeout)
        queue = f"bench-{uuid.uuid4()}"
        async with Worker(
            client, task_queue=queue, workflows=[TickWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):  # fmt: skip
            handle = await client.create_schedule(
                f"bench-{uuid.uuid4()}",
                Schedule(
                    action=ScheduleActionStartWorkflow(
                        TickWorkflow.run, id=f"tick-{uuid.uuid4()}", task_queue=queue
                    ),
                    spec=ScheduleSpec(
                        intervals=[ScheduleIntervalSpec(every=timedelta(days=365))]
                    ),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
                ),
            )
            to_start, to_result = [], []
            for i in range(args.warmup + args.triggers):
                taken = (await handle.describe()).info.num_actions
                t0 = time.monotonic()
                await handle.trigger()
                while True:
                    info = (await handle.describe()).info
                    if info.num_actions > taken:
                        break
                    await asyncio.sleep(0.002)
                t1 = time.monotonic()
                run = client.get_workflow_handle(info.recent_actions[-1].action.workflow_id)
                await asyncio.wait_for(run.result(), args.workflow_timeout)
                t2 = time.monotonic()
                if i >= args.warmup:
                    to_start.append((t1 - t0) * 1000)
                    to_result.append((t2 - t0) * 1000)
                # Workflow ids end in the trigger's second: the next one gets its own.
                await asyncio.sleep(max(0.0, 1.01 - (time.monotonic() - t0)))
            await handle.delete()
        return to_start, to_result
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devserver",
                    default=os.environ.get("DEVSERVER_BIN", str(REPO / "target/release/devserver")))
    ap.add_argument("--temporal-cli", default=None,
                    help="the reference (default: `temporal` beside this Python, then on PATH; "
                         "'' to skip)")
    ap.add_argument("-n", "--triggers", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workflow-timeout", type=float, default=30)
    ap.add_argument("--startup-timeout", type=float, default=30)
    args = ap.parse_args()

    servers = [("devserver", [args.devserver, "start"])]
    cli = find_temporal_cli(args.temporal_cli)
    if cli:
        servers.append(("temporal dev server", [cli, "server", "start-dev"]))
    print(machine_header())
    print(f"run: {args.triggers} triggers of one schedule (+{args.warmup} warm-up), one after "
          "the other; wall time from trigger() to the action in describe() and to the result")
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="devserver-bench-sched-") as workdir:
        for name, command in servers:
            port = 7300 + os.getpid() % 500 + len(rows)
            argv = [*command, "--port", str(port), "--ip", "127.0.0.1", "--headless",
                    "--log-level", "warn"]  # fmt: skip
            log = Path(workdir) / f"{len(rows)}.log"
            try:
                to_start, to_result = asyncio.run(bench_server(argv, port, log, args))
                rows.append((name, to_start, to_result))
            except Exception as e:  # noqa: BLE001 - reported, then the next server runs
                failed = True
                print(f"{name} failed: {describe(e)}\n{log_tail(log)}", file=sys.stderr)
    print(f"\n{'server':<22}{'to start p50':>14}{'p99':>8}{'to result p50':>16}{'p99':>8}  (ms)")
    for name, to_start, to_result in rows:
        print(f"{name:<22}{pct(to_start, 50):>14.1f}{pct(to_start, 99):>8.1f}"
              f"{pct(to_result, 50):>16.1f}{pct(to_result, 99):>8.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
