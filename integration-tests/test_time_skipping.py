"""Time skipping, in both styles the SDK offers, driven as a Python user drives them.

V1: `WorkflowEnvironment.start_time_skipping(test_server_existing_path=binary)` runs the binary
as the Java test server (`binary PORT`): one virtual clock for the whole server, locked by
default, unlocked by the SDK while a `result()` is awaited, moved by `env.sleep()`.
V2: `WorkflowEnvironment.start_time_skipping_v2(dev_server_existing_path=binary)` runs it as a
dev server, and each workflow started through `env.client` carries a TimeSkippingConfig: each
workflow has its own virtual clock, moved by the server when nothing is in flight, or by
`env.fast_forward(handle, duration)`.

Each test launches its own environment (`env` runs a test in both styles; `v1_env` and
`v2_env` are for what exists in one style only). Under --real-server, V2 runs against the
real `temporal` CLI with the dynamic-config flag that turns the feature on, and V1 is
skipped (there is no Java test server here).

Virtual-time assertions are tight (a month must be a month); wall-time ones are loose, and
every result is awaited with RESULT_TIMEOUT so that a server that does not skip fails fast
instead of sleeping. Speed is measured by bench/time_skipping.py, not here.
The histories of the workflows a test started through the environment are replayed when
the environment closes, like the session-wide replay check does for the other tests.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.testing import TimeSkipper, TimeSkippingConfig, WorkflowEnvironment
from temporalio.worker import Worker

from temporal_devserver.histories import StartRecorder

from support import (
    ServerProcess,
    devserver_bin,
    event_type,
    free_port,
    real_server,
    replay_started,
    unique,
)
from time_skipping_workflows import (
    ClockWorkflow,
    EnvActivities,
    HeartbeatTimeoutWorkflow,
    LongSleepWorkflow,
    RetryBackoffWorkflow,
    SleepingChildParentWorkflow,
    TimerThenActivityWorkflow,
    fail_first_attempt,
    scheduled_at,
)

# What the real CLI needs to accept V2 starts (without it: UNIMPLEMENTED "The Time-Skipping
# feature is not enabled for namespace."); devserver accepts the flag.
V2_EXTRA_ARGS = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]
MONTH = timedelta(days=30).total_seconds()
HOUR = timedelta(hours=1).total_seconds()
DAY = timedelta(days=1).total_seconds()
# Seconds to wait for a result: a skipping server needs about one; one that does not skip
# would need the whole virtual duration.
RESULT_TIMEOUT = 30
# Seconds of slack on virtual durations: the real server fires a skipped timer about 1 s
# (wall) after the skip, and every workflow task takes a little real time.
SLACK = 60
# The server's default max_session_skip_count, reported when the client leaves it at 0.
DEFAULT_MAX_SESSION_SKIP_COUNT = 200


T = TypeVar("T")


# --- environments ------------------------------------------------------------------------


@pytest.fixture
def started() -> StartRecorder:
    """Notes the workflow runs the test starts through its environment, for the replay."""
    return StartRecorder()


@asynccontextmanager
async def launch(
    style: str, started: StartRecorder, *extra_args: str
) -> AsyncIterator[WorkflowEnvironment]:
    if style == "v1" and real_server():
        pytest.skip("V1 needs the Java test server; --real-server only has the `temporal` CLI")
    binary = devserver_bin()
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist: build it with `cargo build --release`")
    if style == "v1":
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(binary),
            test_server_extra_args=list(extra_args),
            interceptors=[started],
        )
        assert env.supports_time_skipping_v1
    else:
        env = await WorkflowEnvironment.start_time_skipping_v2(
            dev_server_existing_path=str(binary),
            dev_server_extra_args=[*V2_EXTRA_ARGS, *extra_args],
            interceptors=[started],
        )
        assert env.supports_time_skipping_v2
    try:
        yield env
        if started.started:
            problems = await asyncio.wait_for(replay_started(env.client, started.started), 60)
            if problems:
                pytest.fail("replay check:\n" + "\n".join(problems), pytrace=False)
    finally:
        await env.shutdown()


@pytest.fixture(params=["v1", "v2"])
async def env(request, started) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping environment, once per style."""
    async with launch(request.param, started) as e:
        yield e


