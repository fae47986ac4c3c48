"""The agent registry, kept in the KV bucket ``jamjet_agents``.

Keys: ``<agent id>`` (uuid4 hex) holds the agent record; ``uri.<sha256 of the card's uri, hex>`` holds
the id of the agent that owns the uri. A registration stores its record first and then creates the
uri key; creating a key is atomic, so of two registrations of one uri exactly one wins, and the loser
deletes its record. A record whose uri key names another agent (a registration that lost, or one cut
short between its two writes) does not exist for any reader, unless it is archived: the uri of an
archived agent may be registered again, and the archived record stays readable by its id.
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
from jamjet_common.records import AGENT_URI_PREFIX, Agent, AgentStatus, agent_uri_key, read_record
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
URI_PREFIX = AGENT_URI_PREFIX


Entry = Agent | str
"""What the bucket holds: agent records, and the owner id of each uri key."""


uri_key = agent_uri_key


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

    def get(self, agent_id: str) -> Agent | None:
        value = self._bucket.get(agent_id)
        if isinstance(value, Agent) and self._visible(value, self._bucket.get(uri_key(value.uri))):
            return value
        return None

    def by_uri(self, uri: str) -> Agent | None:
        owner = self._bucket.get(uri_key(uri))
        return self.get(owner) if isinstance(owner, str) else None

    def resolve(self, ref: str) -> Agent | None:
        """The agent a node's reference names: by id, else by uri."""
        return self.get(ref) or self.by_uri(ref)

    async def find(
        self, status: str | None = None, skill: str | None = None, protocol: str | None = None
    ) -> list[Agent]:
        """Agents matching every filter given, sorted by uri (then id), after catching up with the bucket."""
        await self._bucket.sync()
        agents = [a for v in self._bucket.values() if isinstance(v, Agent) and (a := self.get(v.id))]
        found = [
            agent
            for agent in agents
            if (status is None or agent.status == status)
            and (skill is None or agent.card.has_skill(skill))
            and (protocol is None or agent.card.speaks(protocol))
        ]
        return sorted(found, key=lambda a: (a.uri, a.id))

    # ---- reads and writes of the bucket ------------------------------------------------------------------

    async def read(self, agent_id: str) -> tuple[Agent, int]:
        """The stored agent and its revision, straight from the bucket; raises UnknownAgentError."""
        found = await self._bucket.read(agent_id)
        if found is not None and isinstance(found[0], Agent):
            agent = found[0]
            owner = await self._bucket.read(uri_key(agent.uri))
            if self._visible(agent, owner[0] if owner else None):
                return agent, found[1]
        raise UnknownAgentError(f"agent '{agent_id}' is not registered")

    async def read_by_uri(self, uri: str) -> tuple[Agent, int]:
        owner = await self._bucket.read(uri_key(uri))
        if owner is None or not isinstance(owner[0], str):
            raise UnknownAgentError(f"no agent is registered with uri '{uri}'")
        return await self.read(owner[0])

    async def register(self, card: AgentCard) -> Agent:
        agent = new_agent(card)
        await self._bucket.create(agent.id, agent)
        key = uri_key(card.uri)
        try:
            revision = await self._claim_uri(key, agent)
        except AgentExistsError:
            with contextlib.suppress(Exception):  # left behind, the record is invisible anyway
                await self._bucket.kv.delete(agent.id)
            raise
        self._bucket.remember(key, agent.id, revision)
        logger.info("agent %s registered with uri %s", agent.id, agent.uri)
        return agent

    async def update(self, agent_id: str, change: Callable[[Agent], Agent]) -> Agent:
        """Apply ``change`` to the stored agent; re-read and re-apply if someone else wrote first."""

        def apply(entry: Entry) -> Entry:
            assert isinstance(entry, Agent)
            return change(entry)

        updated = await self._bucket.update(agent_id, lambda: self.read(agent_id), apply)
        assert isinstance(updated, Agent)
        return updated

    async def _claim_uri(self, key: str, agent: Agent) -> int:
        """Point the uri key at ``agent``; a uri owned by an archived agent may be taken over."""
        try:
            return int(await self._bucket.kv.create(key, agent.id.encode()))
        except KeyWrongLastSequenceError:
            pass
        owner = await self._bucket.read(key)
        if owner is not None and isinstance(owner[0], str) and await self._released(owner[0]):
            with contextlib.suppress(KeyWrongLastSequenceError):  # another registration won
                return int(await self._bucket.kv.update(key, agent.id.encode(), last=owner[1]))
        raise AgentExistsError(f"an agent with uri '{agent.uri}' is registered already")

    async def _released(self, owner_id: str) -> bool:
        """True if the uri's owner is archived, or its record is gone (deleted by hand: records are
        always stored before their uri key, so a registration in progress never looks like this)."""
        previous = await self._bucket.read(owner_id)
        return previous is None or not isinstance(previous[0], Agent) or previous[0].status == "archived"

    @staticmethod
    def _visible(agent: Agent, owner: Entry | None) -> bool:
        return owner == agent.id or agent.status == "archived"


def _decode(key: str, data: bytes) -> Entry:
    if key.startswith(URI_PREFIX):
        return data.decode("utf-8", errors="replace")
    return read_record(KV_AGENTS, key, data, Agent)
