"""The executions projection: how one event changes an execution's row.

Pure functions over :class:`ExecutionRow`, applied strictly in log order (an event applies only when
its sequence is ``last_sequence + 1``), so a redelivered event changes nothing. Node outcomes, budgets
and approvals follow the scheduler's rules (``nodes.py``); the approvals a fold creates or resolves are
collected on the row and written with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from jamjet_common import refusals
from jamjet_common.events import (
    ApprovalReceived,
    EventKind,
    InterruptRaised,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    NodeScheduled,
    NodeSkipped,
    SegmentBoundary,
    StrategyLimitHit,
    ToolApprovalRequired,
    WorkflowCancelled,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowStarted,
)
from jamjet_common.messages import EXECUTION_STATUSES
from services.event_store import nodes
from services.event_store.nodes import ENDED
from services.event_store.rows import ExecutionRow, FoldState, LogEntry

__all__ = ["ENDED", "STATUSES", "TERMINAL", "ExecutionRow", "FoldState", "LogEntry", "fold"]

logger = logging.getLogger(__name__)

STATUSES = EXECUTION_STATUSES
TERMINAL = frozenset({"completed", "failed", "cancelled", "limit_exceeded"})


def start_row(execution_id: str, entry: LogEntry) -> ExecutionRow | None:
    """The row an execution's first event creates, or None if that event is not its start."""
    kind = entry.kind
    if entry.sequence != 1 or not isinstance(kind, WorkflowStarted):
        return None
    initial = msgspec.json.encode(kind.initial_input).decode()
    return ExecutionRow(
        execution_id=execution_id,
        tenant=entry.tenant,
        workflow_id=kind.workflow_id,
        workflow_version=kind.workflow_version,
        status="running",
        initial_input_json=initial,
        state_json=initial,
        last_sequence=1,
        started_at=entry.created_at,
        updated_at=entry.created_at,
        is_new=True,
        changed=True,
        fold_dirty=True,
    )


def fold(
    row: ExecutionRow | None,
    execution_id: str,
    entries: Mapping[int, LogEntry],
    nodes: frozenset[str] | None = None,
) -> ExecutionRow | None:
    """Apply the entries that continue the row's log without a gap; return the (new) row.

    ``nodes``: the nodes its workflow version runs, if known (a dispatch of another one is forged)."""
    if row is None:
        first = entries.get(1)
        row = start_row(execution_id, first) if first is not None else None
        if row is None:
            return None
    row.nodes = nodes
    while (entry := entries.get(row.last_sequence + 1)) is not None:
        apply(row, entry)
    return row


def apply(row: ExecutionRow, entry: LogEntry) -> None:
    handler = _HANDLERS.get(type(entry.kind))
    refusal = _refusal(row, entry.kind)
    if refusal is not None and row.status not in ENDED:
        # The scheduler refuses it too (and dead-letters it): the row stays as the true log leaves it.
        logger.warning("%s: event %d refused: %s", row.execution_id, entry.sequence, refusal)
    elif handler is not None:
        handler(row, entry.kind, entry)
    row.last_sequence = entry.sequence
    row.updated_at = entry.created_at
    row.changed = True


def _refusal(row: ExecutionRow, kind: EventKind) -> refusals.RefusedEventError | None:
    """The scheduler's refusals that change this row (it also refuses a dispatch while one is in
    flight, and one of a node whose inputs are not complete: neither changes the row's fold)."""
    if isinstance(kind, NodeScheduled):
        return refusals.unschedulable(kind.node_id, settled=row.settled, nodes=row.nodes)
    return refusals.impossible(kind, started=True, in_flight=row.in_flight)


def _set_status(row: ExecutionRow, status: str, at: datetime) -> None:
    row.status = status
    if status in TERMINAL:
        row.completed_at = at


def _on_requested(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if nodes.on_requested(row, kind, entry) and row.status not in TERMINAL:
        _set_status(row, "paused", entry.created_at)


def _on_decided(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if nodes.on_decided(row, kind, entry):
        nodes.merge_state(row, kind.state_patch)
    # Paused while anything waits; a decision without a request still resumes an interrupt.
    if row.status not in TERMINAL and not row.held:
        _set_status(row, "running", entry.created_at)


def _on_pause(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if row.status not in TERMINAL:
        _set_status(row, "paused", entry.created_at)


def _on_limit(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if row.status not in TERMINAL:
        _set_status(row, "limit_exceeded", entry.created_at)


def _on_completed(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if row.status in ENDED:
        return
    if kind.final_state is not None:
        row.set_state(kind.final_state)
    _end(row, "completed", entry)


def _on_failed(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if row.status not in ENDED:
        row.error = kind.error
        _end(row, "failed", entry)


def _on_cancelled(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if row.status not in ENDED:
        _end(row, "cancelled", entry)


def _end(row: ExecutionRow, status: str, entry: LogEntry) -> None:
    _set_status(row, status, entry.created_at)
    nodes.close_pending(row, entry)


_HANDLERS: dict[type, Callable[[ExecutionRow, Any, LogEntry], None]] = {
    NodeScheduled: nodes.on_scheduled,
    NodeCompleted: nodes.on_completed,
    NodeFailed: nodes.on_failed,
    NodeSkipped: nodes.on_skipped,
    NodeCancelled: nodes.on_cancelled,
    ToolApprovalRequired: _on_requested,
    ApprovalReceived: _on_decided,
    InterruptRaised: _on_pause,
    StrategyLimitHit: _on_limit,
    SegmentBoundary: _on_limit,
    WorkflowCompleted: _on_completed,
    WorkflowFailed: _on_failed,
    WorkflowCancelled: _on_cancelled,
}
