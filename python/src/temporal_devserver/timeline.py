"""A workflow history as a timeline a person reads in a failed test's report: one line per
event with its time since the run started and what it concerns (activity, timer, child,
signal, update, failure)."""

from __future__ import annotations

from temporalio.api.enums.v1 import (
    EventType,
    StartChildWorkflowExecutionFailedCause,
    TimeoutType,
    WorkflowTaskFailedCause,
)
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from .histories import workflow_type

# Failure messages and causes are cut so one event stays one readable line.
MAX_DETAIL = 300


def format_timeline(history: WorkflowHistory) -> str:
    events = list(history.events)
    if not events:
        return f"workflow {history.workflow_id}: no events"
    header = (
        f"workflow {history.workflow_id} ({workflow_type(history)}) run {history.run_id}: "
        f"{_status(events[-1])}"
    )
    start = events[0].event_time.ToDatetime()
    scheduled = {e.event_id: e for e in events}
    lines = [header]
    for event in events:
        elapsed = (event.event_time.ToDatetime() - start).total_seconds()
        name = event_name(event.event_type)
        detail = _detail(event, scheduled)
        line = f"  {_elapsed(elapsed):>10} {event.event_id:>5}  {name}"
        lines.append(f"{line:<58} {detail}".rstrip() if detail else line)
    return "\n".join(lines)


def event_name(event_type: int) -> str:
    """EVENT_TYPE_ACTIVITY_TASK_SCHEDULED -> ActivityTaskScheduled."""
    words = EventType.Name(event_type).removeprefix("EVENT_TYPE_").split("_")
    return "".join(w.capitalize() for w in words)


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"+{seconds:.3f}s"
    if seconds < 3600:
        return f"+{seconds / 60:.1f}m"
    if seconds < 86400 * 2:
        return f"+{seconds / 3600:.1f}h"
    return f"+{seconds / 86400:.1f}d"


def _status(last: HistoryEvent) -> str:
    name = event_name(last.event_type)
    if name.startswith("WorkflowExecution") and name != "WorkflowExecutionStarted":
        closed = name.removeprefix("WorkflowExecution")
        if closed in ("Completed", "Failed", "TimedOut", "Canceled", "Terminated", "ContinuedAsNew"):
            return closed.lower() if closed != "ContinuedAsNew" else "continued as new"
    return "open"


def _failure(failure: Failure) -> str:
    """The failure and its causes: `Activity task failed: ApplicationError(Boom): boom`."""
    parts = []
    while failure is not None and (failure.message or failure.HasField("cause")):
        kind = ""
        if failure.HasField("application_failure_info"):
            kind = failure.application_failure_info.type or "ApplicationError"
        elif failure.HasField("timeout_failure_info"):
            kind = "TimeoutError"
        elif failure.HasField("canceled_failure_info"):
            kind = "CancelledError"
        elif failure.HasField("terminated_failure_info"):
            kind = "TerminatedError"
        parts.append(f"{kind}: {failure.message}" if kind else failure.message)
        failure = failure.cause if failure.HasField("cause") else None
    text = " <- ".join(parts)
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


def _duration(d) -> str:
    return _elapsed(d.ToTimedelta().total_seconds()).removeprefix("+")


def _activity(event_id: int, events: dict[int, HistoryEvent]) -> str:
    scheduled = events.get(event_id)
    if scheduled is None or not scheduled.HasField("activity_task_scheduled_event_attributes"):
        return f"activity scheduled by event {event_id}"
    a = scheduled.activity_task_scheduled_event_attributes
    return f"activity {a.activity_type.name} (id {a.activity_id})"


def _child(initiated_id: int, events: dict[int, HistoryEvent]) -> str:
    initiated = events.get(initiated_id)
    if initiated is None:
        return f"child initiated by event {initiated_id}"
    a = initiated.start_child_workflow_execution_initiated_event_attributes
    return f"child {a.workflow_type.name} (id {a.workflow_id})"


