"""pytest plugin: a devserver for the test session, Temporal clients and environments on it,
and, when a test fails, the histories of the workflows it started as timelines in its report.

Fixtures:
  devserver             (session) the running server: `.target` (host:port), `.namespace`
  temporal_client       a `temporalio.client.Client` connected to it
  temporal_env          a `WorkflowEnvironment` around that client (real time)
  time_skipping_env     a `WorkflowEnvironment` of its own server with time skipping (one
                        global clock, `WorkflowEnvironment.start_time_skipping`)
  temporal_task_queue   a task queue name no other test uses

Options:
  --devserver-target HOST:PORT   use a server that is already running (devserver or the
                                 real Temporal server) instead of starting one
  --devserver-namespace NS       the namespace clients use (default: default)
  --devserver-port PORT          port of the server the plugin starts (default: a free one)
  --devserver-db FILE            keep the started server's state in this SQLite file
  --devserver-log-level LEVEL    the started server's log level (default: warn)

Under pytest-xdist each worker starts a server of its own (on PORT + its index when a port
is given, with its own FILE); with --devserver-target, the workers share that server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from . import binary_path
from .histories import StartRecorder, fetch_histories
from .timeline import format_timeline

_STARTED = pytest.StashKey[list]()
_READY_TIMEOUT_S = 30
_HISTORY_TIMEOUT_S = 30


@dataclass
class DevServer:
    target: str
    namespace: str
    process: subprocess.Popen | None = field(default=None, repr=False)
    log: Path | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devserver", "Temporal devserver")
    group.addoption("--devserver-target", metavar="HOST:PORT", help="use this running server")
    group.addoption(
        "--devserver-namespace", default="default", metavar="NS", help="namespace of the clients"
    )
    group.addoption("--devserver-port", type=int, metavar="PORT", help="port of the started server")
    group.addoption("--devserver-db", metavar="FILE", help="SQLite file of the started server")
    group.addoption(
        "--devserver-log-level",
        default="warn",
        choices=["debug", "info", "warn", "error", "never"],
        help="log level of the started server",
    )


def _xdist_index() -> int | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(binary: Path, target: str) -> bool:
    probe = [str(binary), "health", "--address", target, "--timeout", "1"]
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def devserver(request: pytest.FixtureRequest, tmp_path_factory) -> DevServer:
    """The server of this session (of this xdist worker): started here, or --devserver-target."""
    options = request.config.option
    namespace = options.devserver_namespace
    if options.devserver_target:
        yield DevServer(options.devserver_target, namespace)
        return

    index = _xdist_index()
    port = options.devserver_port
    port = _free_port() if port is None else port + (index or 0)
    argv = [str(binary_path()), "start", "--port", str(port), "--headless"]
    argv += ["--log-level", options.devserver_log_level]
    if namespace != "default":
        argv += ["--namespace", namespace]
    if options.devserver_db:
        db = Path(options.devserver_db)
        if index is not None:
            db = db.with_name(f"{db.stem}-gw{index}{db.suffix}")
        argv += ["--db-filename", str(db)]

    log = tmp_path_factory.mktemp("devserver") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = DevServer(f"127.0.0.1:{port}", namespace, process, log)
    try:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not _healthy(argv[0], server.target):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"devserver did not start ({' '.join(argv)}):\n{log.read_text()}"
                )
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _recorder(request: pytest.FixtureRequest, target: str, namespace: str) -> StartRecorder:
    """A client interceptor noting what the test starts, for the timelines of a failure."""
    recorder = StartRecorder()
    request.node.stash.setdefault(_STARTED, []).append((target, namespace, recorder))
    return recorder


@pytest_asyncio.fixture
async def temporal_client(devserver: DevServer, request: pytest.FixtureRequest) -> Client:
    recorder = _recorder(request, devserver.target, devserver.namespace)
    return await Client.connect(
        devserver.target, namespace=devserver.namespace, interceptors=[recorder]
    )


@pytest_asyncio.fixture
async def temporal_env(temporal_client: Client) -> WorkflowEnvironment:
    return WorkflowEnvironment.from_client(temporal_client)


@pytest_asyncio.fixture
async def time_skipping_env(request: pytest.FixtureRequest) -> WorkflowEnvironment:
    """A server of its own per test, so that each test starts with its own clock."""
    recorder = StartRecorder()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(binary_path()), interceptors=[recorder]
    )
    config = env.client.service_client.config
    request.node.stash.setdefault(_STARTED, []).append(
        (config.target_host, env.client.namespace, recorder)
    )
    async with env:
        yield env


@pytest.fixture
def temporal_task_queue(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name[:100]}-{uuid.uuid4()}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    started = item.stash.get(_STARTED, [])
    if report.when == "call" and report.failed and any(r.started for _, _, r in started):
        # The failed test's fixtures (and servers) are still up: teardown comes after this.
        report.sections.append(("Temporal workflow histories", _timelines(started)))
    return report


def _timelines(started: list[tuple[str, str, StartRecorder]]) -> str:
    async def collect() -> str:
        parts = []
        for target, namespace, recorder in started:
            if not recorder.started:
                continue
            client = await Client.connect(target, namespace=namespace)
            histories, problems = await fetch_histories(client, recorder.started)
            parts += [format_timeline(h) for h in histories] + problems
        return "\n\n".join(parts)

    # A loop of its own in a thread of its own: the test's loop may be closed or running.
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(asyncio.run, collect()).result(_HISTORY_TIMEOUT_S)
    except Exception as error:
        return f"could not fetch the histories: {error!r}"
    finally:
        pool.shutdown(wait=False)
