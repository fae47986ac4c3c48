"""When asking the policy service could only get an allow: no policy set and no agent has a say.

The policy service judges every node on which anything applies: a policy set of the tenant, the
workflow or the node, the tenant's status, a registered agent's card and autonomy (which read the
execution's budget counters). A node of an active tenant that has none of them, and that neither runs
nor calls an agent, is allowed whatever else the request holds. The service answers such a request
by this same test, and a worker that knows the tenant (``tenant_view.py``) runs such a node without
the round trip.
"""

from __future__ import annotations

from jamjet_common.ir import AgentNode, AgentToolNode, NodeDef, PolicySetIr
from jamjet_common.messages import PolicyDecision
from jamjet_common.records import Tenant


def nothing_applies(tenant: Tenant | None, workflow_policy: PolicySetIr | None, node: NodeDef) -> bool:
    """Whether no policy set, tenant status or agent could stop ``node``; False for unknown tenants."""
    return (
        tenant is not None
        and tenant.active
        and tenant.policy is None
        and workflow_policy is None
        and node.policy is None
        and not isinstance(node.kind, AgentNode | AgentToolNode)
    )


def plain_allow(tool_name: str | None) -> PolicyDecision:
    return PolicyDecision(decision="allow", tool_name=tool_name)
