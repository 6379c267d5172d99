"""A small instance of crash_under_load.py: workflows with retries, timers, signals and
children on a database file, the server SIGKILLed and restarted under them; each completes
once with its result, no activity exceeds its attempts, the file passes its integrity check.
The full run (1,000 workflows, 10 kills) is `python integration-tests/crash_under_load.py`."""

import random

import pytest

from crash_under_load import run
from support import devserver_bin

pytestmark = [pytest.mark.devserver_only, pytest.mark.timeout(300)]


async def test_a_crash_and_restart_under_load_loses_and_doubles_nothing(tmp_path):
    seed = random.randrange(1 << 30)
    report = await run(devserver_bin(), workflows=60, kills=1, seed=seed, workdir=tmp_path)
    assert report.kills == 1
    assert not report.problems, f"seed {seed}:\n{report.summary()}"
    # Workflow n's activity fails n % 3 times before it succeeds: 20 x 1 + 20 x 2 + 20 x 3
    # attempts at least (a dispatch lost in the crash adds one after its timeout).
    assert sum(report.attempts.values()) >= 120
