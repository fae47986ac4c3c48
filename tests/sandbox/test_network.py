"""Where HTTP tools may go, through the running services. No test sends anything beyond loopback.

The metadata addresses are refused by address class before any connection; to show that on a worker
without the guard the request would go out, the tests set ``HTTP_PROXY`` to a loopback server, which
is where an unguarded client sends the request (and where the test sees it), without resolving or
reaching the address itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.worker.sandbox.refusal import ADDRESS, HOST
from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer, Reply
from tests.sandbox.support import http_tool, ok, refusal, run_once

pytestmark = pytest.mark.e2e


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeHttpServer]:
    """A loopback server that every http:// request of an unguarded worker would reach first."""
    async with FakeHttpServer(ok) as server:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", server.url)
        monkeypatch.setenv("http_proxy", server.url)
        yield server


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://169.254.0.1:8080/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_metadata_addresses_are_refused_by_default(
    stack: Stack, proxy: FakeHttpServer, url: str
) -> None:
    async with services(stack):
        execution_id = await run_once(stack, http_tool(url))
    error = refusal(stack, execution_id, ADDRESS)
    assert "refused network" in error or "cloud metadata service" in error
    assert proxy.requests == [], "nothing left the worker"


async def test_the_resolved_address_is_checked_not_the_name(stack: Stack, endpoint: FakeHttpServer) -> None:
    """``localhost`` is no refused name, but it resolves into a network the operator refused."""
    port = endpoint.url.rsplit(":", 1)[1]
    async with services(stack, JAMJET_TOOL_DENIED_NETWORKS="127.0.0.0/8,::1/128"):
        execution_id = await run_once(stack, http_tool(f"http://localhost:{port}/"))
    error = refusal(stack, execution_id, ADDRESS)
    assert "host 'localhost' is at" in error and "in refused network" in error
    assert endpoint.requests == []


async def test_a_host_outside_the_allowlist_is_refused(stack: Stack) -> None:
    allowed_hosts = "127.0.0.1,*.example.com"
    async with (
        FakeHttpServer(ok, host="127.0.0.2") as outside,
        FakeHttpServer(ok) as inside,
        services(stack, JAMJET_TOOL_ALLOWED_HOSTS=allowed_hosts),
    ):
        refused = await run_once(stack, http_tool(outside.url))
        allowed = await run_once(stack, http_tool(inside.url, wf="inside"))
    assert "host '127.0.0.2' is not in JAMJET_TOOL_ALLOWED_HOSTS" in refusal(stack, refused, HOST)
    assert outside.requests == []
    assert stack.recorder.terminal[allowed] == "workflow_completed" and len(inside.requests) == 1


async def test_a_redirect_to_a_refused_host_is_not_followed(stack: Stack) -> None:
    async with FakeHttpServer(ok, host="127.0.0.2") as outside, FakeHttpServer() as inside:
        inside.handler = lambda request: Reply(302, {}, headers={"Location": outside.url + "/"})
        async with services(stack, JAMJET_TOOL_ALLOWED_HOSTS="127.0.0.1"):
            execution_id = await run_once(stack, http_tool(inside.url))
    assert stack.recorder.terminal[execution_id] == "workflow_failed"
    assert len(inside.requests) == 1 and outside.requests == []
