"""A test that fails on purpose: its report shows the workflow's history as a timeline."""

import pytest
from temporalio.worker import Worker

from payments import PaymentWorkflow, charge_card


@pytest.mark.asyncio
async def test_payment_succeeds(temporal_client, temporal_task_queue):
    async with Worker(
        temporal_client,
        task_queue=temporal_task_queue,
        workflows=[PaymentWorkflow],
        activities=[charge_card],
    ):
        receipt = await temporal_client.execute_workflow(
            PaymentWorkflow.run, 42, id=f"payment-{temporal_task_queue}",
            task_queue=temporal_task_queue,
        )
    assert receipt == "paid"
