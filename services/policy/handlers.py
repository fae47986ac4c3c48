"""Answering ``jamjet.policy.evaluate``: which policy sets apply to a node, and what they decide."""

from __future__ import annotations

import logging
from typing import Protocol

from jamjet_common import codec, messages, subjects
from jamjet_common.errors import UnknownTenantError
from jamjet_common.ir import PolicySetIr
from jamjet_common.policy_free import nothing_applies, plain_allow
from jamjet_common.records import Tenant
from jamjet_common.router import Handler, Request
from services.policy.agent_gate import AgentLookup, agent_decision
from services.policy.evaluator import EvaluationContext, Scope, evaluate

logger = logging.getLogger(__name__)


class TenantLookup(Protocol):
    def get(self, tenant_id: str) -> Tenant | None: ...


def evaluator(tenants: TenantLookup, agents: AgentLookup) -> Handler:
    """The handler of ``jamjet.policy.evaluate``: a PolicyDecision, or a specific error."""

    async def evaluate(request: Request) -> bytes:
        asked = codec.decode(request.data, messages.PolicyRequest, what="policy request")
        return codec.ok_reply(**codec.to_builtins(decide(tenants, agents, asked)))

    return evaluate


def decide(
    tenants: TenantLookup, agents: AgentLookup, request: messages.PolicyRequest
) -> messages.PolicyDecision:
    """Tenant status, then the policy sets; only when they allow, the node's agent (if registered)."""
    tenant = tenants.get(subjects.check_token(request.tenant, "tenant"))
    if tenant is None:
        raise UnknownTenantError(f"tenant '{request.tenant}' does not exist")
    ctx = EvaluationContext.from_node(request.node)
    if nothing_applies(tenant, request.workflow_policy, request.node):
        return plain_allow(ctx.tool_name)  # what the full path decides; workers skip asking for these
    if not tenant.active:
        decision = messages.PolicyDecision(
            decision="block",
            reason=f"tenant '{tenant.id}' is {tenant.status}",
            policy_scope="tenant",
            tool_name=ctx.tool_name,
        )
    else:
        decision = _evaluate(ctx, policy_sets(tenant, request))
    if decision.decision == "allow":
        decision = agent_decision(agents, request) or decision
    if decision.decision != "allow":
        logger.info(
            "policy %s for node %s of execution %s (tenant %s, scope %s): %s",
            decision.decision,
            ctx.node_id,
            request.execution_id,
            tenant.id,
            decision.policy_scope,
            decision.reason or decision.approver,
        )
    return decision


def policy_sets(tenant: Tenant, request: messages.PolicyRequest) -> list[tuple[Scope, PolicySetIr]]:
    """The sets that apply to the request's node, least specific first."""
    candidates: list[tuple[Scope, PolicySetIr | None]] = [
        ("tenant", tenant.policy),
        ("workflow", request.workflow_policy),
        ("node", request.node.policy),
    ]
    return [(scope, policy) for scope, policy in candidates if policy is not None]


def _evaluate(ctx: EvaluationContext, sets: list[tuple[Scope, PolicySetIr]]) -> messages.PolicyDecision:
    result = evaluate(ctx, sets)
    return messages.PolicyDecision(
        decision=result.decision.outcome,
        reason=result.decision.reason,
        approver=result.decision.approver,
        policy_scope=result.policy_scope,
        tool_name=ctx.tool_name,
    )
