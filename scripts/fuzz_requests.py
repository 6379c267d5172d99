#!/usr/bin/env python3
"""Request fuzzer: sends generated and mutated requests to every RPC of the services devserver
implements and checks that it survives them.

    python scripts/fuzz_requests.py --requests 1000000 [--seconds LIMIT] [--seed S]
        [--binary PATH | --target HOST:PORT] [--db-filename FILE] [--time-skipping]

The method list and the message types come from the protobuf descriptors shipped inside the
`temporalio` package, so a new RPC of the SDK is fuzzed without a change here. Three kinds of
request are sent, all as raw bytes through grpcio's generic unary calls:
  - structurally valid messages with random field values, built by walking the request's
    descriptor: wild ones (empty, huge and unicode strings, extreme ints, unknown enum
    values, negative and absurd durations) and tame ones (plausible values only, to get
    past the first checks); strings are drawn in part from a pool of values (namespaces,
    workflow ids, run ids, task queues, task tokens, ...) that earlier successful calls
    used or returned, so that requests get past the lookups and reach deep code paths;
  - mutations of such messages (bit flips, truncation, insertion, field duplication);
  - random bytes.
Every call has a short deadline: a long poll that waits is cut off, and its
DEADLINE_EXCEEDED (or CANCELLED, the server's word when the deadline passes first there)
counts as fine.

The run fails (exit code 1) if the server panicked or died, answered INTERNAL or UNKNOWN (each
distinct (method, code, message) is printed with a sample request in hex), does not answer
GetSystemInfo at the end, or left a database that fails `PRAGMA integrity_check`.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message_factory
from temporalio.api.operatorservice.v1 import service_pb2 as operator_service
from temporalio.api.testservice.v1 import service_pb2 as test_service
from temporalio.api.workflowservice.v1 import service_pb2 as workflow_service
from temporalio.bridge.proto.health.v1 import health_pb2

FD = pb_descriptor.FieldDescriptor
REPO = Path(__file__).resolve().parent.parent

# The SDK ships the health service under a package of its own (temporal.grpc.health.v1); the
# messages are the same, the server serves it under the standard name.
SERVICES = [
    (workflow_service.DESCRIPTOR.services_by_name["WorkflowService"], None),
    (operator_service.DESCRIPTOR.services_by_name["OperatorService"], None),
    (test_service.DESCRIPTOR.services_by_name["TestService"], None),
    (health_pb2.DESCRIPTOR.services_by_name["Health"], "grpc.health.v1.Health"),
]

CALL_TIMEOUT = 0.2  # seconds; long polls are cut off here
MAX_DEPTH = 4  # nesting of generated messages (Failure.cause and the like recurse)
POOL_SIZE = 48  # values kept per pooled field name
FAILURE_SAMPLES = 40  # distinct INTERNAL/UNKNOWN answers kept
UNIMPLEMENTED_SHARE = 0.03  # how often an RPC found unimplemented is still picked
SAMPLE_BYTES = 256  # of a failing request, printed in hex (longer ones cut)

# String fields whose values name things that exist; successful calls feed these pools.
# fmt: off
POOLED = {
    "namespace", "workflow_id", "run_id", "first_execution_run_id", "task_queue", "name",
    "task_token", "activity_id", "update_id", "schedule_id", "request_id", "identity",
    "id", "endpoint", "service", "operation", "query_type", "signal_name", "build_id",
    "deployment_name", "workflow_type", "activity_type", "version", "job_id", "rule_id",
}

UNICODE = "\u00e9\u4e2d\u0000\U0001f600\u202e\ufffd\u0301\n\t\"'%\\"
QUERY_PIECES = [
    "WorkflowId", "WorkflowType", "ExecutionStatus", "StartTime", "CloseTime", "RunId",
    "TaskQueue", "CustomKeywordField", "CustomIntField", "BuildIds", "TemporalChangeVersion",
    "=", "!=", ">", "<=", "AND", "OR", "NOT", "IN", "BETWEEN", "STARTS_WITH", "IS NULL",
    "IS NOT NULL", "ORDER BY", "DESC", "(", ")", ",", "'Running'", "'x'", "\"y\"", "1",
    "-9223372036854775808", "'2024-01-01T00:00:00Z'", "'1e400'", "`", "''", "\\", "%",
]
CRON_PIECES = [
    "*", "*/0", "*/5", "0", "59", "60", "-1", "1-0", "MON", "JAN", "L", "W", "?", "#",
    "@every", "@hourly", "1h", "-5s", "CRON_TZ=Mars/Base", "9999999999",
]
DURATION_STRINGS = ["1s", "-1s", "0", "1.5h", "9999999h", "1e9s", "", "x", "1h-1m"]
# Negative, beyond what Duration and Timestamp allow, beyond year 9999, int64's ends.
ABSURD_SECONDS = [
    -1, -86_400, 315_576_000_000, -315_576_000_000, 253_402_300_800, 1 << 40,
    (1 << 63) - 1, -(1 << 63),
]
ODD_FLOATS = [0.0, 1.0, -1.0, 0.5, 1e308, -1e308, 1e-300, float("inf"), float("-inf"), float("nan")]
# fmt: on


def random_string(rng: random.Random, name: str) -> str:
    r = rng.random()
    if r < 0.15:
        return ""
    if r < 0.45:
        return "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(rng.randint(1, 12))
        )
    if r < 0.6:
        return "".join(rng.choice(UNICODE) for _ in range(rng.randint(1, 8)))
    if r < 0.7:
        return rng.choice("aZ\u00e9\U0001f600") * rng.choice([256, 1001, 10_000, 70_000])
    if r < 0.85 and name in ("query", "visibility_query", "reachability", "status_filter"):
        return " ".join(rng.choice(QUERY_PIECES) for _ in range(rng.randint(1, 9)))
    if r < 0.85 and ("cron" in name or name in ("interval", "calendar", "timezone_name")):
        return " ".join(rng.choice(CRON_PIECES) for _ in range(rng.randint(1, 6)))
    if r < 0.9:
        return rng.choice(DURATION_STRINGS)
    return "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(1, 40)))


def random_int(rng: random.Random, field_type: int) -> int:
    # fmt: off
    bits, signed = {
        FD.TYPE_INT32: (32, True), FD.TYPE_SINT32: (32, True), FD.TYPE_SFIXED32: (32, True),
        FD.TYPE_INT64: (64, True), FD.TYPE_SINT64: (64, True), FD.TYPE_SFIXED64: (64, True),
        FD.TYPE_UINT32: (32, False), FD.TYPE_FIXED32: (32, False),
        FD.TYPE_UINT64: (64, False), FD.TYPE_FIXED64: (64, False),
    }[field_type]
    # fmt: on
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    r = rng.random()
    if r < 0.3:
        value = rng.randint(0, 10)
    elif r < 0.5:
        value = rng.choice([low, high, -1, 1 << 31, (1 << 31) - 1, 1 << 53, 86_400 * 10_000])
    elif r < 0.7:
        value = rng.randint(-1000, 1000)
    else:
        value = rng.randint(low, high)
    return min(max(value, low), high)


@dataclass
class Pools:
    """Values seen in successful requests and responses, by field name."""

    values: dict[str, list] = field(default_factory=lambda: collections.defaultdict(list))

    def add(self, name: str, value, rng: random.Random) -> None:
        if not value or (isinstance(value, (str, bytes)) and len(value) > 512):
            return
        pool = self.values[name]
        if value in pool:
            return
        if len(pool) < POOL_SIZE:
            pool.append(value)
        else:
            pool[rng.randrange(POOL_SIZE)] = value

    def pick(self, name: str, rng: random.Random):
        pool = self.values.get(name)
        return rng.choice(pool) if pool else None

    def learn(self, message, rng: random.Random, depth: int = 0) -> None:
        """Collect the pooled fields of a message (and of its nested messages)."""
        if depth > MAX_DEPTH:
            return
        for fd, value in message.ListFields():
            if fd.type == FD.TYPE_MESSAGE:
                if fd.message_type.GetOptions().map_entry:
                    continue
                items = value if fd.is_repeated else [value]
                for item in list(items)[:8]:
                    named = fd.name in ("task_queue", "workflow_type", "activity_type")
                    if named and "name" in fd.message_type.fields_by_name:
                        self.add(fd.name, item.name, rng)
                    self.learn(item, rng, depth + 1)
            elif fd.name in POOLED and fd.type in (FD.TYPE_STRING, FD.TYPE_BYTES):
                if fd.is_repeated:
                    for item in list(value)[:8]:
                        self.add(fd.name, item, rng)
                else:
                    self.add(fd.name, value, rng)


class Generator:
    """Random messages built by walking a descriptor. A tame message has plausible values
    only (names that exist, short identifiers, small durations and counts, known enum
    values), so that it passes the first checks and reaches the code behind them; a wild
    one has anything."""

    def __init__(self, rng: random.Random, pools: Pools):
        self.rng = rng
        self.pools = pools
        self.tame = False

    def message(self, cls, tame: bool = False):
        self.tame = tame
        msg = cls()
        self.fill(msg, 0)
        return msg

    def fill(self, msg, depth: int) -> None:
        rng = self.rng
        desc = msg.DESCRIPTOR
        if desc.full_name in ("google.protobuf.Duration", "google.protobuf.Timestamp"):
            self.time_value(msg)
            return
        # The top level sets most fields (so that requests get past the first checks); deeper
        # levels fewer (so that messages stay small).
        chance = 0.75 if depth == 0 else max(0.15, 0.5 - 0.1 * depth)
        # One member of each oneof, and a type enum that names it when there is one (a
        # command's type and its attributes), so that most such messages are consistent.
        chosen = {oneof.name: rng.choice(oneof.fields) for oneof in desc.oneofs if oneof.fields}
        for fd in desc.fields:
            oneof = fd.containing_oneof
            if oneof is not None and chosen.get(oneof.name) is not fd:
                continue
            pooled = fd.name in POOLED and depth <= 1
            if rng.random() > (0.95 if pooled else chance):
                continue
            if fd.type == FD.TYPE_ENUM and not fd.is_repeated and rng.random() < 0.8:
                named = self.enum_naming(fd, chosen.values())
                if named is not None:
                    setattr(msg, fd.name, named)
                    continue
            if fd.type == FD.TYPE_MESSAGE:
                if depth >= MAX_DEPTH:
                    continue
                if fd.message_type.GetOptions().map_entry:
                    self.map_value(getattr(msg, fd.name), fd.message_type, depth)
                elif fd.is_repeated:
                    repeated = getattr(msg, fd.name)
                    for _ in range(self.count()):
                        self.fill(repeated.add(), depth + 1)
                else:
                    self.fill(getattr(msg, fd.name), depth + 1)
                    # A task queue or type named like the seed requests' or a pooled one.
                    named = fd.name in ("task_queue", "workflow_type", "activity_type")
                    if named and "name" in fd.message_type.fields_by_name and rng.random() < 0.8:
                        known = self.pools.pick(fd.name, rng)
                        default = "fuzz-queue" if fd.name == "task_queue" else "FuzzType"
                        getattr(msg, fd.name).name = known or default
            elif fd.is_repeated:
                repeated = getattr(msg, fd.name)
                for _ in range(self.count()):
                    repeated.append(self.scalar(fd))
            else:
                setattr(msg, fd.name, self.scalar(fd))

    @staticmethod
    def enum_naming(fd, members) -> int | None:
        """The value of enum field `fd` whose name ends like one of the oneof `members`
        (COMMAND_TYPE_START_TIMER for start_timer_command_attributes), if any."""
        for member in members:
            stem = member.name.upper()
            for suffix in ("_COMMAND_ATTRIBUTES", "_EVENT_ATTRIBUTES", "_ATTRIBUTES", "_INFO"):
                stem = stem.removesuffix(suffix)
            for value in fd.enum_type.values:
                if value.name.endswith("_" + stem):
                    return value.number
        return None

    def count(self) -> int:
        r = self.rng.random()
        if self.tame:
            return 0 if r < 0.4 else 1 if r < 0.8 else 2
        return 0 if r < 0.2 else 1 if r < 0.6 else self.rng.randint(2, 4) if r < 0.97 else 40

    def map_value(self, container, entry, depth: int) -> None:
        key_fd = entry.fields_by_name["key"]
        value_fd = entry.fields_by_name["value"]
        for _ in range(self.count()):
            key = self.scalar(key_fd)
            if value_fd.type == FD.TYPE_MESSAGE:
                if depth + 1 < MAX_DEPTH:
                    self.fill(container[key], depth + 1)
                else:
                    container[key].Clear()
            else:
                container[key] = self.scalar(value_fd)

    def time_value(self, msg) -> None:
        rng = self.rng
        r = rng.random()
        if self.tame:
            msg.seconds = rng.choice([0, 1, 10, 60, 3600])
        elif r < 0.5:
            msg.seconds = rng.choice([0, 1, 5, 60, 3600, 86_400 * 365])
            msg.nanos = rng.choice([0, 0, 500_000_000])
        elif r < 0.8:
            msg.seconds = rng.choice(ABSURD_SECONDS)
            msg.nanos = rng.choice([0, 999_999_999, -999_999_999])
        else:
            msg.seconds = rng.randint(-(1 << 63), (1 << 63) - 1)
            msg.nanos = rng.randint(-(1 << 31), (1 << 31) - 1)

    def scalar(self, fd):
        rng = self.rng
        t = fd.type
        tame = self.tame
        if t == FD.TYPE_STRING:
            if tame and fd.name.endswith("run_id") and rng.random() < 0.5:
                return ""  # the current run of a pooled workflow id: pooled pairs rarely match
            if fd.name in POOLED and rng.random() < (0.95 if tame else 0.7):
                if fd.name == "namespace" and rng.random() < 0.8:
                    return "default"
                known = self.pools.pick(fd.name, rng)
                if known is not None:
                    return known
            if tame:
                # A cron string or a query must parse to be plausible: none is.
                if "cron" in fd.name or "query" in fd.name:
                    return ""
                return "".join(rng.choice("abcdefghij-") for _ in range(rng.randint(1, 8)))
            return random_string(rng, fd.name)
        if t == FD.TYPE_BYTES:
            if fd.name in POOLED and rng.random() < 0.8:
                known = self.pools.pick(fd.name, rng)
                if known is not None:
                    return known
            if rng.random() < 0.3:
                return random_string(rng, fd.name).encode()
            return rng.randbytes(rng.choice([0, 1, 8, 16, 64, 300]))
        if t == FD.TYPE_BOOL:
            return rng.random() < 0.5
        if tame and t == FD.TYPE_ENUM:
            return rng.choice(fd.enum_type.values).number
        if tame and t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
            return rng.choice([1.0, 1.5, 2.0])
        if tame:
            return rng.randint(0, 5)
        if t == FD.TYPE_ENUM:
            if rng.random() < 0.85:
                return rng.choice(fd.enum_type.values).number
            return rng.choice([-1, 99, 1 << 20, -(1 << 31), (1 << 31) - 1])
        if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
            return rng.choice(ODD_FLOATS) if rng.random() < 0.9 else rng.uniform(-10, 10)
        return random_int(rng, t)


def mutate(data: bytes, extra: bytes, rng: random.Random) -> bytes:
    """A valid encoding damaged: bits flipped, cut short, bytes inserted, or a field repeated."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.35 and buf:
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
        elif r < 0.55 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif r < 0.75:
            i = rng.randint(0, len(buf))
            buf[i:i] = rng.randbytes(rng.randint(1, 16))
        elif r < 0.9 and buf:
            # A slice repeated: often a whole field again, which a decoder merges or appends.
            i = rng.randrange(len(buf))
            j = rng.randint(i, min(len(buf), i + 64))
            buf[j:j] = buf[i:j]
        else:
            # Another valid message appended: protobuf merges the two.
            buf += extra
    return bytes(buf)


