"""Visibility: `client.list_workflows(query)` and `client.count_workflows(query)` over
Temporal's list-filter language, on system search attributes and on custom ones set at start
or upserted by the workflow; paging, GROUP BY ExecutionStatus, and malformed queries.

Every test's workflows run on a task queue (or carry values) of their own, and each query
filters on it: the session's namespace is shared with every other test.

The real dev server's visibility lags a little (tens of milliseconds) behind what a call
such as start_workflow, an update or a workflow's result has already told the client, so the
tests wait for it, with a deadline. devserver promises more, and only
test_upserted_values_are_listed_at_once checks it: there, on devserver, the very first list
call after the change must show it.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from support import real_server, unique, wait_for_event
from visibility_workflows import (
    VISIBILITY_BOOL,
    VISIBILITY_DATETIME,
    VISIBILITY_FLOAT,
    VISIBILITY_INT,
    VISIBILITY_KEYWORD,
    VISIBILITY_KEYWORD_LIST,
    VISIBILITY_TEXT,
    VisibilityParentWorkflow,
    VisibilityUpsertWorkflow,
    VisibilityWorkflow,
)

WORKFLOWS = [VisibilityWorkflow, VisibilityUpsertWorkflow, VisibilityParentWorkflow]

# One attribute of each type, registered once and left registered: the real dev server allows
# only 3 custom attributes of each type but Keyword (10) in a namespace, which all tests share.
ATTRIBUTES = {
    VISIBILITY_KEYWORD.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    VISIBILITY_INT.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    VISIBILITY_FLOAT.name: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    VISIBILITY_BOOL.name: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    VISIBILITY_DATETIME.name: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    VISIBILITY_TEXT.name: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    VISIBILITY_KEYWORD_LIST.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

# How long the real server's visibility may lag behind (observed: under 0.1 s).
VISIBILITY_DEADLINE = 10.0

T = TypeVar("T")


@pytest.fixture(scope="module")
async def attributes(client):
    """Registers the custom attributes the tests use; registering them again is fine."""
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=ATTRIBUTES)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


async def listed_ids(client: Client, query: str, page_size: int = 1000) -> list[str]:
    return [w.id async for w in client.list_workflows(query, page_size=page_size)]


async def settled(read: Callable[[], Awaitable[T]], expected: T) -> T:
    """What `read` returns once it returns `expected`, within a deadline (the real server's
    visibility lags a little); it returns the last value read when the deadline passes."""
    deadline = time.monotonic() + VISIBILITY_DEADLINE
    while (value := await read()) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


async def wait_visible(client: Client, query: str, count: int) -> None:
    got = await settled(lambda: count_of(client, query), count)
    assert got == count, f"{query!r} counts {got} workflows, not {count}"


async def count_of(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def at_once_or_settled(client: Client, query: str, expected: list[str]) -> list[str]:
    """The ids `query` lists: on devserver, from the very next call (it promises that a
    change is visible at once); on the real server, once they are `expected` (it lags)."""
    if real_server():
        return await settled(lambda: listed_ids(client, query), expected)
    return await listed_ids(client, query)


def keys(ids: list[str], prefix: str) -> list[str]:
    """A catalogue's workflow ids without their common prefix, sorted (duplicates kept)."""
    return sorted(i.removeprefix(f"{prefix}-") for i in ids)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def terminate_all(handles) -> None:
    for handle in handles:
        try:
            await handle.terminate("test cleanup")
        except RPCError:
            pass  # already closed


# --- custom attributes, set at start ---------------------------------------------------


