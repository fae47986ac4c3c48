"""Talking to a policy service under test: commands, evaluations, agent cards."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from jamjet_common import subjects
from jamjet_common.config import Env
from services.policy.service import PolicyService
from tests.harness import service_env
from tests.helpers import ask as runtime_request


def build(nats_url: str, **extra: str) -> PolicyService:
    return PolicyService.from_env(Env(service_env(nats_url, **extra)))


async def request(nc: NATS, subject: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
    return await runtime_request(nc, subject, body, timeout=5)


async def tenant_command(nc: NATS, action: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
    return await request(nc, subjects.tenant_cmd(action), body)


async def agent_command(nc: NATS, action: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
    return await request(nc, subjects.agent_cmd(action), body)


async def evaluate(
    nc: NATS,
    node: dict[str, Any],
    *,
    tenant: str = "default",
    workflow_policy: dict[str, Any] | None = None,
    budget: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"tenant": tenant, "node": node, "execution_id": "exec_1"}
    if workflow_policy is not None:
        body["workflow_policy"] = workflow_policy
    if budget is not None:
        body["budget"] = budget
    return await request(nc, subjects.POLICY_EVALUATE, body)


def error_code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    code: str = reply["error"]["code"]
    assert reply["error"]["message"]
    return code


def card(uri: str, autonomy: str = "guided", **fields: Any) -> dict[str, Any]:
    return {"uri": uri, "name": uri.rsplit("/", 1)[-1], "autonomy": autonomy, **fields}


async def register(nc: NATS, agent_card: dict[str, Any], *, activate: bool = True) -> dict[str, Any]:
    """Register an agent (and activate it, unless told not to); the agent record."""
    reply = await agent_command(nc, "register", {"card": agent_card})
    assert reply["ok"] is True, reply
    agent: dict[str, Any] = reply["agent"]
    if activate:
        reply = await agent_command(nc, "activate", {"id": agent["id"]})
        assert reply["ok"] is True, reply
        agent = reply["agent"]
    return agent


def agent_node(agent_ref: str, node_id: str = "research") -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "agent", "agent_ref": agent_ref}}


def agent_tool_node(agent: str, node_id: str = "call_agent") -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "agent_tool", "agent": {"explicit": agent}}}


def tool_node(tool_ref: str, node_id: str = "step") -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "tool", "tool_ref": tool_ref}}


def model_node(model_ref: str, node_id: str = "think") -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "model", "model_ref": model_ref}}