@dataclass
class Method:
    path: str
    request: type
    response: type


def methods() -> list[Method]:
    found = []
    for service, served_as in SERVICES:
        for m in service.methods:
            found.append(
                Method(
                    path=f"/{served_as or service.full_name}/{m.name}",
                    request=message_factory.GetMessageClass(m.input_type),
                    response=message_factory.GetMessageClass(m.output_type),
                )
            )
    return found


@dataclass
class Results:
    sent: int = 0
    codes: collections.Counter = field(default_factory=collections.Counter)  # (path, code)
    failures: dict = field(default_factory=dict)  # (path, code, message prefix) -> hex
    errors: list = field(default_factory=list)  # the harness's own exceptions

    def merge(self, other: "Results") -> None:
        self.sent += other.sent
        self.codes.update(other.codes)
        self.errors += other.errors
        for key, sample in other.failures.items():
            if key not in self.failures and len(self.failures) < FAILURE_SAMPLES:
                self.failures[key] = sample


def seed_requests(all_methods: list[Method], rng: random.Random):
    """A few well-formed calls that create what later requests name: workflows on a known task
    queue (their ids and run ids), then polls that hand out task tokens."""
    by_name = {m.path.rsplit("/", 1)[1]: m for m in all_methods if "WorkflowService" in m.path}
    start = by_name["StartWorkflowExecution"]
    for i in range(4):
        req = start.request(
            namespace="default",
            workflow_id=f"fuzz-{rng.getrandbits(32):x}-{i}",
            request_id=f"{rng.getrandbits(64):x}",
        )
        req.workflow_type.name = "FuzzType"
        req.task_queue.name = "fuzz-queue"
        req.workflow_run_timeout.seconds = 3600
        yield start, req
    poll = by_name["PollWorkflowTaskQueue"]
    for _ in range(2):
        req = poll.request(namespace="default")
        req.task_queue.name = "fuzz-queue"
        yield poll, req


