"""``bucket.snapshot``: a one-shot read of the keys under a filter, as stored now."""

from __future__ import annotations

import asyncio
import uuid

from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig

from jamjet_common.bucket import snapshot


async def test_a_snapshot_holds_the_filters_live_keys_and_nothing_else(nc: NATS) -> None:
    js = nc.jetstream()
    bucket = f"snap_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=1))
    for key, value in {"a.x": b"1", "a.y": b"2", "a.z": b"3", "b.x": b"4"}.items():
        await kv.put(key, value)
    await kv.put("a.y", b"2b")
    await kv.delete("a.z")
    assert await snapshot(js, bucket, "a.>") == {"a.x": b"1", "a.y": b"2b"}
    assert await snapshot(js, bucket, "c.>") == {}


async def test_snapshots_taken_at_once_each_see_every_key(nc: NATS) -> None:
    """Many at once, the way coordinator nodes read a registry: none may come back short."""
    js = nc.jetstream()
    bucket = f"snap_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=1))
    for i in range(20):
        await kv.put(f"t.agent.{i}", b"x" * 512)
    seen = await asyncio.gather(*(snapshot(js, bucket, "t.>") for _ in range(50)))
    assert [len(s) for s in seen] == [20] * 50
