"""The coordinator's view of the agent registry of the execution's tenant (KV bucket ``jamjet_agents``,
keys under ``<tenant>.``), read at each node.

Only live records count: a record whose uri key names another agent lost its registration (see
``services/policy/agents.py``). Another tenant's agents are never candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nats.aio.client import Client

from jamjet_common.bucket import snapshot
from jamjet_common.errors import UnreadableRecordError
from jamjet_common.records import (
    AGENT_RECORD,
    Agent,
    agent_keys_of,
    agent_uri_key,
    parse_agent_key,
    read_record,
)
from jamjet_common.streams import KV_AGENTS

logger = logging.getLogger(__name__)


class KvAgentSource:
    def __init__(self, connection: Callable[[], Client]) -> None:
        self._connection = connection

    async def agents(self, tenant: str) -> list[Agent]:
        """The tenant's live agents, sorted by uri."""
        # Filtered on the tenant's keys: the server sends this registry only, values included.
        entries = await snapshot(self._connection().jetstream(), KV_AGENTS, agent_keys_of(tenant))
        return live(tenant, entries)


def live(tenant: str, entries: dict[str, bytes]) -> list[Agent]:
    """One unreadable record is left out (and logged) rather than failing every coordinator node."""
    records = [
        agent
        for key, value in entries.items()
        if _is_record(tenant, key) and (agent := _readable(key, value)) is not None
    ]
    owned = [
        a for a in records if entries.get(agent_uri_key(tenant, a.uri), b"").decode(errors="replace") == a.id
    ]
    return sorted(owned, key=lambda a: (a.uri, a.id))


def _is_record(tenant: str, key: str) -> bool:
    parsed = parse_agent_key(key)
    return parsed is not None and parsed[0] == tenant and parsed[1] == AGENT_RECORD


def _readable(key: str, value: bytes) -> Agent | None:
    try:
        return read_record(KV_AGENTS, key, value, Agent)
    except UnreadableRecordError as error:
        logger.warning("coordinator: agent record left out: %s", error.message)
        return None