@pytest.fixture
async def v1_env(started) -> AsyncIterator[WorkflowEnvironment]:
    async with launch("v1", started) as e:
        yield e


@pytest.fixture
async def v2_env(started) -> AsyncIterator[WorkflowEnvironment]:
    async with launch("v2", started) as e:
        yield e


def worker(env: WorkflowEnvironment, task_queue: str, activities=()) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[
            LongSleepWorkflow, TimerThenActivityWorkflow, SleepingChildParentWorkflow,
            RetryBackoffWorkflow, ClockWorkflow, HeartbeatTimeoutWorkflow,
        ],
        activities=[scheduled_at, fail_first_attempt, *activities],
    )  # fmt: skip


# --- helpers -----------------------------------------------------------------------------


async def within(awaitable: Awaitable[T], what: str) -> T:
    """The awaitable's value, or a failure after RESULT_TIMEOUT seconds."""
    try:
        return await asyncio.wait_for(awaitable, RESULT_TIMEOUT)
    except TimeoutError:  # the builtin one, which asyncio.wait_for raises
        pytest.fail(f"{what}: no result within {RESULT_TIMEOUT} s; was time skipped?")


async def result_of(handle: WorkflowHandle):
    return await within(handle.result(), handle.id)


def run_workflow(env: WorkflowEnvironment, task_queue: str, run, *args):
    """env.client.execute_workflow (V1: unlocks the clock while it waits for the result)."""
    prefix = run.__qualname__.split(".")[0].removesuffix("Workflow").lower()
    return env.client.execute_workflow(run, args=args, id=unique(prefix), task_queue=task_queue)


def assert_about(
    actual: float, expected: float, slack: float = SLACK, what: str = "", early: float = 1
) -> None:
    """actual is expected, or at most `slack` seconds more. Durations in workflow time do
    not run short, so `early` is small; against the wall clock (`from_now`), allow for the
    time the RPC took."""
    assert expected - early <= actual <= expected + slack, (
        f"{what or 'value'}: {actual:.3f} s, expected {expected:.3f} s (-{early:g}/+{slack:g} s)"
    )


def assert_ahead(t: datetime | float, expected: float, slack: float = SLACK, what: str = ""):
    """A virtual time t is `expected` seconds ahead of the wall clock (give or take)."""
    assert_about(from_now(t), expected, slack, what, early=5)


def seconds(ts) -> float:
    """A protobuf Timestamp as POSIX seconds."""
    return ts.seconds + ts.nanos / 1e9


def from_now(t: datetime | float) -> float:
    """How far after the wall clock t is, in seconds."""
    return (t.timestamp() if isinstance(t, datetime) else t) - time.time()


async def history(handle: WorkflowHandle) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


def events_of(events: list[HistoryEvent], wanted: str) -> list[HistoryEvent]:
    return [e for e in events if event_type(e) == wanted]


def only(events: list[HistoryEvent], wanted: str) -> HistoryEvent:
    found = events_of(events, wanted)
    assert len(found) == 1, f"expected one {wanted}, got {[event_type(e) for e in events]}"
    return found[0]


async def clock_of(handle: WorkflowHandle) -> float:
    """workflow.now() as a query sees it, after a signal gave the workflow a fresh task (a
    query's workflow.now() is that of the last workflow task)."""
    await handle.signal(ClockWorkflow.poke)
    return await handle.query(ClockWorkflow.current_time)


# --- both styles -------------------------------------------------------------------------


async def test_month_long_sleep_completes(env, task_queue):
    """A workflow sleeping 30 days completes, and 30 days passed in workflow time."""
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            LongSleepWorkflow.run, MONTH, id=unique("month"), task_queue=task_queue
        )
        result = await result_of(handle)
    assert_about(result["end"] - result["start"], MONTH, what="workflow.now() across the sleep")