@pytest.fixture(scope="module")
async def custom_catalogue(client, attributes):
    """Four runs (no worker: they stay Running) with custom attributes of every type:
    `a` and `b` have all seven, `c` a Keyword, an Int and a Double, `d` none."""
    task_queue = unique("tq-custom")
    prefix = unique("custom")
    values = {
        "a": [
            SearchAttributePair(VISIBILITY_KEYWORD, "apple"),
            SearchAttributePair(VISIBILITY_INT, 10),
            SearchAttributePair(VISIBILITY_FLOAT, 1.5),
            SearchAttributePair(VISIBILITY_BOOL, True),
            SearchAttributePair(VISIBILITY_DATETIME, datetime(2024, 1, 1, tzinfo=timezone.utc)),
            SearchAttributePair(VISIBILITY_TEXT, "The quick brown fox"),
            SearchAttributePair(VISIBILITY_KEYWORD_LIST, ["red", "green"]),
        ],
        "b": [
            SearchAttributePair(VISIBILITY_KEYWORD, "apricot"),
            SearchAttributePair(VISIBILITY_INT, 20),
            SearchAttributePair(VISIBILITY_FLOAT, 2.5),
            SearchAttributePair(VISIBILITY_BOOL, False),
            SearchAttributePair(
                VISIBILITY_DATETIME, datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
            ),
            SearchAttributePair(VISIBILITY_TEXT, "lazy dog"),
            SearchAttributePair(VISIBILITY_KEYWORD_LIST, ["blue"]),
        ],
        "c": [
            SearchAttributePair(VISIBILITY_KEYWORD, "banana"),
            SearchAttributePair(VISIBILITY_INT, 30),
            SearchAttributePair(VISIBILITY_FLOAT, -0.5),
        ],
        "d": [],
    }
    handles = []
    try:
        for key, pairs in values.items():
            handles.append(
                await client.start_workflow(
                    VisibilityWorkflow.run,
                    "wait",
                    id=f"{prefix}-{key}",
                    task_queue=task_queue,
                    search_attributes=TypedSearchAttributes(pairs),
                )
            )
        await wait_visible(client, f"TaskQueue = '{task_queue}'", len(values))
        yield {"tq": task_queue, "prefix": prefix}
    finally:
        await terminate_all(handles)


