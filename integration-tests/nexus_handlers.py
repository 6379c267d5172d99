"""The handler of the `Greeting` Nexus service (nexus_workflows.py), run by the tests'
workers. It notes what each StartOperation request carried, for the tests to check."""

import asyncio

import nexusrpc
from nexusrpc.handler import StartOperationContext, service_handler, sync_operation
from temporalio import nexus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from nexus_workflows import Greeting, NexusGreetingWorkflow

# What the last StartOperation request of each operation carried, by caller name.
requests: dict[str, StartOperationContext] = {}


@service_handler(service=Greeting)
class GreetingHandler:
    @sync_operation
    async def greet(self, ctx: StartOperationContext, name: str) -> str:
        requests[name] = ctx
        return f"Hello, {name}"

    @sync_operation
    async def refuse(self, ctx: StartOperationContext, name: str) -> str:
        raise nexusrpc.OperationError(
            f"{name} is not welcome", state=nexusrpc.OperationErrorState.FAILED
        )

    @sync_operation
    async def crash(self, ctx: StartOperationContext, name: str) -> str:
        raise ApplicationError(f"cannot greet {name}", type="Crash", non_retryable=True)

    @sync_operation
    async def stall(self, ctx: StartOperationContext, name: str) -> str:
        await asyncio.sleep(3600)
        return name

    @nexus.workflow_run_operation
    async def greet_later(
        self, ctx: nexus.WorkflowRunOperationContext, name: str
    ) -> nexus.WorkflowHandle[str]:
        requests[name] = ctx
        return await ctx.start_workflow(NexusGreetingWorkflow.run, args=["greet", name], id=name)

    @nexus.workflow_run_operation
    async def fail_later(
        self, ctx: nexus.WorkflowRunOperationContext, name: str
    ) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(NexusGreetingWorkflow.run, args=["fail", name], id=name)

    @nexus.workflow_run_operation
    async def greet_when_released(
        self, ctx: nexus.WorkflowRunOperationContext, name: str
    ) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(NexusGreetingWorkflow.run, args=["hold", name], id=name)

    @nexus.workflow_run_operation
    async def greet_together(
        self, ctx: nexus.WorkflowRunOperationContext, name: str
    ) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(
            NexusGreetingWorkflow.run,
            args=["hold", name],
            id=name,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    @nexus.workflow_run_operation
    async def wait(
        self, ctx: nexus.WorkflowRunOperationContext, name: str
    ) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(NexusGreetingWorkflow.run, args=["wait", name], id=name)
