"""The agent registry through ``jamjet.cmd.agents.*`` on a real nats-server."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from jamjet_common import subjects
from jamjet_common.config import Env
from jamjet_common.streams import StreamLimits, ensure_streams
from services.policy.service import PolicyService
from tests.harness import running
from tests.helpers import eventually
from tests.policy.support import (
    agent_command,
    agent_node,
    build,
    card,
    error_code,
    evaluate,
    register,
    request,
)

RESEARCH = card(
    "jamjet://quant/research-v2",
    "bounded_autonomous",
    description="scans filings",
    version="2.0.0",
    capabilities={
        "skills": [{"name": "Filing-Analysis", "description": "reads 10-Ks"}],
        "protocols": ["a2a", "mcp_client"],
        "tools_consumed": ["sec_search"],
    },
    constraints={"max_iterations": 10, "cost_budget_usd": 2.0},
    auth={"type": "bearer_token", "scopes": ["filings:read"]},
    labels={"desk": "equities"},
)

# Every action from every status: what the lifecycle allows (None = invalid_transition).
LIFECYCLE: dict[str, dict[str, str | None]] = {
    "registered": {"activate": "active", "pause": None, "deactivate": None, "archive": None},
    "active": {"activate": None, "pause": "paused", "deactivate": "deactivated", "archive": None},
    "paused": {"activate": "active", "pause": None, "deactivate": "deactivated", "archive": None},
    "deactivated": {"activate": None, "pause": None, "deactivate": None, "archive": "archived"},
    "archived": {"activate": None, "pause": None, "deactivate": None, "archive": None},
}
PATH_TO = {
    "registered": [],
    "active": ["activate"],
    "paused": ["activate", "pause"],
    "deactivated": ["activate", "deactivate"],
    "archived": ["activate", "deactivate", "archive"],
}


async def ok(nc: NATS, action: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await agent_command(nc, action, body)
    assert reply["ok"] is True, reply
    return reply


# ---- register and get ------------------------------------------------------------------------------------


async def test_register_then_get_by_id_and_by_uri(policy: PolicyService, nc: NATS) -> None:
    agent = (await ok(nc, "register", {"card": RESEARCH}))["agent"]
    assert re.fullmatch(r"[0-9a-f]{32}", agent["id"])
    assert agent["status"] == "registered"
    assert agent["registered_at"] == agent["updated_at"]
    assert agent["last_heartbeat"] is None
    assert agent["card"]["uri"] == "jamjet://quant/research-v2"
    assert agent["card"]["constraints"]["max_iterations"] == 10
    assert agent["card"]["auth"] == {"type": "bearer_token", "scopes": ["filings:read"]}
    assert agent["card"]["capabilities"]["skills"][0]["name"] == "Filing-Analysis"

    by_id = (await ok(nc, "get", {"id": agent["id"]}))["agent"]
    by_uri = (await ok(nc, "get", {"uri": RESEARCH["uri"]}))["agent"]
    assert by_id == by_uri == agent


async def test_card_defaults_and_unknown_fields(policy: PolicyService, nc: NATS) -> None:
    minimal = {"uri": "jamjet://acme/min", "name": "min", "from_the_future": {"x": 1}}
    agent = (await ok(nc, "register", {"card": minimal}))["agent"]
    assert "from_the_future" not in agent["card"]
    assert agent["card"]["autonomy"] == "guided"
    assert agent["card"]["auth"] == {"type": "none"}
    assert agent["card"]["constraints"] is None
    assert agent["card"]["capabilities"]["skills"] == []


async def test_a_uri_is_registered_once(policy: PolicyService, nc: NATS) -> None:
    await ok(nc, "register", {"card": RESEARCH})
    reply = await agent_command(nc, "register", {"card": {**RESEARCH, "name": "impostor"}})
    assert error_code(reply) == "agent_exists"
    assert RESEARCH["uri"] in reply["error"]["message"]
    assert len((await ok(nc, "list", {}))["agents"]) == 1


async def test_concurrent_registrations_of_one_uri_through_two_replicas(nats_url: str, nc: NATS) -> None:
    async with running(build(nats_url)), running(build(nats_url)):
        # Distinct bodies: answers find their askers by subject and body.
        bodies = [{"card": {**card("jamjet://acme/contested"), "name": f"n{i}"}} for i in range(8)]
        replies = await asyncio.gather(*(agent_command(nc, "register", body) for body in bodies))
        winners = [r for r in replies if r["ok"]]
        assert len(winners) == 1, replies
        assert all(error_code(r) == "agent_exists" for r in replies if not r["ok"])
        listed = (await ok(nc, "list", {}))["agents"]
        assert [a["id"] for a in listed] == [winners[0]["agent"]["id"]]


async def test_an_archived_agents_uri_can_be_registered_again(policy: PolicyService, nc: NATS) -> None:
    old = await register(nc, RESEARCH)
    for action in ("deactivate", "archive"):
        await ok(nc, action, {"id": old["id"]})
    new = (await ok(nc, "register", {"card": RESEARCH}))["agent"]
    assert new["id"] != old["id"]
    assert (await ok(nc, "get", {"uri": RESEARCH["uri"]}))["agent"]["id"] == new["id"]
    archived = (await ok(nc, "get", {"id": old["id"]}))["agent"]
    assert archived["status"] == "archived", "an archived agent stays readable by its id"
    # ...but not twice: the new one is not archived.
    assert error_code(await agent_command(nc, "register", {"card": RESEARCH})) == "agent_exists"


async def test_each_tenant_has_its_own_registry(policy: PolicyService, nc: NATS) -> None:
    """A trusted client names the tenant; one tenant's agents do not exist for another by any command."""
    acme = (await ok(nc, "register", {"card": RESEARCH, "tenant": "acme"}))["agent"]
    # The same uri is free in another tenant's registry (and in default's).
    globex = (await ok(nc, "register", {"card": RESEARCH, "tenant": "globex"}))["agent"]
    assert acme["id"] != globex["id"]
    assert [a["id"] for a in (await ok(nc, "list", {"tenant": "acme"}))["agents"]] == [acme["id"]]
    assert (await ok(nc, "list", {}))["agents"] == [], "default's registry holds neither"
    for action in ("get", "activate", "pause", "deactivate", "archive", "heartbeat"):
        for ref in ({"id": acme["id"]}, {"uri": RESEARCH["uri"]}):
            crossed = await agent_command(nc, action, {**ref, "tenant": "initech"})
            assert error_code(crossed) == "unknown_agent", (action, ref)
        crossed = await agent_command(nc, action, {"id": acme["id"], "tenant": "globex"})
        assert error_code(crossed) == "unknown_agent", action
    assert (await ok(nc, "get", {"id": acme["id"], "tenant": "acme"}))["agent"]["status"] == "registered"
    assert error_code(await agent_command(nc, "list", {"tenant": "a.b"})) == "invalid_token"


