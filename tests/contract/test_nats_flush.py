"""The flusher's extra turn: a publish made by a task woken with the flusher shares its socket write."""

from __future__ import annotations

import asyncio

import nats
from nats.aio.client import Client as NATS

from jamjet_common import bus, nats_flush  # noqa: F401  (bus installs the flusher on import)
from tests.helpers import eventually


async def test_a_publish_of_a_task_woken_with_the_flusher_shares_its_write(nc: NATS) -> None:
    assert NATS._flusher is nats_flush.flusher
    got: list[bytes] = []

    async def heard(msg: object) -> None:
        got.append(msg.data)  # type: ignore[attr-defined]

    await nc.subscribe("test.flush", cb=heard)
    await nc.flush()
    transport = nc._transport
    assert transport is not None
    writes: list[int] = []
    write = transport.writelines

    def counted(lines: list[bytes]) -> None:
        writes.append(len(lines))
        write(lines)

    transport.writelines = counted  # type: ignore[method-assign]
    try:
        await nc.publish("test.flush", b"1")  # wakes the flusher
        second = asyncio.ensure_future(nc.publish("test.flush", b"2"))  # runs after the flusher wakes
        await second
        await eventually(lambda: len(got) == 2, message=f"heard {got}")
    finally:
        transport.writelines = write  # type: ignore[method-assign]
    assert writes == [2], f"writes of {writes} commands: the second publish took a write of its own"


async def test_a_flusher_cancelled_in_its_turn_still_settles_what_it_took(nats_url: str) -> None:
    client = await nats.connect(nats_url)
    try:
        assert client._flush_queue is not None and client._flusher_task is not None
        loop = asyncio.get_running_loop()
        taken: asyncio.Future[None] = loop.create_future()
        client._flush_queue.put_nowait(taken)  # what a publish queues
        loop.call_soon(client._flusher_task.cancel)  # lands in the flusher's turn
        await asyncio.wait_for(taken, 2.0)
    finally:
        await client.close()
