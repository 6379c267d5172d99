"""Answers to requests that the request fuzzer showed were wrong."""

import grpc
import pytest

from support import ServerProcess, devserver_bin, free_port

pytestmark = pytest.mark.devserver_only  # checks devserver's own robustness


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
    from temporalio.bridge.proto.health.v1.health_pb2 import HealthCheckRequest

    request = HealthCheckRequest(service="x" * 100_000).SerializeToString()
    error = raw_call(channel, "/grpc.health.v1.Health/Check", request)
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "unknown service")
