"""The artifacts bucket and the sentinel shape, against a real nats-server."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from nats.aio.client import Client

from jamjet_common.artifacts import (
    ArtifactRef,
    ArtifactStore,
    UnknownArtifactError,
    canonical_json,
    parse_sentinel,
)
from jamjet_common.config import Env
from jamjet_common.streams import OBJ_ARTIFACTS, StreamLimits, ensure_streams

HASH = "a" * 64


@pytest.fixture
async def store(nc: Client) -> ArtifactStore:
    js = nc.jetstream()
    limits = StreamLimits.from_env(Env({}))
    await ensure_streams(js, limits)
    await ensure_streams(js, limits)  # provisioning twice is harmless
    return await ArtifactStore.open(js)


async def test_put_is_content_addressed_and_round_trips(store: ArtifactStore) -> None:
    data = canonical_json({"b": [1, 2, {"z": None, "y": "é"}], "a": 1.5})
    ref = await store.put("default", data)
    assert data == '{"a":1.5,"b":[1,2,{"y":"é","z":null}]}'.encode()
    assert ref == ArtifactRef(hashlib.sha256(data).hexdigest(), len(data), "application/json")
    assert await store.get("default", ref.hash) == data


async def test_the_same_bytes_are_stored_once(store: ArtifactStore, nc: Client) -> None:
    data = b'{"x":"' + b"y" * 200_000 + b'"}'  # two chunks
    first, second = await store.put("acme", data), await store.put("acme", data)
    assert first == second
    js = nc.jetstream()
    assert len(await (await js.object_store(OBJ_ARTIFACTS)).list()) == 1
    info = await js.stream_info(f"OBJ_{OBJ_ARTIFACTS}")
    assert info.state.messages == 3  # two chunks and one meta message: nothing written twice


async def test_a_missing_artifact_is_unknown(store: ArtifactStore) -> None:
    with pytest.raises(UnknownArtifactError) as caught:
        await store.get("default", HASH)
    assert caught.value.code == "unknown_artifact"


@pytest.mark.parametrize(
    "value",
    [
        {"$artifact": {"hash": HASH, "size": 10, "media_type": "application/json"}},
        {"$artifact": {"hash": HASH, "size": 0, "media_type": None}},
        {"$artifact": {"hash": HASH, "size": 10}},
    ],
)
def test_sentinels_are_recognised(value: dict[str, Any]) -> None:
    assert parse_sentinel(value) == ArtifactRef(
        HASH, value["$artifact"]["size"], value["$artifact"].get("media_type")
    )


@pytest.mark.parametrize(
    "value",
    [
        {"$artifact": {"hash": HASH.upper(), "size": 10}},
        {"$artifact": {"hash": HASH[:-1], "size": 10}},
        {"$artifact": {"hash": HASH, "size": -1}},
        {"$artifact": {"hash": HASH, "size": True}},
        {"$artifact": {"hash": HASH, "size": 10, "extra": 1}},
        {"$artifact": {"hash": HASH, "size": 10}, "other": 1},
        {"$artifact": {"size": 10}},
        {"$artifact": HASH},
        [{"$artifact": {"hash": HASH, "size": 10}}],
    ],
)
def test_anything_else_is_not_a_sentinel(value: Any) -> None:
    assert parse_sentinel(value) is None


async def test_concurrent_puts_of_new_bytes_write_once(store: ArtifactStore, nc: Client) -> None:
    data = canonical_json({"concurrent": "z" * 10_000})
    refs = await asyncio.gather(*(store.put("acme", data) for _ in range(5)))
    assert len(set(refs)) == 1
    info = await nc.jetstream().stream_info(f"OBJ_{OBJ_ARTIFACTS}")
    assert info.state.messages == 2


async def test_an_artifact_is_its_tenants_only(store: ArtifactStore, nc: Client) -> None:
    """Knowing the hash is not enough: another tenant's artifact does not exist for this one."""
    data = canonical_json({"secret": "acme's"})
    ref = await store.put("acme", data)
    for other in ("globex", "default"):
        with pytest.raises(UnknownArtifactError):
            await store.get(other, ref.hash)
        assert not await store.exists(other, ref.hash)
        assert await store.media_type(other, ref.hash) is None
    # The same bytes from another tenant are its own object, not a sign that acme holds them.
    assert await store.put("globex", data) == ref
    assert len(await (await nc.jetstream().object_store(OBJ_ARTIFACTS)).list()) == 2
    assert await store.get("acme", ref.hash) == await store.get("globex", ref.hash) == data
