"""Fixtures: one server for the whole session, a client on it, a fresh task queue per test.

Environment:
  DEVSERVER_BIN     the binary under test (default: <repo>/target/release/devserver).
  DEVSERVER_TARGET  host:port of a server that is already running, used instead of
                    launching DEVSERVER_BIN for the session. It must have the namespace
                    "extra" (e.g. `temporal server start-dev --namespace extra`). This exists
                    to check the tests themselves against the real Temporal dev server; the
                    tests that launch a server of their own (crash safety, start_local)
                    still use DEVSERVER_BIN, which may then be the real `temporal` CLI.
"""

import os
from dataclasses import dataclass

import pytest
from temporalio.client import Client

from support import ServerProcess, devserver_bin, free_port, unique

# Created by the session server's `--namespace` flag; test_server_api.py uses it.
EXTRA_NAMESPACE = "extra"

_session_server: ServerProcess | None = None


@dataclass
class Server:
    target: str
    process: ServerProcess | None  # None when DEVSERVER_TARGET points at a running server


@pytest.fixture(scope="session")
def binary():
    path = devserver_bin()
    if not path.is_file():
        pytest.fail(f"{path} does not exist: build it with `cargo build --release`")
    return path


@pytest.fixture(scope="session")
async def server(request, tmp_path_factory):
    global _session_server
    if target := os.environ.get("DEVSERVER_TARGET"):
        yield Server(target, None)
        return
    binary = request.getfixturevalue("binary")
    port = free_port()
    argv = [
        str(binary), "start", "--port", str(port), "--headless", "--log-level", "warn",
        "--namespace", EXTRA_NAMESPACE,
    ]  # fmt: skip
    process = ServerProcess(argv, port, tmp_path_factory.mktemp("devserver") / "server.log")
    _session_server = process
    try:
        await process.connect()
        yield Server(process.target, process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
async def client(server) -> Client:
    return await Client.connect(server.target, namespace="default")


@pytest.fixture
def task_queue() -> str:
    return unique("tq")


@pytest.fixture(autouse=True)
def _server_still_running():
    """A crash of the session server fails the test that caused it, not the ones after."""
    yield
    if _session_server is not None and not _session_server.alive():
        pytest.fail(f"the server exited with {_session_server.proc.returncode}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and _session_server is not None:
        report.sections.append(
            (f"server log ({_session_server.log_path})", _session_server.log_tail())
        )
    return report
