"""The request fuzzer (scripts/fuzz_requests.py) against the binary under test, and the
answers to requests it showed were wrong."""

import random
import subprocess
import sys

import grpc
import pytest
from temporalio.bridge.proto.health.v1.health_pb2 import HealthCheckRequest

from support import ServerProcess, devserver_bin, free_port, repo_root

pytestmark = pytest.mark.devserver_only  # checks devserver's own robustness

FIXED_SEED = 20261128
# A new seed each session widens what CI tries over time; a failure prints it.
RANDOM_SEED = random.randrange(1 << 32)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("flags", [[], ["--time-skipping"]], ids=["plain", "time-skipping"])
@pytest.mark.parametrize("seed", [FIXED_SEED, RANDOM_SEED], ids=["fixed-seed", "random-seed"])
def test_fuzzed_requests_leave_the_server_healthy(seed, flags):
    argv = [sys.executable, str(repo_root() / "scripts/fuzz_requests.py"), "--requests",
            "10000", "--seed", str(seed), "--binary", str(devserver_bin()), *flags]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, timeout=580)
    output = f"{run.stdout[-20_000:]}\n{run.stderr[-5_000:]}"
    assert run.returncode == 0, f"seed {seed} {' '.join(flags)}:\n{output}"


@pytest.fixture(scope="module")
def channel(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    server = ServerProcess([str(devserver_bin()), "start", "--port", str(port)], port, log)
    channel = grpc.insecure_channel(server.target)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        yield channel
    finally:
        channel.close()
        server.stop()


def raw_call(channel, path: str, data: bytes) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary(path, request_serializer=None, response_deserializer=None)(
            data, timeout=10
        )
    return raised.value


@pytest.mark.parametrize(
    "data",
    [b"\xff", b"\x0a\x05ab", b"\x0a\x02\xc3\x28"],
    ids=["bad-varint", "cut-short", "not-utf8"],
)
def test_a_request_that_does_not_decode_is_invalid_argument(channel, data):
    # Not INTERNAL, which blames the server and has clients retry bytes that never decode.
    path = "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace"
    error = raw_call(channel, path, data)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("failed to decode Protobuf message")


def test_an_unknown_health_service_is_not_echoed(channel):
    # A huge name echoed in the message would not fit in the response's headers.
    request = HealthCheckRequest(service="x" * 100_000).SerializeToString()
    error = raw_call(channel, "/grpc.health.v1.Health/Check", request)
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "unknown service")
