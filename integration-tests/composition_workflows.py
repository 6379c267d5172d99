"""Workflows for the composition tests: updates, child and external workflows,
continue-as-new and workflow start options.

Like workflows.py, they live outside the test files so the sandbox can re-import them; the
activities module is passed through so that its records are shared with the tests.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from composition_activities import pause, remember, wait_until_released

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Registered by test_workflow_options.py before it is used.
CUSTOM_KEYWORD = SearchAttributeKey.for_keyword("CompositionKeyword")


# --- updates ---------------------------------------------------------------------------


@workflow.defn
class CounterWorkflow:
    """Keeps a running total that updates add to; the `finish` update ends it."""

    def __init__(self) -> None:
        self.total = 0
        self.additions = 0
        self.finished = False

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: self.finished and workflow.all_handlers_finished())
        return [self.total, self.additions]

    @workflow.update
    def add(self, amount: int) -> int:
        self.total += amount
        self.additions += 1
        return self.total

    @add.validator
    def check_add(self, amount: int) -> None:
        if amount < 0:
            raise ValueError(f"cannot add {amount}")

    @workflow.update
    async def add_later(self, amount: int) -> int:
        """Accepted at once, completed after a one second timer."""
        await workflow.sleep(1)
        return self.add(amount)

    @workflow.update
    def fail(self, message: str) -> None:
        raise ApplicationError(message, type="UpdateFailed")

    @workflow.update
    def finish(self) -> int:
        self.finished = True
        return self.total


# --- child workflows -------------------------------------------------------------------


@workflow.defn
class ChildWorkflow:
    """`return` returns who it is and who its parent is; `fail` fails; `wait` waits (for
    cancellation, a timeout or termination)."""

    @workflow.run
    async def run(self, behaviour: str) -> str:
        info = workflow.info()
        if behaviour == "fail":
            raise ApplicationError("child failed on purpose", type="ChildFailure")
        if behaviour == "wait":
            await workflow.wait_condition(lambda: False)
        parent = info.parent.workflow_id if info.parent else "nobody"
        return f"{info.workflow_id} of {parent}"


@workflow.defn
class ParentWorkflow:
    """Runs one child to its end; the child's outcome is the parent's."""

    @workflow.run
    async def run(self, child_id: str, behaviour: str) -> str:
        return await workflow.execute_child_workflow(ChildWorkflow.run, behaviour, id=child_id)


@workflow.defn
class CancelChildWorkflow:
    """Starts a waiting child, cancels it and reports what awaiting it raised."""

    @workflow.run
    async def run(self, child_id: str) -> list[str]:
        child = await workflow.start_child_workflow(ChildWorkflow.run, "wait", id=child_id)
        child.cancel()
        try:
            await child
        except ChildWorkflowError as err:
            return [type(err).__name__, type(err.cause).__name__]
        return ["not cancelled"]


@workflow.defn
class TimeoutChildWorkflow:
    """Starts a waiting child with a short execution timeout and reports the failure."""

    @workflow.run
    async def run(self, child_id: str) -> list[str]:
        try:
            await workflow.execute_child_workflow(
                ChildWorkflow.run,
                "wait",
                id=child_id,
                execution_timeout=timedelta(seconds=1),
            )
        except ChildWorkflowError as err:
            return [type(err.cause).__name__, err.retry_state.name if err.retry_state else ""]
        return ["not timed out"]


@workflow.defn
class AbandoningParentWorkflow:
    """Starts a waiting child with the given parent close policy and completes at once."""

    @workflow.run
    async def run(self, child_id: str, policy: str) -> str:
        child = await workflow.start_child_workflow(
            ChildWorkflow.run,
            "wait",
            id=child_id,
            parent_close_policy=workflow.ParentClosePolicy[policy],
        )
        return child.first_execution_run_id or ""


@workflow.defn
class DuplicateChildWorkflow:
    """Starts a child whose id is already in use and reports what starting it raised."""

    @workflow.run
    async def run(self, child_id: str) -> list[str]:
        try:
            await workflow.start_child_workflow(ChildWorkflow.run, "wait", id=child_id)
        except Exception as err:
            return [type(err).__name__, str(err)]
        return ["started"]


# --- external workflows ----------------------------------------------------------------


@workflow.defn
class ReceiverWorkflow:
    def __init__(self) -> None:
        self.received: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.received))
        return self.received

    @workflow.signal
    def ping(self, value: str) -> None:
        self.received.append(value)


@workflow.defn
class SignalExternalWorkflow:
    """Signals another workflow; reports what the signal raised, if anything."""

    @workflow.run
    async def run(self, target_id: str, value: str) -> list[str]:
        try:
            target = workflow.get_external_workflow_handle(target_id)
            await target.signal(ReceiverWorkflow.ping, value)
        except ApplicationError as err:
            return [err.type or "", err.message]
        return ["signalled"]


@workflow.defn
class CancelExternalWorkflow:
    """Requests cancellation of another workflow; reports what that raised, if anything."""

    @workflow.run
    async def run(self, target_id: str) -> list[str]:
        try:
            await workflow.get_external_workflow_handle(target_id).cancel()
        except ApplicationError as err:
            return [err.type or "", err.message]
        return ["cancel requested"]


# --- continue-as-new -------------------------------------------------------------------


@workflow.defn
class ContinueAsNewWorkflow:
    """Continues as new `remaining` times; each run adds its run id to the carried list."""

    @workflow.run
    async def run(self, remaining: int, run_ids: list[str]) -> list[str]:
        run_ids = [*run_ids, workflow.info().run_id]
        if remaining > 0:
            workflow.continue_as_new(args=[remaining - 1, run_ids])
        return run_ids


@workflow.defn
class ContinueThenWaitWorkflow:
    """Runs 1 and 2 continue as new at once; run 3 waits for a signal."""

    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.run
    async def run(self, run_number: int) -> str:
        if run_number < 3:
            workflow.continue_as_new(run_number + 1)
        await workflow.wait_condition(lambda: self.value is not None)
        return f"run {run_number} got {self.value}"

    @workflow.signal
    def ping(self, value: str) -> None:
        self.value = value


# --- workflow options ------------------------------------------------------------------


@workflow.defn
class FailUntilAttemptWorkflow:
    """Fails (the workflow, not its task) until its retry attempt reaches `succeed_on`."""

    @workflow.run
    async def run(self, succeed_on: int) -> str:
        attempt = workflow.info().attempt
        if attempt < succeed_on:
            raise ApplicationError(f"attempt {attempt} failed", type="NotYet")
        return f"succeeded on attempt {attempt}"


@workflow.defn
class InfoWorkflow:
    """Returns what the workflow knows about its own run."""

    @workflow.run
    async def run(self) -> dict[str, str]:
        info = workflow.info()
        return {
            "run_id": info.run_id,
            "cron_schedule": info.cron_schedule or "",
            "attempt": str(info.attempt),
        }


@workflow.defn
class UpsertWorkflow:
    """Upserts a memo and a search attribute, then waits for the `finish` update."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.run
    async def run(self) -> str:
        workflow.upsert_memo({"stage": "upserted", "removed": None})
        workflow.upsert_search_attributes([CUSTOM_KEYWORD.value_set("upserted")])
        await workflow.wait_condition(lambda: self.finished)
        return "done"

    @workflow.update
    def finish(self) -> None:
        self.finished = True


