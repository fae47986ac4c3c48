"""The HTTP gateway as the compose deploy runs it: its own user of the service account, every kind of
route it serves, and not one permission violation."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.gateway.service import GatewayService
from tests.e2e import workflows
from tests.gateway.support import ALICE, bearer, tokens_json
from tests.harness import running
from tests.helpers import eventually
from tests.security.conftest import Secured, four_services

pytestmark = pytest.mark.e2e


@contextlib.asynccontextmanager
async def secured_gateway(sec: Secured) -> AsyncIterator[httpx.AsyncClient]:
    env = sec.env("gateway", JAMJET_GATEWAY_PORT="0", JAMJET_GATEWAY_TOKENS=tokens_json())
    async with (
        running(GatewayService.from_env(env)) as gw,
        httpx.AsyncClient(base_url=gw.url, headers=bearer(ALICE), timeout=30) as http,
    ):
        yield http


async def _answer(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await http.request(method, path, **kwargs)
    assert response.is_success, (path, response.status_code, response.text)
    return response.json() if "json" in response.headers.get("content-type", "") else response.content


async def test_the_gateway_serves_writes_reads_and_artifacts_with_its_own_key(secured: Secured) -> None:
    async with four_services(secured), secured_gateway(secured) as http:
        await _answer(http, "POST", "/workflows", json={"ir": workflows.routed()})
        started = await _answer(http, "POST", "/executions", json={"workflow_id": "routed"})
        path = f"/executions/{started['execution_id']}"

        async def completed() -> bool:
            return bool((await _answer(http, "GET", path))["status"] == "completed")

        await eventually(completed, timeout=60, message="the execution did not complete")
        events = await _answer(http, "GET", f"{path}/events")
        assert events["events"][-1]["kind"]["type"] == "workflow_completed"
        text = {"content-type": "text/plain"}
        stored = await _answer(http, "POST", "/artifacts", content=b"report", headers=text)
        assert await _answer(http, "GET", f"/artifacts/{stored['hash']}") == b"report"
        for read in ("/executions", "/workers", "/workflows", "/approvals", "/dead-letters", "/agents"):
            await _answer(http, "GET", read)
    assert "Violation" not in secured.server.output, secured.server.output
