"""Workflow start options and workflow-side features: retry policy, cron schedule, start
delay, memo and search attributes, local activities, patches, deterministic helpers, and
describe() of a workflow with pending work."""

import asyncio
import json
import time
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    IndexedValueType,
    PendingActivityState,
    RetryState,
)
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import (
    WorkflowContinuedAsNewError,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from composition_activities import RELEASED, REMEMBERED, pause, remember, wait_until_released
from composition_workflows import (
    CUSTOM_KEYWORD,
    ChildWorkflow,
    DeterministicHelpersWorkflow,
    FailUntilAttemptWorkflow,
    InfoWorkflow,
    LocalActivityWorkflow,
    PatchedWorkflow,
    PendingWorkWorkflow,
    UpsertWorkflow,
)
from support import event_types, unique, wait_for_event

ONE_TASK_RUN = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
]
FAST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0, maximum_attempts=5
)


async def test_workflow_retried_as_new_runs(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[FailUntilAttemptWorkflow]):
        handle = await client.start_workflow(
            FailUntilAttemptWorkflow.run,
            3,
            id=unique("retry"),
            task_queue=task_queue,
            retry_policy=FAST_RETRY,
        )
        # result() follows the failed runs to the one that succeeded.
        assert await handle.result() == "succeeded on attempt 3"
        # Not following, the first run's result is a continue-as-new, not its failure: the
        # server reports the close of a run that is retried that way.
        with pytest.raises(WorkflowContinuedAsNewError):
            await handle.result(follow_runs=False)

    run_id = handle.first_execution_run_id
    for attempt in (1, 2, 3):
        run = client.get_workflow_handle(handle.id, run_id=run_id)
        close = "WORKFLOW_EXECUTION_COMPLETED" if attempt == 3 else "WORKFLOW_EXECUTION_FAILED"
        assert await event_types(run) == [*ONE_TASK_RUN, close]
        events = (await run.fetch_history()).events
        started = events[0].workflow_execution_started_event_attributes
        assert started.attempt == attempt
        assert started.first_execution_run_id == handle.first_execution_run_id
        assert started.retry_policy.maximum_attempts == 5
        if attempt > 1:
            assert started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_RETRY
            assert started.continued_failure.message == f"attempt {attempt - 1} failed"
            assert started.HasField("first_workflow_task_backoff")
        if attempt < 3:
            failed = events[-1].workflow_execution_failed_event_attributes
            assert failed.failure.message == f"attempt {attempt} failed"
            assert failed.retry_state == RetryState.RETRY_STATE_IN_PROGRESS
            assert failed.new_execution_run_id
            next_run_id = failed.new_execution_run_id
            assert (await run.describe()).status == WorkflowExecutionStatus.FAILED
            run_id = next_run_id
    assert (await client.get_workflow_handle(handle.id).describe()).run_id == run_id


async def test_workflow_out_of_retry_attempts(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[FailUntilAttemptWorkflow]):
        handle = await client.start_workflow(
            FailUntilAttemptWorkflow.run,
            10,
            id=unique("retry"),
            task_queue=task_queue,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100), maximum_attempts=2
            ),
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.message, cause.type) == ("attempt 2 failed", "NotYet")

    last = client.get_workflow_handle(handle.id)
    assert await event_types(last) == [*ONE_TASK_RUN, "WORKFLOW_EXECUTION_FAILED"]
    failed = (await last.fetch_history()).events[-1].workflow_execution_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    assert failed.new_execution_run_id == ""


async def follow_cron_runs(client, handle, count: int) -> tuple[list[str], list[dict]]:
    """Waits for the first `count` runs of a cron workflow to complete; returns the run ids
    (including the next, waiting run) and the completed runs' results."""
    run_ids = [handle.first_execution_run_id]
    results = []
    for _ in range(count):
        run = client.get_workflow_handle(handle.id, run_id=run_ids[-1])
        await wait_for_event(run, "WORKFLOW_EXECUTION_COMPLETED")
        assert await event_types(run) == [*ONE_TASK_RUN, "WORKFLOW_EXECUTION_COMPLETED"]
        last = (await run.fetch_history()).events[-1]
        completed = last.workflow_execution_completed_event_attributes
        results.append(json.loads(completed.result.payloads[0].data))
        # The server reports a cron run's close to result() as a continue-as-new.
        with pytest.raises(WorkflowContinuedAsNewError) as continued:
            await run.result(follow_runs=False)
        assert continued.value.new_execution_run_id == completed.new_execution_run_id
        run_ids.append(completed.new_execution_run_id)
    return run_ids, results


