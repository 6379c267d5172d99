"""The workflow and activity of the failing sample."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


@activity.defn
async def charge_card(amount: int) -> str:
    raise ApplicationError(f"card declined for {amount}", type="CardDeclined")


@workflow.defn
class PaymentWorkflow:
    @workflow.run
    async def run(self, amount: int) -> str:
        await workflow.sleep(timedelta(milliseconds=10))
        return await workflow.execute_activity(
            charge_card,
            amount,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=10)),
        )
