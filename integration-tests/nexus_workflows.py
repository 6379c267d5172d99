"""Workflows for the Nexus operation tests: callers that call operations of the `Greeting`
Nexus service through an endpoint, and the workflows that back its asynchronous operations.

The service contract lives here too, since callers need it; its handler is in
nexus_handlers.py (handlers run outside the workflow sandbox)."""

from dataclasses import dataclass
from datetime import timedelta

import nexusrpc
from temporalio import workflow
from temporalio.exceptions import ApplicationError, NexusOperationError


@dataclass
class CallInput:
    endpoint: str
    operation: str
    name: str
    schedule_to_close_seconds: float | None = None


@nexusrpc.service
class Greeting:
    # Answers at once (a synchronous operation).
    greet: nexusrpc.Operation[str, str]
    # Fails with an OperationError (the operation failed; no retry).
    refuse: nexusrpc.Operation[str, str]
    # Raises a non-retryable ApplicationError: a handler error, not an operation failure.
    crash: nexusrpc.Operation[str, str]
    # Starts NexusGreetingWorkflow and completes with its result (asynchronous).
    greet_later: nexusrpc.Operation[str, str]
    # Starts a workflow that fails.
    fail_later: nexusrpc.Operation[str, str]
    # Starts a workflow that waits until it is cancelled.
    wait: nexusrpc.Operation[str, str]
    # Starts a workflow that greets once it gets the `release` signal.
    greet_when_released: nexusrpc.Operation[str, str]
    # The same, or joins the one already running under that name.
    greet_together: nexusrpc.Operation[str, str]
    # Never answers in time (a synchronous handler that sleeps).
    stall: nexusrpc.Operation[str, str]


@workflow.defn
class NexusGreetingWorkflow:
    """Backs the asynchronous operations: `greet_later` greets, `fail_later` fails, `wait`
    waits for cancellation and `greet_when_released` for the `release` signal."""

    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self, behaviour: str, name: str) -> str:
        if behaviour == "fail":
            raise ApplicationError(f"no greeting for {name}", type="GreetingRefused")
        if behaviour == "wait":
            await workflow.wait_condition(lambda: False)
        if behaviour == "hold":
            await workflow.wait_condition(lambda: self.released)
        return f"Hello, {name}, later"

    @workflow.signal
    def release(self) -> None:
        self.released = True


@workflow.defn
class NexusCallerWorkflow:
    """Calls one operation and returns its result."""

    @workflow.run
    async def run(self, call: CallInput) -> str:
        client = workflow.create_nexus_client(service=Greeting, endpoint=call.endpoint)
        timeout = call.schedule_to_close_seconds
        return await client.execute_operation(
            call.operation,
            call.name,
            output_type=str,
            schedule_to_close_timeout=timedelta(seconds=timeout) if timeout else None,
        )


@workflow.defn
class NexusCancellingCallerWorkflow:
    """Starts an asynchronous operation, cancels it once it has started, and returns how the
    operation ended."""

    @workflow.run
    async def run(self, call: CallInput) -> str:
        client = workflow.create_nexus_client(service=Greeting, endpoint=call.endpoint)
        handle = await client.start_operation(call.operation, call.name, output_type=str)
        handle.cancel()
        try:
            return await handle
        except NexusOperationError as error:
            return f"{type(error.cause).__name__}: {error.cause}"
