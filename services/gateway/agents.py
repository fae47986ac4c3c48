"""The agent registry of the token's tenant: register a card, list, read, activate, deactivate."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from jamjet_common import subjects
from services.gateway import params
from services.gateway.http import Call, json_response


async def register_agent(call: Call) -> Response:
    card = await call.body(dict[str, Any])
    agent = await call.client.agents.register(card, tenant=call.tenant)
    return json_response({"agent_id": agent["id"], **agent}, 201)


async def list_agents(call: Call) -> Response:
    request = call.request
    agents = await call.client.agents.list(
        status=params.text(request, "status"),
        skill=params.text(request, "skill"),
        protocol=params.text(request, "protocol"),
        tenant=call.tenant,
    )
    return json_response({"agents": agents})


async def get_agent(call: Call) -> Response:
    agent_id = subjects.check_token(call.param("agent_id"), "agent id")
    return json_response(await call.client.agents.get(agent_id, tenant=call.tenant))


async def activate_agent(call: Call) -> Response:
    return await _change(call, "activate")


async def deactivate_agent(call: Call) -> Response:
    return await _change(call, "deactivate")


async def _change(call: Call, action: str) -> Response:
    agent_id = subjects.check_token(call.param("agent_id"), "agent id")
    return json_response(await call.client.agents.change(action, agent_id, tenant=call.tenant))
