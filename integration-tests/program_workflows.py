"""A workflow that runs a program given as its input, for the history property test
(test_history_properties.py), and what each step of a program returns.

A program is a list of steps, each a list: its kind, then its arguments.
  ["echo", n]                    an activity returning n
  ["flaky", failures]            an activity failing `failures` times before it succeeds
  ["failing"]                    an activity failing until its retry policy gives up
  ["sleep", ms]                  a timer
  ["cancelled_timer", ms]        a long timer, cancelled after a short one
  ["activity_cut_short", ms]     a heartbeating activity, cancelled after `ms` (wait_for)
  ["signal_self"]                the workflow signals itself, which the server refuses
  ["signal_parent", value]       a child signals its parent
  ["client_signal", key, value]  waits for the test's signal `key`
  ["child", program]             a child workflow running `program`
  ["gather", steps]              the steps at once (asyncio.gather)
"""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities import echo, flaky
    from lifecycle_activities import heartbeat_until_cancelled

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Retries come quickly, so that a program of failing activities still runs in a moment.
QUICK_RETRIES = RetryPolicy(initial_interval=timedelta(milliseconds=50), backoff_coefficient=1)
# What `flaky` is told to do to fail every attempt of a "failing" step.
ALWAYS = 10


def outcome(step: list) -> Any:
    """What running `step` returns."""
    kind, *args = step
    match kind:
        case "echo":
            return args[0]
        case "flaky":
            return f"succeeded on attempt {args[0] + 1}"
        case "failing":
            return "activity failed"
        case "sleep":
            return "slept"
        case "cancelled_timer":
            return "timer cancelled"
        case "activity_cut_short":
            return "activity cancelled"
        case "signal_self":
            return "signal to itself refused"
        case "signal_parent":
            return args[0]
        case "client_signal":
            return args[1]
        case "child" | "gather":
            return [outcome(s) for s in args[0]]
    raise ValueError(f"unknown step {step!r}")


@workflow.defn
class ProgramWorkflow:
    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        # Numbers the children and the signals to the parent, in the order the program
        # reaches them.
        self.started = 0

    @workflow.signal
    def deliver(self, key: str, value: int) -> None:
        self.received[key] = value

    @workflow.run
    async def run(self, program: list) -> list:
        return [await self.perform(step) for step in program]

    def next_name(self, prefix: str) -> str:
        self.started += 1
        return f"{prefix}-{self.started}"

    async def received_signal(self, key: str) -> int:
        await workflow.wait_condition(lambda: key in self.received)
        return self.received[key]

    async def perform(self, step: list) -> Any:
        kind, *args = step
        match kind:
            case "echo":
                return await workflow.execute_activity(
                    echo, args[0], start_to_close_timeout=ACTIVITY_TIMEOUT
                )
            case "flaky":
                return await workflow.execute_activity(
                    flaky, args[0], start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=QUICK_RETRIES,
                )  # fmt: skip
            case "failing":
                try:
                    await workflow.execute_activity(
                        flaky, ALWAYS, start_to_close_timeout=ACTIVITY_TIMEOUT,
                        retry_policy=RetryPolicy(
                            initial_interval=QUICK_RETRIES.initial_interval, maximum_attempts=2
                        ),
                    )  # fmt: skip
                except ActivityError:
                    return "activity failed"
                raise AssertionError("the failing activity succeeded")
            case "sleep":
                await workflow.sleep(timedelta(milliseconds=args[0]))
                return "slept"
            case "cancelled_timer":
                timer = asyncio.create_task(workflow.sleep(3600))
                await workflow.sleep(timedelta(milliseconds=args[0]))
                timer.cancel()
                try:
                    await timer
                except asyncio.CancelledError:
                    return "timer cancelled"
                raise AssertionError("the long timer fired")
            case "activity_cut_short":
                try:
                    await asyncio.wait_for(
                        workflow.execute_activity(
                            heartbeat_until_cancelled, start_to_close_timeout=ACTIVITY_TIMEOUT,
                            heartbeat_timeout=timedelta(seconds=1),
                            retry_policy=RetryPolicy(maximum_attempts=1),
                        ),
                        timeout=args[0] / 1000,
                    )  # fmt: skip
                except TimeoutError:
                    return "activity cancelled"
                except ActivityError as error:
                    # wait_for passes on what the cancelled activity raised: the SDK's
                    # cancellation, as the activity's error.
                    if isinstance(error.cause, CancelledError):
                        return "activity cancelled"
                    raise
                raise AssertionError("the endless activity finished")
            case "signal_self":
                me = workflow.get_external_workflow_handle(workflow.info().workflow_id)
                try:
                    await me.signal(ProgramWorkflow.deliver, args=["self", 0])
                except ApplicationError as error:
                    if error.type == "ExternalWorkflowExecutionNotFound":
                        return "signal to itself refused"
                    raise
                raise AssertionError("the workflow signalled itself")
            case "signal_parent":
                info = workflow.info()
                parent = workflow.get_external_workflow_handle(info.parent.workflow_id)
                key = f"{info.workflow_id}/{self.next_name('to-parent')}"
                await parent.signal(ProgramWorkflow.deliver, args=[key, args[0]])
                return args[0]
            case "client_signal":
                return await self.received_signal(args[0])
            case "child":
                child_id = f"{workflow.info().workflow_id}/{self.next_name('child')}"
                return await workflow.execute_child_workflow(
                    ProgramWorkflow.run, args[0], id=child_id
                )
            case "gather":
                return list(await asyncio.gather(*(self.perform(s) for s in args[0])))
        raise ValueError(f"unknown step {step!r}")
