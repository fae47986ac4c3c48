"""``wait`` nodes, handled by the scheduler itself: a durable timer, an external event, or either.

A wait node's ``condition`` is ``"timer"``, ``"external_event"`` or ``"either"`` (also accepted as a
one-key object, e.g. ``{"timer": {"duration_secs": 30}}``). The timer's duration is the node's
``timeout_secs`` (or the object's ``duration_secs``/``secs``). An external event is a signal sent with
``jamjet.cmd.signals {execution_id, correlation_key, payload}``; a signal that arrived before the node
started waiting satisfies it at once. ``external_event`` with a ``timeout_secs`` fails the node when the
timeout passes first; for ``timer`` and ``either`` the timer completes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jamjet_common.errors import FatalError
from jamjet_common.events import EventKind, NodeCompleted, NodeFailed
from jamjet_common.ir import WaitNode
from services.scheduler.graph import Graph
from services.scheduler.progress import Progress

KINDS = ("timer", "external_event", "either")


@dataclass(frozen=True, slots=True)
class WaitSpec:
    kind: str
    event_key: str | None
    timer_secs: float | None

    @classmethod
    def of(cls, node: WaitNode) -> WaitSpec:
        kind, details = _condition(node.condition)
        seconds = node.timeout_secs if node.timeout_secs is not None else _duration(details)
        if kind in ("external_event", "either") and not node.correlation_key:
            raise FatalError(f"a wait on an external event needs a correlation_key (condition {kind!r})")
        if kind == "timer" and seconds is None:
            raise FatalError("a timer wait needs timeout_secs (or condition.timer.duration_secs)")
        key = node.correlation_key if kind != "timer" else None
        return cls(kind, key, float(seconds) if seconds is not None else None)


def _condition(condition: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(condition, dict) and len(condition) == 1:
        ((kind, details),) = condition.items()
        return _known(kind), details if isinstance(details, dict) else {}
    return _known(condition if condition is not None else "external_event"), {}


def _known(kind: Any) -> str:
    if kind not in KINDS:
        raise FatalError(f"unknown wait condition {kind!r}; expected one of {', '.join(KINDS)}")
    return str(kind)


def _duration(details: dict[str, Any]) -> float | None:
    for key in ("duration_secs", "secs", "seconds"):
        if isinstance(details.get(key), int | float):
            return float(details[key])
    return None


def wait_outcomes(progress: Progress, graph: Graph) -> list[EventKind]:
    """Completions (or failures) of wait nodes whose event arrived or whose timer fired."""
    outcomes: list[EventKind] = []
    for node_id, dispatch in progress.in_flight.items():
        kind = graph.node(node_id).kind
        if not isinstance(kind, WaitNode):
            continue
        try:
            spec = WaitSpec.of(kind)
        except FatalError as exc:
            outcomes.append(NodeFailed(node_id=node_id, error=str(exc), attempt=0, retryable=False))
            continue
        outcome = _outcome(node_id, spec, progress, dispatch.sequence)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _outcome(node_id: str, spec: WaitSpec, progress: Progress, since: int) -> EventKind | None:
    if spec.event_key is not None:
        signal = progress.signals.get(spec.event_key)
        if signal is not None:
            payload = signal[1]
            output = {"event": payload, "correlation_key": spec.event_key}
            return NodeCompleted(node_id=node_id, output=output, state_patch={spec.event_key: payload})
    if node_id not in progress.fired:
        return None
    if spec.kind == "external_event":
        error = f"wait for event '{spec.event_key}' timed out after {spec.timer_secs:g}s"
        return NodeFailed(node_id=node_id, error=error, attempt=0, retryable=False)
    return NodeCompleted(node_id=node_id, output={"timer": "fired"}, state_patch={})
