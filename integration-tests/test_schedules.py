"""Schedules, as a Python user drives them: create, describe, update, trigger, backfill,
pause, unpause, list, delete; overlap policies, limited actions, pause on failure; the
workflows they start; and a daily schedule under time skipping.

Schedules fire on the server's clock, so tests that wait for a spec time use one-second
intervals; most tests trigger or backfill instead, which act at once.
"""

import asyncio
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from schedule_workflows import FailWorkflow, GreetWorkflow, HoldWorkflow, NapWorkflow
from support import ServerProcess, dev_server_argv, devserver_bin, free_port, unique

# Seconds to wait for something a schedule does at once (the real server takes about one).
PROMPT = 20
SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# A spec that does not fire during a test.
YEARLY = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=365))])


def worker(client: Client, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[GreetWorkflow, HoldWorkflow, FailWorkflow, NapWorkflow],
    )


def start_action(workflow, task_queue: str, *args, workflow_id: str | None = None):
    return ScheduleActionStartWorkflow(
        workflow.run, *args, id=workflow_id or unique("scheduled"), task_queue=task_queue
    )


async def eventually(check, what: str, timeout: float = PROMPT):
    """Polls `check` (async, returns a value or None) until it gives a value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def holding_schedule(client: Client, task_queue: str, overlap: ScheduleOverlapPolicy):
    """A schedule of HoldWorkflow with the overlap policy, acted on by triggers only; its
    worker runs meanwhile, and it is deleted after."""
    handle = await client.create_schedule(
        unique(f"overlap-{overlap.name.lower()}"),
        Schedule(
            action=start_action(HoldWorkflow, task_queue),
            spec=YEARLY,
            policy=SchedulePolicy(overlap=overlap),
        ),
    )
    try:
        async with worker(client, task_queue):
            yield handle
    finally:
        await handle.delete()


async def release(client: Client, action) -> None:
    await client.get_workflow_handle(action.workflow_id).signal(HoldWorkflow.release)


async def scheduled_runs(client: Client, schedule_id: str):
    """The workflows a schedule started."""
    return [
        w
        async for w in client.list_workflows(f"TemporalScheduledById = '{schedule_id}'")
    ]


async def actions(handle: ScheduleHandle, count: int):
    """The schedule's description once it has taken `count` actions."""

    async def taken():
        description = await handle.describe()
        return description if description.info.num_actions >= count else None

    return await eventually(taken, f"{count} actions of {handle.id}")


async def test_a_schedule_fires_and_its_workflow_runs_with_the_scheduled_attributes(
    client, task_queue
):
    schedule_id = unique("every-second")
    workflow_id = unique("greet")
    async with worker(client, task_queue):
        handle = await client.create_schedule(
            schedule_id,
            Schedule(
                action=start_action(GreetWorkflow, task_queue, "world", workflow_id=workflow_id),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            ),
        )
        try:
            description = await actions(handle, 2)
            first = description.info.recent_actions[0]
            started = first.action
            assert started.workflow_id.startswith(workflow_id + "-")
            # The id carries the scheduled time, to the second, in UTC.
            assert started.workflow_id == (
                f"{workflow_id}-{first.scheduled_at.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
            )
            run = client.get_workflow_handle(started.workflow_id)
            assert await run.result() == "hello world (after None)"
            run_description = await run.describe()
            attributes = run_description.typed_search_attributes
            assert attributes[SCHEDULED_BY] == schedule_id
            assert attributes[SCHEDULED_START] == first.scheduled_at.replace(microsecond=0)
            # The second run gets the first one's result.
            second = client.get_workflow_handle(description.info.recent_actions[1].action.workflow_id)
            assert await second.result() == "hello world (after hello world (after None))"
        finally:
            await handle.delete()