async def test_history_event_times_follow_virtual_time(env, task_queue):
    """The month-long sleep's history is stamped in virtual time: TimerFired is 30 days after
    TimerStarted, and so is the completion after the start."""
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            LongSleepWorkflow.run, MONTH, id=unique("month"), task_queue=task_queue
        )
        await result_of(handle)
    events = await history(handle)
    timer_started = seconds(only(events, "TIMER_STARTED").event_time)
    timer_fired = seconds(only(events, "TIMER_FIRED").event_time)
    assert_about(timer_fired - timer_started, MONTH, what="TimerFired - TimerStarted")
    run_started = seconds(events[0].event_time)
    run_closed = seconds(only(events, "WORKFLOW_EXECUTION_COMPLETED").event_time)
    assert_about(run_closed - run_started, MONTH, what="Completed - Started")
    # Event times never go backwards.
    times = [seconds(e.event_time) for e in events]
    assert times == sorted(times)


async def test_timer_then_activity(env, task_queue):
    """A 6-hour timer, then an activity: the activity is scheduled 6 hours (workflow time)
    after the start, runs, and the workflow completes."""
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            TimerThenActivityWorkflow.run, 6 * HOUR, id=unique("timer-activity"),
            task_queue=task_queue,
        )  # fmt: skip
        result = await result_of(handle)
    assert_about(result["after_timer"] - result["start"], 6 * HOUR, what="timer")
    # The activity was scheduled right after the timer, in workflow time.
    assert_about(
        result["activity_scheduled"] - result["start"], 6 * HOUR, what="activity scheduled"
    )
    assert result["activity_scheduled"] >= result["after_timer"] - 1
    events = [event_type(e) for e in await history(handle)]
    assert events.index("TIMER_FIRED") < events.index("ACTIVITY_TASK_SCHEDULED")
    assert events.index("ACTIVITY_TASK_SCHEDULED") < events.index("ACTIVITY_TASK_COMPLETED")
    assert events[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_child_sleeping_hours(env, task_queue):
    """A parent waits for a child that sleeps 5 hours: the child's clock passes 5 hours and
    starts where the parent's was; the parent gets the child's result."""
    child_id = unique("child")
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            SleepingChildParentWorkflow.run, args=[child_id, 5 * HOUR], id=unique("parent"),
            task_queue=task_queue,
        )  # fmt: skip
        result = await result_of(handle)
    assert_about(result["child_end"] - result["child_start"], 5 * HOUR, what="child's sleep")
    assert_about(result["child_start"] - result["start"], 0, what="child start - parent start")
    if env.supports_time_skipping_v1:
        # One clock for everything: the parent resumes after the child's 5 hours.
        assert result["end"] >= result["child_end"]
    child = await env.client.get_workflow_handle(child_id).describe()
    assert child.status == WorkflowExecutionStatus.COMPLETED
    assert child.parent_id == handle.id


async def test_activity_retry_after_two_hours(env, task_queue):
    """An activity fails once with a 2-hour retry interval: attempt 2 runs after 2 hours of
    workflow time and succeeds, and the workflow completes."""
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            RetryBackoffWorkflow.run, id=unique("retry"), task_queue=task_queue
        )
        result = await result_of(handle)
    assert result["attempt"] == 2
    assert_about(result["end"] - result["start"], 2 * HOUR, what="workflow time across the retry")
    events = await history(handle)
    # Only the last attempt is recorded as started; it carries the failure of attempt 1.
    started_event = only(events, "ACTIVITY_TASK_STARTED").activity_task_started_event_attributes
    assert started_event.attempt == 2
    assert started_event.last_failure.message == "attempt 1 fails on purpose"
    scheduled = seconds(only(events, "ACTIVITY_TASK_SCHEDULED").event_time)
    assert_about(
        seconds(only(events, "ACTIVITY_TASK_STARTED").event_time) - scheduled, 2 * HOUR,
        what="attempt 2 started - scheduled",
    )  # fmt: skip
    assert event_type(events[-1]) == "WORKFLOW_EXECUTION_COMPLETED"


# --- V1 only -----------------------------------------------------------------------------


async def test_v1_current_time_reads_the_virtual_clock(v1_env, task_queue):
    """env.get_current_time() is the server's clock: about now before, about now + 30 days
    after a month-long workflow ran."""
    env = v1_env
    assert abs(from_now(await env.get_current_time())) < 30
    async with worker(env, task_queue):
        await within(run_workflow(env, task_queue, LongSleepWorkflow.run, MONTH), "month")
    assert_ahead(await env.get_current_time(), MONTH, what="env clock")


