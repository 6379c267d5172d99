"""A small instance of cancelled_polls.py: pollers that cancel their long polls at random
moments while workflow tasks flow; every workflow completes and no task is handed out twice
under one attempt. The full run (5,000 tasks, 200 pollers) is
`python integration-tests/cancelled_polls.py`."""

import random

import pytest

from cancelled_polls import run
from support import devserver_bin

pytestmark = [pytest.mark.devserver_only, pytest.mark.timeout(300)]


async def test_cancelled_polls_lose_no_task_and_hand_none_out_twice(tmp_path):
    seed = random.randrange(1 << 30)
    report = await run(devserver_bin(), tasks=300, pollers=40, seed=seed, workdir=tmp_path)
    assert not report.problems, f"seed {seed}:\n{report.summary()}"
    assert report.completed == 300 and report.cancelled_polls > 300