async def test_describe_shows_the_schedule_with_defaults_and_next_times(client, task_queue):
    schedule_id = unique("describe")
    handle = await client.create_schedule(
        schedule_id,
        Schedule(
            action=start_action(GreetWorkflow, task_queue, "x"),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            state=ScheduleState(note="created by a test"),
        ),
        memo={"owner": "tests"},
    )
    try:
        description = await handle.describe()
        assert description.id == schedule_id
        assert description.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert description.schedule.policy.catchup_window == timedelta(days=365)
        assert description.schedule.state.note == "created by a test"
        assert not description.schedule.state.paused
        assert description.schedule.spec.intervals == [
            ScheduleIntervalSpec(every=timedelta(hours=1))
        ]
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "GreetWorkflow"
        assert action.task_queue == task_queue
        assert await description.memo_value("owner") == "tests"
        info = description.info
        assert info.num_actions == 0 and info.recent_actions == []
        assert len(info.next_action_times) == 10
        gaps = {b - a for a, b in zip(info.next_action_times, info.next_action_times[1:])}
        assert gaps == {timedelta(hours=1)}
        # Whole hours since the epoch.
        assert all(t.timestamp() % 3600 == 0 for t in info.next_action_times)
        assert info.next_action_times[0] > datetime.now(timezone.utc)
    finally:
        await handle.delete()


async def test_a_cron_string_is_shown_as_a_calendar_in_its_time_zone(client, task_queue):
    handle = await client.create_schedule(
        unique("cron"),
        Schedule(
            action=start_action(GreetWorkflow, task_queue, "cron"),
            spec=ScheduleSpec(cron_expressions=["CRON_TZ=America/New_York 30 9 * * MON-FRI"]),
        ),
    )
    try:
        spec = (await handle.describe()).schedule.spec
        assert spec.cron_expressions == []
        assert spec.time_zone_name == "America/New_York"
        [calendar] = spec.calendars
        assert (list(calendar.hour), list(calendar.minute), list(calendar.second)) == (
            [ScheduleRange(9)], [ScheduleRange(30)], [ScheduleRange(0)]
        )
        assert list(calendar.day_of_week) == [ScheduleRange(1, 5)]
        new_york = ZoneInfo("America/New_York")
        for t in (await handle.describe()).info.next_action_times:
            local = t.astimezone(new_york)
            assert (local.hour, local.minute, local.weekday() < 5) == (9, 30, True)
    finally:
        await handle.delete()


@pytest.mark.parametrize(
    "spec, message",
    [
        (ScheduleSpec(cron_expressions=["* * *"]), "CronString does not have 5-7 fields"),
        (
            ScheduleSpec(cron_expressions=["0 0 * * *"], time_zone_name="Mars/Olympus"),
            "unknown time zone Mars/Olympus",
        ),
    ],
    ids=["cron-fields", "time-zone"],
)
async def test_a_bad_spec_is_refused_with_invalid_argument(client, task_queue, spec, message):
    with pytest.raises(RPCError) as refused:
        await client.create_schedule(
            unique("bad-spec"),
            Schedule(action=start_action(GreetWorkflow, task_queue, "x"), spec=spec),
        )
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert refused.value.message.startswith("Invalid schedule spec: ")
    assert message in refused.value.message


async def test_trigger_starts_a_workflow_even_while_paused(client, task_queue):
    handle = await client.create_schedule(
        unique("trigger"),
        Schedule(
            action=start_action(GreetWorkflow, task_queue, "now"),
            spec=YEARLY,
            state=ScheduleState(paused=True),
        ),
    )
    try:
        async with worker(client, task_queue):
            await handle.trigger()
            description = await actions(handle, 1)
            run = client.get_workflow_handle(description.info.recent_actions[0].action.workflow_id)
            assert await run.result() == "hello now (after None)"
        assert (await handle.describe()).schedule.state.paused
    finally:
        await handle.delete()