CUSTOM_FILTERS = [
    # Keyword: exact, case-sensitive; a run without the attribute fails every comparison.
    ("VisibilityKeyword = 'apple'", "a"),
    ("VisibilityKeyword = 'Apple'", ""),
    ("VisibilityKeyword != 'apple'", "b c"),
    ("VisibilityKeyword IN ('apple', 'banana')", "a c"),
    ("VisibilityKeyword NOT IN ('apple', 'banana')", "b"),
    ("VisibilityKeyword STARTS_WITH 'ap'", "a b"),
    ("VisibilityKeyword NOT STARTS_WITH 'ap'", "c"),
    ("VisibilityKeyword > 'apricot'", "c"),
    ("VisibilityKeyword >= 'apricot'", "b c"),
    ("VisibilityKeyword < 'apricot'", "a"),
    ("VisibilityKeyword <= 'apricot'", "a b"),
    ("VisibilityKeyword BETWEEN 'apricot' AND 'banana'", "b c"),
    ("VisibilityKeyword IS NULL", "d"),
    ("VisibilityKeyword IS NOT NULL", "a b c"),
    ("`VisibilityKeyword` = 'banana'", "c"),
    ('VisibilityKeyword = "banana"', "c"),
    # Int
    ("VisibilityInt = 20", "b"),
    ("VisibilityInt != 20", "a c"),
    ("VisibilityInt > 10", "b c"),
    ("VisibilityInt >= 20", "b c"),
    ("VisibilityInt < 20", "a"),
    ("VisibilityInt <= 20", "a b"),
    ("VisibilityInt IN (10, 30)", "a c"),
    ("VisibilityInt BETWEEN 10 AND 20", "a b"),
    ("VisibilityInt NOT BETWEEN 10 AND 20", "c"),
    ("VisibilityInt IS NULL", "d"),
    # Double
    ("VisibilityFloat = 1.5", "a"),
    ("VisibilityFloat != 1.5", "b c"),
    ("VisibilityFloat > 2", "b"),
    ("VisibilityFloat >= 1.5", "a b"),
    ("VisibilityFloat < 0", "c"),
    ("VisibilityFloat <= 1.5", "a c"),
    ("VisibilityFloat BETWEEN -1 AND 2", "a c"),
    # Bool
    ("VisibilityBool = true", "a"),
    ("VisibilityBool = FALSE", "b"),
    ("VisibilityBool != true", "b"),
    ("VisibilityBool IS NULL", "c d"),
    # Datetime (not `=`: on the real server an exact instant does not match what was set)
    ("VisibilityDatetime > '2024-03-01T00:00:00Z'", "b"),
    ("VisibilityDatetime < '2024-03-01T00:00:00Z'", "a"),
    ("VisibilityDatetime >= '2023-12-31T23:59:59Z'", "a b"),
    ("VisibilityDatetime <= '2024-06-01T12:00:01Z'", "a b"),
    ("VisibilityDatetime BETWEEN '2023-12-31T00:00:00Z' AND '2024-01-01T00:00:01Z'", "a"),
    # 13:30+02:00 is 11:30Z, before b's 12:00Z.
    ("VisibilityDatetime > '2024-06-01T13:30:00+02:00'", "b"),
    ("VisibilityDatetime IS NULL", "c d"),
    # Text: matches when the text holds any of the words, ignoring case; whole words only.
    ("VisibilityText = 'quick'", "a"),
    ("VisibilityText = 'QUICK'", "a"),
    ("VisibilityText = 'fox quick'", "a"),
    ("VisibilityText = 'quick dog'", "a b"),
    ("VisibilityText = 'qui'", ""),
    ("VisibilityText != 'quick'", "b c d"),
    ("VisibilityText IS NULL", "c d"),
    # KeywordList: `=` is "has an element"; its `!=` and NOT IN take in runs without it.
    ("VisibilityKeywordList = 'red'", "a"),
    ("VisibilityKeywordList = 'blue'", "b"),
    ("VisibilityKeywordList = 're'", ""),
    ("VisibilityKeywordList IN ('blue', 'green')", "a b"),
    ("VisibilityKeywordList != 'red'", "b c d"),
    ("VisibilityKeywordList NOT IN ('red')", "b c d"),
    ("VisibilityKeywordList IS NULL", "c d"),
    ("VisibilityKeywordList IS NOT NULL", "a b"),
    # Combinations; the SQL keywords are case-insensitive.
    ("(VisibilityInt = 10 OR VisibilityInt = 30) AND NOT VisibilityKeyword = 'banana'", "a"),
    ("NOT (VisibilityInt > 10)", "a"),
    ("VisibilityInt = 10 OR VisibilityBool = false", "a b"),
    ("VisibilityInt between 10 and 20 and VisibilityKeyword starts_with 'apr'", "b"),
    ("VisibilityKeyword is null or VisibilityInt in (30)", "c d"),
]


@pytest.mark.parametrize(
    "condition, expected", CUSTOM_FILTERS, ids=[c for c, _ in CUSTOM_FILTERS]
)
async def test_custom_attribute_filter(client, custom_catalogue, condition, expected):
    query = f"TaskQueue = '{custom_catalogue['tq']}' AND ({condition})"
    listed = await listed_ids(client, query)
    assert keys(listed, custom_catalogue["prefix"]) == sorted(expected.split())
    assert await count_of(client, query) == len(listed)


async def test_and_binds_tighter_than_or(client, custom_catalogue):
    tq, prefix = custom_catalogue["tq"], custom_catalogue["prefix"]
    query = (
        f"TaskQueue = '{tq}' AND VisibilityInt = 10 OR TaskQueue = '{tq}' AND VisibilityInt = 30"
    )
    assert keys(await listed_ids(client, query), prefix) == ["a", "c"]


# --- system attributes -----------------------------------------------------------------