async def test_an_evaluation_consults_the_executions_tenants_registry(
    policy: PolicyService, nc: NATS
) -> None:
    for tenant in ("acme", "globex"):
        assert (await request(nc, subjects.tenant_cmd("create"), {"id": tenant}))["ok"]
    paused = (await ok(nc, "register", {"card": RESEARCH, "tenant": "acme"}))["agent"]
    for action in ("activate", "pause"):
        await ok(nc, action, {"id": paused["id"], "tenant": "acme"})
    await eventually(lambda: policy.agents.get("acme", paused["id"]), message="watch did not deliver")
    mine = await evaluate(nc, agent_node(RESEARCH["uri"]), tenant="acme")
    assert (mine["decision"], mine["policy_scope"]) == ("block", "agent"), mine
    theirs = await evaluate(nc, agent_node(RESEARCH["uri"]), tenant="globex")
    assert theirs["decision"] == "allow", "another tenant's paused agent does not govern globex's node"


# ---- the lifecycle ---------------------------------------------------------------------------------------


async def test_the_full_lifecycle(policy: PolicyService, nc: NATS) -> None:
    agent = (await ok(nc, "register", {"card": RESEARCH}))["agent"]
    seen = [agent["status"]]
    for action in ("activate", "pause", "activate", "deactivate", "archive"):
        changed = (await ok(nc, action, {"id": agent["id"]}))["agent"]
        assert changed["updated_at"] >= agent["updated_at"]
        assert changed["registered_at"] == agent["registered_at"]
        seen.append(changed["status"])
        agent = changed
    assert seen == ["registered", "active", "paused", "active", "deactivated", "archived"]
    assert (await ok(nc, "get", {"id": agent["id"]}))["agent"]["status"] == "archived"


