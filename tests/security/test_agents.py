"""Each tenant has its own agent registry, reached through its own account: it registers, lists and
changes its agents, never another's, and its coordinator nodes choose among its agents only."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client

from jamjet_common import subjects
from tests.helpers import eventually
from tests.scheduler.builders import workflow
from tests.security.conftest import TENANTS, Secured, clients, four_services
from tests.security.support import ask, ok

pytestmark = pytest.mark.e2e


def translator(uri: str) -> dict[str, Any]:
    skills = [{"name": "translate"}]
    return {"uri": uri, "name": uri.rsplit("/", 1)[-1], "capabilities": {"skills": skills}}


async def enlist(nc: Client, uri: str) -> str:
    """Register and activate an agent through ``nc``'s account; its id."""
    agent = (await ok(nc, subjects.agent_cmd("register"), {"card": translator(uri)}))["agent"]
    await ok(nc, subjects.agent_cmd("activate"), {"id": agent["id"]})
    return str(agent["id"])


async def _create_tenants(sec: Secured) -> None:
    async with clients(sec, "operator") as (op,):
        for tenant in TENANTS:
            await ok(op, subjects.tenant_cmd("create"), {"id": tenant})


async def test_a_tenant_reaches_its_own_registry_only(secured: Secured) -> None:
    async with four_services(secured), clients(secured, "acme", "globex") as (acme, globex):
        shared = "https://agents.example/translator"
        acme_id = await enlist(acme, shared)
        globex_id = await enlist(globex, shared)  # the same uri, in another registry
        listed = (await ok(acme, subjects.agent_cmd("list"), {}))["agents"]
        assert [(a["id"], a["status"]) for a in listed] == [(acme_id, "active")]
        for action in ("get", "pause", "deactivate", "heartbeat"):
            crossed = await ask(acme, subjects.agent_cmd(action), {"id": globex_id})
            assert crossed["error"]["code"] == "unknown_agent", (action, crossed)
        forged = await ask(acme, subjects.agent_cmd("pause"), {"id": globex_id, "tenant": "globex"})
        assert forged["error"]["code"] == "tenant_mismatch"
        theirs = (await ok(globex, subjects.agent_cmd("get"), {"uri": shared}))["agent"]
        assert (theirs["id"], theirs["status"]) == (globex_id, "active")
    assert "Violation" not in secured.server.output, secured.server.output


async def test_a_coordinator_chooses_among_its_tenants_agents_only(secured: Secured) -> None:
    kind = {"type": "coordinator", "task": "translate", "required_skills": ["translate"]}
    kind["output_key"] = "chosen"
    pick = {"id": "pick", "kind": kind}
    async with four_services(secured), clients(secured, "acme", "globex") as (acme, globex):
        await _create_tenants(secured)
        await enlist(acme, "https://acme.example/translator")
        await enlist(globex, "https://globex.example/translator")
        for nc, tenant in ((acme, "acme"), (globex, "globex")):
            await ok(nc, subjects.CMD_REGISTER, {"ir": workflow([pick], [], wf="choose")})
            started = await ok(nc, subjects.CMD_START, {"workflow_id": "choose"})
            state = await eventually(lambda nc=nc, s=started: _final_state(nc, s["execution_id"]), timeout=60)
            assert state["chosen"] == f"https://{tenant}.example/translator"
            (discovery,) = [e for e in state["coordinator_events"] if e["type"] == "coordinator_discovery"]
            assert discovery["candidates"] == [f"https://{tenant}.example/translator"]
    assert "Violation" not in secured.server.output, secured.server.output


async def _final_state(nc: Client, execution_id: str) -> dict[str, Any] | None:
    answer = await ask(nc, subjects.store("execution"), {"execution_id": execution_id})
    execution = answer.get("execution") or {}
    if execution.get("status") not in ("completed", "failed"):
        return None
    assert execution["status"] == "completed", execution
    return dict(execution["current_state"])
