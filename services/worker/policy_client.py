"""Asking the policy service whether a node may run (``jamjet.policy.evaluate``).

Not asked about a node on which nothing applies (``jamjet_common.policy_free``): its answer could only
be an allow, and the round trip is a good part of a short step's time.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
import nats.errors
from nats.aio.client import Client

from jamjet_common import subjects, telemetry
from jamjet_common.budget import BUDGET_KEY
from jamjet_common.codec import decode, encode
from jamjet_common.errors import ContractError, FatalError, RetryableError
from jamjet_common.ir import AgentToolNode, NodeDef
from jamjet_common.messages import ErrorBody, PolicyDecision, PolicyRequest, WorkItem
from jamjet_common.policy_free import nothing_applies, plain_allow
from jamjet_common.records import Tenant
from services.worker.executors.agent_call import chosen_agent

TRANSIENT_CODES = frozenset({"internal_error", "unavailable", "timeout"})
ALLOWED = plain_allow(None)


class PolicyUnavailableError(RetryableError):
    """No usable answer now; the node must not run until there is one."""

    code = "policy_unavailable"


class PolicyRefusedError(FatalError):
    """The policy service answered this request with an error that asking again will not change."""

    code = "policy_refused"


class _ReplyHead(msgspec.Struct, frozen=True):
    ok: bool = True
    error: ErrorBody | None = None


class TenantLookup(Protocol):
    def get(self, tenant_id: str) -> Tenant | None: ...


class PolicyClient:
    def __init__(self, nc: Client, timeout: float, tenants: TenantLookup | None = None) -> None:
        self._nc = nc
        self._timeout = timeout
        self._tenants = tenants
        """The tenants as this worker sees them; None: ask about every node."""

    async def evaluate(self, item: WorkItem, node: NodeDef | None = None) -> PolicyDecision:
        """What policy says about running ``node`` (by default the item's own) for ``item``."""
        subject = with_chosen_agent(node or item.node, item.state)
        if self._tenants is not None and nothing_applies(
            self._tenants.get(item.tenant), item.workflow_policy, subject
        ):
            return ALLOWED
        request = PolicyRequest(
            tenant=item.tenant,
            node=subject,
            workflow_policy=item.workflow_policy,
            execution_id=item.execution_id,
            workflow_id=item.workflow_id,
            budget=_budget(item),
        )
        try:
            reply = await self._nc.request(
                subjects.POLICY_EVALUATE, encode(request), timeout=self._timeout, headers=telemetry.inject()
            )
        except (TimeoutError, nats.errors.Error) as exc:
            raise PolicyUnavailableError(f"policy service did not answer: {type(exc).__name__}") from exc
        return parse_decision(reply.data)


def _budget(item: WorkItem) -> dict[str, Any] | None:
    budget = item.state.get(BUDGET_KEY)
    return budget if isinstance(budget, dict) else None


def parse_decision(data: bytes) -> PolicyDecision:
    try:
        head = decode(data, _ReplyHead, what="policy reply")
        if head.ok:
            return decode(data, PolicyDecision, what="policy decision")
    except ContractError as exc:
        raise PolicyUnavailableError(f"unreadable policy reply: {exc}") from exc
    error = head.error or ErrorBody(code="internal_error", message="error reply without details")
    if error.code in TRANSIENT_CODES:
        raise PolicyUnavailableError(f"policy service failed: {error.code}: {error.message}")
    raise PolicyRefusedError(f"policy evaluation refused: {error.code}: {error.message}")


def with_chosen_agent(node: NodeDef, state: dict[str, Any]) -> NodeDef:
    """An agent_tool node whose agent a coordinator chose (``state.<key>``, the SDK's ``agent="auto"``) is
    evaluated under the chosen agent's uri, so its name, autonomy and tool rules apply to that agent."""
    kind = node.kind
    if not isinstance(kind, AgentToolNode):
        return node
    try:
        chosen = chosen_agent(kind.agent, state)
    except FatalError:
        return node  # no agent chosen: the executor fails the node and says why
    if chosen is kind.agent:
        return node
    return msgspec.structs.replace(node, kind=msgspec.structs.replace(kind, agent={"explicit": chosen}))
