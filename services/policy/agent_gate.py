"""The agent checks of an evaluation: is the node's agent registered and active, and does its autonomy allow
this step?

Agents are looked up in the registry of the execution's tenant. Applies to ``agent`` nodes (``agent_ref``) and
``agent_tool`` nodes naming an explicit agent, by the agent's id or its uri. An agent the registry does not
know is not governed by it: the node is allowed (agent references predate the registry, and an ``agent_tool``
usually names a remote agent by URL). The tool a guided agent needs approval for is the agent itself when an
``agent_tool`` node calls it as a tool; an ``agent`` node names no tool, so a guided agent's own node
proceeds, as in the original.
"""

from __future__ import annotations

from typing import Literal, Protocol

from jamjet_common import messages
from jamjet_common.ir import AgentNode, AgentToolNode, NodeDef
from jamjet_common.records import Agent
from services.policy.autonomy import (
    HUMAN_APPROVAL,
    AutonomyContext,
    AutonomyDecision,
    Counters,
    EscalateLimit,
    RequireToolApproval,
    TripCircuitBreaker,
    check,
)
from services.policy.evaluator import HUMAN, explicit_agent

AGENT_SCOPE = "agent"


class AgentLookup(Protocol):
    def resolve(self, tenant: str, ref: str) -> Agent | None: ...


def agent_ref(node: NodeDef) -> str | None:
    """The agent a node runs or calls, as the node names it; None for other kinds and ``auto``."""
    match node.kind:
        case AgentNode(agent_ref=ref):
            return ref
        case AgentToolNode(agent=target):
            return explicit_agent(target)
    return None


def agent_decision(agents: AgentLookup, request: messages.PolicyRequest) -> messages.PolicyDecision | None:
    """Block, hold or escalate the node for its agent's sake; None when the agent does not object."""
    ref = agent_ref(request.node)
    agent = agents.resolve(request.tenant, ref) if ref is not None else None
    if ref is None or agent is None:
        return None
    tool_name = ref if isinstance(request.node.kind, AgentToolNode) else None
    if agent.status != "active":
        reason = f"agent '{agent.uri}' is {agent.status}"
        return messages.PolicyDecision(
            decision="block", reason=reason, policy_scope=AGENT_SCOPE, tool_name=ref
        )
    ctx = AutonomyContext(
        agent.uri, agent.card.autonomy, agent.card.constraints, Counters.from_budget(request.budget)
    )
    return _decision(agent, check(ctx, tool_name), ref)


def _decision(agent: Agent, decision: AutonomyDecision, ref: str) -> messages.PolicyDecision | None:
    uri = agent.uri
    match decision:
        case TripCircuitBreaker(consecutive_errors=errors, threshold=threshold, escalation_target=target):
            tripped = messages.AutonomyOutcome(
                decision="trip_circuit_breaker",
                agent_ref=uri,
                escalation_target=target,
                reason="circuit_breaker",
                consecutive_errors=errors,
                threshold=threshold,
                escalation_mode=_mode(agent, target),
            )
            reason = (
                f"circuit breaker tripped for agent '{uri}': "
                f"{errors} consecutive errors (threshold {threshold})"
            )
            return _block(reason, tripped, ref)
        case EscalateLimit(limit_type=kind, limit_value=limit, actual_value=actual, escalation_target=target):
            escalated = messages.AutonomyOutcome(
                decision="escalate_limit",
                agent_ref=uri,
                escalation_target=target,
                reason=f"autonomy_limit:{kind}",
                limit_type=kind,
                limit_value=limit,
                actual_value=actual,
                escalation_mode=_mode(agent, target),
            )
            return _block(f"agent '{uri}' reached its {kind} limit: {actual} >= {limit}", escalated, ref)
        case RequireToolApproval(tool_name=tool):
            held = messages.AutonomyOutcome(
                decision="require_tool_approval",
                agent_ref=uri,
                escalation_target=HUMAN_APPROVAL,
                tool_name=tool,
            )
            return messages.PolicyDecision(
                decision="require_approval",
                reason=f"agent '{uri}' is guided: calling '{tool}' needs a human's approval",
                approver=HUMAN,
                policy_scope=AGENT_SCOPE,
                tool_name=tool,
                autonomy=held,
            )
    return None


def _mode(agent: Agent, target: str) -> Literal["fail", "approval"]:
    """``approval`` when a human is the target and the agent's card asks for an approval request."""
    return "approval" if target == HUMAN_APPROVAL and agent.card.escalates_to_approval else "fail"


def _block(reason: str, outcome: messages.AutonomyOutcome, ref: str) -> messages.PolicyDecision:
    return messages.PolicyDecision(
        decision="block", reason=reason, policy_scope=AGENT_SCOPE, tool_name=ref, autonomy=outcome
    )
