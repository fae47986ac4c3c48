"""The agent commands (``jamjet.cmd.agents.<action>``): their bodies and what each one does.

Each acts on one tenant's registry: the ``tenant`` of the body (a tenant's client cannot name another,
see ``jamjet_common.tenancy``), ``default`` when none is named."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from jamjet_common import subjects
from jamjet_common.agent_card import AgentCard, Uri
from jamjet_common.errors import ContractError
from jamjet_common.messages import DEFAULT_TENANT
from jamjet_common.records import Agent, AgentStatus
from jamjet_common.router import FieldsOf, Handler, fields
from services.policy.agents import AgentStore, heartbeat, transition
from services.policy.dispatch import decode_body

STATUS_ACTIONS: dict[str, AgentStatus] = {
    "activate": "active",
    "pause": "paused",
    "deactivate": "deactivated",
    "archive": "archived",
}


class _Body(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str | None = None
    """The registry acted on; ``default`` when absent."""

    @property
    def registry(self) -> str:
        return subjects.check_token(self.tenant or DEFAULT_TENANT, "tenant")


class RegisterAgent(_Body, frozen=True):
    card: AgentCard


class AgentRef(_Body, frozen=True):
    """Exactly one of the two."""

    id: str | None = None
    uri: Uri | None = None


class ListAgents(_Body, frozen=True):
    status: AgentStatus | None = None
    skill: str | None = None
    """A skill name the agent's card lists (case-insensitive)."""
    protocol: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class AgentCommands:
    """Executes agent commands against the store; each returns the success reply's fields."""

    store: AgentStore

    def routes(self) -> dict[str, Handler]:
        """The actions and their handlers, for the router."""
        actions: dict[str, FieldsOf] = {
            "register": self.register,
            "get": self.get,
            "list": self.list,
            "heartbeat": self.heartbeat,
        }
        for name, status in STATUS_ACTIONS.items():
            actions[name] = self._status_change(name, status)
        return {action: fields(handle) for action, handle in actions.items()}

    async def register(self, data: bytes) -> dict[str, Any]:
        body = decode_body(data, RegisterAgent, "agents.register command")
        return {"agent": await self.store.register(body.registry, body.card)}

    async def get(self, data: bytes) -> dict[str, Any]:
        _, agent = await self._read(data, "get")
        return {"agent": agent}

    async def list(self, data: bytes) -> dict[str, Any]:
        body = decode_body(data, ListAgents, "agents.list command")
        return {"agents": await self.store.find(body.registry, body.status, body.skill, body.protocol)}

    async def heartbeat(self, data: bytes) -> dict[str, Any]:
        tenant, agent = await self._read(data, "heartbeat")
        return {"agent": await self.store.update(tenant, agent.id, heartbeat)}

    def _status_change(self, action: str, status: AgentStatus) -> FieldsOf:
        async def change(data: bytes) -> dict[str, Any]:
            tenant, agent = await self._read(data, action)
            return {"agent": await self.store.update(tenant, agent.id, lambda a: transition(a, status))}

        return change

    async def _read(self, data: bytes, action: str) -> tuple[str, Agent]:
        """The tenant the command acts for, and the agent it names in that tenant's registry."""
        body = decode_body(data, AgentRef, f"agents.{action} command")
        if (body.id is None) == (body.uri is None):
            raise ContractError(f"agents.{action} command: give exactly one of 'id' and 'uri'")
        tenant = body.registry
        if body.id is not None:
            agent, _ = await self.store.read(tenant, subjects.check_token(body.id, "agent id"))
        else:
            assert body.uri is not None
            agent, _ = await self.store.read_by_uri(tenant, body.uri)
        return tenant, agent