@pytest.fixture(scope="module")
async def system_catalogue(client):
    """Seven runs on one task queue, in every state a filter might tell apart:
      done, failed         started before `t1` and closed before it (5 events each)
      running              started after `t1`, still running
      terminated           started after `t1`, terminated after 1.5 s (5 events)
      parent, child        started after `t1`; the parent ran the child to completion
      delayed              started after `t1` with a start delay of an hour: running,
                           its ExecutionTime an hour after its StartTime (after `t2`)
    `t0` is before every start, `t2` after every close."""
    task_queue = unique("tq-system")
    prefix = unique("system")
    ids = {
        key: f"{prefix}-{key}"
        for key in ["done", "failed", "running", "terminated", "parent", "child", "delayed"]
    }
    handles: dict[str, WorkflowHandle] = {}

    async def start(key: str, *args, **options) -> WorkflowHandle:
        handles[key] = await client.start_workflow(
            *args, id=ids[key], task_queue=task_queue, **options
        )
        return handles[key]

    try:
        async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
            t0 = datetime.now(timezone.utc)
            await asyncio.sleep(0.05)
            await (await start("done", VisibilityWorkflow.run, "complete")).result()
            failed = await start("failed", VisibilityWorkflow.run, "fail")
            with pytest.raises(WorkflowFailureError):
                await failed.result()
            await asyncio.sleep(0.05)
            t1 = datetime.now(timezone.utc)
            await asyncio.sleep(0.05)

            terminated = await start("terminated", VisibilityWorkflow.run, "wait")
            terminated_started = time.monotonic()
            await start("running", VisibilityWorkflow.run, "wait")
            await start(
                "delayed", VisibilityWorkflow.run, "wait", start_delay=timedelta(hours=1)
            )
            parent = await start("parent", VisibilityParentWorkflow.run, ids["child"])
            assert await parent.result() == "complete"
            handles["child"] = client.get_workflow_handle(ids["child"])
            await wait_for_event(terminated, "WORKFLOW_TASK_COMPLETED")
            await asyncio.sleep(max(0.0, 1.5 - (time.monotonic() - terminated_started)))
            await terminated.terminate("for the test")
            await asyncio.sleep(0.05)
            t2 = datetime.now(timezone.utc)

        await wait_visible(client, f"TaskQueue = '{task_queue}'", len(ids))
        await wait_visible(client, f"TaskQueue = '{task_queue}' AND CloseTime IS NOT NULL", 5)
        runs = {}
        for key, handle in handles.items():
            runs[key] = (await handle.describe()).run_id
        yield {
            "tq": task_queue,
            "prefix": prefix,
            "id": ids,
            "run": runs,
            "t0": rfc3339(t0),
            "t1": rfc3339(t1),
            # t1 again, written in another time zone
            "t1_plus2": t1.astimezone(timezone(timedelta(hours=2))).isoformat(),
            "t2": rfc3339(t2),
        }
    finally:
        await terminate_all(handles.values())


ALL_SYSTEM = "done failed running terminated parent child delayed"

