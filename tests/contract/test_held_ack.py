"""Acks one behind on a work-queue stream (``jamjet_common.held_ack``), against a real nats-server."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy

from jamjet_common.held_ack import MAX_RIDING, HeldAck
from jamjet_common.publisher import JsPublisher
from tests.helpers import eventually

STREAM = "HELD"
OTHER = "ELSEWHERE"


@pytest.fixture
async def queue(js: JetStreamContext) -> JetStreamContext:
    await js.add_stream(name=STREAM, subjects=["held.>"], retention=RetentionPolicy.WORK_QUEUE)
    await js.add_stream(name=OTHER, subjects=["elsewhere.>"])
    return js


async def delivered(js: JetStreamContext, count: int) -> list[Msg]:
    for i in range(count):
        await js.publish("held.work", str(i).encode())
    psub = await js.pull_subscribe("held.work", durable="c", stream=STREAM)
    return await psub.fetch(count, timeout=5)


async def left(js: JetStreamContext) -> int:
    return (await js.stream_info(STREAM)).state.messages


async def holds(js: JetStreamContext, count: int) -> bool:
    return await left(js) == count


async def test_the_newest_ack_waits_for_the_next_so_that_the_stream_keeps_a_message(
    queue: JetStreamContext,
) -> None:
    first, second = await delivered(queue, 2)
    acks = HeldAck(linger=60)
    await acks.ack(first)
    await acks.ack(second)
    await eventually(lambda: holds(queue, 1), message="the first ack did not go out")
    assert acks.held is second
    await acks.flush()
    await eventually(lambda: holds(queue, 0), message="the flushed ack did not go out")
    assert acks.held is None


async def test_a_held_ack_goes_out_when_the_linger_passes(queue: JetStreamContext) -> None:
    (only,) = await delivered(queue, 1)
    acks = HeldAck(linger=0.05)
    await acks.ack(only)
    assert await left(queue) == 1
    await eventually(lambda: holds(queue, 0), message="the held ack never went out")
    assert acks.held is None


async def test_without_a_linger_every_ack_goes_out_at_once(queue: JetStreamContext) -> None:
    (only,) = await delivered(queue, 1)
    await HeldAck(linger=0).ack(only)
    await eventually(lambda: holds(queue, 0), message="the ack did not go out")


async def test_riding_acks_wait_for_the_connections_next_publish(nc: NATS, queue: JetStreamContext) -> None:
    first, second, third = await delivered(queue, 3)
    acks = HeldAck(linger=60, ride_along=True)
    for msg in (first, second, third):
        await acks.ack(msg)
    await nc.flush()
    assert await left(queue) == 3  # two ride, one is held
    publisher = JsPublisher.for_js(queue)
    publisher.before_publish = acks.release
    await publisher.publish("elsewhere.note", b"", stream=OTHER)
    await eventually(lambda: holds(queue, 1), message="the riding acks did not share the publish")
    assert acks.held is third


async def test_riding_acks_go_out_when_the_linger_passes(queue: JetStreamContext) -> None:
    first, second = await delivered(queue, 2)
    acks = HeldAck(linger=0.05, ride_along=True)
    await acks.ack(first)
    await acks.ack(second)
    await eventually(lambda: holds(queue, 0), message="the riding and held acks never went out")


async def test_past_the_cap_acks_stop_waiting_for_a_ride(queue: JetStreamContext) -> None:
    msgs = await delivered(queue, MAX_RIDING + 3)
    acks = HeldAck(linger=60, ride_along=True)
    for msg in msgs:
        await acks.ack(msg)
    # MAX_RIDING ride and one is held; the two past the cap went out.
    await eventually(lambda: holds(queue, MAX_RIDING + 1), message="acks past the cap were held")
