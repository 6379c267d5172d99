"""Property: random programs run by the real SDK leave well-formed histories.

Each seed makes a batch of random programs (program_workflows.py) that run at once; each
must return what the program computes, and its history and those of its children must keep
the rules the engine's property test checks (server/src/engine/tests/history_invariants.rs).
The replay check (conftest.py) then replays every one of them with the SDK's Replayer.
"""

import asyncio
import itertools
import random
from datetime import datetime

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowFailureError
from temporalio.worker import Worker

from activities import echo, flaky
from lifecycle_activities import heartbeat_until_cancelled
from program_workflows import ProgramWorkflow, outcome
from support import event_type, unique
from temporal_devserver.histories import fetch_histories

FIXED_SEED = 20260517
# A new seed each session widens what CI tries over time; a failure prints it.
SESSION_SEED = random.randrange(1 << 32)
PROGRAMS_PER_SEED = 18


def random_program(rng: random.Random, depth: int, signals: itertools.count | None) -> list:
    """Steps for a program; `signals` numbers the test's signals, None in a child (whose id
    the test does not know, and which signals its parent instead)."""
    kinds = ["echo", "flaky", "failing", "sleep", "cancelled_timer", "activity_cut_short"]
    kinds += ["signal_self", "client_signal" if signals is not None else "signal_parent"]
    if depth < 2:
        kinds += ["child", "gather"]
    steps = []
    for _ in range(rng.randint(1, 4 if depth == 0 else 3)):
        match rng.choice(kinds):
            case "echo":
                steps.append(["echo", rng.randrange(1000)])
            case "flaky":
                steps.append(["flaky", rng.randint(0, 2)])
            case "failing":
                steps.append(["failing"])
            case "sleep":
                steps.append(["sleep", rng.randint(1, 200)])
            case "cancelled_timer":
                steps.append(["cancelled_timer", rng.randint(1, 100)])
            case "activity_cut_short":
                steps.append(["activity_cut_short", rng.randint(50, 300)])
            case "signal_self":
                steps.append(["signal_self"])
            case "signal_parent":
                steps.append(["signal_parent", rng.randrange(1000)])
            case "client_signal":
                steps.append(["client_signal", f"client-{next(signals)}", rng.randrange(1000)])
            case "child":
                steps.append(["child", random_program(rng, depth + 1, None)])
            case "gather":
                steps.append(["gather", random_program(rng, depth + 1, signals)])
    return steps


def children_in(program: list) -> int:
    """How many child workflows the program and its children start."""
    count = 0
    for step in program:
        if step[0] == "child":
            count += 1 + children_in(step[1])
        elif step[0] == "gather":
            count += children_in(step[1])
    return count


def client_signals(program: list) -> list[tuple[str, int]]:
    """The signals the test sends: those of the program and of its gathered steps."""
    found = []
    for step in program:
        if step[0] == "client_signal":
            found.append((step[1], step[2]))
        elif step[0] == "gather":
            found += client_signals(step[1])
    return found


# Events a workflow task completion writes, naming that completion.
COMMAND_EVENTS = {
    "activity_task_scheduled", "activity_task_cancel_requested", "timer_started",
    "timer_canceled", "marker_recorded", "start_child_workflow_execution_initiated",
    "signal_external_workflow_execution_initiated",
    "request_cancel_external_workflow_execution_initiated", "upsert_workflow_search_attributes",
    "workflow_properties_modified", "workflow_execution_completed", "workflow_execution_failed",
    "workflow_execution_canceled", "workflow_execution_continued_as_new",
}  # fmt: skip
CLOSES_RUN = {
    "workflow_execution_completed", "workflow_execution_failed", "workflow_execution_timed_out",
    "workflow_execution_canceled", "workflow_execution_terminated",
    "workflow_execution_continued_as_new",
}  # fmt: skip
ACTIVITY_OUTCOMES = {
    "activity_task_completed", "activity_task_failed", "activity_task_timed_out",
    "activity_task_canceled",
}  # fmt: skip
CHILD_OUTCOMES = {
    "child_workflow_execution_completed", "child_workflow_execution_failed",
    "child_workflow_execution_canceled", "child_workflow_execution_timed_out",
    "child_workflow_execution_terminated",
}  # fmt: skip
EXTERNAL_OUTCOMES = {
    "external_workflow_execution_signaled": "signal",
    "signal_external_workflow_execution_failed": "signal",
    "external_workflow_execution_cancel_requested": "cancel",
    "request_cancel_external_workflow_execution_failed": "cancel",
}