@workflow.defn
class LocalActivityWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_local_activity(
            pause, seconds, start_to_close_timeout=timedelta(seconds=seconds + 30)
        )


@workflow.defn
class PatchedWorkflow:
    @workflow.run
    async def run(self) -> str:
        if workflow.patched("composition-patch"):
            return "patched"
        return "original"


@workflow.defn
class DeterministicHelpersWorkflow:
    """Draws a uuid and a random number, has an activity remember them, sleeps, and returns
    them: with no workflow cache the later tasks replay the run from the start and must
    draw the same values again."""

    @workflow.run
    async def run(self) -> str:
        drawn = f"{workflow.uuid4()} {workflow.random().randint(0, 10**9)}"
        await workflow.execute_activity(remember, drawn, start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.sleep(0.1)
        return drawn


@workflow.defn
class PendingWorkWorkflow:
    """Has an activity and a child running at the same time until the test releases them."""

    @workflow.run
    async def run(self, key: str, child_id: str) -> str:
        child = await workflow.start_child_workflow(ChildWorkflow.run, "wait", id=child_id)
        released = await workflow.execute_activity(
            wait_until_released, key, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        child.cancel()
        try:
            await child
        except ChildWorkflowError:
            pass
        return released


@workflow.defn
class UpsertKeywordWorkflow:
    """Upserts the Keyword search attribute `name` (which may not be registered, or of
    another type) to `value`, then completes."""

    @workflow.run
    async def run(self, name: str, value: str) -> str:
        workflow.upsert_search_attributes([SearchAttributeKey.for_keyword(name).value_set(value)])
        return "upserted"
