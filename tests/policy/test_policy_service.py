"""The policy service through a real nats-server: evaluations, tenant commands, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS

from jamjet_common import codec, subjects
from jamjet_common.config import Env
from jamjet_common.ir import PolicySetIr
from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.records import Tenant
from jamjet_common.streams import KV_TENANTS, StreamLimits, ensure_streams
from services.policy.service import PolicyService
from services.policy.tenants import now
from tests.harness import running
from tests.helpers import eventually
from tests.policy import support
from tests.policy.support import build, error_code, request, tenant_command

TOOL_NODE = {"id": "cleanup", "kind": {"type": "tool", "tool_ref": "delete_file"}}
MODEL_NODE = {"id": "think", "kind": {"type": "model", "model_ref": "gpt-4o"}}


command = tenant_command


async def evaluate(
    nc: NATS,
    tenant: str = "default",
    node: dict[str, Any] = TOOL_NODE,
    workflow_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return await support.evaluate(nc, node, tenant=tenant, workflow_policy=workflow_policy)


# ---- evaluation -----------------------------------------------------------------------------------------


async def test_default_tenant_exists_and_allows(policy: PolicyService, nc: NATS) -> None:
    reply = await evaluate(nc)
    assert reply == {"ok": True, "decision": "allow", "tool_name": "delete_file"}


async def test_node_policy_overrides_workflow_policy(policy: PolicyService, nc: NATS) -> None:
    node = {**TOOL_NODE, "policy": {"require_approval_for": ["delete_*"]}}
    reply = await evaluate(nc, node=node, workflow_policy={"blocked_tools": ["delete_file"]})
    assert reply["decision"] == "require_approval"
    assert reply["approver"] == "human"
    assert reply["policy_scope"] == "node"


async def test_workflow_model_allowlist(policy: PolicyService, nc: NATS) -> None:
    reply = await evaluate(nc, node=MODEL_NODE, workflow_policy={"model_allowlist": ["claude-*"]})
    assert reply["decision"] == "block"
    assert reply["reason"] == "model 'gpt-4o' is not in the allowlist"
    assert reply["policy_scope"] == "workflow"


async def test_unknown_tenant(policy: PolicyService, nc: NATS) -> None:
    assert error_code(await evaluate(nc, tenant="nobody")) == "unknown_tenant"


async def test_tenant_policy_lifecycle(policy: PolicyService, nc: NATS) -> None:
    created = await command(nc, "create", {"id": "acme", "policy": {"blocked_tools": ["delete_*"]}})
    assert created["ok"] is True
    assert created["tenant"]["id"] == "acme"
    assert created["tenant"]["name"] == "acme"
    assert created["tenant"]["status"] == "active"

    reply = await eventually(lambda: _decided(nc, "acme", "block"), message="tenant block not seen")
    assert reply["reason"] == "tool 'delete_file' matches blocked pattern 'delete_*'"
    assert reply["policy_scope"] == "tenant"

    updated = await command(nc, "update", {"id": "acme", "policy": {"require_approval_for": ["*"]}})
    assert updated["tenant"]["policy"] == {"require_approval_for": ["*"]}
    reply = await eventually(lambda: _decided(nc, "acme", "require_approval"), message="update not seen")
    assert reply["policy_scope"] == "tenant"

    suspended = await command(nc, "suspend", {"id": "acme"})
    assert suspended["tenant"]["status"] == "suspended"
    reply = await eventually(lambda: _decided(nc, "acme", "block"), message="suspension not seen")
    assert reply["reason"] == "tenant 'acme' is suspended"
    assert reply["policy_scope"] == "tenant"


async def _decided(nc: NATS, tenant: str, decision: str) -> dict[str, Any] | None:
    reply = await evaluate(nc, tenant=tenant)
    return reply if reply.get("decision") == decision else None


async def test_workflow_policy_beats_tenant_policy(policy: PolicyService, nc: NATS) -> None:
    await command(nc, "create", {"id": "acme", "policy": {"blocked_tools": ["delete_*"]}})
    await eventually(lambda: _decided(nc, "acme", "block"))
    reply = await evaluate(nc, tenant="acme", workflow_policy={"require_approval_for": ["delete_file"]})
    assert reply["decision"] == "require_approval"
    assert reply["policy_scope"] == "workflow"


# ---- tenant commands -------------------------------------------------------------------------------------


async def test_get_update_and_list(policy: PolicyService, nc: NATS) -> None:
    await command(nc, "create", {"id": "acme", "name": "Acme Corp", "limits": {"max_workflows": 3}})
    got = await command(nc, "get", {"id": "acme"})
    assert got["ok"] is True
    assert got["tenant"]["name"] == "Acme Corp"
    assert got["tenant"]["limits"] == {"max_workflows": 3}
    assert got["tenant"]["policy"] is None

    updated = await command(nc, "update", {"id": "acme", "status": "archived", "name": "Acme"})
    assert updated["tenant"]["status"] == "archived"
    assert updated["tenant"]["limits"] == {"max_workflows": 3}, "fields left out must stay"
    assert updated["tenant"]["updated_at"] > updated["tenant"]["created_at"]

    listed = await command(nc, "list", b"")
    assert [t["id"] for t in listed["tenants"]] == ["acme", "default"]
    assert listed["tenants"][0]["name"] == "Acme"


async def test_default_tenant_can_be_given_a_policy(policy: PolicyService, nc: NATS) -> None:
    assert error_code(await command(nc, "create", {"id": "default"})) == "tenant_exists"
    got = await command(nc, "get", {"id": "default"})
    assert got["tenant"]["status"] == "active"
    updated = await command(nc, "update", {"id": "default", "policy": {"blocked_tools": ["*"]}})
    assert updated["tenant"]["policy"] == {"blocked_tools": ["*"]}
    reply = await eventually(lambda: _decided(nc, "default", "block"))
    assert reply["policy_scope"] == "tenant"


async def test_policy_null_removes_it(policy: PolicyService, nc: NATS) -> None:
    await command(nc, "create", {"id": "acme", "policy": {"blocked_tools": ["*"]}})
    cleared = await command(nc, "update", {"id": "acme", "policy": None})
    assert cleared["tenant"]["policy"] is None
    await eventually(lambda: _decided(nc, "acme", "allow"), message="cleared policy still applied")


async def test_command_sent_while_down_runs_at_start(nats_url: str, nc: NATS) -> None:
    # The streams exist (another service created them); no policy service is running.
    await ensure_streams(nc.jetstream(), StreamLimits.from_env(Env({})))
    body = {"id": "early", "policy": {"blocked_tools": ["delete_file"]}}
    await nc.publish(subjects.tenant_cmd("create"), json.dumps(body).encode())
    await nc.flush()

    async with running(build(nats_url)):
        reply = await eventually(lambda: _decided(nc, "early", "block"), message="queued command not run")
        assert reply["policy_scope"] == "tenant"


async def test_tenants_survive_a_service_restart(nats_url: str, nc: NATS) -> None:
    async with running(build(nats_url)):
        await command(nc, "create", {"id": "acme", "policy": {"require_approval_for": ["delete_*"]}})
    async with running(build(nats_url)):
        assert (await evaluate(nc, tenant="acme"))["decision"] == "require_approval"


async def test_replicas_see_each_others_writes(nats_url: str, nc: NATS) -> None:
    async with running(build(nats_url)) as first, running(build(nats_url)) as second:
        assert (await command(nc, "create", {"id": "acme"}))["ok"] is True
        for replica in (first, second):
            await eventually(lambda r=replica: r.tenants.get("acme"), message=f"{replica} never saw acme")


async def test_concurrent_updates_are_not_lost(nats_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jamjet_common.bucket")
    async with running(build(nats_url)) as first, running(build(nats_url)) as second:
        at = now()
        await first.tenants.create(Tenant(id="acme", name="acme", created_at=at, updated_at=at))
        stores = [first.tenants, second.tenants]
        # All of them read the same revision first; the CAS makes the losers re-read and re-apply.
        await asyncio.gather(*(stores[i % 2].update("acme", _set_limit(f"k{i}", i)) for i in range(12)))
        tenant, _ = await second.tenants.read("acme")
        assert tenant.limits == {f"k{i}": i for i in range(12)}
    assert any("changed concurrently" in r.getMessage() for r in caplog.records), "no write conflict"


def _set_limit(key: str, value: int) -> Callable[[Tenant], Tenant]:
    def change(tenant: Tenant) -> Tenant:
        return msgspec.structs.replace(tenant, limits={**(tenant.limits or {}), key: value})

    return change


# ---- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("create", b"{not json", "malformed_json"),
        ("create", {"id": 42}, "invalid_request"),
        ("create", {"id": "acme", "policy": {"blocked_tools": "delete"}}, "invalid_request"),
        ("create", {"name": "no id"}, "invalid_request"),
        ("update", {"id": "acme", "status": "sleeping"}, "invalid_request"),
        ("create", {"id": "a.b"}, "invalid_token"),
        ("get", {"id": "x" * 200}, "invalid_token"),
        ("suspend", {"id": "*"}, "invalid_token"),
        ("get", {"id": "ghost"}, "unknown_tenant"),
        ("update", {"id": "ghost", "name": "Ghost"}, "unknown_tenant"),
        ("suspend", {"id": "ghost"}, "unknown_tenant"),
        ("delete", {"id": "acme"}, "unknown_command"),
        ("create.now", {"id": "acme"}, "unknown_command"),
        ("create", {"id": "acme", "name": "x" * 600_000}, "payload_too_large"),
    ],
)
async def test_bad_commands_get_specific_errors(
    policy: PolicyService, nc: NATS, action: str, body: bytes | dict[str, Any], code: str
) -> None:
    assert error_code(await command(nc, action, body)) == code
    # ...and the service keeps working.
    created = await command(nc, "create", {"id": "after"})
    assert created["ok"] is True


async def test_duplicate_create(policy: PolicyService, nc: NATS) -> None:
    assert (await command(nc, "create", {"id": "acme"}))["ok"] is True
    assert error_code(await command(nc, "create", {"id": "acme"})) == "tenant_exists"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\x00garbage", "malformed_json"),
        ({"tenant": "default"}, "invalid_request"),
        ({"tenant": "default", "node": {"id": "n", "kind": {"type": "teleport"}}}, "invalid_request"),
        (
            {"tenant": "default", "node": TOOL_NODE, "workflow_policy": {"blocked_tools": 1}},
            "invalid_request",
        ),
        ({"tenant": "bad tenant", "node": TOOL_NODE}, "invalid_token"),
        ({"tenant": "default", "node": TOOL_NODE, "execution_id": "x" * 600_000}, "payload_too_large"),
    ],
)
async def test_bad_evaluations_get_specific_errors(
    policy: PolicyService, nc: NATS, body: bytes | dict[str, Any], code: str
) -> None:
    assert error_code(await request(nc, subjects.POLICY_EVALUATE, body)) == code
    assert (await evaluate(nc))["decision"] == "allow"


async def test_tenant_watch_recovers_from_a_nats_restart(
    nats_server: LocalNatsServer, policy: PolicyService, nc: NATS
) -> None:
    await command(nc, "create", {"id": "acme"})
    await nats_server.arestart()
    # Written by someone else, straight into the bucket: only the watch can bring it to the service.
    kv = await nc.jetstream().key_value(KV_TENANTS)
    tenant, revision = await eventually(lambda: policy.tenants.read("acme"))
    blocked = msgspec.structs.replace(tenant, policy=PolicySetIr(blocked_tools=["*"]))
    await kv.update("acme", codec.encode(blocked), last=revision)
    reply = await eventually(
        lambda: _decided(nc, "acme", "block"), timeout=30, message="watch never recovered"
    )
    assert reply["policy_scope"] == "tenant"
