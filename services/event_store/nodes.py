"""The fold's mirror of the scheduler's node bookkeeping: dispatches, outcomes, budgets, approvals.

The scheduler (``services/scheduler/progress.py``) counts a node's completion only while the node is in
flight, holds a node for a human only while it is in flight, and takes only the first decision on a
held node. The store applies the same rules to the same log, and counts the budget with the
scheduler's own fold (``jamjet_common.budget``), so ``current_state`` (``__budget`` included) and the
pending approvals are what the scheduler acts on.
"""

from __future__ import annotations

from typing import Any

import msgspec

from jamjet_common.budget import BUDGET_KEY
from jamjet_common.merge import merge_patch
from services.event_store.rows import Approval, ExecutionRow, LogEntry

ENDED = frozenset({"completed", "failed", "cancelled"})
"""Statuses set by the workflow's own terminal event: the first of them is final."""


def merge_state(row: ExecutionRow, patch: Any) -> None:
    """RFC 7396 merge; an absent patch decodes to None, and a JSON null would erase the state: both skip."""
    if patch is not None:
        row.set_state(merge_patch(row.state, patch))


def on_scheduled(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    row.in_flight.add(kind.node_id)
    row.fold_dirty = True


def on_completed(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    """A completion of a node in flight: its state patch, then its tokens and cost (scheduler order)."""
    if not _land(row, kind.node_id, entry):
        return  # a late or duplicate outcome: the scheduler ignores it, so does the fold
    row.settled.add(kind.node_id)
    merge_state(row, kind.state_patch)
    if row.budget.completed(kind):
        _write_budget(row)


def on_failed(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    if kind.node_id not in row.in_flight:
        return
    row.budget.failed()
    _write_budget(row)
    if not kind.retryable:
        _land(row, kind.node_id, entry)
        row.settled.add(kind.node_id)


def _write_budget(row: ExecutionRow) -> None:
    """The budget changed: into the state's ``__budget`` (as the scheduler does) and the columns."""
    budget = row.budget
    row.input_tokens, row.output_tokens = budget.total_input_tokens, budget.total_output_tokens
    row.cost_usd = budget.total_cost_usd
    base = row.state if isinstance(row.state, dict) else {}
    row.set_state({**base, BUDGET_KEY: budget.as_state()})
    row.fold_dirty = True


def on_skipped(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    row.in_flight.discard(kind.node_id)
    row.settled.add(kind.node_id)
    row.fold_dirty = True


def on_cancelled(row: ExecutionRow, kind: Any, entry: LogEntry) -> None:
    row.in_flight.discard(kind.node_id)
    row.fold_dirty = True
    _unhold(row, kind.node_id, entry)


def _land(row: ExecutionRow, node_id: str, entry: LogEntry) -> bool:
    """Take ``node_id`` out of flight with an outcome; False if it was not in flight."""
    if node_id not in row.in_flight:
        return False
    row.in_flight.discard(node_id)
    row.fold_dirty = True
    _unhold(row, node_id, entry)
    return True


# ---- approvals ---------------------------------------------------------------------------------------


def on_requested(row: ExecutionRow, kind: Any, entry: LogEntry) -> bool:
    """Record the request; True if the node is now held (it waits for a decision)."""
    approval = Approval(
        node_id=kind.node_id,
        requested_seq=entry.sequence,
        is_new=True,
        tool_name=kind.tool_name,
        approver=kind.approver,
        context_json=msgspec.json.encode(kind.context).decode(),
        requested_at=entry.created_at,
    )
    row.approvals[entry.sequence] = approval
    if kind.node_id not in row.in_flight or row.status in ENDED:
        _resolve(approval, "closed", entry)  # nothing can act on it: the scheduler does not hold the node
        return False
    _unhold(row, kind.node_id, entry)  # a newer request for a held node supersedes the older one
    row.held[kind.node_id] = entry.sequence
    row.fold_dirty = True
    return True


def on_decided(row: ExecutionRow, kind: Any, entry: LogEntry) -> bool:
    """Resolve the node's pending request; False for a decision nobody is waiting for (ignored)."""
    requested = row.held.pop(kind.node_id, None)
    if requested is None:
        return False
    row.fold_dirty = True
    approval = _approval(row, kind.node_id, requested)
    # Anything but "approved" is a rejection to the scheduler.
    _resolve(approval, "approved" if kind.decision == "approved" else "rejected", entry)
    approval.user_id, approval.comment = kind.user_id, kind.comment
    return True


def close_pending(row: ExecutionRow, entry: LogEntry) -> None:
    """The execution ended: nothing waits any more."""
    for node_id in list(row.held):
        _unhold(row, node_id, entry)


def _unhold(row: ExecutionRow, node_id: str, entry: LogEntry) -> None:
    requested = row.held.pop(node_id, None)
    if requested is not None:
        row.fold_dirty = True
        _resolve(_approval(row, node_id, requested), "closed", entry)


def _approval(row: ExecutionRow, node_id: str, requested_seq: int) -> Approval:
    """The row of a pending request: created by this fold, or stored (then only its resolution is sent)."""
    approval = row.approvals.get(requested_seq)
    if approval is None:
        approval = row.approvals[requested_seq] = Approval(node_id=node_id, requested_seq=requested_seq)
    return approval


def _resolve(approval: Approval, status: str, entry: LogEntry) -> None:
    approval.status = status
    approval.decided_seq = entry.sequence
    approval.decided_at = entry.created_at