async def test_v1_env_sleep_moves_workflow_clock(v1_env, task_queue):
    """env.sleep(1000 s) moves the clock a workflow sees by 1000 s (the workflow waits on a
    signal meanwhile, its own timer being far later)."""
    env = v1_env
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            ClockWorkflow.run, id=unique("clock"), task_queue=task_queue
        )
        assert abs(from_now(await clock_of(handle))) < 30
        await env.sleep(timedelta(seconds=1000))
        assert_ahead(await clock_of(handle), 1000, slack=30, what="workflow clock")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_v1_auto_time_skipping_disabled(v1_env, task_queue):
    """A 3 s workflow sleep is skipped while result() is awaited, and waited out in real
    time inside auto_time_skipping_disabled()."""
    env = v1_env
    async with worker(env, task_queue):
        begin = time.monotonic()
        await within(run_workflow(env, task_queue, LongSleepWorkflow.run, 3), "skipped")
        assert time.monotonic() - begin < 2.5
        with env.auto_time_skipping_disabled():
            begin = time.monotonic()
            result = await within(
                run_workflow(env, task_queue, LongSleepWorkflow.run, 3), "not skipped"
            )
            assert time.monotonic() - begin >= 2.5
    assert_about(result["end"] - result["start"], 3, slack=5)


async def test_v1_heartbeat_timeout_from_env_sleep(v1_env, task_queue):
    """An activity with a 20 s heartbeat timeout never heartbeats and calls env.sleep(40 s)
    itself: the activity times out (HEARTBEAT) and, with one attempt allowed, fails the
    workflow (the SDK's own test_workflow_env_time_skipping_heartbeat_timeout)."""
    env = v1_env
    activities = [EnvActivities(env).sleep_past_heartbeat_timeout]
    async with worker(env, task_queue, activities=activities):
        with pytest.raises(WorkflowFailureError) as failure:
            await within(run_workflow(env, task_queue, HeartbeatTimeoutWorkflow.run), "heartbeat")
    assert isinstance(failure.value.cause, ActivityError)
    assert isinstance(failure.value.cause.cause, TemporalTimeoutError)
    assert failure.value.cause.cause.type == TimeoutType.HEARTBEAT


async def test_v1_waiting_on_an_update_lets_time_skip(v1_env, task_queue):
    """Beyond the Java test server: a client waiting on an update's result lets the clock
    skip, as result() does, so an update handler that sleeps a day answers at once."""
    env = v1_env
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            ClockWorkflow.run, id=unique("clock"), task_queue=task_queue
        )
        woke_at = await within(handle.execute_update(ClockWorkflow.nap, DAY), "nap")
        assert_ahead(woke_at, DAY, what="update handler's clock")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_v1_keeps_its_database_file_across_restarts(tmp_path, started, task_queue):
    """`--db-filename` works in the test server's shape too: a workflow started before a
    kill is still there after a restart on the same file, its timer skipped to by env.sleep."""
    db = str(tmp_path / "ts.db")
    async with launch("v1", started, "--db-filename", db) as env:
        async with worker(env, task_queue):
            handle = await env.client.start_workflow(
                ClockWorkflow.run, MONTH, id=unique("clock"), task_queue=task_queue
            )
            await within(clock_of(handle), "first task")
    async with launch("v1", started, "--db-filename", db) as env:
        async with worker(env, task_queue):
            await within(env.sleep(timedelta(days=31)), "sleep past the timer")
            restarted = env.client.get_workflow_handle(handle.id)
            assert await within(restarted.result(), "result") == "all done"
            assert_ahead(await env.get_current_time(), 31 * DAY, what="env clock")


@pytest.mark.devserver_only
async def test_dev_server_with_one_skipping_clock(tmp_path, task_queue):
    """`devserver start --time-skipping`: the dev server's command line with the test
    server's global clock, unlocked, so a plain client sees a month pass at once."""
    port = free_port()
    argv = [str(devserver_bin()), "start", "--port", str(port), "--time-skipping"]
    server = ServerProcess(argv, port, tmp_path / "server.log")
    try:
        client = await server.connect()
        async with Worker(client, task_queue=task_queue, workflows=[LongSleepWorkflow]):
            result = await within(
                client.execute_workflow(
                    LongSleepWorkflow.run, MONTH, id=unique("month"), task_queue=task_queue
                ),
                "month",
            )
        assert_about(result["end"] - result["start"], MONTH)
    finally:
        server.stop()


