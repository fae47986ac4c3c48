"""Small pieces of the failure semantics: dispatch history, exhaustion errors, cancellation memory."""

from __future__ import annotations

import asyncio

import msgspec

from jamjet_common.events import (
    EventKind,
    Exhaustion,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RetryScheduled,
    ToolApprovalRequired,
)
from services.worker.cancellation import CANCELLED, Cancellations
from services.worker.deadletter import exhausted_failure, exhaustion
from services.worker.history import LEASE_EXPIRED_ERROR, SHUTDOWN_ERROR, Attempt, DispatchHistory


def started(n: int) -> NodeStarted:
    return NodeStarted(node_id="n", worker_id="w", attempt=n)


def failed(n: int, error: str = "busy", *, retryable: bool = True, released: bool = False) -> NodeFailed:
    return NodeFailed(node_id="n", error=error, attempt=n, retryable=retryable, released=released)


def history_of(*kinds: EventKind) -> DispatchHistory:
    history = DispatchHistory()
    for kind in kinds:
        history.fold(kind)
    return history


# ---- history -------------------------------------------------------------------------------------------


def test_no_history_is_the_first_attempt() -> None:
    history = history_of()
    assert (history.next_attempt, history.lapsed, history.outcome) == (Attempt(0, 0), None, None)


def test_attempts_are_counted_from_starts() -> None:
    history = history_of(started(0), failed(0), RetryScheduled(node_id="n", attempt=1, delay_ms=5))
    assert history.next_attempt == Attempt(number=1, spent=1)
    assert history.lapsed is None


def test_a_start_nothing_closed_is_a_lapsed_lease() -> None:
    history = history_of(started(0), failed(0), started(1))
    assert history.lapsed == Attempt(number=1, spent=1)
    closed = history_of(
        started(0), failed(0, LEASE_EXPIRED_ERROR), RetryScheduled(node_id="n", attempt=1, delay_ms=2)
    )
    assert closed.lapsed is None
    assert closed.next_attempt == Attempt(number=1, spent=1)


def test_shutdown_releases_keep_their_number_but_do_not_count() -> None:
    release = failed(0, SHUTDOWN_ERROR, released=True)
    history = history_of(started(0), release, started(1), failed(1))
    assert history.next_attempt == Attempt(number=2, spent=1)
    assert history_of(started(0), release, started(1)).lapsed == Attempt(number=1, spent=0)


def test_a_release_is_its_field_not_its_error_text() -> None:
    reworded = history_of(started(0), failed(0, "drained", released=True), started(1), failed(1))
    assert reworded.next_attempt == Attempt(number=2, spent=1)
    text_only = history_of(started(0), failed(0, SHUTDOWN_ERROR), started(1), failed(1))
    assert text_only.next_attempt == Attempt(number=2, spent=2)


def test_the_first_settling_event_is_the_outcome() -> None:
    completed = NodeCompleted(node_id="n", output={}, state_patch={})
    assert history_of(started(0), completed, NodeCancelled(node_id="n")).outcome == completed
    assert history_of(started(0), failed(0, retryable=False)).outcome == failed(0, retryable=False)
    held = ToolApprovalRequired(node_id="n", tool_name="t", approver="human", context={})
    assert history_of(started(0), held).outcome == held
    assert history_of(started(0), failed(0)).outcome is None


# ---- exhaustion ----------------------------------------------------------------------------------------


def test_exhaustion_is_read_back_from_the_outcome() -> None:
    exhausted = Exhaustion(attempts=3, last_error="ConnectionError: multi\nline")
    outcome = exhausted_failure("n", 2, exhausted)
    assert outcome.error == "exhausted 3 attempts: ConnectionError: multi\nline"  # the original's text
    assert exhaustion(outcome) == exhausted
    assert exhaustion(msgspec.structs.replace(outcome, error="reworded")) == exhausted
    assert exhaustion(msgspec.structs.replace(outcome, retryable=True)) is None
    assert exhaustion(failed(2, outcome.error, retryable=False)) is None  # the text alone is no exhaustion
    assert exhaustion(failed(0, "ValueError: bad", retryable=False)) is None
    assert exhaustion(NodeCancelled(node_id="n")) is None


# ---- cancellations -------------------------------------------------------------------------------------


async def test_cancelled_executions_are_remembered_for_a_while() -> None:
    now = [0.0]
    cancels = Cancellations(remember_secs=10, remembered=2, clock=lambda: now[0])
    cancels.cancel("a")
    assert cancels.cancelled("a") and not cancels.cancelled("b")
    now[0] = 11
    assert not cancels.cancelled("a")


async def test_only_the_most_recent_cancellations_are_remembered() -> None:
    cancels = Cancellations(remembered=2)
    for execution_id in ("a", "b", "c"):
        cancels.cancel(execution_id)
    assert [cancels.cancelled(e) for e in ("a", "b", "c")] == [False, True, True]


async def test_a_guarded_run_stops_when_its_execution_is_cancelled() -> None:
    cancels = Cancellations()
    run = asyncio.create_task(cancels.guard("a", asyncio.sleep(3600, "done")))
    other = asyncio.create_task(cancels.guard("b", asyncio.sleep(0.05, "done")))
    await asyncio.sleep(0.01)
    assert cancels.cancel("a") == 1
    assert await asyncio.wait_for(run, 1) is CANCELLED
    assert await other == "done"
    assert await cancels.guard("a", asyncio.sleep(0, "late")) is CANCELLED


async def test_cancelling_the_caller_is_not_a_cancelled_execution() -> None:
    cancels = Cancellations()
    run = asyncio.create_task(cancels.guard("a", asyncio.sleep(3600)))
    await asyncio.sleep(0.01)
    run.cancel()
    await asyncio.wait({run})
    assert run.cancelled()
    assert cancels.cancel("a") == 0


def test_a_failure_without_its_retry_record_is_noticed_until_one_follows() -> None:
    lapsed = NodeFailed(node_id="n", error=LEASE_EXPIRED_ERROR, attempt=0, retryable=True, lease_expired=True)
    assert history_of(started(0), lapsed).unscheduled == lapsed
    assert history_of(started(0), failed(0)).unscheduled == failed(0)
    scheduled = RetryScheduled(node_id="n", attempt=1, delay_ms=0)
    assert history_of(started(0), lapsed, scheduled).unscheduled is None
    assert history_of(started(0), failed(0, released=True)).unscheduled is None, "a release is no retry"
    assert history_of(started(0), failed(0), started(1)).unscheduled is None