SYSTEM_FILTERS = [
    ("WorkflowId = '{id[done]}'", "done"),
    ("WorkflowId != '{id[done]}'", "failed running terminated parent child delayed"),
    ("WorkflowId IN ('{id[done]}', '{id[failed]}', 'no-such-id')", "done failed"),
    ("WorkflowId NOT IN ('{id[done]}', '{id[failed]}')", "running terminated parent child delayed"),
    ("WorkflowId STARTS_WITH '{prefix}-d'", "done delayed"),
    ("WorkflowType = 'VisibilityParentWorkflow'", "parent"),
    ("WorkflowType != 'VisibilityWorkflow'", "parent"),
    ("WorkflowType = 'VisibilityWorkflow' AND WorkflowId > '{id[failed]}'", "running terminated"),
    ("RunId = '{run[done]}'", "done"),
    ("RunId IN ('{run[failed]}', '{run[child]}')", "failed child"),
    ("TaskQueue STARTS_WITH '{tq}'", ALL_SYSTEM),
    ("TaskQueue != '{tq}'", ""),
    # Status names are as in the UI (case-sensitive); the enum's name and number work too.
    ("ExecutionStatus = 'Running'", "running delayed"),
    ("ExecutionStatus = 'Completed'", "done parent child"),
    ("ExecutionStatus = 'Failed'", "failed"),
    ("ExecutionStatus = 'Terminated'", "terminated"),
    ("ExecutionStatus = 'Canceled'", ""),
    ("ExecutionStatus != 'Running'", "done failed terminated parent child"),
    ("ExecutionStatus IN ('Failed', 'Terminated')", "failed terminated"),
    ("ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_FAILED'", "failed"),
    ("ExecutionStatus = 3", "failed"),
    ("StartTime > '{t0}'", ALL_SYSTEM),
    ("StartTime <= '{t0}'", ""),
    ("StartTime < '{t1}'", "done failed"),
    ("StartTime >= '{t1}'", "running terminated parent child delayed"),
    ("StartTime BETWEEN '{t0}' AND '{t1}'", "done failed"),
    ("StartTime NOT BETWEEN '{t0}' AND '{t1}'", "running terminated parent child delayed"),
    ("StartTime < '{t1_plus2}'", "done failed"),
    ("CloseTime < '{t1}'", "done failed"),
    ("CloseTime > '{t1}'", "terminated parent child"),
    ("CloseTime IS NULL", "running delayed"),
    ("CloseTime IS NOT NULL", "done failed terminated parent child"),
    ("ExecutionTime > '{t2}'", "delayed"),
    ("ExecutionTime <= '{t2}'", "done failed running terminated parent child"),
    ("StartTime < '{t2}' AND ExecutionTime > '{t2}'", "delayed"),
    # HistoryLength and ExecutionDuration are recorded when a run closes.
    ("HistoryLength = 5", "done failed terminated child"),
    ("HistoryLength > 5", "parent"),
    ("HistoryLength IS NULL", "running delayed"),
    ("ExecutionDuration >= '1s'", "terminated"),
    ("ExecutionDuration < '1s'", "done failed parent child"),
    ("ExecutionDuration > 1000000000", "terminated"),
    ("ExecutionDuration < '01:00:00'", "done failed terminated parent child"),
    ("ExecutionDuration IS NULL", "running delayed"),
    ("ParentWorkflowId = '{id[parent]}'", "child"),
    ("ParentWorkflowId != '{id[parent]}'", ""),
    ("ParentWorkflowId IS NOT NULL", "child"),
    ("ParentWorkflowId IS NULL", "done failed running terminated parent delayed"),
    ("ParentRunId = '{run[parent]}'", "child"),
    ("RootWorkflowId = '{id[parent]}'", "parent child"),
    (
        "ExecutionStatus = 'Completed' AND (WorkflowType = 'VisibilityParentWorkflow' "
        "OR ParentWorkflowId IS NOT NULL)",
        "parent child",
    ),
    ("`ExecutionStatus` = 'Running' and `StartTime` > '{t1}'", "running delayed"),
]


@pytest.mark.parametrize(
    "condition, expected", SYSTEM_FILTERS, ids=[c for c, _ in SYSTEM_FILTERS]
)
async def test_system_attribute_filter(client, system_catalogue, condition, expected):
    catalogue = system_catalogue
    query = f"TaskQueue = '{catalogue['tq']}' AND ({condition.format(**catalogue)})"
    listed = await listed_ids(client, query)
    assert keys(listed, catalogue["prefix"]) == sorted(expected.split())
    assert await count_of(client, query) == len(listed)