@pytest.mark.parametrize(
    ("start", "action"),
    [(start, action) for start, moves in LIFECYCLE.items() for action in moves],
)
async def test_every_transition(policy: PolicyService, nc: NATS, start: str, action: str) -> None:
    agent = (await ok(nc, "register", {"card": card(f"jamjet://acme/{start}-{action}")}))["agent"]
    for step in PATH_TO[start]:
        await ok(nc, step, {"id": agent["id"]})
    expected = LIFECYCLE[start][action]
    reply = await agent_command(nc, action, {"id": agent["id"]})
    if expected is not None:
        assert reply["ok"] is True, reply
        assert reply["agent"]["status"] == expected
        return
    assert error_code(reply) == "invalid_transition"
    target = {"activate": "active", "pause": "paused", "deactivate": "deactivated", "archive": "archived"}
    assert f"from {start} to {target[action]}" in reply["error"]["message"]
    assert (await ok(nc, "get", {"id": agent["id"]}))["agent"]["status"] == start, "status changed anyway"


async def test_status_commands_accept_the_uri(policy: PolicyService, nc: NATS) -> None:
    await ok(nc, "register", {"card": RESEARCH})
    assert (await ok(nc, "activate", {"uri": RESEARCH["uri"]}))["agent"]["status"] == "active"


async def test_heartbeat(policy: PolicyService, nc: NATS) -> None:
    agent = await register(nc, RESEARCH)
    first = (await ok(nc, "heartbeat", {"id": agent["id"]}))["agent"]["last_heartbeat"]
    second = (await ok(nc, "heartbeat", {"id": agent["id"]}))["agent"]
    assert first is not None
    assert second["last_heartbeat"] > first
    assert second["status"] == "active", "a heartbeat does not change the status"
    assert (await ok(nc, "get", {"id": agent["id"]}))["agent"]["last_heartbeat"] == second["last_heartbeat"]


# ---- list ---------------------------------------------------------------------------------------------


async def test_list_filters(policy: PolicyService, nc: NATS) -> None:
    research = await register(nc, RESEARCH)
    risk_card = card(
        "jamjet://quant/risk",
        capabilities={"skills": [{"name": "position-limits"}], "protocols": ["mcp_server"]},
    )
    risk = await register(nc, risk_card)
    await ok(nc, "pause", {"id": risk["id"]})
    fresh = (await ok(nc, "register", {"card": card("jamjet://quant/execution")}))["agent"]

    async def uris(body: dict[str, Any] | bytes) -> list[str]:
        reply = await agent_command(nc, "list", body)
        assert reply["ok"] is True, reply
        return [a["card"]["uri"] for a in reply["agents"]]

    everyone = ["jamjet://quant/execution", "jamjet://quant/research-v2", "jamjet://quant/risk"]
    assert await uris(b"") == everyone, "sorted by uri"
    assert await uris({}) == everyone
    assert await uris({"status": "active"}) == [research["card"]["uri"]]
    assert await uris({"status": "paused"}) == [risk["card"]["uri"]]
    assert await uris({"status": "registered"}) == [fresh["card"]["uri"]]
    assert await uris({"status": "archived"}) == []
    assert await uris({"skill": "filing-analysis"}) == [research["card"]["uri"]], "case-insensitive"
    assert await uris({"skill": "position-limits", "status": "active"}) == []
    assert await uris({"protocol": "A2A"}) == [research["card"]["uri"]]
    assert await uris({"skill": "nothing-like-this"}) == []


# ---- durability ---------------------------------------------------------------------------------------


