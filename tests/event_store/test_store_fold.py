"""The executions fold on its own: which event sets what, and the strict log-order rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jamjet_common.events import (
    STATUS_KINDS,
    ApprovalReceived,
    EventKind,
    InterruptRaised,
    NodeCancelled,
    NodeCompleted,
    NodeScheduled,
    StrategyLimitHit,
    ToolApprovalRequired,
    WorkflowCancelled,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowStarted,
)
from services.event_store.fold import _HANDLERS, ExecutionRow, LogEntry, fold
from tests.event_store.logs import ran

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entries(*kinds: EventKind, first: int = 1) -> dict[int, LogEntry]:
    return {
        seq: LogEntry(seq, "t", T0 + timedelta(seconds=seq), kind)
        for seq, kind in enumerate(kinds, start=first)
    }


def start(initial: Any = None) -> WorkflowStarted:
    return WorkflowStarted(workflow_id="wf", workflow_version="2.0.0", initial_input=initial)


def run(*kinds: EventKind) -> ExecutionRow:
    row = fold(None, "e1", entries(*kinds))
    assert row is not None
    return row


def test_the_first_event_creates_the_row_only_if_it_starts_the_workflow() -> None:
    assert fold(None, "e1", entries(NodeScheduled(node_id="a", queue_type="q"))) is None
    assert fold(None, "e1", entries(start(), first=2)) is None
    row = run(start({"a": 1}))
    assert (row.status, row.last_sequence, row.state, row.is_new) == ("running", 1, {"a": 1}, True)
    assert (row.workflow_id, row.workflow_version, row.tenant, row.started_at) == (
        "wf",
        "2.0.0",
        "t",
        T0 + timedelta(seconds=1),
    )


def test_events_apply_only_in_gapless_order() -> None:
    row = run(start({"n": 0}))
    gapped = {3: entries(NodeCompleted(node_id="x", state_patch={"n": 3}), first=3)[3]}
    assert fold(row, "e1", gapped) is row and row.last_sequence == 1 and row.state == {"n": 0}
    again = fold(row, "e1", entries(start({"n": 9})))  # a redelivered sequence 1 changes nothing
    assert again is row and row.last_sequence == 1 and row.state == {"n": 0}


def test_state_patches_merge_deeply_and_nulls_delete() -> None:
    row = run(
        start({"keep": True, "gone": 1, "deep": {"x": {"y": 1, "z": 2}, "list": [1, 2]}}),
        *ran("a", state_patch={"gone": None, "deep": {"x": {"z": None, "w": 3}, "list": [3]}}),
        *ran("b"),
        NodeScheduled(node_id="c", queue_type="q"),
        ToolApprovalRequired(node_id="c", tool_name="c", approver="human"),
        ApprovalReceived(node_id="c", user_id="u", decision="approved", state_patch={"approved": "yes"}),
    )
    assert row.state == {"keep": True, "deep": {"x": {"y": 1, "w": 3}, "list": [3]}, "approved": "yes"}
    assert row.last_sequence == 8 and row.state_dirty


def test_only_completions_of_nodes_in_flight_count() -> None:
    row = run(
        start({"n": 0}),
        NodeCompleted(node_id="never_scheduled", state_patch={"n": 1}),
        *ran("a", state_patch={"n": 2}),
        NodeCompleted(node_id="a", state_patch={"n": 3}),  # a second outcome for one dispatch
        NodeScheduled(node_id="b", queue_type="q"),
        NodeCancelled(node_id="b"),
        NodeCompleted(node_id="b", state_patch={"n": 4}),  # late: the node was cancelled
        ApprovalReceived(node_id="a", user_id="u", decision="approved", state_patch={"n": 5}),  # orphan
    )
    assert row.state == {"n": 2} and row.last_sequence == 9 and row.in_flight == set()


def test_terminal_events() -> None:
    completed = run(start({"a": 1}), WorkflowCompleted(final_state={"b": 2}))
    assert (completed.status, completed.state, completed.completed_at) == (
        "completed",
        {"b": 2},
        T0 + timedelta(seconds=2),
    )
    assert run(start({"a": 1}), WorkflowCompleted()).state == {"a": 1}
    failed = run(start(), WorkflowFailed(error="boom"))
    assert (failed.status, failed.error) == ("failed", "boom")
    assert run(start(), WorkflowCancelled(reason="user request")).status == "cancelled"
    first_end_wins = run(start(), WorkflowCancelled(), WorkflowCompleted(final_state={"late": 1}))
    assert (first_end_wins.status, first_end_wins.state) == ("cancelled", None)
    after_limit = run(start(), StrategyLimitHit(limit_type="max_iterations"), WorkflowFailed(error="limit"))
    assert after_limit.status == "failed"


def test_interrupts_pause_and_approvals_resume_unless_terminal() -> None:
    paused = run(start(), InterruptRaised(node_id="a", reason="review"))
    assert paused.status == "paused" and paused.completed_at is None
    assert (
        run(
            start(),
            InterruptRaised(node_id="a", reason="r"),
            ApprovalReceived(node_id="a", user_id="u", decision="approved"),
        ).status
        == "running"
    )
    ended = run(start(), WorkflowFailed(error="x"), InterruptRaised(node_id="a", reason="r"))
    assert ended.status == "failed" and ended.last_sequence == 3


def test_the_kinds_that_may_set_an_execution_status_are_status_kinds() -> None:
    """The gateway's list stream sends the stored row after STATUS_KINDS: they must be the kinds the
    fold sets a status on (its own handlers; the node handlers leave the status alone) and the start."""
    own = "services.event_store.fold"
    setting = {kind for kind, handler in _HANDLERS.items() if handler.__module__ == own}
    assert setting | {WorkflowStarted} == set(STATUS_KINDS)
