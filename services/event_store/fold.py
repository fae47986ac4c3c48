"""The executions projection: how one event changes an execution's row.

Pure functions over :class:`ExecutionRow`, applied strictly in log order (an event applies only when
its sequence is ``last_sequence + 1``), so a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from jamjet_common.events import (
    ApprovalReceived,
    EventKind,
    InterruptRaised,
    NodeCompleted,
    SegmentBoundary,
    StrategyLimitHit,
    ToolApprovalRequired,
    WorkflowCancelled,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowStarted,
)
from jamjet_common.merge import merge_patch

STATUSES = ("pending", "running", "paused", "completed", "failed", "cancelled", "limit_exceeded")
TERMINAL = frozenset({"completed", "failed", "cancelled", "limit_exceeded"})
ENDED = frozenset({"completed", "failed", "cancelled"})
"""Statuses set by the workflow's own terminal event: the first of them is final."""

_UNDECODED: Any = object()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What the fold needs of one stored event."""

    sequence: int
    tenant: str
    created_at: datetime
    kind: EventKind


@dataclass(slots=True)
class ExecutionRow:
    """One ``executions`` row; JSON columns stay as their stored text until a patch needs them."""

    execution_id: str
    tenant: str
    workflow_id: str
    workflow_version: str
    status: str
    initial_input_json: str
    state_json: str
    last_sequence: int
    started_at: datetime
    updated_at: datetime
    error: str | None = None
    completed_at: datetime | None = None
    is_new: bool = False
    changed: bool = False
    state_dirty: bool = False
    _state: Any = field(default=_UNDECODED, repr=False)

    @property
    def state(self) -> Any:
        if self._state is _UNDECODED:
            self._state = msgspec.json.decode(self.state_json)
        return self._state

    def set_state(self, value: Any) -> None:
        self._state = value
        self.state_json = msgspec.json.encode(value).decode()
        self.state_dirty = True


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
    )


def fold(row: ExecutionRow | None, execution_id: str, entries: Mapping[int, LogEntry]) -> ExecutionRow | None:
    """Apply the entries that continue the row's log without a gap; return the (new) row."""
    if row is None:
        first = entries.get(1)
        row = start_row(execution_id, first) if first is not None else None
        if row is None:
            return None
    while (entry := entries.get(row.last_sequence + 1)) is not None:
        apply(row, entry)
    return row


def apply(row: ExecutionRow, entry: LogEntry) -> None:
    handler = _HANDLERS.get(type(entry.kind))
    if handler is not None:
        handler(row, entry.kind, entry.created_at)
    row.last_sequence = entry.sequence
    row.updated_at = entry.created_at
    row.changed = True


def _merge_state(row: ExecutionRow, patch: Any) -> None:
    # An absent patch decodes to None; a JSON null patch would erase the whole state, so both skip.
    if patch is not None:
        row.set_state(merge_patch(row.state, patch))


def _set_status(row: ExecutionRow, status: str, at: datetime) -> None:
    row.status = status
    if status in TERMINAL:
        row.completed_at = at


def _on_node_completed(row: ExecutionRow, kind: Any, at: datetime) -> None:
    _merge_state(row, kind.state_patch)


def _on_approval(row: ExecutionRow, kind: Any, at: datetime) -> None:
    _merge_state(row, kind.state_patch)
    if row.status not in TERMINAL:
        _set_status(row, "running", at)


def _on_pause(row: ExecutionRow, kind: Any, at: datetime) -> None:
    if row.status not in TERMINAL:
        _set_status(row, "paused", at)


def _on_limit(row: ExecutionRow, kind: Any, at: datetime) -> None:
    if row.status not in TERMINAL:
        _set_status(row, "limit_exceeded", at)


def _on_completed(row: ExecutionRow, kind: Any, at: datetime) -> None:
    if row.status in ENDED:
        return
    if kind.final_state is not None:
        row.set_state(kind.final_state)
    _set_status(row, "completed", at)


def _on_failed(row: ExecutionRow, kind: Any, at: datetime) -> None:
    if row.status not in ENDED:
        row.error = kind.error
        _set_status(row, "failed", at)


def _on_cancelled(row: ExecutionRow, kind: Any, at: datetime) -> None:
    if row.status not in ENDED:
        _set_status(row, "cancelled", at)


_HANDLERS: dict[type, Callable[[ExecutionRow, Any, datetime], None]] = {
    NodeCompleted: _on_node_completed,
    ApprovalReceived: _on_approval,
    InterruptRaised: _on_pause,
    ToolApprovalRequired: _on_pause,
    StrategyLimitHit: _on_limit,
    SegmentBoundary: _on_limit,
    WorkflowCompleted: _on_completed,
    WorkflowFailed: _on_failed,
    WorkflowCancelled: _on_cancelled,
}
