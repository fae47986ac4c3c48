"""Tenant and agent commands (``jamjet.cmd.tenants.*``, ``jamjet.cmd.agents.*``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from jamjet_client.replies import AgentReply, AgentsReply, TenantReply, TenantsReply
from jamjet_common import subjects

Asker = Callable[[str, Any, type[Any]], Awaitable[Any]]


def _set(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


class Tenants:
    def __init__(self, ask: Asker) -> None:
        self._ask = ask

    async def _tenant(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        reply: TenantReply = await self._ask(subjects.tenant_cmd(action), body, TenantReply)
        return reply.tenant

    async def create(
        self, tenant_id: str, *, name: str | None = None, policy: Any = None, limits: Any = None
    ) -> dict[str, Any]:
        return await self._tenant("create", _set(id=tenant_id, name=name, policy=policy, limits=limits))

    async def update(
        self,
        tenant_id: str,
        *,
        name: str | None = None,
        policy: Any = None,
        limits: Any = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        body = _set(id=tenant_id, name=name, policy=policy, limits=limits, status=status)
        return await self._tenant("update", body)

    async def suspend(self, tenant_id: str) -> dict[str, Any]:
        return await self._tenant("suspend", {"id": tenant_id})

    async def get(self, tenant_id: str) -> dict[str, Any]:
        return await self._tenant("get", {"id": tenant_id})

    async def list(self) -> list[dict[str, Any]]:
        reply: TenantsReply = await self._ask(subjects.tenant_cmd("list"), {}, TenantsReply)
        return reply.tenants


class Agents:
    """The agent registry of one tenant: the client's, unless a call names another (which only a trusted
    client in the service account may; a tenant's account acts for its own whatever it names)."""

    def __init__(self, ask: Asker, tenant: Callable[[], str]) -> None:
        self._ask = ask
        self._tenant = tenant

    async def _agent(self, action: str, body: dict[str, Any], tenant: str | None) -> dict[str, Any]:
        body = {**body, "tenant": tenant or self._tenant()}
        reply: AgentReply = await self._ask(subjects.agent_cmd(action), body, AgentReply)
        return reply.agent

    async def register(self, card: dict[str, Any], *, tenant: str | None = None) -> dict[str, Any]:
        return await self._agent("register", {"card": card}, tenant)

    async def get(
        self, agent_id: str | None = None, *, uri: str | None = None, tenant: str | None = None
    ) -> dict[str, Any]:
        return await self._agent("get", _set(id=agent_id, uri=uri), tenant)

    async def list(
        self,
        *,
        status: str | None = None,
        skill: str | None = None,
        protocol: str | None = None,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        body = _set(status=status, skill=skill, protocol=protocol, tenant=tenant or self._tenant())
        reply: AgentsReply = await self._ask(subjects.agent_cmd("list"), body, AgentsReply)
        return reply.agents

    async def change(self, action: str, agent_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        """``activate``, ``pause``, ``deactivate``, ``archive`` or ``heartbeat``."""
        return await self._agent(action, {"id": agent_id}, tenant)