def history_problems(events: list[HistoryEvent]) -> list[str]:
    """What in a history breaks the rules: ids from 1 without a gap; times that never go back
    but for buffered events (never older than the workflow task they waited for) and an
    activity's started event (the real server dates it when the attempt started); one
    workflow task at a time, well-formed; one outcome per activity, timer, child and request
    to another workflow, naming its own events; command events naming their completion; one
    close event, the last, with no started workflow task left open."""
    problems = []
    task = None  # None, ("scheduled", id) or ("started", scheduled id, started id)
    activities: dict[int, int] = {}  # scheduled id -> started id (0 until started)
    cancel_requests: dict[int, int] = {}  # scheduled id -> cancel requested id
    timers: dict[int, str] = {}  # started id -> timer id
    children: dict[int, int] = {}  # initiated id -> started id (0 until started)
    external: dict[int, str] = {}  # initiated id -> "signal" or "cancel"
    times: dict[int, datetime] = {}
    last_completion = latest_time = task_started_time = None
    closed = False
    where = ""

    def check(ok: bool, rule: str) -> None:
        if not ok:
            problems.append(f"{where}: {rule}")

    for index, e in enumerate(events):
        where = f"event {e.event_id} {event_type(e)}"
        check(e.event_id == index + 1, "ids run from 1 without a gap")
        check(not closed, "nothing follows the close event")
        time = times[e.event_id] = e.event_time.ToDatetime()
        field = e.WhichOneof("attributes")
        kind = field.removesuffix("_event_attributes")
        a = getattr(e, field)
        if kind == "activity_task_started":
            check(time >= times.get(a.scheduled_event_id, time), "started before it was scheduled")
        elif latest_time is None or time >= latest_time:
            latest_time = time
        else:
            check(
                task_started_time is not None and time >= task_started_time,
                "an event older than the workflow task it waited for",
            )
        if kind in COMMAND_EVENTS:
            check(
                a.workflow_task_completed_event_id == last_completion,
                "a command's event names the completion that wrote it",
            )
        match kind:
            case "workflow_execution_started":
                check(index == 0, "the started event comes first")
            case "workflow_task_scheduled":
                check(task is None, "one workflow task at a time")
                task = ("scheduled", e.event_id)
            case "workflow_task_started":
                check(task == ("scheduled", a.scheduled_event_id), "started once, once scheduled")
                task = ("started", a.scheduled_event_id, e.event_id)
                task_started_time = time
            case "workflow_task_completed" | "workflow_task_failed" | "workflow_task_timed_out":
                ended = (
                    ("started", a.scheduled_event_id, a.started_event_id)
                    if a.started_event_id
                    else ("scheduled", a.scheduled_event_id)
                )
                check(task == ended, "a workflow task ends once, naming its own events")
                task = None
                if kind == "workflow_task_completed":
                    last_completion = e.event_id
            case "activity_task_scheduled":
                activities[e.event_id] = 0
            case "activity_task_started":
                check(activities.get(a.scheduled_event_id) == 0, "a pending activity starts once")
                activities[a.scheduled_event_id] = e.event_id
            case "activity_task_cancel_requested":
                check(a.scheduled_event_id in activities, "only a pending activity is cancelled")
                cancel_requests[a.scheduled_event_id] = e.event_id
            case "timer_started":
                timers[e.event_id] = a.timer_id
            case "timer_fired" | "timer_canceled":
                check(timers.pop(a.started_event_id, None) == a.timer_id, "a timer ends once")
            case "start_child_workflow_execution_initiated":
                children[e.event_id] = 0
            case "child_workflow_execution_started":
                check(children.get(a.initiated_event_id) == 0, "an initiated child starts once")
                children[a.initiated_event_id] = e.event_id
            case "start_child_workflow_execution_failed":
                check(children.pop(a.initiated_event_id, None) == 0, "only an unstarted child")
            case "signal_external_workflow_execution_initiated":
                external[e.event_id] = "signal"
            case "request_cancel_external_workflow_execution_initiated":
                external[e.event_id] = "cancel"
        if kind in ACTIVITY_OUTCOMES:
            started = activities.pop(a.scheduled_event_id, None)
            check(started == a.started_event_id, "one outcome per activity, naming its start")
            check(time >= times.get(a.started_event_id, time), "an outcome before its start")
        if kind == "activity_task_canceled":
            check(
                cancel_requests.get(a.scheduled_event_id) == a.latest_cancel_requested_event_id,
                "an activity is cancelled only once the workflow asked",
            )
        if kind in CHILD_OUTCOMES:
            started = children.pop(a.initiated_event_id, None)
            check(bool(started) and started == a.started_event_id, "a started child ends once")
        if kind in EXTERNAL_OUTCOMES:
            request = external.pop(a.initiated_event_id, None)
            check(request == EXTERNAL_OUTCOMES[kind], "one outcome per request of its kind")
        if kind in CLOSES_RUN:
            check(task is None or task[0] != "started", "no started workflow task at close")
            closed = True
    if not closed:
        problems.append("the run did not close")
    return problems


