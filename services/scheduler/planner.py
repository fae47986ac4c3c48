"""Deciding what an execution needs next: skip dead branches, dispatch runnable nodes, or finish."""

from __future__ import annotations

from dataclasses import dataclass, field

from jamjet_common.events import (
    ApprovalReceived,
    EventKind,
    NodeCompleted,
    NodeFailed,
    WorkflowCompleted,
    WorkflowFailed,
)
from jamjet_common.ir import HumanApprovalNode
from services.scheduler.budget import overrun
from services.scheduler.graph import Graph
from services.scheduler.progress import Progress
from services.scheduler.readiness import dead, is_open, runnable
from services.scheduler.waits import wait_outcomes

SKIP_REASON = "branch not taken"


@dataclass(frozen=True, slots=True)
class Limits:
    max_concurrent_nodes: int = 16
    max_dispatch_per_pass: int = 8
    max_cancelled_dispatches: int = 3
    """Dispatches of one node cancelled while the execution runs before it fails instead of a 4th."""


@dataclass(slots=True)
class Plan:
    skips: list[str] = field(default_factory=list)
    decided: list[EventKind] = field(default_factory=list)
    """Outcomes of human decisions: a human_approval node completes, a rejected node fails."""
    dispatches: list[str] = field(default_factory=list)
    finish: EventKind | None = None
    complete: bool = True
    """Nothing is left that a pass right after this one would do: no node held back by the per-pass cap,
    no decision that completes a node, no held node dispatched (a wait whose signal came completes at
    the next pass)."""

    def __bool__(self) -> bool:
        return bool(self.skips or self.decided or self.dispatches or self.finish)


def plan(progress: Progress, graph: Graph, limits: Limits) -> Plan:
    if progress.terminal or not progress.started:
        return Plan()
    over = overrun(progress.budget, graph.ir, progress.last_completed or "")
    if over is not None:
        return Plan(decided=[over[0]], finish=WorkflowFailed(error=over[1]))
    if (looping := _cancelled_too_often(progress, limits)) is not None:
        return Plan(finish=WorkflowFailed(error=looping))
    decided, approved = decisions(progress, graph)
    decided += wait_outcomes(progress, graph)
    skipped = set(progress.skipped)
    skips = _cascade_skips(progress, graph, skipped)
    ready = [n for n in graph.order if runnable(n, progress, graph, skipped)]
    free = min(limits.max_dispatch_per_pass, limits.max_concurrent_nodes - len(progress.in_flight))
    dispatches = approved + ready[: max(free, 0)]
    finish = None
    if not ready and not progress.in_flight and not decided:
        finish = _finish(progress)
    held = any(graph.node(n).kind.held_by_scheduler for n in dispatches)
    complete = not decided and not held and len(ready) <= max(free, 0)
    return Plan(skips, decided, dispatches, finish, complete)


def _cancelled_too_often(progress: Progress, limits: Limits) -> str | None:
    """Nobody cancels a node of a running execution but its end: a node cancelled again and again
    (a forged or misled writer) fails the execution rather than be dispatched without bound."""
    bound = limits.max_cancelled_dispatches
    nodes = sorted(
        n for n, count in progress.cancels.items() if count >= bound and n not in progress.in_flight
    )
    if not nodes:
        return None
    return (
        f"node(s) {', '.join(nodes)}: dispatch cancelled {bound} times while the execution was "
        "running; not dispatched again"
    )


def decisions(progress: Progress, graph: Graph) -> tuple[list[EventKind], list[str]]:
    """What each human decision calls for: outcome events, and approved nodes to dispatch again."""
    outcomes: list[EventKind] = []
    again: list[str] = []
    for node_id, decision in progress.decided.items():
        kind = graph.node(node_id).kind
        if isinstance(kind, HumanApprovalNode):
            outcomes.append(_approval_outcome(node_id, kind, decision, graph))
        elif decision.decision == "approved":
            again.append(node_id)
        else:
            outcomes.append(_rejection(node_id, decision))
    return outcomes, again


def _approval_outcome(
    node_id: str, kind: HumanApprovalNode, decision: ApprovalReceived, graph: Graph
) -> EventKind:
    approved = decision.decision == "approved"
    if not approved and kind.fallback_node is None:
        return _rejection(node_id, decision)
    fallback = [kind.fallback_node] if kind.fallback_node else []
    others = [t for t in graph.outs[node_id] if t not in fallback]
    output = {
        "approved": approved,
        "user_id": decision.user_id,
        "comment": decision.comment,
        "excluded_targets": fallback if approved else others,
    }
    return NodeCompleted(node_id=node_id, output=output, state_patch={})


def _rejection(node_id: str, decision: ApprovalReceived) -> NodeFailed:
    reason = f"approval rejected by {decision.user_id}"
    if decision.comment:
        reason += f": {decision.comment}"
    return NodeFailed(node_id=node_id, error=reason, attempt=0, retryable=False)


def _finish(progress: Progress) -> EventKind:
    if progress.failed:
        return WorkflowFailed(error="node(s) failed terminally: " + ", ".join(sorted(progress.failed)))
    return WorkflowCompleted(final_state=progress.state)


def _cascade_skips(progress: Progress, graph: Graph, skipped: set[str]) -> list[str]:
    """Skip, to a fixpoint, every open node whose in-edges are all dead; ``skipped`` grows."""
    skips: list[str] = []
    if not skipped and not progress.excluded and not graph.routed:
        return skips  # no edge can be dead (``readiness.dead``): the usual pass costs no walk
    changed = True
    while changed:
        changed = False
        for node_id in graph.order:
            ins = graph.ins[node_id]
            if (
                ins
                and is_open(node_id, progress, skipped)
                and all(dead(s, node_id, progress, graph, skipped) for s in ins)
            ):
                skipped.add(node_id)
                skips.append(node_id)
                changed = True
    return skips
