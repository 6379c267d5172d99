"""`--metrics-port`: Prometheus metrics on `/metrics`, named like the real server's where it
has the same measure (request counts and latency per RPC, persistence latency, task
dispatch latency, waiting polls), scraped around Quick Start workflows.

The first test also runs against the real dev server (--real-server), which checks that
the names, label names and units it asserts are the real server's."""

import asyncio
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities import greet
from support import ServerProcess, dev_server_argv, devserver_bin, free_port, real_server, unique
from workflows import GreetingWorkflow

WORKFLOWS = 3

SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """One scrape, parsed: its samples and the declared type of each family."""

    def __init__(self, text: str):
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                name, kind = line.removeprefix("# TYPE ").split(" ")
                self.types[name] = kind
            elif line and not line.startswith("#"):
                match = SAMPLE.fullmatch(line)
                assert match, f"not a sample line: {line!r}"
                labels = dict(LABEL.findall(match[2] or ""))
                self.samples.append((match[1], labels, float(match[3])))

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` that carry (at least) these labels."""
        return sum(
            value
            for sample, sample_labels, value in self.samples
            if sample == name and labels.items() <= sample_labels.items()
        )

    def buckets(self, name: str, **labels: str) -> list[tuple[float, float]]:
        """A histogram's (bound, count at most that) pairs, summed over its other labels."""
        bounds: dict[float, float] = {}
        for sample, sample_labels, value in self.samples:
            if sample == f"{name}_bucket" and labels.items() <= sample_labels.items():
                bound = float(sample_labels["le"])
                bounds[bound] = bounds.get(bound, 0) + value
        return sorted(bounds.items())


def scrape(port: int, path: str = "/metrics") -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return Scrape(response.read().decode())


async def scraped(port: int) -> Scrape:
    return await asyncio.to_thread(scrape, port)


async def eventually(port: int, check, timeout: float = 15) -> Scrape:
    """Scrapes until `check(scrape)` holds; the last scrape."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        metrics = await scraped(port)
        if check(metrics) or asyncio.get_running_loop().time() > deadline:
            return metrics
        await asyncio.sleep(0.1)


def started(tmp_path: Path, *flags: str) -> ServerProcess:
    port = free_port()
    return ServerProcess(dev_server_argv(devserver_bin(), port, *flags), port, tmp_path / "log")


def listening_ports(pid: int) -> set[int]:
    """The TCP ports that process `pid` listens on (from /proc)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    sockets = set()
    for fd in fd_dir.iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            sockets.add(target.removeprefix("socket:[").removesuffix("]"))
    ports = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in sockets:  # 0A: LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def operation(name: str) -> dict[str, str]:
    return {"operation": name, "service_name": "frontend"}


async def run_quick_start(client: Client, task_queue: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[GreetingWorkflow],
            activities=[greet],
            activity_executor=executor,
        ):
            for i in range(WORKFLOWS):
                result = await client.execute_workflow(
                    GreetingWorkflow.run, f"n{i}", id=unique("metrics"), task_queue=task_queue
                )
                assert result == f"Hello, n{i}!"


async def test_requests_latencies_and_dispatch_are_counted(tmp_path, task_queue):
    metrics_port = free_port()
    server = started(tmp_path, "--metrics-port", str(metrics_port))
    try:
        client = await server.connect()
        before = await scraped(metrics_port)
        await run_quick_start(client, task_queue)
        starts = operation("StartWorkflowExecution")
        at_least = [
            ("service_requests", starts, WORKFLOWS),
            # A first workflow task and one after the activity, per workflow.
            ("service_requests", operation("RespondWorkflowTaskCompleted"), 2 * WORKFLOWS),
            ("service_requests", operation("PollWorkflowTaskQueue"), 2 * WORKFLOWS),
            ("poll_success", {"task_type": "Workflow"}, 2 * WORKFLOWS),
            ("task_dispatch_latency_count", {"task_type": "Workflow"}, WORKFLOWS),
        ]

        def short(scrape: Scrape) -> list[str]:
            """What grew less than it should have since `before`."""
            return [
                f"{name}{labels} grew by {growth}, not {least}"
                for name, labels, least in at_least
                if (growth := scrape.total(name, **labels) - before.total(name, **labels)) < least
            ]

        # The real server publishes its metrics about once a second; devserver at once.
        after = await eventually(metrics_port, lambda m: not short(m))
        assert not short(after)
        assert after.types["service_requests"] == "counter"
        for histogram in ("service_latency", "persistence_latency", "task_dispatch_latency"):
            assert after.types[histogram] == "histogram"
        assert after.types["pending_polls"] == "gauge"

        def grown(name: str, **labels: str) -> float:
            return after.total(name, **labels) - before.total(name, **labels)

        # The real server's own workflows (namespace temporal-system) start too.
        if not real_server():
            assert grown("service_requests", **starts) == WORKFLOWS
        # Each finished request was timed once.
        for rpc in ("StartWorkflowExecution", "RespondWorkflowTaskCompleted"):
            requests = after.total("service_requests", **operation(rpc))
            assert after.total("service_latency_count", **operation(rpc)) == requests
            buckets = after.buckets("service_latency", **operation(rpc))
            counts = [count for _, count in buckets]
            assert counts == sorted(counts), f"{rpc}'s buckets are not cumulative"
            assert buckets[-1] == (float("inf"), requests)
            # Seconds, not milliseconds: a request on loopback takes well under a second.
            assert 0 < after.total("service_latency_sum", **operation(rpc)) < requests

        assert grown("persistence_requests") > 0
        assert grown("persistence_latency_count") > 0
    finally:
        server.stop()


@pytest.mark.devserver_only  # the real server has no open-run gauge; its queue gauges lag
async def test_open_runs_backlog_and_waiting_polls_rise_and_fall(tmp_path, task_queue):
    metrics_port = free_port()
    server = started(tmp_path, "--metrics-port", str(metrics_port))
    try:
        client = await server.connect()
        assert (await scraped(metrics_port)).total("devserver_open_runs", namespace="default") == 0
        # No worker yet: the run stays open and its first task waits in the queue.
        handle = await client.start_workflow(
            GreetingWorkflow.run, "later", id=unique("metrics"), task_queue=task_queue
        )
        waiting = await scraped(metrics_port)
        assert waiting.total("devserver_open_runs", namespace="default") == 1
        backlog = dict(namespace="default", taskqueue=task_queue, task_type="Workflow")
        assert waiting.total("approximate_backlog_count", **backlog) == 1
        assert waiting.total("pending_polls", **backlog) == 0

        with ThreadPoolExecutor(max_workers=1) as executor:
            async with Worker(
                client,
                task_queue=task_queue,
                workflows=[GreetingWorkflow],
                activities=[greet],
                activity_executor=executor,
            ):
                assert await handle.result() == "Hello, later!"
                # The worker's polls wait on its task queue while it runs...
                polling = await eventually(
                    metrics_port, lambda m: m.total("pending_polls", **backlog) > 0
                )
                assert polling.total("pending_polls", **backlog) > 0
        done = await scraped(metrics_port)
        assert done.total("devserver_open_runs", namespace="default") == 0
        assert done.total("approximate_backlog_count", **backlog) == 0
        # ...and are gone once it stopped.
        assert done.total("pending_polls", taskqueue=task_queue) == 0
        # Its own share of each step is fine-grained: buckets of tens of microseconds.
        bounds = [bound for bound, _ in done.buckets("service_latency")]
        assert 0.00001 in bounds and 0.0001 in bounds
        assert done.total("task_dispatch_latency_count", task_type="Workflow") >= 2
        # The start, each task's start and completion, the activity's: one commit each.
        assert done.total("persistence_latency_count", operation="Commit") >= 4
    finally:
        server.stop()


@pytest.mark.devserver_only  # the real CLI always opens a metrics port
async def test_only_the_flag_opens_a_metrics_port(tmp_path):
    for name in ("without", "with"):
        (tmp_path / name).mkdir()
    without = started(tmp_path / "without")
    try:
        await without.connect()
        grpc_port = int(without.target.rsplit(":", 1)[1])
        assert listening_ports(without.proc.pid) == {grpc_port}
        assert "Metrics" not in without.log_path.read_text()
    finally:
        without.stop()

    # Port 0: a free one, which the banner names.
    server = started(tmp_path / "with", "--metrics-port", "0")
    try:
        await server.connect()
        banner = re.search(
            r"Temporal Metrics: http://127\.0\.0\.1:(\d+)/metrics", server.log_path.read_text()
        )
        assert banner, server.log_tail()
        metrics_port = int(banner[1])
        grpc_port = int(server.target.rsplit(":", 1)[1])
        assert listening_ports(server.proc.pid) == {grpc_port, metrics_port}
        assert (await scraped(metrics_port)).types["service_latency"] == "histogram"
        with pytest.raises(urllib.error.HTTPError) as elsewhere:
            await asyncio.to_thread(scrape, metrics_port, "/")
        assert elsewhere.value.code == 404
    finally:
        server.stop()
