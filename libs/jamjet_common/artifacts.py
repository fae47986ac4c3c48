"""Large node outputs stored once per tenant, content-addressed, in the ``jamjet_artifacts`` object store.

An output is stored as its canonical JSON (keys sorted, compact) under the object name
``<tenant>/<lowercase hex SHA-256 of those bytes>``, and the event carries the original runtime's
sentinel in its place::

    {"$artifact": {"hash": "<64 hex>", "size": <bytes>, "media_type": "application/json"}}

A hash is looked up only under the asking tenant's name: another tenant's artifact does not exist for
it, even when it knows the hash, and a put does not tell whether another tenant holds the same bytes.
The same output of one tenant stored twice is one object: a put looks the name up first (and one
process does not write a name twice at once). Two processes racing on the same new output may both
write it; the object is the same either way, and the later write replaces the earlier.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore

from jamjet_common.errors import ContractError
from jamjet_common.errors import NotFoundError as JamjetNotFoundError
from jamjet_common.streams import OBJ_ARTIFACTS
from jamjet_common.subjects import check_token

SENTINEL = "$artifact"
MEDIA_TYPE_JSON = "application/json"
UNRESOLVED = "unresolved"
_HASH = re.compile(r"[0-9a-f]{64}")
_REF_KEYS = frozenset({"hash", "size", "media_type"})
CANONICAL = msgspec.json.Encoder(order="sorted")


class UnknownArtifactError(JamjetNotFoundError):
    code = "unknown_artifact"


class ArtifactQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A ``jamjet.store.artifact`` request."""

    hash: str
    tenant: str | None = None
    """Whose artifact; ``default`` when absent (a tenant's account always asks for its own)."""


def object_name(tenant: str, digest: str) -> str:
    """Where ``tenant``'s artifact ``digest`` is kept in the bucket."""
    return f"{check_token(tenant, 'tenant')}/{check_hash(digest)}"


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    hash: str
    size: int
    media_type: str | None = MEDIA_TYPE_JSON

    def sentinel(self) -> dict[str, Any]:
        return {SENTINEL: {"hash": self.hash, "size": self.size, "media_type": self.media_type}}


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON: object keys sorted, no whitespace."""
    return CANONICAL.encode(value)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_hash(value: str) -> str:
    if _HASH.fullmatch(value) is None:
        raise ContractError("hash must be 64 lowercase hex digits (a SHA-256)", code="invalid_hash")
    return value


def parse_sentinel(value: Any) -> ArtifactRef | None:
    """The reference if ``value`` is exactly a sentinel (the original's strict shape check), else None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ref = value.get(SENTINEL)
    if not isinstance(ref, dict) or not {"hash", "size"} <= ref.keys() <= _REF_KEYS:
        return None
    digest, size, media_type = ref["hash"], ref["size"], ref.get("media_type")
    if not isinstance(digest, str) or _HASH.fullmatch(digest) is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    if media_type is not None and not isinstance(media_type, str):
        return None
    return ArtifactRef(digest, size, media_type)


class ArtifactStore:
    """The artifacts bucket; provisioned by ``streams.ensure_streams``."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._writing: dict[str, asyncio.Lock] = {}

    @classmethod
    async def open(cls, js: JetStreamContext) -> ArtifactStore:
        return cls(await js.object_store(OBJ_ARTIFACTS))

    async def put(self, tenant: str, data: bytes, media_type: str | None = MEDIA_TYPE_JSON) -> ArtifactRef:
        """Store ``tenant``'s ``data`` unless it is there already; its reference either way."""
        ref = ArtifactRef(content_hash(data), len(data), media_type)
        name = object_name(tenant, ref.hash)
        # Two nodes of this process with the same output must not both find it missing and write it.
        lock = self._writing.setdefault(name, asyncio.Lock())
        try:
            async with lock:
                if not await self.exists(tenant, ref.hash):
                    await self._store.put(name, data, meta=ObjectMeta(name=name, description=media_type))
        finally:
            if not lock.locked() and self._writing.get(name) is lock:
                del self._writing[name]
        return ref

    async def exists(self, tenant: str, digest: str) -> bool:
        try:
            await self._store.get_info(object_name(tenant, digest))
        except NotFoundError:
            return False
        return True

    async def media_type(self, tenant: str, digest: str) -> str | None:
        """The media type recorded when the object was first stored (None if unknown or missing)."""
        try:
            info = await self._store.get_info(object_name(tenant, digest))
        except NotFoundError:
            return None
        return info.description or None

    async def get(self, tenant: str, digest: str) -> bytes:
        """``tenant``'s stored bytes; UnknownArtifactError if it has no such object (or it is corrupt)."""
        try:
            result = await self._store.get(object_name(tenant, digest))
        except NotFoundError:
            raise UnknownArtifactError(f"no artifact {digest} is stored") from None
        data = result.data or b""
        if content_hash(data) != digest:
            raise UnknownArtifactError(f"artifact {digest} is stored with different content")
        return data
