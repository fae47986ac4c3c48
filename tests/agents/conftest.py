"""Fixtures of the agent_tool and mcp_tool tests: a fake agent, progress over real NATS, MCP servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from starlette.types import ASGIApp

from jamjet_common import streams, subjects
from jamjet_common.config import Env
from jamjet_common.ir import McpServerConfig
from services.worker.executors.agent_tool import AgentToolExecutor
from services.worker.executors.mcp_sessions import McpSessions
from services.worker.executors.mcp_tool import McpToolExecutor
from services.worker.progress import NatsProgressSink
from services.worker.sandbox import SandboxConfig
from services.worker.sandbox.commands import CommandPolicy
from tests.agents.fake_agent import FakeAgent
from tests.agents.mcp_server import build_server
from tests.helpers import eventually

STDIO_SERVER = McpServerConfig(
    transport="stdio", command=sys.executable, args=["-m", "tests.agents.mcp_server"]
)
ALLOWED_COMMANDS = CommandPolicy.from_entries((sys.executable,), dev_mode=False)


@dataclass
class Received:
    """Progress messages as a subscriber saw them, with ``time.monotonic()`` at arrival."""

    events: list[dict[str, Any]] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)

    async def on_msg(self, msg: Msg) -> None:
        self.arrived_at.append(time.monotonic())
        self.events.append(json.loads(msg.data))

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    async def until(self, last_type: str) -> list[dict[str, Any]]:
        await eventually(lambda: last_type in self.types(), timeout=10, message=f"no {last_type} received")
        return self.events


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    async with FakeAgent().serving() as served:
        yield served


@pytest.fixture
async def js(nc: NATS) -> JetStreamContext:
    js = nc.jetstream(timeout=10)
    await streams.ensure_streams(js, streams.StreamLimits.from_env(Env({})))
    return js


@pytest.fixture
async def executor(nc: NATS, js: JetStreamContext) -> AsyncIterator[AgentToolExecutor]:
    executor = AgentToolExecutor(NatsProgressSink(nc), default_timeout_secs=5)
    try:
        yield executor
    finally:
        await executor.aclose()


@pytest.fixture
def subscribe(nc: NATS) -> Callable[[str], Any]:
    """``await subscribe(execution_id)``: a live subscriber to the execution's progress subject."""

    async def start(execution_id: str) -> Received:
        received = Received()
        await nc.subscribe(subjects.progress("acme", execution_id), cb=received.on_msg)
        await nc.flush()
        return received

    return start


def mcp_tool_executor(commands: CommandPolicy = ALLOWED_COMMANDS) -> McpToolExecutor:
    """An executor whose stdio servers may be this interpreter only (the test server's command)."""
    return McpToolExecutor(McpSessions(sandbox=SandboxConfig(commands=commands)), call_timeout_secs=20)


@pytest.fixture
async def mcp_executor() -> AsyncIterator[McpToolExecutor]:
    executor = mcp_tool_executor()
    try:
        yield executor
    finally:
        await executor.aclose()


@contextlib.asynccontextmanager
async def _serve(app: ASGIApp) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, timeout=10, message="MCP HTTP server did not start")
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


@pytest.fixture
async def mcp_http_port() -> AsyncIterator[int]:
    """The test MCP server over streamable HTTP, in this process, at ``/mcp``."""
    async with _serve(build_server().streamable_http_app()) as port:
        yield port


@pytest.fixture
async def mcp_sse_port() -> AsyncIterator[int]:
    """The test MCP server over the legacy HTTP+SSE transport, at ``/sse``."""
    async with _serve(build_server().sse_app()) as port:
        yield port
