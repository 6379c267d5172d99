"""What the benchmark scripts share: the machine and client they ran on, where the real
`temporal` CLI is, percentiles, readable errors and logs, and server processes (start,
readiness, CPU and memory from /proc, stop)."""
from __future__ import annotations

import asyncio
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as pkg_version
from pathlib import Path

from temporalio.client import Client

CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.002  # readiness poll interval
REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEVSERVER_BIN = os.environ.get("DEVSERVER_BIN", str(REPO / "target/release/devserver"))


def machine_header() -> str:
    """Two lines: the machine (cores, CPU, RAM, OS) and the Python client."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal:")), "0")
    return (
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}, "
        f"{int(mem) / 2**20:.1f} GiB RAM, {platform.system()} {platform.release()}\n"
        f"client: Python {platform.python_version()}, temporalio {pkg_version('temporalio')}"
    )


def find_temporal_cli(arg: str | None) -> str | None:
    """The `temporal` CLI: `arg` if given ('' means none), else beside this Python, else
    on PATH."""
    if arg is not None:
        return arg or None
    # A venv's bin is not on PATH unless activated; look beside our interpreter first.
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else shutil.which("temporal")


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(len(s) * p / 100) - 1)] if s else float("nan")


def describe(e: BaseException) -> str:
    """Exception with its cause chain; SDK errors keep the server's message in causes."""
    parts = []
    while e is not None and len(parts) < 5:
        parts.append(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        e = e.__cause__ or getattr(e, "cause", None)
    return " <- ".join(parts)


def log_tail(path: Path | None, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path else ""
    except OSError:
        return ""


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


@dataclass(frozen=True)
class CpuReading:
    """CPU used so far by a process tree, two ways: utime+stime (plus cutime+cstime of
    reaped children), which counts exited threads but in 10 ms ticks, and each live
    thread's nanoseconds on CPU (`/proc/<pid>/task/<tid>/schedstat`)."""

    ticks_s: float
    thread_ns: dict[int, int]

    def __sub__(self, earlier: CpuReading) -> float:
        """CPU seconds between two readings: the threads' nanoseconds, unless a thread
        exited meanwhile (its time would be lost), which the ticks then show."""
        by_threads = sum(ns - earlier.thread_ns.get(tid, 0) for tid, ns in self.thread_ns.items()) / 1e9
        by_ticks = self.ticks_s - earlier.ticks_s
        # Each tick figure truncates two fields to 10 ms; more than that apart means lost time.
        lost = not earlier.thread_ns.keys() <= self.thread_ns.keys() or by_threads < by_ticks - 0.02
        return by_ticks if lost else by_threads


def cpu_reading(root: int) -> CpuReading:
    ticks, thread_ns = 0, {}
    for pid in process_tree(root):
        try:
            ticks += sum(int(x) for x in _stat_fields(pid)[11:15])
            for tid in os.listdir(f"/proc/{pid}/task"):
                thread_ns[int(tid)] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except OSError:  # exited meanwhile
            continue
    return CpuReading(ticks / CLK_TCK, thread_ns)


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


def own_cpu_seconds() -> float:
    """utime+stime of this process (all its threads, including the SDK's core)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Spec:
    key: str
    title: str
    binary: str
    argv: Callable[[int, Path | None], list[str]]  # (port, database file or None) -> command line
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
    """A fresh server process on a fresh port, in memory or on database file `db`; stopped
    on exit."""

    def __init__(self, spec: Spec, workdir: Path, ready_timeout: float, db: Path | None = None):
        self.spec, self.workdir, self.ready_timeout, self.db = spec, workdir, ready_timeout, db

    async def __aenter__(self) -> Launched:
        self.port = free_port()
        self.log = Path(tempfile.mkdtemp(dir=self.workdir)) / "server.log"
        argv = self.spec.argv(self.port, self.db)
        self.target = target = f"127.0.0.1:{self.port}"
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

    async def sigterm_to_exit(self, timeout: float = 60) -> float:
        """Seconds from SIGTERM to the server's exit."""
        t0 = time.perf_counter()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"still running {timeout:g}s after SIGTERM")
        elapsed = time.perf_counter() - t0
        LIVE.discard(self.proc)
        return elapsed

    async def __aexit__(self, *exc):
        stop(self.proc)