async def test_listed_executions_describe_the_runs(client, system_catalogue):
    catalogue = system_catalogue
    listed = {
        w.id: w
        async for w in client.list_workflows(
            f"TaskQueue = '{catalogue['tq']}' AND WorkflowId IN "
            f"('{catalogue['id']['child']}', '{catalogue['id']['delayed']}')"
        )
    }
    child = listed[catalogue["id"]["child"]]
    assert child.run_id == catalogue["run"]["child"]
    assert child.workflow_type == "VisibilityWorkflow"
    assert child.task_queue == catalogue["tq"]
    assert child.status == WorkflowExecutionStatus.COMPLETED
    assert child.parent_id == catalogue["id"]["parent"]
    assert child.parent_run_id == catalogue["run"]["parent"]
    assert child.close_time is not None and child.close_time >= child.start_time
    assert child.history_length == 5
    delayed = listed[catalogue["id"]["delayed"]]
    assert delayed.status == WorkflowExecutionStatus.RUNNING
    assert delayed.close_time is None
    assert delayed.execution_time - delayed.start_time == timedelta(hours=1)


async def test_count(client, system_catalogue):
    tq = system_catalogue["tq"]
    counted = await client.count_workflows(f"TaskQueue = '{tq}'")
    assert counted.count == 7
    assert counted.groups == []
    assert await count_of(client, f"TaskQueue = '{tq}' AND ExecutionStatus = 'Completed'") == 3
    assert await count_of(client, f"TaskQueue = '{tq}-none'") == 0


async def test_count_group_by_execution_status(client, system_catalogue):
    tq = system_catalogue["tq"]
    counted = await client.count_workflows(f"TaskQueue = '{tq}' GROUP BY ExecutionStatus")
    assert counted.count == 7
    groups = {tuple(g.group_values): g.count for g in counted.groups}
    assert groups == {("Running",): 2, ("Completed",): 3, ("Failed",): 1, ("Terminated",): 1}
    assert len(counted.groups) == 4

    # The filter applies before grouping; no match, no group.
    counted = await client.count_workflows(
        f"TaskQueue = '{tq}' AND ExecutionStatus != 'Completed' group by ExecutionStatus"
    )
    assert counted.count == 4
    assert {tuple(g.group_values): g.count for g in counted.groups} == {
        ("Running",): 2,
        ("Failed",): 1,
        ("Terminated",): 1,
    }
    counted = await client.count_workflows(f"TaskQueue = '{tq}-none' GROUP BY ExecutionStatus")
    assert (counted.count, counted.groups) == (0, [])


async def test_list_ignores_group_by(client, system_catalogue):
    tq = system_catalogue["tq"]
    listed = await listed_ids(client, f"TaskQueue = '{tq}' GROUP BY ExecutionStatus")
    assert sorted(listed) == sorted(system_catalogue["id"].values())


# --- ordering and paging ---------------------------------------------------------------


async def test_default_order_is_open_runs_then_latest_closed(client, task_queue):
    """Running runs first, the latest started first; then closed ones, the latest closed
    first. (The real dev server refuses ORDER BY, see test_order_by_is_refused.)"""
    prefix = unique("order")
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handles = {}
        for key in ["closed-last", "running-older", "running-newer"]:
            handles[key] = await client.start_workflow(
                VisibilityWorkflow.run, "wait", id=f"{prefix}-{key}", task_queue=task_queue
            )
            await asyncio.sleep(0.02)
        closed_first = await client.start_workflow(
            VisibilityWorkflow.run, "complete", id=f"{prefix}-closed-first", task_queue=task_queue
        )
        await closed_first.result()
        await asyncio.sleep(0.02)
        await handles["closed-last"].signal(VisibilityWorkflow.finish)
        await handles["closed-last"].result()
    try:
        query = f"TaskQueue = '{task_queue}'"
        await wait_visible(client, f"{query} AND CloseTime IS NOT NULL", 2)
        expected = [
            f"{prefix}-{key}"
            for key in ["running-newer", "running-older", "closed-last", "closed-first"]
        ]
        assert await listed_ids(client, query) == expected
        # Pages follow the same order.
        assert await listed_ids(client, query, page_size=1) == expected
    finally:
        await terminate_all(handles.values())


