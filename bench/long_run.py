"""Long run: many workflows through one devserver process, in rounds that each use a task
queue and workflow ids of their own, so that anything kept per queue or per id after it is
unused shows as growth. After each round: the server's RSS, open file descriptors, threads,
CPU, and the latency of workflows run one at a time; the last rounds must answer as fast as
the first and RSS must settle.

Usage: python bench/long_run.py [--workflows 100000] [--round 1000] [--db-file]
           [--devserver-bin PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import DEFAULT_DEVSERVER_BIN, Launched, Spec, cpu_reading, machine_header, pct, rss_kib
from workflows import QUICKSTART, make_worker, run_batch

CONCURRENCY = 50
PROBES = 20  # workflows one at a time per round, for latency


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


async def one_round(client, pool, size: int) -> list[float]:
    """A fresh task queue and a worker for it, `size` workflows, then PROBES one at a time;
    returns the probes' start-to-result seconds."""
    task_queue = f"long-{uuid.uuid4().hex[:12]}"
    async with make_worker(client, task_queue, pool, CONCURRENCY):
        progress: dict = {}
        await run_batch(client, task_queue, QUICKSTART, size, CONCURRENCY, "load", progress)
        return await run_batch(client, task_queue, QUICKSTART, PROBES, 1, "probe", progress)


async def main_async(args) -> int:
    def argv(port: int, db: Path | None) -> list[str]:
        return [args.devserver_bin, "start", "--port", str(port), "--headless",
                "--log-level", "warn", *(["--db-filename", str(db)] if db else [])]  # fmt: skip

    rounds = max(1, args.workflows // args.round)
    rows = []
    with tempfile.TemporaryDirectory(prefix="devserver-long-") as workdir:
        db = Path(workdir) / "long.db" if args.db_file else None
        spec = Spec("devserver", "devserver", args.devserver_bin, argv)
        async with Launched(spec, Path(workdir), 60, db) as server:
            pid = server.proc.pid
            print(f"{'round':>6} {'workflows':>10} {'RSS MiB':>8} {'fds':>5} {'threads':>7} "
                  f"{'CPU ms/wf':>9} {'p50 ms':>7} {'p99 ms':>7}", flush=True)  # fmt: skip
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                for number in range(1, rounds + 1):
                    cpu0 = cpu_reading(pid)
                    probes = await one_round(server.client, pool, args.round)
                    cpu = (cpu_reading(pid) - cpu0) * 1000 / (args.round + PROBES)
                    row = (number, number * (args.round + PROBES), rss_kib(pid) / 1024,
                           open_fds(pid), threads(pid), cpu, pct(probes, 50) * 1000,
                           pct(probes, 99) * 1000)  # fmt: skip
                    rows.append(row)
                    print(f"{row[0]:>6} {row[1]:>10} {row[2]:>8.1f} {row[3]:>5} {row[4]:>7} "
                          f"{row[5]:>9.2f} {row[6]:>7.1f} {row[7]:>7.1f}", flush=True)  # fmt: skip
    tenth = max(1, len(rows) // 10)
    early, late = rows[:tenth], rows[-tenth:]

    def mean(values) -> float:
        return sum(values) / len(values)

    print(
        f"\nfirst tenth of the rounds vs last tenth: RSS {mean([r[2] for r in early]):.1f} -> "
        f"{mean([r[2] for r in late]):.1f} MiB, fds {early[0][3]} -> {late[-1][3]}, "
        f"threads {early[0][4]} -> {late[-1][4]}, CPU/workflow "
        f"{mean([r[5] for r in early]):.2f} -> {mean([r[5] for r in late]):.2f} ms, "
        f"p50 {mean([r[6] for r in early]):.1f} -> {mean([r[6] for r in late]):.1f} ms"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=100_000)
    parser.add_argument("--round", type=int, default=1000, help="workflows per round")
    parser.add_argument("--db-file", action="store_true", help="a database file, not memory")
    parser.add_argument("--devserver-bin", default=DEFAULT_DEVSERVER_BIN)
    args = parser.parse_args()
    print(machine_header())
    started = time.monotonic()
    code = asyncio.run(main_async(args))
    print(f"{time.monotonic() - started:.0f} s in all")
    return code


if __name__ == "__main__":
    sys.exit(main())
