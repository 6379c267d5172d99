"""A worker for StepsWorkflow in a process of its own, so that a test can SIGKILL it.

Usage: python worker_process.py TARGET TASK_QUEUE IDENTITY
"""

import asyncio
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from activities import record
from workflows import StepsWorkflow


async def main(target: str, task_queue: str, identity: str) -> None:
    client = await Client.connect(target)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[StepsWorkflow],
        activities=[record],
        identity=identity,
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
