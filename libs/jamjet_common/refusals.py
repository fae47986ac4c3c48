"""Events a reader of an execution's log refuses: the ones no correct writer appends.

JetStream enforces ``Nats-Expected-Last-Subject-Sequence`` only when the publisher sends it, so a
publisher that leaves it out (or a compromised service) can store anything on an execution's subject;
the stream cannot refuse it (the check is the client's to ask for). The readers are the defence: every
reader folds the log in stream order and refuses, by the same rules,

- an event out of sequence: its ``sequence`` is not the last accepted one + 1 (a duplicate, a stale or
  a skipped sequence); it takes no place in the log, and the next event continues after the last
  accepted one;
- an event impossible in the execution's state (:func:`impossible`, :func:`unschedulable`): it takes its
  place in the log (its sequence is used) but changes nothing.

A refused event stays in the stream (nothing unwrites it); the scheduler dead-letters it with the
reason (:class:`RefusedEventError`: ``out_of_sequence``, ``impossible_event``, ``not_an_event``) on
``jamjet.dlq.decode``, the event store stores it and leaves the execution's row alone.
"""

from __future__ import annotations

from collections.abc import Collection

from jamjet_common.errors import ContractError
from jamjet_common.events import (
    EventKind,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    WorkflowCompleted,
    WorkflowStarted,
)

OUTCOMES = (NodeCompleted, NodeFailed, NodeCancelled)


class RefusedEventError(ContractError):
    """A message of an execution's log that readers do not fold; ``code`` names the rule."""


def out_of_sequence(sequence: int, last: int) -> RefusedEventError | None:
    """Why an event with ``sequence`` cannot follow the last accepted ``last``; None if it can."""
    if sequence == last + 1:
        return None
    return RefusedEventError(f"event sequence {sequence} after {last}", code="out_of_sequence")


def not_an_event(error: str) -> RefusedEventError:
    return RefusedEventError(error, code="not_an_event")


def impossible(kind: EventKind, *, started: bool, in_flight: Collection[str]) -> RefusedEventError | None:
    """Why ``kind`` cannot happen to an execution in this state; None if it can."""
    reason = _impossible(kind, started, in_flight)
    return None if reason is None else RefusedEventError(reason, code="impossible_event")


def _impossible(kind: EventKind, started: bool, in_flight: Collection[str]) -> str | None:
    if isinstance(kind, WorkflowStarted):
        return "workflow_started refused: the execution has started already" if started else None
    if isinstance(kind, WorkflowCompleted) and in_flight:
        return f"workflow_completed refused: node(s) still in flight: {', '.join(sorted(in_flight))}"
    if isinstance(kind, OUTCOMES) and kind.node_id not in in_flight:
        return f"{kind.tag} refused: node '{kind.node_id}' has no dispatch in flight"
    return None


def unschedulable(
    node_id: str, *, settled: Collection[str], nodes: Collection[str] | None
) -> RefusedEventError | None:
    """Why no scheduler dispatches ``node_id`` (a ``node_scheduled`` for it is forged); None if one may.

    ``nodes``: the nodes the workflow can run (reachable from its start node; None: not known);
    ``settled``: the nodes with a final outcome (completed, failed, skipped). The scheduler refuses more
    (a node in flight, or whose inputs are not complete), as only it knows the whole plan.
    """
    if nodes is not None and node_id not in nodes:
        return RefusedEventError(
            f"node_scheduled refused: '{node_id}' is not a node the workflow runs", code="impossible_event"
        )
    if node_id in settled:
        return RefusedEventError(
            f"node_scheduled refused: node '{node_id}' has its outcome already", code="impossible_event"
        )
    return None
