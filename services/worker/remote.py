"""Executors that call out of the process (models, tools, MCP servers, remote agents), built together
from the environment and closed together when the worker stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client

from jamjet_common.config import Env
from services.worker.executors.agent import AgentExecutor
from services.worker.executors.agent_tool import AgentToolExecutor
from services.worker.executors.coordinator import CoordinatorExecutor
from services.worker.executors.coordinator_agents import KvAgentSource
from services.worker.executors.http_setup import HttpExecutors, Registrar
from services.worker.executors.mcp_sessions import McpSessions
from services.worker.executors.mcp_tool import McpToolExecutor
from services.worker.executors.model_settings import ModelSettings
from services.worker.progress import NatsProgressSink
from services.worker.sandbox import SandboxConfig


@dataclass(frozen=True, slots=True)
class RemoteExecutors:
    http: HttpExecutors
    agent_tool: AgentToolExecutor
    mcp_tool: McpToolExecutor
    agent: AgentExecutor
    coordinator: CoordinatorExecutor

    @classmethod
    def from_env(cls, env: Env, connection: Callable[[], Client]) -> RemoteExecutors:
        sink = NatsProgressSink(connection)
        call_timeout = env.number("JAMJET_MCP_CALL_TIMEOUT_SECS", 0.0)
        return cls(
            http=HttpExecutors.from_env(env, progress=sink),
            agent_tool=AgentToolExecutor(
                sink, default_timeout_secs=env.number("JAMJET_AGENT_TOOL_TIMEOUT_SECS", 30.0, minimum=0.1)
            ),
            mcp_tool=McpToolExecutor(
                McpSessions(
                    connect_timeout_secs=env.number("JAMJET_MCP_CONNECT_TIMEOUT_SECS", 30.0),
                    sandbox=SandboxConfig.from_env(env),
                    environ=env.environ,
                ),
                call_timeout_secs=call_timeout or None,
            ),
            agent=AgentExecutor(timeout_secs=env.number("JAMJET_AGENT_TIMEOUT_SECS", 60.0, minimum=0.1)),
            coordinator=CoordinatorExecutor(KvAgentSource(connection), ModelSettings.from_env(env)),
        )

    def register(self, registry: Registrar) -> None:
        self.http.register(registry)
        registry.register("agent_tool", self.agent_tool)
        registry.register("mcp_tool", self.mcp_tool)
        registry.register("agent", self.agent)
        registry.register("coordinator", self.coordinator)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.agent_tool.aclose()
        await self.mcp_tool.aclose()
        await self.agent.aclose()
        await self.coordinator.aclose()
