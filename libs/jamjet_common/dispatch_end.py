"""When a node dispatch has ended, judged from its execution's log the same way by every writer.

A dispatch's outcome is exactly one event in the log, and the log itself arbitrates: a writer of an
outcome (a worker, or the scheduler withdrawing an unstarted item) appends it conditionally on a tail
up to which it has seen the dispatch still open, and after a lost race reads what was appended since
(:meth:`jamjet_common.eventlog.EventLog.append_unless`). So two writers can never both record one.
"""

from __future__ import annotations

from collections.abc import Callable

from jamjet_common.events import (
    EventKind,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    NodeSkipped,
    ToolApprovalRequired,
)


def settles(kind: EventKind) -> bool:
    """Whether ``kind`` is the end of its dispatch (or holds it for a human)."""
    if isinstance(kind, NodeFailed):
        return not kind.retryable
    return isinstance(kind, NodeCompleted | NodeSkipped | NodeCancelled | ToolApprovalRequired)


def ends_dispatch(node_id: str) -> Callable[[EventKind], bool]:
    """Whether an event appended after a dispatch of ``node_id`` is that dispatch's end.

    A later ``NodeScheduled`` of the node is not taken for one: the scheduler refuses such an event
    while the dispatch is in flight (``refusals.impossible``), so it may be a forgery that ends nothing.
    """

    def ended(kind: EventKind) -> bool:
        return kind.node == node_id and settles(kind)

    return ended


def ends_attempt(node_id: str, attempt: int) -> Callable[[EventKind], bool]:
    """Whether an event appended after attempt ``attempt`` of a dispatch of ``node_id`` started ends it.

    The dispatch's end does, and so does any failure of that attempt: a worker that found the attempt's
    lease lapsed recorded it as lost, and retries the dispatch; the attempt's late result must not count.
    """
    dispatch_ended = ends_dispatch(node_id)

    def ended(kind: EventKind) -> bool:
        if isinstance(kind, NodeFailed) and kind.node_id == node_id and kind.attempt == attempt:
            return True
        return dispatch_ended(kind)

    return ended
