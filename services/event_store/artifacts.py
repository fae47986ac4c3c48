"""Artifacts on read: ``$artifact`` sentinels in stored events resolved back into their outputs, and
the ``jamjet.store.artifact`` query; both read the tenant's own artifacts only (the execution's tenant,
or the query's: a tenant's account always asks as itself).

Events are stored as recorded, sentinel and all (as the original); a reply carries the output itself.
A sentinel that cannot be resolved (the object is missing or unreadable, or the output would not fit
in a reply) stays in place with ``"unresolved": true`` added inside ``$artifact``.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import msgspec
from nats.errors import Error as NatsError

from jamjet_common import subjects
from jamjet_common.artifacts import (
    SENTINEL,
    UNRESOLVED,
    ArtifactQuery,
    ArtifactRef,
    check_hash,
    parse_sentinel,
)
from jamjet_common.codec import ENCODER, ok_reply
from jamjet_common.errors import ContractError, JamjetError
from jamjet_common.messages import DEFAULT_TENANT
from services.event_store.querykit import request

logger = logging.getLogger(__name__)

_MARKER = b'"' + SENTINEL.encode() + b'"'
_EVENT_DECODER = msgspec.json.Decoder(dict[str, Any])
REPLY_ROOM_BYTES = 256
"""Room in an artifact reply for everything but the artifact's JSON."""


class ArtifactSource(Protocol):
    async def get(self, tenant: str, digest: str) -> bytes: ...


class ArtifactResolver:
    def __init__(self, source: ArtifactSource, max_reply_bytes: int) -> None:
        self._source = source
        self._budget = max_reply_bytes

    async def artifact(self, data: bytes) -> bytes:
        """The ``jamjet.store.artifact`` reply: the artifact's JSON under ``value``."""
        query = request(data, ArtifactQuery, "artifact query")
        digest = check_hash(query.hash)
        tenant = subjects.check_token(query.tenant or DEFAULT_TENANT, "tenant")
        try:
            stored = await self._source.get(tenant, digest)
        except NatsError as exc:
            raise JamjetError(
                f"the artifacts bucket is unavailable: {exc!r}", code="artifacts_unavailable"
            ) from exc
        if len(stored) + REPLY_ROOM_BYTES > self._budget:
            raise ContractError(
                f"artifact {digest} is {len(stored)} bytes, more than a reply can carry",
                code="reply_too_large",
            )
        return ok_reply(
            hash=digest, size=len(stored), media_type="application/json", value=msgspec.Raw(stored)
        )

    async def resolve_page(self, tenant: str, events: list[bytes], budget: int) -> list[bytes]:
        """``events`` of ``tenant``'s execution resolved in order, up to and including the first that
        takes the page past ``budget``.

        The page is cut there anyway; resolving the events behind the cut would only cost reads.
        """
        resolved: list[bytes] = []
        size = 0
        for event in events:
            resolved.append(await self.resolve(tenant, event, budget))
            size += len(resolved[-1]) + 1
            if size > budget:
                break
        return resolved

    async def resolve(self, tenant: str, event: bytes, budget: int) -> bytes:
        """``event`` (wire JSON) with a spilled ``NodeCompleted`` output put back, if it fits ``budget``."""
        if _MARKER not in event:
            return event
        decoded = _EVENT_DECODER.decode(event)
        kind = decoded.get("kind")
        ref = parse_sentinel(kind.get("output")) if isinstance(kind, dict) else None
        if ref is None or not isinstance(kind, dict):
            return event
        kind["output"] = await self._value(tenant, decoded, ref, budget - len(event))
        return ENCODER.encode(decoded)

    async def _value(self, tenant: str, event: dict[str, Any], ref: ArtifactRef, room: int) -> Any:
        label = f"{event.get('execution_id')}#{event.get('sequence')}"
        try:
            stored = await self._source.get(tenant, ref.hash)
        except Exception as exc:  # whatever went wrong, the event is still worth returning
            logger.warning("%s: artifact %s not resolved: %s", label, ref.hash, exc)
            return _unresolved(ref)
        if len(stored) > room:
            logger.info(
                "%s: artifact %s (%d bytes) is too large to inline in a reply", label, ref.hash, len(stored)
            )
            return _unresolved(ref)
        return msgspec.Raw(stored)


def _unresolved(ref: ArtifactRef) -> dict[str, Any]:
    sentinel = ref.sentinel()
    sentinel[SENTINEL][UNRESOLVED] = True
    return sentinel
