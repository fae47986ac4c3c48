"""Content-addressed artifacts of the token's tenant: raw bytes in, their SHA-256 reference out, bytes back
by hash (another tenant's hash is not found)."""

from __future__ import annotations

import re

from starlette.responses import Response

from jamjet_common.artifacts import ArtifactStore, check_hash
from jamjet_common.errors import ContractError
from services.gateway.http import Call, json_response, read_body

OCTETS = "application/octet-stream"
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(;[ -~]{0,256})?"
)


def check_media_type(value: str) -> str:
    """A ``type/subtype[; parameters]`` media type, which is sent back as the Content-Type."""
    if _MEDIA_TYPE.fullmatch(value) is None:
        raise ContractError(f"media type {value[:60]!r} is not type/subtype", code="invalid_media_type")
    return value


def _store(call: Call) -> ArtifactStore:
    store: ArtifactStore = call.request.app.state.artifacts
    return store


async def put_artifact(call: Call) -> Response:
    data = await read_body(call.request, call.backend.config.max_artifact_bytes)
    given = call.request.query_params.get("media_type") or call.request.headers.get("content-type")
    ref = await _store(call).put(call.tenant, data, check_media_type(given) if given else None)
    return json_response({"hash": ref.hash, "size": ref.size, "media_type": ref.media_type}, 201)


async def get_artifact(call: Call) -> Response:
    digest = check_hash(call.param("hash"))
    store = _store(call)
    data = await store.get(call.tenant, digest)
    return Response(data, media_type=await store.media_type(call.tenant, digest) or OCTETS)