async def test_pause_and_unpause_set_the_state_and_its_note(client, task_queue):
    handle = await client.create_schedule(
        unique("pause"),
        Schedule(action=start_action(GreetWorkflow, task_queue, "p"), spec=YEARLY),
    )
    try:
        await handle.pause(note="maintenance")
        state = (await handle.describe()).schedule.state
        assert state.paused and state.note == "maintenance"
        await handle.unpause(note="back")
        state = (await handle.describe()).schedule.state
        assert not state.paused and state.note == "back"
        await handle.pause()
        assert (await handle.describe()).schedule.state.note == "Paused via Python SDK"
    finally:
        await handle.delete()


async def test_backfill_starts_one_workflow_per_spec_time_in_the_range(client, task_queue):
    handle = await client.create_schedule(
        unique("backfill"),
        Schedule(
            action=start_action(GreetWorkflow, task_queue, "past"),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        async with worker(client, task_queue):
            await handle.backfill(
                ScheduleBackfill(
                    start_at=hour - timedelta(hours=3),
                    end_at=hour - timedelta(minutes=1),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                )
            )
            description = await actions(handle, 3)
        scheduled = [a.scheduled_at for a in description.info.recent_actions]
        # The start of the range is inclusive.
        assert scheduled == [hour - timedelta(hours=h) for h in (3, 2, 1)]
        runs = await eventually(
            lambda: _runs_if(client, handle.id, 3), "three backfilled workflows"
        )
        # Started in one go, so their start times may tie: compare in scheduled order.
        assert sorted(r.typed_search_attributes[SCHEDULED_START] for r in runs) == scheduled
    finally:
        await handle.delete()


async def _runs_if(client: Client, schedule_id: str, count: int):
    runs = await scheduled_runs(client, schedule_id)
    return runs if len(runs) >= count else None


async def test_update_replaces_the_spec_and_action(client, task_queue):
    handle = await client.create_schedule(
        unique("update"),
        Schedule(action=start_action(GreetWorkflow, task_queue, "old"), spec=YEARLY),
    )
    try:

        def change(previous: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = previous.description.schedule
            schedule.spec = ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(hour=[ScheduleRange(9)], minute=[ScheduleRange(30)])
                ]
            )
            schedule.action = start_action(GreetWorkflow, task_queue, "new")
            schedule.state.note = "updated"
            return ScheduleUpdate(schedule=schedule)

        await handle.update(change)
        description = await handle.describe()
        assert description.schedule.state.note == "updated"
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert [await client.data_converter.decode([a]) for a in action.args] == [["new"]]
        assert description.info.last_updated_at is not None
        assert all(
            (t.hour, t.minute, t.second) == (9, 30, 0)
            for t in description.info.next_action_times
        )
    finally:
        await handle.delete()


async def test_list_schedules_shows_each_schedule_with_its_summary(client, task_queue):
    ids = [unique("listed") for _ in range(3)]
    handles = [
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=start_action(GreetWorkflow, task_queue, "l"),
                spec=YEARLY,
                state=ScheduleState(paused=schedule_id == ids[0], note="n"),
            ),
            memo={"index": i},
        )
        for i, schedule_id in enumerate(ids)
    ]
    try:

        async def all_listed():
            listed = {s.id: s async for s in await client.list_schedules(page_size=2)}
            return listed if all(i in listed for i in ids) else None

        listed = await eventually(all_listed, "the schedules in the listing")
        for i, schedule_id in enumerate(ids):
            entry = listed[schedule_id]
            assert await entry.memo_value("index") == i
            assert entry.schedule.action.workflow == "GreetWorkflow"
            assert entry.schedule.state.paused == (i == 0)
            assert entry.schedule.state.note == "n"
            assert entry.schedule.spec.intervals == YEARLY.intervals
            assert len(entry.info.next_action_times) == 5
    finally:
        for handle in handles:
            await handle.delete()