async def test_cron_schedule_starts_runs_until_terminated(client, task_queue):
    schedule = "@every 1s"
    async with Worker(client, task_queue=task_queue, workflows=[InfoWorkflow]):
        handle = await client.start_workflow(
            InfoWorkflow.run, id=unique("cron"), task_queue=task_queue, cron_schedule=schedule
        )
        try:
            run_ids, results = await follow_cron_runs(client, handle, 2)
        finally:
            # Terminating the workflow id ends the schedule. (Before the worker shuts down:
            # the SDK's shutdown would otherwise wait on the next run's workflow task.)
            await client.get_workflow_handle(handle.id).terminate("enough runs")

    assert [r["run_id"] for r in results] == run_ids[:2]
    assert all(r["cron_schedule"] == schedule and r["attempt"] == "1" for r in results)

    first, second = [
        (await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history())
        .events[0]
        .workflow_execution_started_event_attributes
        for run_id in run_ids[:2]
    ]
    # The first run, too, waited for the schedule before its first workflow task.
    assert first.cron_schedule == schedule
    assert first.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
    assert first.first_workflow_task_backoff.ToTimedelta() > timedelta(0)
    assert second.cron_schedule == schedule
    assert second.continued_execution_run_id == run_ids[0]
    assert second.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
    assert json.loads(second.last_completion_result.payloads[0].data) == results[0]
    assert second.first_execution_run_id == run_ids[0]

    # The third run was still waiting for its time when it was terminated.
    third = client.get_workflow_handle(handle.id, run_id=run_ids[2])
    assert (await third.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert await event_types(third) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]


async def test_invalid_cron_schedule_is_rejected(client, task_queue):
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            InfoWorkflow.run, id=unique("cron"), task_queue=task_queue, cron_schedule="not cron"
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == "invalid CronSchedule."


async def test_start_delay_postpones_first_workflow_task(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[InfoWorkflow]):
        started_at = time.monotonic()
        handle = await client.start_workflow(
            InfoWorkflow.run,
            id=unique("delay"),
            task_queue=task_queue,
            start_delay=timedelta(seconds=2),
        )
        assert await event_types(handle) == ["WORKFLOW_EXECUTION_STARTED"]
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert description.execution_time - description.start_time == timedelta(seconds=2)

        await handle.result()
        assert time.monotonic() - started_at >= 1.9
    assert await event_types(handle) == [*ONE_TASK_RUN, "WORKFLOW_EXECUTION_COMPLETED"]
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert started.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=2)


@pytest.fixture
async def custom_keyword(client):
    """Registers the search attribute the upsert tests use; registering it again is fine."""
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    CUSTOM_KEYWORD.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                },
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    return CUSTOM_KEYWORD


async def test_memo_and_search_attributes_given_at_start(client, task_queue, custom_keyword):
    handle = await client.start_workflow(
        UpsertWorkflow.run,
        id=unique("attributes"),
        task_queue=task_queue,
        memo={"owner": "tests", "numbers": [1, 2]},
        search_attributes=TypedSearchAttributes([SearchAttributePair(custom_keyword, "at-start")]),
    )
    # No worker: this is what the start request alone recorded.
    description = await handle.describe()
    assert await description.memo() == {"owner": "tests", "numbers": [1, 2]}
    assert description.typed_search_attributes[custom_keyword] == "at-start"
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert set(started.memo.fields) == {"owner", "numbers"}
    assert set(started.search_attributes.indexed_fields) == {custom_keyword.name}
    await handle.terminate("test cleanup")


async def test_unregistered_search_attribute_is_rejected(client, task_queue):
    unknown = SearchAttributeKey.for_keyword(f"NotRegistered{uuid.uuid4().hex[:8]}")
    with pytest.raises(RPCError) as error:
        await client.start_workflow(
            InfoWorkflow.run,
            id=unique("attributes"),
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(unknown, "value")]),
        )
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message == (
        f"Namespace {client.namespace} has no mapping defined for search attribute {unknown.name}"
    )


async def test_upserted_memo_and_search_attributes(client, task_queue, custom_keyword):
    async with Worker(client, task_queue=task_queue, workflows=[UpsertWorkflow]):
        handle = await client.start_workflow(
            UpsertWorkflow.run,
            id=unique("upsert"),
            task_queue=task_queue,
            memo={"removed": "soon", "kept": "yes"},
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(custom_keyword, "at-start")]
            ),
        )
        await wait_for_event(handle, "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES")
        description = await handle.describe()
        # A memo key upserted to None is removed.
        assert await description.memo() == {"stage": "upserted", "kept": "yes"}
        assert description.typed_search_attributes[custom_keyword] == "upserted"

        await handle.execute_update(UpsertWorkflow.finish)
        assert await handle.result() == "done"

    assert (await event_types(handle))[:6] == [
        *ONE_TASK_RUN,
        "WORKFLOW_PROPERTIES_MODIFIED",
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    ]
    events = (await handle.fetch_history()).events
    modified = events[4].workflow_properties_modified_event_attributes
    assert modified.workflow_task_completed_event_id == 4
    assert set(modified.upserted_memo.fields) == {"stage", "removed"}
    upserted = events[5].upsert_workflow_search_attributes_event_attributes
    assert upserted.workflow_task_completed_event_id == 4
    assert set(upserted.search_attributes.indexed_fields) == {custom_keyword.name}


