"""The coordinator's view of the agent registry (KV bucket ``jamjet_agents``), read at each node.

Only live records count: a record whose uri key names another agent lost its registration (see
``services/policy/agents.py``). The registry is one per deployment, not per tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, NoKeysError

from jamjet_common.errors import UnreadableRecordError
from jamjet_common.records import AGENT_URI_PREFIX, Agent, agent_uri_key, read_record
from jamjet_common.streams import KV_AGENTS

logger = logging.getLogger(__name__)


class KvAgentSource:
    def __init__(self, connection: Callable[[], Client]) -> None:
        self._connection = connection

    async def agents(self) -> list[Agent]:
        """The live agents, sorted by uri."""
        kv = await self._connection().jetstream().key_value(KV_AGENTS)
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        entries: dict[str, bytes] = {}
        for key in keys:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                continue
            if entry.value is not None:
                entries[key] = entry.value
        return live(entries)


def live(entries: dict[str, bytes]) -> list[Agent]:
    """One unreadable record is left out (and logged) rather than failing every coordinator node."""
    records = [
        agent
        for key, value in entries.items()
        if not key.startswith(AGENT_URI_PREFIX) and (agent := _readable(key, value)) is not None
    ]
    owned = [a for a in records if entries.get(agent_uri_key(a.uri), b"").decode(errors="replace") == a.id]
    return sorted(owned, key=lambda a: (a.uri, a.id))


def _readable(key: str, value: bytes) -> Agent | None:
    try:
        return read_record(KV_AGENTS, key, value, Agent)
    except UnreadableRecordError as error:
        logger.warning("coordinator: agent record left out: %s", error.message)
        return None
