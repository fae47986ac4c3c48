"""The agent commands (``jamjet.cmd.agents.<action>``): their bodies and what each one does."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from jamjet_common import subjects
from jamjet_common.agent_card import AgentCard, Uri
from jamjet_common.errors import ContractError
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
    pass


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
        return {"agent": await self.store.register(body.card)}

    async def get(self, data: bytes) -> dict[str, Any]:
        agent, _ = await self._read(data, "get")
        return {"agent": agent}

    async def list(self, data: bytes) -> dict[str, Any]:
        body = decode_body(data, ListAgents, "agents.list command")
        return {"agents": await self.store.find(body.status, body.skill, body.protocol)}

    async def heartbeat(self, data: bytes) -> dict[str, Any]:
        agent, _ = await self._read(data, "heartbeat")
        return {"agent": await self.store.update(agent.id, heartbeat)}

    def _status_change(self, action: str, status: AgentStatus) -> FieldsOf:
        async def change(data: bytes) -> dict[str, Any]:
            agent, _ = await self._read(data, action)
            return {"agent": await self.store.update(agent.id, lambda a: transition(a, status))}

        return change

    async def _read(self, data: bytes, action: str) -> tuple[Agent, int]:
        body = decode_body(data, AgentRef, f"agents.{action} command")
        if (body.id is None) == (body.uri is None):
            raise ContractError(f"agents.{action} command: give exactly one of 'id' and 'uri'")
        if body.id is not None:
            return await self.store.read(subjects.check_token(body.id, "agent id"))
        assert body.uri is not None
        return await self.store.read_by_uri(body.uri)
