"""One policy decision per dispatch: the node's own, or, for an agent turn, one per tool call it runs.

Every model-chosen tool call of an SDK agent turn is evaluated by the policy service as a ``tool``
node named after the tool, under the tenant, workflow and node policy sets (``tool_calls.py``). The
turn then goes through the same block / approval / run path as any node: a block of any call blocks
the turn before any call runs; otherwise a call that needs approval holds the turn, naming that tool
and carrying the calls' arguments for the reviewer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from jamjet_common.messages import PolicyDecision, WorkItem
from services.worker.policy_client import PolicyClient
from services.worker.tool_calls import ToolCall, is_agent_dispatch, pending_tool_calls, subject_node


@dataclass(frozen=True, slots=True)
class Decided:
    decision: PolicyDecision
    approval_context: dict[str, Any]
    """``ToolApprovalRequired.context`` if the decision holds the node for approval."""


async def decide(policy: PolicyClient, item: WorkItem) -> Decided:
    context: dict[str, Any] = {"node_id": item.node_id}
    calls = pending_tool_calls(item.state) if is_agent_dispatch(item.node.kind) else []
    if not calls:
        return Decided(await policy.evaluate(item), context)
    decisions = await asyncio.gather(
        *(policy.evaluate(item, subject_node(item.node, call)) for call in calls)
    )
    return combine(calls, list(decisions), context)


def combine(calls: list[ToolCall], decisions: list[PolicyDecision], context: dict[str, Any]) -> Decided:
    """The first block wins; else the first call held for approval, with every held call's arguments."""
    for decision in decisions:
        if decision.decision == "block":
            return Decided(decision, context)
    held = [(call, d) for call, d in zip(calls, decisions, strict=True) if d.decision == "require_approval"]
    if not held:
        return Decided(decisions[0], context)
    first_call, first = held[0]
    return Decided(
        first,
        {
            **context,
            "tool_call_id": first_call.id,
            "arguments": first_call.arguments,
            "tool_calls": [call.describe() for call, _ in held],
        },
    )