@pytest.mark.devserver_only
async def test_order_by_sorts_the_listing(client, task_queue):
    """ORDER BY on attributes kept as columns (the real dev server refuses ORDER BY; servers
    on Elasticsearch take it, and so does devserver)."""
    ids = [f"{unique('ordered')}-{n}" for n in range(3)]
    handles = []
    try:
        for workflow_id in ids:
            handles.append(
                await client.start_workflow(
                    VisibilityWorkflow.run, "wait", id=workflow_id, task_queue=task_queue
                )
            )
            await asyncio.sleep(0.01)  # distinct start times
        by = f"TaskQueue = '{task_queue}' ORDER BY"
        assert await listed_ids(client, f"{by} StartTime") == ids
        assert await listed_ids(client, f"{by} StartTime DESC") == ids[::-1]
        assert await listed_ids(client, f"{by} WorkflowId desc, StartTime") == sorted(ids)[::-1]
        assert (await client.count_workflows(f"{by} StartTime")).count == 3
    finally:
        await terminate_all(handles)


async def test_paging_returns_every_run_once(client, task_queue):
    ids = [unique("paged") for _ in range(5)]
    handles = []
    try:
        for workflow_id in ids:
            handles.append(
                await client.start_workflow(
                    VisibilityWorkflow.run, "wait", id=workflow_id, task_queue=task_queue
                )
            )
        query = f"TaskQueue = '{task_queue}'"
        await wait_visible(client, query, 5)

        one_page = await listed_ids(client, query)
        paged = await listed_ids(client, query, page_size=2)
        assert sorted(paged) == sorted(ids)
        assert paged == one_page

        # Page by page: 2, 2, then the last one and no token.
        pages = client.list_workflows(query, page_size=2)
        sizes = []
        while True:
            await pages.fetch_next_page()
            sizes.append(len(pages.current_page))
            if pages.next_page_token is None:
                break
            assert len(sizes) < 5, f"still a next page after pages of {sizes}"
        assert sizes == [2, 2, 1]

        # `limit` stops early.
        assert [w.id async for w in client.list_workflows(query, page_size=2, limit=3)] == (
            one_page[:3]
        )
    finally:
        await terminate_all(handles)


# --- upserted attributes ---------------------------------------------------------------


async def test_upserted_values_are_listed_at_once(client, task_queue, attributes):
    keyword = unique("upserted")
    workflow_id = unique("upsert")
    by_id = f"WorkflowId = '{workflow_id}'"
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(
            VisibilityUpsertWorkflow.run,
            keyword,
            id=workflow_id,
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(VISIBILITY_INT, 1)]),
        )
        query = f"{by_id} AND VisibilityInt = 1"
        assert await at_once_or_settled(client, query, [workflow_id]) == [workflow_id]

        # When the update returns, the workflow task that ran it has completed, and so has
        # the first one, which upserted the Keyword.
        await handle.execute_update(
            VisibilityUpsertWorkflow.upsert,
            args=[7, 2.5, True, "2024-02-29T12:00:00+00:00", "Hello upserted world"],
        )
        query = f"VisibilityKeyword = '{keyword}'"
        assert await at_once_or_settled(client, query, [workflow_id]) == [workflow_id]
        query = (
            f"{by_id} AND VisibilityInt = 7 AND VisibilityFloat = 2.5 AND VisibilityBool = true"
            " AND VisibilityDatetime BETWEEN '2024-02-29T11:59:59Z' AND '2024-02-29T12:00:01Z'"
            " AND VisibilityText = 'hello' AND VisibilityKeywordList = 'upserted'"
            " AND VisibilityKeywordList = 'Hello upserted world'"
        )
        assert await at_once_or_settled(client, query, [workflow_id]) == [workflow_id]
        # The value given at start is replaced.
        assert await listed_ids(client, f"{by_id} AND VisibilityInt = 1") == []

        await handle.execute_update(VisibilityUpsertWorkflow.unset_count)
        query = f"{by_id} AND VisibilityInt IS NULL AND VisibilityKeyword = '{keyword}'"
        assert await at_once_or_settled(client, query, [workflow_id]) == [workflow_id]

        await handle.execute_update(VisibilityUpsertWorkflow.finish)
        assert await handle.result() == "done"
        # Closing keeps the upserted values.
        query = (
            f"VisibilityKeyword = '{keyword}' AND ExecutionStatus = 'Completed'"
            " AND VisibilityFloat = 2.5"
        )
        assert await at_once_or_settled(client, query, [workflow_id]) == [workflow_id]
    counted = await client.count_workflows(f"VisibilityKeyword = '{keyword}'")
    assert counted.count == 1


