"""The agent registries, one per tenant, kept in the KV bucket ``jamjet_agents``.

Keys (``jamjet_common.records``): ``<tenant>.agent.<agent id>`` (uuid4 hex) holds the agent record;
``<tenant>.uri.<sha256 of the card's uri, hex>`` holds the id of the agent that owns the uri in that tenant's
registry. A tenant reads and changes only keys under its own name, so it never sees, pauses or takes the uri
of another tenant's agent; two tenants may register the same uri. A registration stores its record first and
then creates the uri key; creating a key is atomic, so of two registrations of one uri exactly one wins, and
the loser deletes its record. A record whose uri key names another agent (a registration that lost, or one cut
short between its two writes) does not exist for any reader, unless it is archived: the uri of an archived
agent may be registered again, and the archived record stays readable by its id.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError

from jamjet_common.agent_card import AgentCard
from jamjet_common.bucket import WatchedBucket
from jamjet_common.errors import AgentExistsError, InvalidTransitionError, UnknownAgentError
from jamjet_common.records import (
    AGENT_URI,
    Agent,
    AgentStatus,
    agent_key,
    agent_uri_key,
    parse_agent_key,
    read_record,
)
from jamjet_common.streams import KV_AGENTS
from services.policy.tenants import now

logger = logging.getLogger(__name__)

TRANSITIONS: dict[str, frozenset[str]] = {
    "registered": frozenset({"active"}),
    "active": frozenset({"paused", "deactivated"}),
    "paused": frozenset({"active", "deactivated"}),
    "deactivated": frozenset({"archived"}),
    "archived": frozenset(),
}


Entry = Agent | str
"""What the bucket holds: agent records, and the owner id of each uri key."""


def new_agent(card: AgentCard) -> Agent:
    at = now()
    return Agent(id=uuid.uuid4().hex, card=card, registered_at=at, updated_at=at)


def transition(agent: Agent, status: AgentStatus) -> Agent:
    """``agent`` in ``status``; raises InvalidTransitionError unless the lifecycle allows the move."""
    if status not in TRANSITIONS[agent.status]:
        allowed = ", ".join(sorted(TRANSITIONS[agent.status])) or "none (archived is final)"
        raise InvalidTransitionError(
            f"agent {agent.id} ('{agent.uri}') cannot go from {agent.status} to {status}; "
            f"allowed from {agent.status}: {allowed}"
        )
    return msgspec.structs.replace(agent, status=status, updated_at=now())


def heartbeat(agent: Agent) -> Agent:
    return msgspec.structs.replace(agent, last_heartbeat=now())


class AgentStore:
    """Registered agents: a watched local copy for evaluations, the bucket itself for commands."""

    def __init__(self, js: JetStreamContext) -> None:
        self._bucket: WatchedBucket[Entry] = WatchedBucket(js, KV_AGENTS, _decode)

    async def start(self) -> None:
        await self._bucket.start()

    async def stop(self) -> None:
        await self._bucket.stop()

    # ---- reads (local copy) ---------------------------------------------------------------------------

    def get(self, tenant: str, agent_id: str) -> Agent | None:
        value = self._bucket.get(agent_key(tenant, agent_id))
        if not isinstance(value, Agent):
            return None
        return value if self._visible(value, self._bucket.get(agent_uri_key(tenant, value.uri))) else None

    def by_uri(self, tenant: str, uri: str) -> Agent | None:
        owner = self._bucket.get(agent_uri_key(tenant, uri))
        return self.get(tenant, owner) if isinstance(owner, str) else None

    def resolve(self, tenant: str, ref: str) -> Agent | None:
        """The agent of ``tenant`` a node's reference names: by id, else by uri."""
        return self.get(tenant, ref) or self.by_uri(tenant, ref)

    async def find(
        self,
        tenant: str,
        status: str | None = None,
        skill: str | None = None,
        protocol: str | None = None,
    ) -> list[Agent]:
        """The tenant's agents matching every filter given, sorted by uri (then id), after catching up
        with the bucket."""
        await self._bucket.sync()
        agents = [a for item in self._bucket.items() if (a := self._live(tenant, item)) is not None]
        found = [
            agent
            for agent in agents
            if (status is None or agent.status == status)
            and (skill is None or agent.card.has_skill(skill))
            and (protocol is None or agent.card.speaks(protocol))
        ]
        return sorted(found, key=lambda a: (a.uri, a.id))

    def _live(self, tenant: str, item: tuple[str, Entry]) -> Agent | None:
        parsed, value = parse_agent_key(item[0]), item[1]
        if parsed is None or parsed[0] != tenant or not isinstance(value, Agent):
            return None
        return self.get(tenant, value.id)

    # ---- reads and writes of the bucket ------------------------------------------------------------------

    async def read(self, tenant: str, agent_id: str) -> tuple[Agent, int]:
        """The stored agent and its revision, straight from the bucket; raises UnknownAgentError."""
        found = await self._bucket.read(agent_key(tenant, agent_id))
        if found is not None and isinstance(found[0], Agent):
            agent = found[0]
            owner = await self._bucket.read(agent_uri_key(tenant, agent.uri))
            if self._visible(agent, owner[0] if owner else None):
                return agent, found[1]
        raise UnknownAgentError(f"agent '{agent_id}' is not registered")

    async def read_by_uri(self, tenant: str, uri: str) -> tuple[Agent, int]:
        owner = await self._bucket.read(agent_uri_key(tenant, uri))
        if owner is None or not isinstance(owner[0], str):
            raise UnknownAgentError(f"no agent is registered with uri '{uri}'")
        return await self.read(tenant, owner[0])

    async def register(self, tenant: str, card: AgentCard) -> Agent:
        agent = new_agent(card)
        await self._bucket.create(agent_key(tenant, agent.id), agent)
        key = agent_uri_key(tenant, card.uri)
        try:
            revision = await self._claim_uri(tenant, key, agent)
        except AgentExistsError:
            with contextlib.suppress(Exception):  # left behind, the record is invisible anyway
                await self._bucket.kv.delete(agent_key(tenant, agent.id))
            raise
        self._bucket.remember(key, agent.id, revision)
        logger.info("agent %s of tenant %s registered with uri %s", agent.id, tenant, agent.uri)
        return agent

    async def update(self, tenant: str, agent_id: str, change: Callable[[Agent], Agent]) -> Agent:
        """Apply ``change`` to the stored agent; re-read and re-apply if someone else wrote first."""

        def apply(entry: Entry) -> Entry:
            assert isinstance(entry, Agent)
            return change(entry)

        key = agent_key(tenant, agent_id)
        updated = await self._bucket.update(key, lambda: self.read(tenant, agent_id), apply)
        assert isinstance(updated, Agent)
        return updated

    async def _claim_uri(self, tenant: str, key: str, agent: Agent) -> int:
        """Point the uri key at ``agent``; a uri owned by an archived agent may be taken over."""
        try:
            return int(await self._bucket.kv.create(key, agent.id.encode()))
        except KeyWrongLastSequenceError:
            pass
        owner = await self._bucket.read(key)
        if owner is not None and isinstance(owner[0], str) and await self._released(tenant, owner[0]):
            with contextlib.suppress(KeyWrongLastSequenceError):  # another registration won
                return int(await self._bucket.kv.update(key, agent.id.encode(), last=owner[1]))
        raise AgentExistsError(f"an agent with uri '{agent.uri}' is registered already")

    async def _released(self, tenant: str, owner_id: str) -> bool:
        """True if the uri's owner is archived, or its record is gone (deleted by hand: records are
        always stored before their uri key, so a registration in progress never looks like this)."""
        previous = await self._bucket.read(agent_key(tenant, owner_id))
        return previous is None or not isinstance(previous[0], Agent) or previous[0].status == "archived"

    @staticmethod
    def _visible(agent: Agent, owner: Entry | None) -> bool:
        return owner == agent.id or agent.status == "archived"


def _decode(key: str, data: bytes) -> Entry | None:
    parsed = parse_agent_key(key)
    if parsed is None:
        return None  # not a key of any tenant's registry: not kept, never read as an agent
    if parsed[1] == AGENT_URI:
        return data.decode("utf-8", errors="replace")
    return read_record(KV_AGENTS, key, data, Agent)
