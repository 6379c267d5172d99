"""The wheel as a user gets it: `pip install` into a fresh venv, then the sample tests in
python/samples/, which use nothing but the pytest plugin's fixtures.

The wheel is the newest target/wheels/temporal_devserver-*.whl (scripts/test.sh builds it)
or the file DEVSERVER_WHEEL names."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from support import repo_root

pytestmark = [pytest.mark.devserver_only, pytest.mark.timeout(600)]

SAMPLES = repo_root() / "python" / "samples"


def wheel() -> Path:
    if named := os.environ.get("DEVSERVER_WHEEL"):
        return Path(named)
    built = sorted(
        (repo_root() / "target" / "wheels").glob("temporal_devserver-*.whl"),
        key=lambda p: p.stat().st_mtime,
    )
    if not built:
        pytest.fail("no wheel in target/wheels: build it with scripts/test.sh (maturin build)")
    return built[-1]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (its dependencies pinned to the tests' versions)
    and pytest-xdist, which the plugin must work with."""
    root = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    constraints = ["-c", str(repo_root() / "integration-tests" / "requirements.txt")]
    subprocess.run(
        [*pip, "--disable-pip-version-check", str(wheel()), "pytest-xdist==3.8.0", *constraints],
        check=True,
    )
    return root


def run_samples(venv: Path, tmp_path: Path, which: str, *args: str) -> subprocess.CompletedProcess:
    """pytest on a copy of python/samples/<which>, away from this suite's configuration."""
    copy = tmp_path / which
    shutil.copytree(SAMPLES / which, copy)
    argv = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", *args, "."]
    return subprocess.run(argv, cwd=copy, capture_output=True, text=True, timeout=300)


def test_binary_path_is_the_installed_binary(venv):
    code = "from temporal_devserver import binary_path; print(binary_path())"
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    path = Path(found.stdout.strip())
    assert path == venv / "bin" / "devserver"
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("devserver ")


def test_sample_tests_pass_with_only_the_plugin(venv, tmp_path):
    result = run_samples(venv, tmp_path, "passing")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_each_xdist_worker_gets_a_server(venv, tmp_path):
    db = tmp_path / "state.db"
    result = run_samples(venv, tmp_path, "passing", "-n", "2", "--devserver-db", str(db))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    # Each worker that needed a server started its own, with a database file of its own.
    files = {p.name for p in tmp_path.glob("state*.db")}
    assert files and files <= {"state-gw0.db", "state-gw1.db"}, files


async def test_target_option_uses_a_running_server(venv, tmp_path, server):
    namespace = "extra"  # created by the session server (conftest.py)
    result = run_samples(
        venv, tmp_path, "passing",
        "--devserver-target", server.target, "--devserver-namespace", namespace,
        "-k", "hello_world",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    client = await Client.connect(server.target, namespace=namespace)
    ran = [w async for w in client.list_workflows("WorkflowType = 'GreetingWorkflow'")]
    assert [w.id for w in ran if w.id.startswith("greeting-test_hello_world-")]


def test_failing_test_reports_the_history_timeline(venv, tmp_path):
    result = run_samples(venv, tmp_path, "failing")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "1 failed" in out
    report = out[out.index("Temporal workflow histories") :]
    lines = report.splitlines()
    header = next(line for line in lines if line.startswith("workflow payment-"))
    assert "(PaymentWorkflow)" in header and header.endswith(": failed")

    def event(name: str) -> str:
        return next(line for line in lines if f" {name} " in f"{line} ")

    assert event("WorkflowExecutionStarted").split()[0] == "+0.000s"
    assert "timer 1 for 0.010s" in event("TimerStarted")
    assert "activity charge_card (id 1)" in event("ActivityTaskScheduled")
    assert "attempt 2" in event("ActivityTaskStarted")
    assert "CardDeclined: card declined for 42" in event("ActivityTaskFailed")
    assert "Activity task failed <- CardDeclined: card declined for 42" in event(
        "WorkflowExecutionFailed"
    )
    # Times are relative to the start and never go back.
    times = [float(m[1]) for m in re.finditer(r"^ +\+([0-9.]+)s +\d+ ", report, re.M)]
    assert times == sorted(times) and len(times) >= 10

