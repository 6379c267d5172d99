"""A server shared beyond one laptop: TLS (`--tls-cert`, `--tls-key`) and an API key
(`--api-key`), as a Python client reaches them with `Client.connect(tls=..., api_key=...)`.
The certificates are made here with the `openssl` command."""

import subprocess

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, TLSConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from support import ServerProcess, devserver_bin, free_port, refused_start, unique
from workflows import EchoWorkflow

pytestmark = pytest.mark.devserver_only  # the real dev server has neither flag


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple:
    """A certificate authority, and the server's certificate for 127.0.0.1 and localhost
    signed by it, with its key: (the CA's certificate, the server's, the server's key)."""
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"),
            "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "1",
            "-extfile", str(d / "san.ext"), "-out", str(d / "server.pem"))  # fmt: skip
    return d / "ca.pem", d / "server.pem", d / "server.key"


def started(tmp_path, *flags: str) -> ServerProcess:
    port = free_port()
    argv = [str(devserver_bin()), "start", "--port", str(port), "--log-level", "warn", *flags]
    return ServerProcess(argv, port, tmp_path / "server.log")


async def test_tls_serves_clients_that_trust_the_certificate(certificate, tmp_path, task_queue):
    ca, cert, key = certificate
    server = started(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        client = await server.connect(tls=TLSConfig(server_root_ca_cert=ca.read_bytes()))
        async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
            result = await client.execute_workflow(
                EchoWorkflow.run, "over tls", id=unique("tls"), task_queue=task_queue
            )
        assert result == "over tls"
        # A plaintext client gets no answer from a TLS server.
        with pytest.raises(RuntimeError):
            await Client.connect(server.target)
    finally:
        server.stop()


async def test_the_health_command_probes_a_tls_server(certificate, tmp_path):
    """The container healthcheck of a server started with --tls-cert."""
    ca, cert, key = certificate
    server = started(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        await server.connect(tls=TLSConfig(server_root_ca_cert=ca.read_bytes()))

        def health(*flags: str) -> subprocess.CompletedProcess:
            argv = [str(devserver_bin()), "health", "--address", server.target, "--timeout", "3"]
            return subprocess.run([*argv, *flags], capture_output=True, text=True)

        trusted = health("--tls-ca-path", str(ca))
        assert (trusted.returncode, trusted.stdout) == (0, "SERVING\n"), trusted.stderr
        named = health("--tls-ca-path", str(ca), "--tls-server-name", "localhost")
        assert named.returncode == 0, named.stderr
        wrong_name = health("--tls-ca-path", str(ca), "--tls-server-name", "elsewhere.example")
        assert wrong_name.returncode == 1
        assert "TLS handshake with" in wrong_name.stderr
        # Trusting only the server's own certificate is not enough: it was signed by the CA.
        untrusted = health("--tls-ca-path", str(cert))
        assert untrusted.returncode == 1
        assert "TLS handshake with" in untrusted.stderr
        assert health().returncode == 1, "plaintext gets no answer from a TLS server"
    finally:
        server.stop()


async def test_api_key_is_required_of_every_request_but_the_health_check(tmp_path, task_queue):
    server = started(tmp_path, "--api-key", "s3cret")
    try:
        client = await server.connect(api_key="s3cret", tls=False)
        async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
            result = await client.execute_workflow(
                EchoWorkflow.run, "with a key", id=unique("key"), task_queue=task_queue
            )
        assert result == "with a key"

        # The client's key can change under it (a rotated key): the wrong one is refused...
        client.api_key = "wrong"
        with pytest.raises(RPCError) as wrong:
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert wrong.value.status == RPCStatusCode.UNAUTHENTICATED
        assert "API key is not this server's" in wrong.value.message
        # ... and so is none at all.
        client.api_key = None
        with pytest.raises(RPCError) as missing:
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert missing.value.status == RPCStatusCode.UNAUTHENTICATED
        assert "carries no API key" in missing.value.message
        # The health check needs none: container healthchecks carry no key.
        assert await client.service_client.check_health()
    finally:
        server.stop()


async def test_tls_and_api_key_together(certificate, tmp_path):
    ca, cert, key = certificate
    server = started(
        tmp_path, "--tls-cert", str(cert), "--tls-key", str(key), "--api-key", "k"
    )
    try:
        client = await server.connect(
            api_key="k", tls=TLSConfig(server_root_ca_cert=ca.read_bytes())
        )
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.capabilities.sdk_metadata
    finally:
        server.stop()


def tls_start(pem) -> list[str]:
    """A start with `pem` as both the certificate and the key."""
    return [str(devserver_bin()), "start", "--port", str(free_port()),
            "--tls-cert", str(pem), "--tls-key", str(pem)]  # fmt: skip


def test_unreadable_tls_files_are_named_before_anything_is_announced(tmp_path):
    missing = tmp_path / "missing.pem"
    stderr = refused_start(tls_start(missing))
    assert f"cannot read the TLS certificate {missing}" in stderr


def test_a_certificate_that_is_not_pem_is_refused(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    assert "the TLS certificate and key are not usable" in refused_start(tls_start(junk))