# --- malformed queries -----------------------------------------------------------------

# The query, and what the real server's message (after "invalid query: ") says about it.
MALFORMED = [
    ("WorkflowId = 'x' AND", "malformed SQL query: syntax error at position"),
    ("(WorkflowId = 'x'", "malformed SQL query: syntax error at position"),
    ("WorkflowId == 'x'", "malformed SQL query: syntax error at position"),
    ("NoSuchAttribute = 'x'", "invalid search attribute: NoSuchAttribute"),
    ("workflowid = 'x'", "invalid search attribute: workflowid"),
    ("visibilityint = 10 or VisibilityInt = 20", "invalid search attribute: visibilityint"),
    ("StartTime > 'yesterday'", "invalid expression: unable to parse datetime 'yesterday'"),
    ("StartTime > '2024-01-01'", "invalid expression: unable to parse datetime '2024-01-01'"),
    (
        "VisibilityInt = 'many'",
        'invalid expression: invalid value type for search attribute VisibilityInt of type '
        'Int: "many" (type: string)',
    ),
    (
        "VisibilityBool = 1",
        "invalid expression: invalid value type for search attribute VisibilityBool of type "
        "Bool: 1 (type: int64)",
    ),
    (
        "ExecutionStatus = 'completed'",
        "invalid expression: invalid ExecutionStatus value 'completed'",
    ),
    (
        "ExecutionStatus = 'COMPLETED'",
        "invalid expression: invalid ExecutionStatus value 'COMPLETED'",
    ),
    (
        "WorkflowType = VisibilityWorkflow",
        "operation is not supported: column name on the right side of comparison expression "
        '(did you forget to quote "VisibilityWorkflow"?)',
    ),
    (
        "VisibilityText STARTS_WITH 'qu'",
        "operation is not supported: operator 'STARTS_WITH' not supported for Text type "
        "search attribute 'VisibilityText'",
    ),
    (
        "WorkflowId = 'x' GROUP BY WorkflowType",
        "operation is not supported: 'GROUP BY' clause is not supported for search attribute "
        "WorkflowType",
    ),
    (
        "WorkflowId = 'x' GROUP BY ExecutionStatus, WorkflowType",
        "operation is not supported: 'GROUP BY' clause supports only a single field",
    ),
    ("WorkflowId = 'x' GROUP BY NoSuchAttribute", "invalid search attribute: NoSuchAttribute"),
    ("WorkflowId = 'x' LIMIT 1", "operation is not supported: 'LIMIT' clause"),
]


@pytest.mark.parametrize("rpc", ["list", "count"])
@pytest.mark.parametrize("query, message", MALFORMED, ids=[q for q, _ in MALFORMED])
async def test_malformed_query_is_invalid_argument(client, attributes, rpc, query, message):
    with pytest.raises(RPCError) as error:
        if rpc == "list":
            await listed_ids(client, query)
        else:
            await client.count_workflows(query)
    assert error.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.value.message.startswith("invalid query: ")
    assert message in error.value.message