# --- V2 only -----------------------------------------------------------------------------


@pytest.mark.parametrize("start_as", ["unstamped", "config_disabled"])
async def test_v2_fast_forward_moves_only_that_workflow(v2_env, started, task_queue, start_as):
    """Two workflows started without skipping (no TimeSkippingConfig at all, or one with
    enabled=False): fast_forward(first, 1 h) returns True, the first workflow's clock is an
    hour ahead and skipping is off again, the second's clock is untouched. The first's
    history gains WorkflowExecutionOptionsUpdated and a TimeSkippingTransitioned to the
    target, with disabled_after_fast_forward; the second's gains nothing."""
    env = v2_env
    if start_as == "unstamped":
        starter = env.client
    else:
        plain = await env.connect_client(interceptors=[started])
        starter = TimeSkipper(plain, config=TimeSkippingConfig(enabled=False)).client
    async with worker(env, task_queue):
        with env.with_time_skipping_disabled():
            forwarded, other = [
                await starter.start_workflow(
                    ClockWorkflow.run, id=unique(name), task_queue=task_queue
                )
                for name in ("forwarded", "other")
            ]
            # Both are asleep on their 100 000 s timer before the fast-forward.
            for handle in (forwarded, other):
                assert abs(from_now(await clock_of(handle))) < 30

        before = time.time()
        assert await env.fast_forward(forwarded, timedelta(hours=1)) is True

        info = await env.get_time_skipping_info(forwarded)
        assert info is not None
        assert_about(seconds(info.current_time) - before, HOUR, what="forwarded: current_time")
        assert not info.effective_config.enabled  # off again once the target was reached
        fast_forward = info.effective_config.fast_forward_config
        assert fast_forward.duration.ToTimedelta() == timedelta(hours=1)
        assert_ahead(await env.get_current_time(forwarded), HOUR, what="forwarded clock")
        assert_ahead(await clock_of(forwarded), HOUR, what="forwarded: workflow.now()")

        other_info = await env.get_time_skipping_info(other)
        if start_as == "unstamped":
            assert other_info is None  # skipping was never configured for it
        else:
            assert other_info is not None and not other_info.effective_config.enabled
            assert abs(seconds(other_info.current_time) - time.time()) < 30
        assert abs(from_now(await env.get_current_time(other))) < 30
        assert abs(from_now(await clock_of(other))) < 30

        # The timer (100 000 s) has not been reached: both still run.
        for handle in (forwarded, other):
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    events = await history(forwarded)
    names = [event_type(e) for e in events]
    assert names.count("WORKFLOW_EXECUTION_OPTIONS_UPDATED") == 1, names
    assert names.count("WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED") == 1, names
    # The update and the skip it causes are one mutation: adjacent events.
    at = names.index("WORKFLOW_EXECUTION_OPTIONS_UPDATED")
    assert names[at + 1] == "WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED", names
    updated, transition = events[at], events[at + 1]
    assert updated.worker_may_ignore and transition.worker_may_ignore
    options = updated.workflow_execution_options_updated_event_attributes
    assert options.time_skipping_config_updated
    fast_forward = options.time_skipping_config.fast_forward_config
    assert fast_forward.duration.ToTimedelta() == timedelta(hours=1)
    skip = transition.workflow_execution_time_skipping_transitioned_event_attributes
    assert skip.disabled_after_fast_forward
    assert_about(
        seconds(skip.target_time) - seconds(transition.event_time), HOUR, slack=1,
        what="target_time - transition event time",
    )  # fmt: skip
    # No offset had accumulated before, so this transition happened at wall-clock time.
    assert abs(seconds(skip.wall_clock_time) - seconds(transition.event_time)) < 5
    # The signal that came after is stamped in the workflow's new time.
    signaled = events_of(events, "WORKFLOW_EXECUTION_SIGNALED")[-1]
    assert_about(seconds(signaled.event_time) - before, HOUR, what="signal after the fast-forward")

    other_names = [event_type(e) for e in await history(other)]
    assert "WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED" not in other_names
    assert "WORKFLOW_EXECUTION_OPTIONS_UPDATED" not in other_names


