"""Live events and agent_tool progress as Server-Sent Events: order, resume, end after the terminal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jamjet_client import RuntimeClient
from tests.agents.fake_agent import FakeAgent, Reply, ndjson_lines
from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.e2e.test_streaming import streaming_ir
from tests.gateway.sse import Message, messages
from tests.gateway.support import ALICE, bearer, gateway

pytestmark = pytest.mark.e2e


async def follow(
    http: httpx.AsyncClient, path: str, *, last: str | None = None, take: int = 0
) -> list[Message]:
    """The messages of one SSE connection: all of them until the server ends it, or the first ``take``."""
    headers = bearer(ALICE) | ({"Last-Event-ID": last} if last else {})
    got: list[Message] = []
    async with http.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for message in messages(response):
            got.append(message)
            if take and len(got) == take:
                break
    return got


async def test_follow_resume_and_end_after_the_terminal_event(stack: Stack) -> None:
    client = RuntimeClient(stack.nc)
    async with services(stack), gateway(stack) as gw, httpx.AsyncClient(base_url=gw.url, timeout=60) as http:
        await client.register(workflows.slow_chain(4))
        execution_id = (await client.start("slow_chain")).execution_id
        path = f"/executions/{execution_id}/events?follow=true"
        first = await follow(http, path, take=3)
        rest = await follow(http, path, last=first[-1].id)
        seen = first + rest
        assert [int(m.id) for m in seen] == list(range(1, len(seen) + 1))
        assert [m.event for m in seen] == [m.json()["kind"]["type"] for m in seen]
        assert seen[-1].event == "workflow_completed"
        stored = [e.sequence async for e in client.events(execution_id)]
        assert stored == [int(m.id) for m in seen]
        assert await follow(http, path, last=seen[-1].id) == []
        again = await follow(http, f"/executions/{execution_id}/events?follow=true&from_sequence=5")
        assert [int(m.id) for m in again] == stored[4:]


async def test_agent_tool_progress_streams_and_resumes(stack: Stack) -> None:
    chunks = ndjson_lines(*({"delta": f"part {i} "} for i in range(4)), {"output": {"summary": "done"}})
    agent = FakeAgent()
    client = RuntimeClient(stack.nc)
    async with agent.serving(), services(stack), gateway(stack) as gw:
        agent.routes["/agent"] = lambda request: Reply(lines=chunks, delay=0.05)
        await client.register(streaming_ir(agent.url("/agent")))
        execution_id = (await client.start("streamer")).execution_id
        async with httpx.AsyncClient(base_url=gw.url, timeout=60) as http:
            path = f"/executions/{execution_id}/progress"
            first = await follow(http, path, take=2)
            rest = await follow(http, path, last=first[-1].id)
    types: list[Any] = [m.event for m in first + rest]
    assert types[0] == "agent_tool_invoked" and types[-1] == "agent_tool_completed"
    assert types.count("agent_tool_progress") == len(chunks)
    assert [int(m.id) for m in first + rest] == sorted({int(m.id) for m in first + rest})
