"""The HTTP gateway with its own key from the generated configuration (least privilege): it serves two
tenants end to end, and one tenant's token never reaches the other tenant's executions, approvals,
agents, artifacts or workflows. Every route is run; the server must log no permission violation."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jamjet_common import subjects
from services.gateway.service import GatewayService
from services.gateway.tokens import token_hash
from tests.e2e import workflows
from tests.gateway.sse import Message, messages
from tests.gateway.support import agent_card
from tests.harness import running
from tests.helpers import eventually
from tests.security.conftest import TENANTS, Secured, clients, four_services
from tests.security.support import ok

pytestmark = pytest.mark.e2e

TOKENS = {tenant: f"{tenant}-secret-token" for tenant in TENANTS}


@contextlib.asynccontextmanager
async def secured_gateway(sec: Secured) -> AsyncIterator[GatewayService]:
    """The gateway connected as the ``gateway`` user of the service account, a token per tenant."""
    table = [{"sha256": token_hash(t), "tenant": tenant, "read_only": False} for tenant, t in TOKENS.items()]
    env = sec.env("gateway", JAMJET_GATEWAY_PORT="0", JAMJET_GATEWAY_TOKENS=json.dumps(table))
    async with running(GatewayService.from_env(env)) as service:
        yield service


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[tenant]}"}


async def answer(http: httpx.AsyncClient, method: str, path: str, tenant: str, **kw: Any) -> Any:
    """The JSON of a request that must succeed."""
    reply = await http.request(method, path, headers=auth(tenant), **kw)
    assert reply.status_code in (200, 201), (method, path, reply.status_code, reply.text)
    return reply.json()


async def sse(http: httpx.AsyncClient, path: str, tenant: str) -> list[Message]:
    """Every message of one SSE connection, until the server ends it."""
    async with http.stream("GET", path, headers=auth(tenant)) as response:
        assert response.status_code == 200, path
        return [m async for m in messages(response)]


async def walk(http: httpx.AsyncClient, tenant: str) -> dict[str, str]:
    """One tenant's tour of the routes: an approval run to its end, an agent, an artifact."""
    await answer(http, "POST", "/workflows", tenant, json={"ir": workflows.approval()})
    started = await answer(http, "POST", "/executions", tenant, json={"workflow_id": "gated"})
    execution_id = started["execution_id"]
    base = f"/executions/{execution_id}"

    async def pending() -> list[Any]:
        return list((await answer(http, "GET", f"{base}/approvals", tenant))["pending"])

    await eventually(pending, timeout=60, message=f"{tenant}'s approval never pending")
    listed = (await answer(http, "GET", "/approvals", tenant))["approvals"]
    assert {a["execution_id"] for a in listed} == {execution_id}
    await answer(http, "POST", f"{base}/approve", tenant, json={"decision": "approved"})
    followed = await sse(http, f"{base}/events?follow=true", tenant)
    assert followed[-1].event == "workflow_completed", followed
    assert {m.json()["execution_id"] for m in followed} == {execution_id}
    assert (await answer(http, "GET", base, tenant))["status"] == "completed"
    page = await answer(http, "GET", f"{base}/events", tenant)
    assert [e["sequence"] for e in page["events"]] == [int(m.id) for m in followed]
    assert await sse(http, f"{base}/progress", tenant) == []  # no agent_tool: ends with the execution
    await answer(http, "GET", f"{base}/trace", tenant)

    agent = await answer(http, "POST", "/agents", tenant, json=agent_card(f"{tenant}-helper"))
    agent_id = agent["agent_id"]
    assert (await answer(http, "POST", f"/agents/{agent_id}/activate", tenant))["status"] == "active"
    agents = (await answer(http, "GET", "/agents", tenant))["agents"]
    assert [a["id"] for a in agents] == [agent_id]
    stored = await answer(http, "POST", "/artifacts", tenant, content=f"{tenant}'s bytes".encode())
    read = await http.get(f"/artifacts/{stored['hash']}", headers=auth(tenant))
    assert read.content == f"{tenant}'s bytes".encode()
    return {"execution": execution_id, "agent": agent_id, "artifact": stored["hash"]}


async def others_see_nothing(http: httpx.AsyncClient, tenant: str, theirs: dict[str, str]) -> None:
    base = f"/executions/{theirs['execution']}"
    cases = [
        ("GET", base, "unknown_execution"),
        ("GET", f"{base}/events", "unknown_execution"),
        ("GET", f"{base}/events?follow=true", "unknown_execution"),
        ("GET", f"{base}/progress", "unknown_execution"),
        ("GET", f"{base}/approvals", "unknown_execution"),
        ("GET", f"{base}/trace", "unknown_execution"),
        ("POST", f"{base}/approve", "unknown_execution"),
        ("POST", f"{base}/cancel", "unknown_execution"),
        ("GET", f"/agents/{theirs['agent']}", "unknown_agent"),
        ("POST", f"/agents/{theirs['agent']}/deactivate", "unknown_agent"),
        ("GET", f"/artifacts/{theirs['artifact']}", "unknown_artifact"),
    ]
    for method, path, code in cases:
        body = {"decision": "approved"} if path.endswith("approve") else None
        reply = await http.request(method, path, json=body, headers=auth(tenant))
        assert (reply.status_code, reply.json()["error"]["code"]) == (404, code), (method, path, reply.text)


async def changes(http: httpx.AsyncClient, tenant: str, seen: set[str]) -> None:
    """Collect the execution ids ``/stream/executions`` names for ``tenant`` (until cancelled)."""
    async with http.stream("GET", "/stream/executions", headers=auth(tenant)) as response:
        async for message in messages(response):
            if message.event == "changed":
                seen.update(e["execution_id"] for e in message.json()["executions"])


async def test_the_gateway_serves_two_tenants_with_least_privilege(secured: Secured) -> None:
    async with four_services(secured), clients(secured, "operator") as (op,):
        for tenant in TENANTS:
            await ok(op, subjects.tenant_cmd("create"), {"id": tenant})
        async with secured_gateway(secured) as gw, httpx.AsyncClient(base_url=gw.url, timeout=60) as http:
            streamed: set[str] = set()
            watching = asyncio.create_task(changes(http, "acme", streamed))
            walked = dict(zip(TENANTS, await asyncio.gather(*(walk(http, t) for t in TENANTS)), strict=True))
            acme, globex = walked["acme"], walked["globex"]
            await eventually(lambda: acme["execution"] in streamed, timeout=10, message="acme's change")
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            assert streamed == {acme["execution"]}, "acme's live list named another tenant's execution"
            await others_see_nothing(http, "acme", globex)
            await others_see_nothing(http, "globex", acme)
            for tenant, own in walked.items():
                listed = (await answer(http, "GET", "/executions", tenant))["executions"]
                assert [e["execution_id"] for e in listed] == [own["execution"]]
                assert [
                    w["workflow_id"] for w in (await answer(http, "GET", "/workflows", tenant))["workflows"]
                ] == ["gated"]
                assert (await answer(http, "GET", "/dead-letters", tenant))["dead_letters"] == []
                assert (await answer(http, "GET", "/workers", tenant))["workers"]
    assert "Violation" not in secured.server.output, secured.server.output