async def test_a_deleted_schedule_is_gone(client, task_queue):
    handle = await client.create_schedule(
        unique("delete"), Schedule(action=start_action(GreetWorkflow, task_queue, "d"), spec=YEARLY)
    )
    await handle.delete()
    with pytest.raises(RPCError) as described:
        await handle.describe()
    assert described.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as deleted:
        await handle.delete()
    assert deleted.value.status == RPCStatusCode.NOT_FOUND


async def test_creating_a_schedule_id_twice_is_refused(client, task_queue):
    schedule = Schedule(action=start_action(GreetWorkflow, task_queue, "t"), spec=YEARLY)
    handle = await client.create_schedule(unique("twice"), schedule)
    try:
        with pytest.raises(ScheduleAlreadyRunningError):
            await client.create_schedule(handle.id, schedule)
    finally:
        await handle.delete()


@pytest.mark.parametrize(
    "action, message",
    [
        (
            ScheduleActionStartWorkflow("", id="wf", task_queue="q"),
            "WorkflowType is not set on request.",
        ),
        (
            ScheduleActionStartWorkflow("GreetWorkflow", id="w" * 990, task_queue="q"),
            "WorkflowId exceeds maximum allowed length (1011/1000)",
        ),
        (
            ScheduleActionStartWorkflow(
                "GreetWorkflow", id="wf", task_queue="q", untyped_search_attributes={"Nope": ["x"]}
            ),
            "Namespace default has no mapping defined for search attribute Nope",
        ),
    ],
    ids=["no-type", "id-too-long", "unknown-search-attribute"],
)
async def test_a_bad_action_is_refused_with_invalid_argument(client, action, message):
    with pytest.raises(RPCError) as refused:
        await client.create_schedule(unique("bad"), Schedule(action=action, spec=YEARLY))
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert message in refused.value.message


async def test_overlap_skip_drops_starts_while_one_runs(client, task_queue):
    async with holding_schedule(client, task_queue, ScheduleOverlapPolicy.SKIP) as handle:
        await handle.trigger()
        first = (await actions(handle, 1)).info.recent_actions[0].action
        await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)
        await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)

        async def skipped():
            info = (await handle.describe()).info
            return info if info.num_actions_skipped_overlap == 2 else None

        info = await eventually(skipped, "two skipped starts")
        assert info.num_actions == 1
        assert [a.workflow_id for a in info.running_actions] == [first.workflow_id]
        await release(client, first)


async def test_overlap_buffer_one_starts_the_next_when_the_running_one_closes(
    client, task_queue
):
    async with holding_schedule(client, task_queue, ScheduleOverlapPolicy.BUFFER_ONE) as handle:
        await handle.trigger()
        first = (await actions(handle, 1)).info.recent_actions[0].action
        # Triggers at the same second would get the same workflow id: wait for the next.
        await asyncio.sleep(1.1)
        await handle.trigger()
        assert (await handle.describe()).info.num_actions == 1
        await release(client, first)
        second = (await actions(handle, 2)).info.recent_actions[1].action
        assert second.workflow_id != first.workflow_id
        await release(client, second)
        assert await client.get_workflow_handle(second.workflow_id).result() == "released"


async def test_overlap_terminate_other_terminates_the_running_workflow(client, task_queue):
    overlap = ScheduleOverlapPolicy.TERMINATE_OTHER
    async with holding_schedule(client, task_queue, overlap) as handle:
        await handle.trigger()
        first = (await actions(handle, 1)).info.recent_actions[0].action
        await asyncio.sleep(1.1)
        await handle.trigger()
        second = (await actions(handle, 2)).info.recent_actions[1].action
        first_run = await client.get_workflow_handle(first.workflow_id).describe()
        assert first_run.status.name == "TERMINATED"
        await release(client, second)