async def test_local_activity_is_recorded_as_marker(client, task_queue):
    async with Worker(
        client, task_queue=task_queue, workflows=[LocalActivityWorkflow], activities=[pause]
    ):
        handle = await client.start_workflow(
            LocalActivityWorkflow.run, 0.1, id=unique("local"), task_queue=task_queue
        )
        assert await handle.result() == "paused 0.1s"
    assert await event_types(handle) == [
        *ONE_TASK_RUN,
        "MARKER_RECORDED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    marker = (await handle.fetch_history()).events[4].marker_recorded_event_attributes
    assert marker.marker_name == "core_local_activity"
    assert marker.workflow_task_completed_event_id == 4
    assert marker.details["result"].payloads[0].data == b'"paused 0.1s"'


async def test_local_activity_longer_than_workflow_task_timeout(client, task_queue):
    # With the default 10 s workflow task timeout, the worker completes the task at 8 s
    # without commands and asks for a new one, so that the task does not time out.
    async with Worker(
        client, task_queue=task_queue, workflows=[LocalActivityWorkflow], activities=[pause]
    ):
        handle = await client.start_workflow(
            LocalActivityWorkflow.run, 12, id=unique("local"), task_queue=task_queue
        )
        assert await handle.result() == "paused 12s"
    assert await event_types(handle) == [
        *ONE_TASK_RUN,
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "MARKER_RECORDED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_patched_records_marker_and_change_version(client, task_queue):
    async with Worker(client, task_queue=task_queue, workflows=[PatchedWorkflow]):
        handle = await client.start_workflow(
            PatchedWorkflow.run, id=unique("patched"), task_queue=task_queue
        )
        assert await handle.result() == "patched"
    assert await event_types(handle) == [
        *ONE_TASK_RUN,
        "MARKER_RECORDED",
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    events = (await handle.fetch_history()).events
    assert events[4].marker_recorded_event_attributes.marker_name == "core_patch"
    change_version = SearchAttributeKey.for_keyword_list("TemporalChangeVersion")
    description = await handle.describe()
    assert description.typed_search_attributes[change_version] == ["composition-patch"]


async def test_uuid4_and_random_are_replayed_identically(client, task_queue):
    # No workflow cache: every workflow task replays the run from its first event.
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[DeterministicHelpersWorkflow],
        activities=[remember],
        max_cached_workflows=0,
    ):
        first = await client.start_workflow(
            DeterministicHelpersWorkflow.run, id=unique("helpers"), task_queue=task_queue
        )
        second = await client.start_workflow(
            DeterministicHelpersWorkflow.run, id=unique("helpers"), task_queue=task_queue
        )
        first_value, second_value = await first.result(), await second.result()
    # What the last replay drew is what the first execution drew and handed the activity.
    assert REMEMBERED[first.id] == [first_value]
    assert REMEMBERED[second.id] == [second_value]
    uuid.UUID(first_value.split()[0])
    # Different runs draw different values.
    assert first_value != second_value


async def test_describe_shows_pending_activity_and_child(client, task_queue):
    key, child_id = unique("release"), unique("child")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[PendingWorkWorkflow, ChildWorkflow],
        activities=[wait_until_released],
    ):
        handle = await client.start_workflow(
            PendingWorkWorkflow.run,
            args=[key, child_id],
            id=unique("pending"),
            task_queue=task_queue,
        )
        deadline = time.monotonic() + 10
        while True:
            raw = (await handle.describe()).raw_description
            started = [
                a
                for a in raw.pending_activities
                if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            ]
            if started and raw.pending_children:
                break
            assert time.monotonic() < deadline, f"no started activity and child in {raw}"
            await asyncio.sleep(0.1)

        # A started activity is not in the history until it completes.
        events = await event_types(handle)
        assert events[-1] == "ACTIVITY_TASK_SCHEDULED"
        assert "ACTIVITY_TASK_STARTED" not in events

        (activity,) = raw.pending_activities
        assert activity.activity_id == "1"
        assert activity.activity_type.name == "wait_until_released"
        assert activity.attempt == 1
        assert activity.HasField("last_started_time")
        (child,) = raw.pending_children
        assert child.workflow_id == child_id
        assert child.workflow_type_name == "ChildWorkflow"
        assert child.initiated_id == events.index("START_CHILD_WORKFLOW_EXECUTION_INITIATED") + 1
        child_run = await client.get_workflow_handle(child_id).describe()
        assert child.run_id == child_run.run_id
        assert raw.workflow_execution_info.history_length == len(events)

        RELEASED.add(key)
        assert await handle.result() == f"released {key}"
    raw = (await handle.describe()).raw_description
    assert not raw.pending_activities and not raw.pending_children