@pytest.mark.parametrize(
    "seed", [FIXED_SEED, SESSION_SEED], ids=["fixed-seed", "session-seed"]
)
async def test_random_programs_leave_well_formed_histories(client, task_queue, seed):
    rng = random.Random(seed)
    programs = [random_program(rng, 0, itertools.count()) for _ in range(PROGRAMS_PER_SEED)]

    async def run(number: int, program: list) -> tuple[str, str, list]:
        handle = await client.start_workflow(
            ProgramWorkflow.run, program, id=unique(f"program-{seed}-{number}"),
            task_queue=task_queue,
        )  # fmt: skip
        for key, value in client_signals(program):
            await handle.signal(ProgramWorkflow.deliver, args=[key, value])
        try:
            result = await handle.result()
        except WorkflowFailureError as error:
            result = f"a failure: {error.cause!r}"
        return handle.id, handle.result_run_id, result

    async with Worker(
        client, task_queue=task_queue, workflows=[ProgramWorkflow],
        activities=[echo, flaky, heartbeat_until_cancelled],
    ):  # fmt: skip
        try:
            async with asyncio.timeout(60):
                runs = await asyncio.gather(*(run(n, p) for n, p in enumerate(programs)))
        except TimeoutError:
            pytest.fail(f"seed {seed}: the programs did not end within 60 s: {programs}")

    problems = []
    for number, (program, (_, _, result)) in enumerate(zip(programs, runs)):
        expected = [outcome(step) for step in program]
        if result != expected:
            problems.append(f"program {number} returned {result}, not {expected}: {program}")
    started = [(workflow_id, run_id) for workflow_id, run_id, _ in runs]
    histories, unfetched = await fetch_histories(client, started)
    problems += unfetched
    for history in histories:
        problems += [f"{history.workflow_id}: {p}" for p in history_problems(history.events)]
    children = sum(children_in(program) for program in programs)
    if len(histories) != len(runs) + children:
        problems.append(f"{len(histories)} histories for {len(runs)} runs and {children} children")
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)