async def test_limited_actions_stop_after_the_last_one(client, task_queue):
    handle = await client.create_schedule(
        unique("limited"),
        Schedule(
            action=start_action(GreetWorkflow, task_queue, "limited"),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            state=ScheduleState(limited_actions=True, remaining_actions=2),
        ),
    )
    try:
        async with worker(client, task_queue):
            description = await actions(handle, 2)
            await asyncio.sleep(2.5)
        description = await handle.describe()
        assert description.info.num_actions == 2
        assert description.schedule.state.remaining_actions == 0
        assert description.info.next_action_times == []
    finally:
        await handle.delete()


async def test_pause_on_failure_pauses_the_schedule_with_a_note(client, task_queue):
    handle = await client.create_schedule(
        unique("pause-on-failure"),
        Schedule(
            action=start_action(FailWorkflow, task_queue),
            spec=YEARLY,
            policy=SchedulePolicy(pause_on_failure=True),
        ),
    )
    try:
        async with worker(client, task_queue):
            await handle.trigger()

            async def paused():
                state = (await handle.describe()).schedule.state
                return state if state.paused else None

            state = await eventually(paused, "the schedule paused")
        workflow_id = (await handle.describe()).info.recent_actions[0].action.workflow_id
        assert state.note == f"paused due to workflow failure: {workflow_id}: scheduled failure"
    finally:
        await handle.delete()


async def test_a_schedule_survives_a_crash_and_keeps_firing(binary, tmp_path, task_queue):
    port = free_port()
    argv = dev_server_argv(binary, port, "--db-filename", str(tmp_path / "schedules.db"))
    schedule_id = unique("durable")
    server = ServerProcess(argv, port, tmp_path / "before-crash.log")
    try:
        client = await server.connect()
        async with worker(client, task_queue):
            handle = await client.create_schedule(
                schedule_id,
                Schedule(
                    action=start_action(GreetWorkflow, task_queue, "again"),
                    spec=ScheduleSpec(
                        intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]
                    ),
                    state=ScheduleState(note="durable"),
                ),
            )
            before = (await actions(handle, 1)).info
            server.kill()
        server = ServerProcess(argv, port, tmp_path / "after-crash.log")
        client = await server.connect()
        handle = client.get_schedule_handle(schedule_id)
        async with worker(client, task_queue):
            after = (await actions(handle, before.num_actions + 2)).info
        assert after.created_at == before.created_at
        assert (await handle.describe()).schedule.state.note == "durable"
        # The runs started after the restart got the results of the ones before.
        last = client.get_workflow_handle(after.recent_actions[-1].action.workflow_id)
        assert (await last.result()).startswith("hello again (after hello again")
        await handle.delete()
    finally:
        server.stop()


@pytest.mark.devserver_only  # V1 time skipping needs the Java test server on the real side
async def test_a_daily_schedule_fires_three_times_under_time_skipping(task_queue):
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(devserver_bin()))
    try:
        schedule_id = unique("daily")
        async with worker(env.client, task_queue):
            start = await env.get_current_time()
            await env.client.create_schedule(
                schedule_id,
                Schedule(
                    action=start_action(NapWorkflow, task_queue),
                    spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
                ),
            )
            await env.sleep(timedelta(days=3))
            description = await env.client.get_schedule_handle(schedule_id).describe()
        assert description.info.num_actions == 3
        scheduled = [a.scheduled_at for a in description.info.recent_actions]
        # Midnights (UTC), a day apart, all in the three days slept.
        assert all(t.timestamp() % 86400 == 0 for t in scheduled)
        assert [b - a for a, b in zip(scheduled, scheduled[1:])] == [timedelta(days=1)] * 2
        assert start < scheduled[0] and scheduled[-1] <= start + timedelta(days=3)
        # Each workflow ran its hour of workflow time, on the virtual clock.
        for action in description.info.recent_actions:
            handle = env.client.get_workflow_handle(action.action.workflow_id)
            finished = datetime.fromisoformat(await handle.result())
            assert finished - action.scheduled_at >= timedelta(hours=1)
    finally:
        await env.shutdown()