def worker(index: int, seed: int, target: str, count: int, stop_at: float, threads: int) -> Results:
    """One process's share: `threads` threads, each sending requests until `count` are sent
    (shared) or `stop_at` (monotonic) passes."""
    all_methods = methods()
    pools = Pools()
    results = Results()
    lock = threading.Lock()
    budget = [count]
    unimplemented: set[str] = set()
    options = [
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    channel = grpc.insecure_channel(target, options=options)
    stubs = {
        m.path: channel.unary_unary(m.path, request_serializer=None, response_deserializer=None)
        for m in all_methods
    }

    def call(m: Method, data: bytes, rng: random.Random, parsed) -> grpc.StatusCode:
        try:
            response = stubs[m.path](data, timeout=CALL_TIMEOUT)
            code, message = grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            code, message, response = e.code(), e.details() or "", None
        with lock:
            results.sent += 1
            if _progress is not None and results.sent % 1000 == 0:
                with _progress.get_lock():
                    _progress.value += 1000
            results.codes[(m.path, code.name)] += 1
            if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                key = (m.path, code.name, message[:80])
                if key not in results.failures and len(results.failures) < FAILURE_SAMPLES:
                    results.failures[key] = data[:SAMPLE_BYTES].hex()
        if code == grpc.StatusCode.OK and parsed is not None:
            pools.learn(parsed, rng)
            if response is not None and len(response) < 65_536:
                try:
                    pools.learn(m.response.FromString(response), rng)
                except Exception:  # a response this SDK's types cannot read: nothing to learn
                    pass
        return code

    def take() -> bool:
        """Whether the budget allows one more request (and takes it)."""
        with lock:
            if budget[0] <= 0 or time.monotonic() >= stop_at:
                return False
            budget[0] -= 1
            return True

    def run(thread_index: int) -> None:
        rng = random.Random(f"{seed}/{index}/{thread_index}")
        gen = Generator(rng, pools)
        if thread_index == 0:
            # RPCs the server does not implement answer an empty request UNIMPLEMENTED;
            # they are sent rarely from then on. (Some implemented RPCs refuse a field they
            # do not support with UNIMPLEMENTED, so only the empty request tells.)
            for m in all_methods:
                if not take():
                    return
                if call(m, b"", rng, None) == grpc.StatusCode.UNIMPLEMENTED:
                    unimplemented.add(m.path)
            for m, req in seed_requests(all_methods, rng):
                if not take():
                    return
                call(m, req.SerializeToString(), rng, req)
        while take():
            m = rng.choice(all_methods)
            # RPCs the server does not implement are still sent, but rarely once known.
            while m.path in unimplemented and rng.random() > UNIMPLEMENTED_SHARE:
                m = rng.choice(all_methods)
            kind = rng.random()
            if kind < 0.7:
                req = gen.message(m.request, tame=kind < 0.3)
                call(m, req.SerializeToString(), rng, req)
            elif kind < 0.92:
                data = gen.message(m.request, tame=rng.random() < 0.5).SerializeToString()
                extra = gen.message(m.request).SerializeToString()
                call(m, mutate(data, extra, rng), rng, None)
            else:
                size = rng.choice([0, 1, 2, 5, 16, 64, 512, 4096])
                call(m, rng.randbytes(size), rng, None)

    def guarded(thread_index: int) -> None:
        # A bug of the harness must fail the run, not end one thread quietly.
        try:
            run(thread_index)
        except Exception as e:
            with lock:
                results.errors.append(f"{type(e).__name__}: {e}")
                budget[0] = 0

    pool = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    channel.close()
    return results


# Requests sent by all processes, for the progress line (set in each spawned process).
_progress = None


def _worker_init(progress) -> None:
    global _progress
    _progress = progress


def _worker_entry(args) -> Results:
    return worker(*args)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def system_info(target: str, timeout: float) -> str | None:
    """None if the server answers GetSystemInfo, else why not."""
    path = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo"
    with grpc.insecure_channel(target) as channel:
        try:
            channel.unary_unary(path, request_serializer=None, response_deserializer=None)(
                b"", timeout=timeout
            )
            return None
        except grpc.RpcError as e:
            return f"{e.code().name}: {e.details()}"


def wait_ready(target: str, proc: subprocess.Popen | None, log: Path | None) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc is not None and proc.poll() is not None:
            sys.exit(
                f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
            )
        if system_info(target, 1.0) is None:
            return
        if time.monotonic() > deadline:
            sys.exit(f"server at {target} did not answer within 30 s")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=None, help="stop sending after this long")
    parser.add_argument("--seed", type=int, default=None, help="random when absent (printed)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--binary",
        type=Path,
        default=None,
        help="devserver binary to start (default: target/release/devserver)",
    )
    where.add_argument("--target", default=None, help="HOST:PORT of a running server (not stopped)")
    parser.add_argument(
        "--db-filename",
        type=Path,
        default=None,
        help="database file (default: one in a temporary directory); with --target, "
        "the running server's file, checked while it runs",
    )
    parser.add_argument(
        "--time-skipping",
        action="store_true",
        help="start the server with --time-skipping (serves TestService)",
    )
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=8, help="per process")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"seed {seed}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="fuzz-requests-"))
    proc = None
    log = None
    db = args.db_filename
    if args.target:
        target = args.target
    else:
        binary = args.binary or REPO / "target/release/devserver"
        db = db or tmp / "fuzz.db"
        port = free_port()
        target = f"127.0.0.1:{port}"
        log = tmp / "server.log"
        argv = [str(binary), "start", "--port", str(port), "--db-filename", str(db)]
        if args.time_skipping:
            argv.append("--time-skipping")
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
    problems: list[str] = []
    try:
        wait_ready(target, proc, log)
        started = time.monotonic()
        stop_at = started + (args.seconds if args.seconds is not None else float("inf"))
        processes = max(1, args.processes)
        shares = [
            args.requests // processes + (i < args.requests % processes) for i in range(processes)
        ]
        jobs = [(i, seed, target, shares[i], stop_at, args.threads) for i in range(processes)]
        # Spawned, not forked: a grpc channel must not cross a fork.
        context = multiprocessing.get_context("spawn")
        progress = context.Value("q", 0)
        with context.Pool(processes, initializer=_worker_init, initargs=(progress,)) as workers:
            pending = workers.map_async(_worker_entry, jobs)
            while not pending.ready():
                pending.wait(10)
                if not pending.ready():
                    sent = progress.value
                    print(
                        f"  {sent} requests, {sent / (time.monotonic() - started):.0f}/s",
                        flush=True,
                    )
            parts = pending.get()
        elapsed = time.monotonic() - started
        results = Results()
        for part in parts:
            results.merge(part)

        if proc is not None and proc.poll() is not None:
            problems.append(f"the server exited with {proc.returncode}")
        else:
            why = system_info(target, 10.0)
            if why is not None:
                problems.append(f"GetSystemInfo at the end failed: {why}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                problems.append("the server did not stop within 30 s of SIGTERM")

    report(results, elapsed)
    if results.errors:
        problems.append(f"the harness itself failed: {results.errors[0]}")
    if log is not None:
        text = log.read_text(errors="replace")
        panics = [line for line in text.splitlines() if "panicked" in line]
        print(f"panics in the server's log: {len(panics)}")
        for line in panics[:20]:
            print(f"  {line[:300]}")
        if panics:
            problems.append(f"{len(panics)} panic(s) in the server's log")
    failures = sum(
        n for (path, code), n in results.codes.items() if code in ("INTERNAL", "UNKNOWN")
    )
    if failures:
        problems.append(
            f"{failures} INTERNAL/UNKNOWN answers ({len(results.failures)} distinct shown)"
        )
        print("\nINTERNAL/UNKNOWN answers (method, code, message; a request that got it, hex):")
        for (path, code, message), sample in sorted(results.failures.items()):
            print(f"  {path} {code} {message!r}\n    {sample}")
    if db is not None and db.exists():
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchall()
        verdict = "; ".join(row[0] for row in integrity)
        print(f"integrity_check: {verdict}")
        if verdict != "ok":
            problems.append(f"integrity_check: {verdict}")
    if proc is not None and not problems:
        shutil.rmtree(tmp, ignore_errors=True)
    elif proc is not None:
        print(f"server log and database kept in {tmp}")
    print(f"seed {seed}")
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print("OK")
    return 0


def report(results: Results, elapsed: float) -> None:
    rate = results.sent / elapsed if elapsed > 0 else 0.0
    print(f"\n{results.sent} requests in {elapsed:.1f} s: {rate:.0f} requests/s")
    by_code = collections.Counter()
    by_method: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (path, code), n in results.codes.items():
        by_code[code] += n
        by_method[path][code] += n
    print("\nstatus codes:")
    for code, n in by_code.most_common():
        print(f"  {code:<20} {n:>10}")
    # OK first: how often a method got through shows how deep the fuzzing reached there.
    print("\ncodes per method (OK, then the others):")
    for path in sorted(by_method, key=lambda p: p.rsplit("/", 1)[1]):
        counts = by_method[path]
        others = ", ".join(f"{code} {n}" for code, n in counts.most_common() if code != "OK")
        print(f"  {path.rsplit('/', 1)[1]:<44} OK {counts['OK']:>6}  {others}")


if __name__ == "__main__":
    sys.exit(main())
