"""Helpers shared by the tests: launching the binary, waiting for it, reading histories."""

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle


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


def devserver_bin() -> Path:
    return Path(os.environ.get("DEVSERVER_BIN", repo_root() / "target/release/devserver"))
