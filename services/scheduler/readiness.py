"""Which nodes an execution may dispatch now: the planner's rule, and the fold's check of a dispatch.

A ``node_scheduled`` is the scheduler's word that a work item (or a hold) follows. One that no planner
would have appended (forged by a compromised writer, say) must not enter the fold: a node the workflow
does not run, one with its outcome already, one in flight, or one whose inputs are not complete would
wait for a work item nobody publishes, and the execution would stall.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jamjet_common import refusals
from services.scheduler.graph import Graph

if TYPE_CHECKING:
    from services.scheduler.progress import Progress


def dead(src: str, dst: str, progress: Progress, graph: Graph, skipped: set[str]) -> bool:
    if src in skipped or dst in progress.excluded.get(src, ()):
        return True
    return src in graph.routed and src in progress.completed and progress.routes.get(src) != dst


def is_open(node_id: str, progress: Progress, skipped: set[str]) -> bool:
    """Neither in flight nor settled: the node may still be skipped or dispatched."""
    return node_id not in progress.in_flight and node_id not in skipped and not progress.settled(node_id)


def runnable(node_id: str, progress: Progress, graph: Graph, skipped: set[str]) -> bool:
    if not is_open(node_id, progress, skipped):
        return False
    ins = graph.ins[node_id]
    if not ins:
        return node_id == graph.ir.start_node
    live = [s for s in ins if not dead(s, node_id, progress, graph, skipped)]
    return bool(live) and all(s in progress.completed for s in live)


def dispatch_refusal(progress: Progress, graph: Graph, node_id: str) -> refusals.RefusedEventError | None:
    """Why no planner would dispatch ``node_id`` now; None if one would."""
    common = refusals.unschedulable(node_id, settled=progress.settled_nodes, nodes=graph.reachable)
    if common is not None:
        return common
    if node_id in progress.in_flight:
        decision = progress.decided.get(node_id)
        if decision is not None and decision.decision == "approved":
            return None  # approved after a hold: dispatched again with the approver's id
        return _refused(f"node '{node_id}' has a dispatch in flight")
    if not runnable(node_id, progress, graph, set(progress.skipped)):
        return _refused(f"node '{node_id}' is not runnable: its inputs are not complete")
    return None


def _refused(reason: str) -> refusals.RefusedEventError:
    return refusals.RefusedEventError(f"node_scheduled refused: {reason}", code="impossible_event")
