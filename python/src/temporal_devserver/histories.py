"""Which workflow runs a client started, and their histories with those of every run they
led to (continue-as-new, retries, cron, children)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateHandle,
)

# A cron chain left running would otherwise be followed forever.
MAX_RUNS = 1000


class StartRecorder(Interceptor):
    """Client interceptor noting (workflow id, run id) of every run the client starts."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str | None]] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordingOutbound(next, self)


class _RecordingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, recorder: StartRecorder) -> None:
        super().__init__(next)
        self.recorder = recorder

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle:
        # Also covers signal-with-start (input.start_signal is set).
        handle = await super().start_workflow(input)
        self.recorder.started.append((handle.id, handle.result_run_id))
        return handle

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle:
        # The run may start even when the update then fails, so note it from the start response.
        on_start = input._on_start
        workflow_id = input.start_workflow_input.id

        def note_start(response) -> None:
            self.recorder.started.append((workflow_id, response.run_id or None))
            on_start(response)

        input._on_start = note_start
        return await super().start_update_with_start_workflow(input)


def workflow_type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


def runs_led_to(history: WorkflowHistory) -> list[tuple[str, str]]:
    """The runs this one started: its next run (continue-as-new, retry, cron) and children."""
    wid = history.workflow_id
    runs = []
    for e in history.events:
        if e.HasField("workflow_execution_continued_as_new_event_attributes"):
            runs.append((wid, e.workflow_execution_continued_as_new_event_attributes.new_execution_run_id))
        elif e.HasField("workflow_execution_completed_event_attributes"):
            runs.append((wid, e.workflow_execution_completed_event_attributes.new_execution_run_id))
        elif e.HasField("workflow_execution_failed_event_attributes"):
            runs.append((wid, e.workflow_execution_failed_event_attributes.new_execution_run_id))
        elif e.HasField("workflow_execution_timed_out_event_attributes"):
            runs.append((wid, e.workflow_execution_timed_out_event_attributes.new_execution_run_id))
        elif e.HasField("child_workflow_execution_started_event_attributes"):
            child = e.child_workflow_execution_started_event_attributes.workflow_execution
            runs.append((child.workflow_id, child.run_id))
    return [(w, r) for w, r in runs if r]


async def fetch_histories(
    client: Client, started: list[tuple[str, str | None]]
) -> tuple[list[WorkflowHistory], list[str]]:
    """The histories of the given runs and of every run they led to, recursively, in the
    order found, and a line for each history that could not be fetched."""
    histories: list[WorkflowHistory] = []
    problems: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    pending = list(started)
    while pending and len(seen) < MAX_RUNS:
        run = pending.pop(0)
        if run in seen:
            continue
        seen.add(run)
        workflow_id, run_id = run
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history(
                rpc_timeout=timedelta(seconds=10)
            )
        except Exception as error:
            problems.append(
                f"could not fetch the history of workflow {workflow_id} run {run_id}: {error!r}"
            )
            continue
        if not history.events:
            continue
        seen.add((workflow_id, history.run_id))
        pending.extend(runs_led_to(history))
        histories.append(history)
    return histories, problems