async def test_v2_time_skipping_info(v2_env, task_queue):
    """get_time_skipping_info of a workflow started with skipping: its virtual current time
    (30 days ahead after a month-long sleep) and the effective config (enabled, the
    server's default skip limit)."""
    env = v2_env
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            LongSleepWorkflow.run, MONTH, id=unique("month"), task_queue=task_queue
        )
        await result_of(handle)
    info = await env.get_time_skipping_info(handle)
    assert info is not None
    assert_ahead(seconds(info.current_time), MONTH, what="current_time")
    assert info.effective_config.enabled
    assert not info.effective_config.HasField("fast_forward_config")
    assert info.effective_config.max_session_skip_count == DEFAULT_MAX_SESSION_SKIP_COUNT
    assert_ahead(await env.get_current_time(handle), MONTH, what="get_current_time")


async def test_v2_history_has_time_skipping_transition(v2_env, task_queue):
    """The month-long sleep's history: the config on WorkflowExecutionStarted, then one
    TimeSkippingTransitioned right after TimerStarted, targeting the timer's expiry, marked
    worker_may_ignore, and TimerFired at that target."""
    env = v2_env
    async with worker(env, task_queue):
        handle = await env.client.start_workflow(
            LongSleepWorkflow.run, MONTH, id=unique("month"), task_queue=task_queue
        )
        await result_of(handle)
    events = await history(handle)
    assert [event_type(e) for e in events] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "TIMER_STARTED",
        "WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED",
        "TIMER_FIRED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    config = events[0].workflow_execution_started_event_attributes.time_skipping_config
    assert config.enabled
    assert config.max_session_skip_count == DEFAULT_MAX_SESSION_SKIP_COUNT
    timer_started, transition, timer_fired = events[4], events[5], events[6]
    assert transition.worker_may_ignore
    skip = transition.workflow_execution_time_skipping_transitioned_event_attributes
    assert not skip.disabled_after_fast_forward
    assert_about(
        seconds(skip.target_time) - seconds(timer_started.event_time), MONTH, slack=1,
        what="target_time - TimerStarted",
    )  # fmt: skip
    assert seconds(timer_fired.event_time) >= seconds(skip.target_time)
    assert abs(seconds(skip.wall_clock_time) - seconds(transition.event_time)) < 5


async def test_v2_child_inherits_time_skipping(v2_env, task_queue):
    """A child started by a workflow that skips time skips too: it sleeps 5 hours, its own
    history shows the transition, its config says enabled, and the parent completes. The
    child's clock starts at the parent's; the parent's clock is not moved by the child's
    skipping."""
    env = v2_env
    child_id = unique("child")
    async with worker(env, task_queue):
        begin = time.monotonic()
        handle = await env.client.start_workflow(
            SleepingChildParentWorkflow.run, args=[child_id, 5 * HOUR], id=unique("parent"),
            task_queue=task_queue,
        )  # fmt: skip
        result = await result_of(handle)
        assert time.monotonic() - begin < RESULT_TIMEOUT
    assert_about(result["child_end"] - result["child_start"], 5 * HOUR, what="child's sleep")
    assert_about(result["child_start"] - result["start"], 0, what="child start - parent start")
    # No backward propagation: the parent's own clock ran in real time.
    assert_about(result["end"] - result["start"], 0, what="parent's run")

    parent_events = await history(handle)
    initiated = only(parent_events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
    child_config = initiated.start_child_workflow_execution_initiated_event_attributes
    assert child_config.time_skipping_config.enabled
    # The parent was never skippable (its child was in flight), so it has no transition.
    assert not events_of(parent_events, "WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED")

    child = env.client.get_workflow_handle(child_id)
    child_events = await history(child)
    assert child_events[0].workflow_execution_started_event_attributes.time_skipping_config.enabled
    assert events_of(child_events, "WORKFLOW_EXECUTION_TIME_SKIPPING_TRANSITIONED")
    info = await env.get_time_skipping_info(child)
    assert info is not None and info.effective_config.enabled
