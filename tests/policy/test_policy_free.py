"""When a worker may run a node without asking the policy service: only when nothing could stop it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from jamjet_common.ir import NodeDef, PolicySetIr
from jamjet_common.messages import PolicyRequest
from jamjet_common.policy_free import nothing_applies
from jamjet_common.records import Tenant, implicit_default, new_tenant
from services.policy.handlers import decide

NOW = datetime.now(UTC)
SET = PolicySetIr(blocked_tools=["tests.*"])


def node(kind: dict[str, Any], **fields: Any) -> NodeDef:
    return msgspec.convert({"id": "n", "kind": kind, **fields}, NodeDef)


FN = {"type": "python_fn", "module": "tests.fns", "function": "greet"}


def tenant(**fields: Any) -> Tenant:
    return new_tenant(id="acme", name="acme", created_at=NOW, updated_at=NOW, **fields)


def test_a_plain_node_of_an_active_tenant_without_policies_needs_no_question() -> None:
    assert nothing_applies(implicit_default(), None, node(FN))
    assert nothing_applies(tenant(), None, node(FN))


@pytest.mark.parametrize(
    ("who", "workflow_policy", "subject"),
    [
        (None, None, node(FN)),  # a tenant this process does not know
        (tenant(status="suspended"), None, node(FN)),
        (tenant(policy=PolicySetIr()), None, node(FN)),
        (tenant(), SET, node(FN)),
        (tenant(), None, node(FN, policy={"blocked_tools": ["x"]})),
        (tenant(), None, node({"type": "agent", "agent_ref": "helper"})),
        (tenant(), None, node({"type": "agent_tool", "agent": {"explicit": "helper"}, "mode": "sync"})),
    ],
)
def test_anything_that_could_stop_the_node_sends_it_to_the_policy_service(
    who: Tenant | None, workflow_policy: PolicySetIr | None, subject: NodeDef
) -> None:
    assert not nothing_applies(who, workflow_policy, subject)


class _Agents:
    def resolve(self, ref: str) -> None:
        return None


class _Tenants:
    def get(self, tenant_id: str) -> Tenant | None:
        return implicit_default()


def test_the_policy_service_answers_such_a_node_with_the_allow_of_its_full_evaluation() -> None:
    request = PolicyRequest(tenant="default", node=node(FN), budget={"iterations": "not a number"})
    decision = decide(_Tenants(), _Agents(), request)
    assert decision.decision == "allow"
    assert decision.tool_name == "tests.fns.greet"
    assert decision.policy_scope is None and decision.autonomy is None