def _detail(e: HistoryEvent, events: dict[int, HistoryEvent]) -> str:
    """What the event concerns, looked up through the event that scheduled it."""
    which = e.WhichOneof("attributes") or ""
    a = getattr(e, which) if which else None
    if a is None:
        return ""
    if which == "workflow_execution_started_event_attributes":
        attempt = f", attempt {a.attempt}" if a.attempt > 1 else ""
        return f"{a.workflow_type.name} on task queue {a.task_queue.name}{attempt}"
    if which == "activity_task_scheduled_event_attributes":
        return f"activity {a.activity_type.name} (id {a.activity_id})"
    if which == "activity_task_started_event_attributes":
        return f"{_activity(a.scheduled_event_id, events)}, attempt {a.attempt}"
    if which in (
        "activity_task_completed_event_attributes",
        "activity_task_cancel_requested_event_attributes",
        "activity_task_canceled_event_attributes",
    ):
        return _activity(a.scheduled_event_id, events)
    if which in ("activity_task_failed_event_attributes", "activity_task_timed_out_event_attributes"):
        return f"{_activity(a.scheduled_event_id, events)}: {_failure(a.failure)}"
    if which == "timer_started_event_attributes":
        return f"timer {a.timer_id} for {_duration(a.start_to_fire_timeout)}"
    if which in ("timer_fired_event_attributes", "timer_canceled_event_attributes"):
        return f"timer {a.timer_id}"
    if which == "start_child_workflow_execution_initiated_event_attributes":
        return f"child {a.workflow_type.name} (id {a.workflow_id})"
    if which == "start_child_workflow_execution_failed_event_attributes":
        cause = _enum_words(
            StartChildWorkflowExecutionFailedCause,
            a.cause,
            "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_",
        )
        return f"child {a.workflow_type.name} (id {a.workflow_id}): {cause}"
    if which.startswith("child_workflow_execution_"):
        child = _child(a.initiated_event_id, events)
        return f"{child}: {_failure(a.failure)}" if a.HasField("failure") else child
    if which == "workflow_execution_signaled_event_attributes":
        return f"signal {a.signal_name}"
    if which == "signal_external_workflow_execution_initiated_event_attributes":
        return f"signal {a.signal_name} to {a.workflow_execution.workflow_id}"
    if which == "workflow_execution_update_accepted_event_attributes":
        return f"update {a.accepted_request.input.name} (id {a.protocol_instance_id})"
    if which == "workflow_execution_update_completed_event_attributes":
        outcome = a.outcome
        failed = f": {_failure(outcome.failure)}" if outcome.HasField("failure") else ""
        return f"update id {a.meta.update_id}{failed}"
    if which == "marker_recorded_event_attributes":
        return f"marker {a.marker_name}"
    if which == "nexus_operation_scheduled_event_attributes":
        return f"operation {a.service}/{a.operation} on endpoint {a.endpoint}"
    if which in ("workflow_task_failed_event_attributes", "workflow_execution_failed_event_attributes"):
        cause = ""
        if which == "workflow_task_failed_event_attributes":
            cause = _enum_words(WorkflowTaskFailedCause, a.cause, "WORKFLOW_TASK_FAILED_CAUSE_")
            cause += ": "
        return f"{cause}{_failure(a.failure)}"
    if which == "workflow_task_timed_out_event_attributes":
        return _enum_words(TimeoutType, a.timeout_type, "TIMEOUT_TYPE_") + " timeout"
    if which == "workflow_execution_terminated_event_attributes":
        return f"reason: {a.reason}" if a.reason else ""
    if which == "workflow_execution_continued_as_new_event_attributes":
        return f"new run {a.new_execution_run_id}"
    if which == "workflow_execution_timed_out_event_attributes":
        return "execution or run timeout"
    if hasattr(a, "failure") and a.HasField("failure"):
        return _failure(a.failure)
    return ""


def _enum_words(enum, value: int, prefix: str) -> str:
    """WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR -> non deterministic error."""
    return enum.Name(value).removeprefix(prefix).lower().replace("_", " ")
