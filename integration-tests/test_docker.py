"""docker/: the compose file is valid and its commands are ones the binary runs, and the
image builds (with podman, from the binary under test) holding one static binary.

Containers cannot run where these tests run, so the image is inspected, not started. The
podman and compose checks are skipped where those tools are not installed (.ci/run installs
them)."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from support import ServerProcess, devserver_bin, free_port, repo_root

pytestmark = pytest.mark.devserver_only

DOCKER = repo_root() / "docker"


def compose_service() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]["devserver"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_compose_file_is_valid():
    check = subprocess.run(
        ["docker-compose", "-f", str(DOCKER / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


async def test_compose_command_serves_and_its_healthcheck_passes(tmp_path):
    """The compose file's command, run by the binary here (its /data path swapped for a
    temporary one, on a free port), and the healthcheck's probe against it."""
    service = compose_service()
    port = free_port()
    command = [str(tmp_path / "devserver.db") if a == "/data/devserver.db" else a for a in service["command"]]
    assert "--db-filename" in command and ["--ip", "0.0.0.0"] == command[1:3]
    server = ServerProcess([str(devserver_bin()), *command, "--port", str(port)], port, tmp_path / "log")
    try:
        await server.connect()
        kind, *probe = service["healthcheck"]["test"]
        assert kind == "CMD" and probe[0] == "/devserver"
        probe = [str(devserver_bin()), *(a.replace(":7233", f":{port}") for a in probe[1:])]
        answer = subprocess.run(probe, capture_output=True, text=True)
        assert (answer.returncode, answer.stdout.strip()) == (0, "SERVING")
    finally:
        server.stop()
    assert (tmp_path / "devserver.db").is_file()


def is_static_elf(path) -> bool:
    """An ELF executable without a program interpreter (PT_INTERP) needs no libc at run time."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not a 64-bit ELF file"
    order = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[0x20:0x28], order)
    phentsize = int.from_bytes(data[0x36:0x38], order)
    phnum = int.from_bytes(data[0x38:0x3A], order)
    pt_interp = 3
    types = [
        int.from_bytes(data[phoff + i * phentsize : phoff + i * phentsize + 4], order)
        for i in range(phnum)
    ]
    return pt_interp not in types


@pytest.mark.skipif(not shutil.which("podman"), reason="podman is not installed")
def test_image_builds_from_the_binary_and_holds_it_static(tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(devserver_bin(), context / "devserver")
    tag = f"localhost/devserver-test:{int(time.time() * 1000)}"
    build = [
        "podman", "build", "--quiet", "-f", str(DOCKER / "Dockerfile"),
        "--build-arg", "BINARY_FROM=host", "-t", tag, str(context),
    ]  # fmt: skip
    built = subprocess.run(build, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    try:
        inspect = subprocess.run(
            ["podman", "image", "inspect", "--format",
             "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.ExposedPorts}}", tag],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        entrypoint, cmd, ports = inspect.stdout.split(" ", 2)
        assert entrypoint == '["/devserver"]'
        assert '"--ip","0.0.0.0"' in cmd and "7233/tcp" in ports

        mount = subprocess.run(
            ["podman", "image", "mount", tag], capture_output=True, text=True, check=True
        ).stdout.strip()
        try:
            root = Path(mount)
            assert sorted(p.name for p in root.iterdir()) == ["devserver"]
            extracted = tmp_path / "extracted"
            shutil.copy(root / "devserver", extracted)
        finally:
            subprocess.run(["podman", "image", "unmount", tag], capture_output=True)
        assert extracted.read_bytes() == devserver_bin().read_bytes()
        assert is_static_elf(extracted), "the image's binary needs a dynamic loader"
        version = subprocess.run([str(extracted), "--version"], capture_output=True, text=True)
        assert version.stdout.startswith("devserver ")
    finally:
        subprocess.run(["podman", "rmi", "-f", tag], capture_output=True)
