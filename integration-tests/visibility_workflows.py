"""Workflows for the visibility tests (test_visibility.py).

They live outside the test file so the sandbox can re-import them. The custom search
attributes they upsert are registered by test_visibility.py before they are used.
"""

from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

VISIBILITY_KEYWORD = SearchAttributeKey.for_keyword("VisibilityKeyword")
VISIBILITY_INT = SearchAttributeKey.for_int("VisibilityInt")
VISIBILITY_FLOAT = SearchAttributeKey.for_float("VisibilityFloat")
VISIBILITY_BOOL = SearchAttributeKey.for_bool("VisibilityBool")
VISIBILITY_DATETIME = SearchAttributeKey.for_datetime("VisibilityDatetime")
VISIBILITY_TEXT = SearchAttributeKey.for_text("VisibilityText")
VISIBILITY_KEYWORD_LIST = SearchAttributeKey.for_keyword_list("VisibilityKeywordList")


@workflow.defn
class VisibilityWorkflow:
    """Ends as told: `complete` returns at once, `fail` fails, `wait` runs until the
    `finish` signal (or until terminated)."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.run
    async def run(self, behaviour: str) -> str:
        if behaviour == "fail":
            raise ApplicationError("failed on purpose", type="Deliberate")
        if behaviour == "wait":
            await workflow.wait_condition(lambda: self.finished)
        return behaviour

    @workflow.signal
    def finish(self) -> None:
        self.finished = True


@workflow.defn
class VisibilityUpsertWorkflow:
    """Upserts custom search attributes: some in its first workflow task, more in each
    `upsert` update (so that when the update returns, the workflow task that upserted them
    has completed). Ends on the `finish` update."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.run
    async def run(self, keyword: str) -> str:
        workflow.upsert_search_attributes([VISIBILITY_KEYWORD.value_set(keyword)])
        await workflow.wait_condition(lambda: self.finished)
        return "done"

    @workflow.update
    def upsert(self, count: int, score: float, flag: bool, when: str, text: str) -> None:
        # `when` is an ISO 8601 string: a datetime argument does not survive the sandbox.
        workflow.upsert_search_attributes(
            [
                VISIBILITY_INT.value_set(count),
                VISIBILITY_FLOAT.value_set(score),
                VISIBILITY_BOOL.value_set(flag),
                VISIBILITY_DATETIME.value_set(datetime.fromisoformat(when)),
                VISIBILITY_TEXT.value_set(text),
                VISIBILITY_KEYWORD_LIST.value_set([text, "upserted"]),
            ]
        )

    @workflow.update
    def unset_count(self) -> None:
        workflow.upsert_search_attributes([VISIBILITY_INT.value_unset()])

    @workflow.update
    def finish(self) -> None:
        self.finished = True


@workflow.defn
class VisibilityParentWorkflow:
    """Runs one VisibilityWorkflow child to completion."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        return await workflow.execute_child_workflow(
            VisibilityWorkflow.run, "complete", id=child_id
        )
