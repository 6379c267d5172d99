"""The workflows the benchmarks run, how a client drives one of each kind, and the worker
that runs them all."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from common import describe, own_cpu_seconds

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@activity.defn
def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    """The SDK's Quick Start: one activity."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=ACTIVITY_TIMEOUT)


@workflow.defn
class TenActivitiesWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        for _ in range(10):
            result = await workflow.execute_activity(greet, name, start_to_close_timeout=ACTIVITY_TIMEOUT)
        return result


@workflow.defn
class SleepWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(1)


@workflow.defn
class SignalQueryUpdateWorkflow:
    """Waits until signalled and updated; the query tells whether the signal arrived."""

    def __init__(self) -> None:
        self.signalled = self.updated = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.signalled and self.updated)
        return "done"

    @workflow.signal
    def poke(self) -> None:
        self.signalled = True

    @workflow.query
    def was_poked(self) -> bool:
        return self.signalled

    @workflow.update
    def finish(self) -> str:
        self.updated = True
        return "finished"


@workflow.defn
class ImmediateWorkflow:
    """Closes on its first workflow task: fills a database with closed runs."""

    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn
class LongTimerWorkflow:
    """Stays open on a timer far beyond any benchmark: fills a database with open runs."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=365))


@workflow.defn
class GrowingWorkflow:
    """A history whose length the client controls: `grow(n)` adds n events in one workflow
    task (memo upserts need no round trip each); `step()` is one workflow task round trip,
    adding 5 events (task scheduled, started, completed; update accepted, completed)."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    def grow(self, events: int) -> None:
        for i in range(events):
            workflow.upsert_memo({"grown": i})

    @workflow.update
    def step(self) -> None:
        pass


ALL_WORKFLOWS = [GreetingWorkflow, TenActivitiesWorkflow, SleepWorkflow, SignalQueryUpdateWorkflow,
                 ImmediateWorkflow, LongTimerWorkflow, GrowingWorkflow]  # fmt: skip
RUN_TIMEOUT = timedelta(minutes=10)


def expect(got, want, workflow_id: str) -> None:
    if got != want:
        raise RuntimeError(f"workflow {workflow_id}: got {got!r}, expected {want!r}")


async def start(client: Client, task_queue: str, workflow_id: str, run, *args) -> WorkflowHandle:
    return await client.start_workflow(run, *args, id=workflow_id, task_queue=task_queue,
                                       execution_timeout=RUN_TIMEOUT)  # fmt: skip


async def drive_greeting(client: Client, task_queue: str, workflow_id: str) -> None:
    handle = await start(client, task_queue, workflow_id, GreetingWorkflow.run, workflow_id)
    expect(await handle.result(), f"Hello, {workflow_id}!", workflow_id)


async def drive_ten_activities(client: Client, task_queue: str, workflow_id: str) -> None:
    handle = await start(client, task_queue, workflow_id, TenActivitiesWorkflow.run, workflow_id)
    expect(await handle.result(), f"Hello, {workflow_id}!", workflow_id)


async def drive_sleep(client: Client, task_queue: str, workflow_id: str) -> None:
    handle = await start(client, task_queue, workflow_id, SleepWorkflow.run)
    expect(await handle.result(), None, workflow_id)


async def drive_signal_query_update(client: Client, task_queue: str, workflow_id: str) -> None:
    handle = await start(client, task_queue, workflow_id, SignalQueryUpdateWorkflow.run)
    await handle.signal(SignalQueryUpdateWorkflow.poke)
    expect(await handle.query(SignalQueryUpdateWorkflow.was_poked), True, workflow_id)
    expect(await handle.execute_update(SignalQueryUpdateWorkflow.finish), "finished", workflow_id)
    expect(await handle.result(), "done", workflow_id)


async def drive_immediate(client: Client, task_queue: str, workflow_id: str) -> None:
    handle = await start(client, task_queue, workflow_id, ImmediateWorkflow.run)
    expect(await handle.result(), None, workflow_id)


async def drive_long_timer(client: Client, task_queue: str, workflow_id: str) -> None:
    """Start the run and long-poll its history until its timer has started."""
    handle = await client.start_workflow(LongTimerWorkflow.run, id=workflow_id, task_queue=task_queue)
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.HasField("timer_started_event_attributes"):
            return


@dataclass(frozen=True)
class Kind:
    """A kind of workflow, and what a client does to run one to its end."""

    name: str
    drive: Callable[[Client, str, str], Awaitable[None]]  # (client, task queue, workflow id)


QUICKSTART = Kind("quickstart", drive_greeting)
KINDS = {k.name: k for k in [
    QUICKSTART,
    Kind("activities10", drive_ten_activities),
    Kind("timer", drive_sleep),
    Kind("signal-query-update", drive_signal_query_update),
    Kind("closed", drive_immediate),
    Kind("open", drive_long_timer),
]}  # fmt: skip


def make_worker(client: Client, task_queue: str, pool: ThreadPoolExecutor, concurrency: int,
                **options) -> Worker:  # fmt: skip
    return Worker(
        client, task_queue=task_queue, workflows=ALL_WORKFLOWS, activities=[greet],
        activity_executor=pool, max_concurrent_activities=concurrency,
        # The sandbox costs client CPU on every workflow task; on a small machine that CPU
        # is taken from the server under test.
        workflow_runner=UnsandboxedWorkflowRunner(), **options,
    )  # fmt: skip


async def run_batch(client: Client, task_queue: str, kind: Kind, n: int, concurrency: int,
                    tag: str, progress: dict) -> list[float]:  # fmt: skip
    """Run n workflows of `kind`, at most `concurrency` in flight; seconds each took."""
    sem = asyncio.Semaphore(concurrency)
    prefix = f"{tag}-{uuid.uuid4().hex[:8]}"
    progress.update(phase=f"{tag} {kind.name}", done=0, total=n)

    async def one(i: int) -> float:
        async with sem:
            t0 = time.perf_counter()
            await kind.drive(client, task_queue, f"{prefix}-{i}")
            progress["done"] += 1
            return time.perf_counter() - t0

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for t in tasks:  # on failure, don't leave siblings running
            t.cancel()


def batch_in_process(target: str, task_queue: str, kind_name: str, n: int, concurrency: int,
                     warmup: int, ready, results) -> None:  # fmt: skip
    """Entry of a client process: a Client of its own and a worker on `task_queue`; `warmup`
    workflows, then wait at the `ready` barrier, then n workflows. Puts (start-to-result
    seconds, own CPU seconds, error or None) on `results` as soon as the batch ends."""
    asyncio.run(_batch_in_process(target, task_queue, KINDS[kind_name], n, concurrency, warmup,
                                  ready, results))  # fmt: skip


async def _batch_in_process(target, task_queue, kind, n, concurrency, warmup, ready, results):
    reported = False
    try:
        client = await Client.connect(target)
        with ThreadPoolExecutor(concurrency) as pool:
            async with make_worker(client, task_queue, pool, concurrency):
                await run_batch(client, task_queue, kind, warmup, concurrency, "warm", {})
                await asyncio.to_thread(ready.wait)
                cpu0 = own_cpu_seconds()
                latencies = await run_batch(client, task_queue, kind, n, concurrency, "load", {})
                # Reported before the worker stops, so the parent's clock stops with the batch.
                results.put((latencies, own_cpu_seconds() - cpu0, None))
                reported = True
    except Exception as e:
        ready.abort()  # the parent and the other clients stop waiting
        if not reported:
            results.put(([], 0.0, describe(e)))
