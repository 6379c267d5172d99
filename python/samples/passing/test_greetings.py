"""Tests a user writes with nothing but the plugin's fixtures."""

import subprocess
from datetime import timedelta

import pytest
from temporalio.worker import Worker

from greetings import GreetingWorkflow, ReminderWorkflow, compose_greeting
from temporal_devserver import binary_path


@pytest.mark.asyncio
async def test_hello_world(temporal_client, temporal_task_queue):
    async with Worker(
        temporal_client,
        task_queue=temporal_task_queue,
        workflows=[GreetingWorkflow],
        activities=[compose_greeting],
    ):
        result = await temporal_client.execute_workflow(
            GreetingWorkflow.run, "World", id=f"greeting-{temporal_task_queue}",
            task_queue=temporal_task_queue,
        )
    assert result == "Hello, World!"


@pytest.mark.asyncio
async def test_environment_describes_the_run(temporal_env, temporal_task_queue):
    async with Worker(
        temporal_env.client,
        task_queue=temporal_task_queue,
        workflows=[GreetingWorkflow],
        activities=[compose_greeting],
    ):
        handle = await temporal_env.client.start_workflow(
            GreetingWorkflow.run, "env", id=f"env-{temporal_task_queue}",
            task_queue=temporal_task_queue,
        )
        assert await handle.result() == "Hello, env!"
    description = await handle.describe()
    assert description.workflow_type == "GreetingWorkflow"
    assert not temporal_env.supports_time_skipping


@pytest.mark.asyncio
async def test_a_month_passes_at_once(time_skipping_env, temporal_task_queue):
    env = time_skipping_env
    async with Worker(env.client, task_queue=temporal_task_queue, workflows=[ReminderWorkflow]):
        waited = await env.client.execute_workflow(
            ReminderWorkflow.run, id=f"reminder-{temporal_task_queue}",
            task_queue=temporal_task_queue,
        )
    assert waited >= timedelta(days=30).total_seconds()


def test_binary_is_the_wheels(devserver):
    version = subprocess.run(
        [str(binary_path()), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("devserver ")
    health = [str(binary_path()), "health", "--address", devserver.target]
    assert subprocess.run(health, capture_output=True, text=True).stdout.strip() == "SERVING"
