"""Tokens and tenants: who may see and do what through the gateway."""

from __future__ import annotations

import httpx
import pytest

from jamjet_client import RuntimeClient
from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.gateway.support import ALICE, BOB, READER, bearer, gateway
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def test_another_tenants_execution_is_not_found_for_any_use(stack: Stack) -> None:
    async with services(stack), gateway(stack) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        await RuntimeClient(stack.nc).tenants.create("acme")
        alice, bob = bearer(ALICE), bearer(BOB)
        assert (
            await http.post("/workflows", json={"ir": workflows.approval()}, headers=alice)
        ).status_code == 201
        started = await http.post("/executions", json={"workflow_id": "gated"}, headers=alice)
        execution_id = started.json()["execution_id"]
        await eventually(lambda: _pending(http, execution_id), message="no approval pending")

        for method, path, body in [
            ("GET", f"/executions/{execution_id}", None),
            ("GET", f"/executions/{execution_id}/events", None),
            ("GET", f"/executions/{execution_id}/events?follow=true", None),
            ("GET", f"/executions/{execution_id}/approvals", None),
            ("POST", f"/executions/{execution_id}/cancel", None),
            ("POST", f"/executions/{execution_id}/approve", {"decision": "approved"}),
            ("POST", f"/executions/{execution_id}/external-event", {"correlation_key": "k"}),
        ]:
            answer = await http.request(method, path, json=body, headers=bob)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "unknown_execution"
        assert (await http.get("/executions", headers=bob)).json()["executions"] == []
        assert (await http.post("/executions", json={"workflow_id": "gated"}, headers=bob)).status_code == 404

        mine = await http.get(f"/executions/{execution_id}", headers=alice)
        assert (mine.status_code, mine.json()["status"]) == (200, "paused")


async def _pending(http: httpx.AsyncClient, execution_id: str) -> bool:
    answer = await http.get(f"/executions/{execution_id}/approvals", headers=bearer(ALICE))
    return bool(answer.json()["pending"])


async def test_tokens_missing_wrong_or_read_only(stack: Stack) -> None:
    async with services(stack), gateway(stack) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        assert (await http.get("/health")).json()["status"] == "ok"
        for headers in [{}, bearer("not-a-token"), {"Authorization": ALICE}]:
            answer = await http.get("/executions", headers=headers)
            assert (answer.status_code, answer.json()["error"]["code"]) == (401, "unauthorized")
        refused = await http.post("/workflows", json={"ir": workflows.routed()}, headers=bearer(READER))
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "read_only")
        assert (await http.get("/executions", headers=bearer(READER))).status_code == 200


async def test_bad_input_gets_the_nats_reply_codes(stack: Stack) -> None:
    async with services(stack), gateway(stack) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        alice = bearer(ALICE)
        cases = [
            (await http.post("/executions", content=b"{not json", headers=alice), 400, "malformed_json"),
            (await http.post("/executions", json={"input": {}}, headers=alice), 400, "invalid_request"),
            (
                await http.post("/executions", json={"workflow_id": "nope"}, headers=alice),
                404,
                "unknown_workflow",
            ),
            (
                await http.post("/executions", json={"workflow_id": "a\x01"}, headers=alice),
                400,
                "invalid_workflow_id",
            ),
            (await http.get("/executions/a.b", headers=alice), 400, "invalid_token"),
            (
                await http.post("/workflows", json={"ir": {"workflow_id": "x"}}, headers=alice),
                400,
                "invalid_ir",
            ),
            (await http.get("/executions/exec_nothing", headers=alice), 404, "unknown_execution"),
            (await http.get("/executions?status=bogus", headers=alice), 400, "invalid_status"),
            (await http.get("/executions?limit=0", headers=alice), 400, "invalid_limit"),
            (await http.get("/artifacts/abc", headers=alice), 400, "invalid_hash"),
            (await http.get("/artifacts/" + "0" * 64, headers=alice), 404, "unknown_artifact"),
            (await http.get("/agents/nobody", headers=alice), 404, "unknown_agent"),
            (await http.get("/no/such/route", headers=alice), 404, "not_found"),
            (await http.post("/executions", content=b" " * 600_000, headers=alice), 413, "payload_too_large"),
        ]
        for answer, status, code in cases:
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
