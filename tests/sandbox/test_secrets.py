"""Secrets in tool requests through the running services: only the operator's mapping gives them out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.worker.sandbox.refusal import SECRET
from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer
from tests.sandbox.support import http_tool, refusal, run_once

pytestmark = pytest.mark.e2e


async def test_an_environment_variable_is_not_a_secret(stack: Stack, endpoint: FakeHttpServer) -> None:
    """The worker's DATABASE_URL, named by the IR, is never sent: the node is refused before any request."""
    async with services(stack):
        execution_id = await run_once(stack, http_tool(endpoint.url, ["env:DATABASE_URL"]))
    error = refusal(stack, execution_id, SECRET)
    assert "secret 'DATABASE_URL' is not one this worker gives out" in error
    assert stack.database_url not in error
    assert endpoint.requests == []


async def test_a_mapped_secret_is_sent(stack: Stack, endpoint: FakeHttpServer) -> None:
    mapping = {"JAMJET_SECRET_SEARCH": "SEARCH_API_KEY", "SEARCH_API_KEY": "s3cret"}
    async with services(stack, **mapping):
        ir = http_tool(endpoint.url, ["env:SEARCH", "env:SEARCH:X-Api-Key"])
        execution_id = await run_once(stack, ir)
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    headers = endpoint.last.headers
    assert (headers["authorization"], headers["x-api-key"]) == ("Bearer s3cret", "s3cret")


async def test_each_tenant_gets_its_own_mapping(
    stack: Stack, endpoint: FakeHttpServer, tmp_path: Path
) -> None:
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"*": {"SEARCH": "SHARED_KEY"}, "acme": {"SEARCH": "ACME_KEY"}}))
    env = {"JAMJET_SECRETS_FILE": str(secrets_file), "SHARED_KEY": "shared", "ACME_KEY": "acme-only"}
    ir = http_tool(endpoint.url, ["env:SEARCH"])
    async with services(stack, **env):
        await stack.ask("jamjet.cmd.tenants.create", {"id": "acme"})
        started = []
        for tenant in ("acme", "default"):
            await stack.ask("jamjet.cmd.workflows.register", {"ir": ir, "tenant": tenant})
            body = {"workflow_id": "wf", "input": {"tenant": tenant}, "tenant": tenant}
            started.append((await stack.ask("jamjet.cmd.executions.start", body))["execution_id"])
        await stack.all_terminal(started)
    sent = {request.json()["tenant"]: request.headers["authorization"] for request in endpoint.requests}
    assert sent == {"acme": "Bearer acme-only", "default": "Bearer shared"}
