"""Workflows and activities of the sample tests, in a module of their own as the SDK's
sandbox prefers."""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def compose_greeting(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            compose_greeting, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class ReminderWorkflow:
    """Waits a month, then reports how long it waited by the workflow's clock."""

    @workflow.run
    async def run(self) -> float:
        started = workflow.now()
        await workflow.sleep(timedelta(days=30))
        return (workflow.now() - started).total_seconds()