async def test_agents_survive_a_service_restart(nats_url: str, nc: NATS) -> None:
    async with running(build(nats_url)):
        agent = await register(nc, RESEARCH)
        await ok(nc, "pause", {"id": agent["id"]})
    async with running(build(nats_url)) as restarted:
        loaded = restarted.agents.by_uri("default", RESEARCH["uri"])
        assert loaded is not None, "the watch did not load the agent"
        got = (await ok(nc, "get", {"uri": RESEARCH["uri"]}))["agent"]
        assert got["id"] == agent["id"]
        assert got["status"] == "paused"
        decision = await evaluate(nc, agent_node(RESEARCH["uri"]))
        assert decision["reason"] == f"agent '{RESEARCH['uri']}' is paused"
        assert (await ok(nc, "activate", {"id": agent["id"]}))["agent"]["status"] == "active"


async def test_command_sent_while_down_runs_at_start(nats_url: str, nc: NATS) -> None:
    await ensure_streams(nc.jetstream(), StreamLimits.from_env(Env({})))
    await nc.publish(subjects.agent_cmd("register"), json.dumps({"card": RESEARCH}).encode())
    await nc.flush()
    async with running(build(nats_url)) as service:
        agent = await eventually(lambda: service.agents.by_uri("default", RESEARCH["uri"]), message="not run")
        assert agent.status == "registered"


async def test_replicas_see_each_others_writes(nats_url: str, nc: NATS) -> None:
    async with running(build(nats_url)) as first, running(build(nats_url)) as second:
        agent = await register(nc, RESEARCH)
        for replica in (first, second):
            seen = await eventually(
                lambda r=replica: (a := r.agents.get("default", agent["id"])) and a.status == "active" and a,
                message=f"{replica} never saw the agent active",
            )
            assert seen.uri == RESEARCH["uri"]


# ---- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("register", b"{not json", "malformed_json"),
        ("register", {}, "invalid_request"),
        ("register", {"card": {"name": "no uri"}}, "invalid_request"),
        ("register", {"card": {"uri": "", "name": "empty"}}, "invalid_request"),
        ("register", {"card": card("jamjet://x", "reckless")}, "invalid_request"),
        ("register", {"card": card("jamjet://x", constraints={"max_iterations": -1})}, "invalid_request"),
        ("register", {"card": card("jamjet://x", auth={"type": "telepathy"})}, "invalid_request"),
        ("register", {"card": card("jamjet://x", description="x" * 600_000)}, "payload_too_large"),
        ("get", {}, "invalid_request"),
        ("get", {"id": "a" * 32, "uri": "jamjet://x"}, "invalid_request"),
        ("get", {"id": "a.b"}, "invalid_token"),
        ("get", {"id": "0" * 32}, "unknown_agent"),
        ("get", {"uri": "jamjet://nobody"}, "unknown_agent"),
        ("activate", {"id": "ghost"}, "unknown_agent"),
        ("heartbeat", {"uri": "jamjet://nobody"}, "unknown_agent"),
        ("list", {"status": "sleeping"}, "invalid_request"),
        ("delete", {"id": "x"}, "unknown_command"),
        ("register.now", {"card": RESEARCH}, "unknown_command"),
    ],
)
async def test_bad_commands_get_specific_errors(
    policy: PolicyService, nc: NATS, action: str, body: bytes | dict[str, Any], code: str
) -> None:
    assert error_code(await agent_command(nc, action, body)) == code
    # ...and the service keeps working.
    assert (await agent_command(nc, "register", {"card": card("jamjet://acme/after")}))["ok"] is True


def test_agent_commands_are_stored_and_consumed_apart_from_the_scheduler() -> None:
    assert subjects.is_stored_command(subjects.agent_cmd("register"))
    assert subjects.AGENT_CMD_FILTERS[0] in subjects.CMD_STREAM_SUBJECTS
    others = [*subjects.SCHEDULER_CMD_FILTERS, *subjects.TENANT_CMD_FILTERS]
    # A work-queue stream refuses consumers whose filters overlap.
    probes = ["jamjet.cmd.agents.register", "jamjet.cmd.agents.x.y"]
    assert not any(subjects.matches(f, probe) for f in others for probe in probes)
