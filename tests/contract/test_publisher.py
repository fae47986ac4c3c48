"""The lean JetStream publisher answers as nats-py's ``js.publish`` and ``kv.create`` do (real server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import (
    APIError,
    BadRequestError,
    InvalidKeyError,
    KeyWrongLastSequenceError,
    NoStreamResponseError,
)
from nats.js.kv import KeyValue

from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.publisher import (
    EXPECTED_LAST_SUBJECT_SEQ,
    MSG_ID,
    WRONG_LAST_SEQUENCE,
    Ack,
    JsPublisher,
)
from tests.helpers import eventually

SILENT = "silent.requests"
"""A subject whose only subscriber never answers: a publish to it waits for an ack that never comes."""


@pytest.fixture
async def stream(js: JetStreamContext) -> str:
    name = f"PUB_{uuid.uuid4().hex[:8]}"
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    return name


@pytest.fixture
async def publisher(nc: NATS) -> AsyncIterator[JsPublisher]:
    publisher = JsPublisher(nc, timeout=10)
    yield publisher
    await publisher.close()


@pytest.fixture
async def silent(nc: NATS) -> AsyncIterator[None]:
    async def ignore(msg: object) -> None:
        pass

    sub = await nc.subscribe(SILENT, cb=ignore)
    yield
    await sub.unsubscribe()


async def test_a_publish_is_acked_with_its_stream_and_sequence(publisher: JsPublisher, stream: str) -> None:
    first = await publisher.publish(f"{stream}.a", b"1")
    second = await publisher.publish(f"{stream}.b", b"2", {"X-Trace": "t"}, stream=stream)
    assert (first, second) == (Ack(stream, 1), Ack(stream, 2))


async def test_a_repeated_message_id_is_acked_as_a_duplicate_of_the_first(
    publisher: JsPublisher, stream: str
) -> None:
    first = await publisher.publish(f"{stream}.a", b"1", {MSG_ID: "m1"})
    again = await publisher.publish(f"{stream}.a", b"1", {MSG_ID: "m1"})
    assert (first.duplicate, again.duplicate, again.seq) == (False, True, first.seq)


async def test_a_wrong_last_sequence_raises_the_api_error_nats_py_raises(
    publisher: JsPublisher, js: JetStreamContext, stream: str
) -> None:
    await publisher.publish(f"{stream}.a", b"1")
    stale = {EXPECTED_LAST_SUBJECT_SEQ: "0"}
    with pytest.raises(APIError) as ours:
        await publisher.publish(f"{stream}.a", b"2", stale)
    with pytest.raises(APIError) as theirs:
        await js.publish(f"{stream}.a", b"2", headers=dict(stale))
    assert ours.value.err_code == WRONG_LAST_SEQUENCE
    assert isinstance(ours.value, BadRequestError)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


async def test_a_message_for_another_stream_is_refused_as_nats_py_refuses_it(
    publisher: JsPublisher, js: JetStreamContext, stream: str
) -> None:
    with pytest.raises(APIError) as ours:
        await publisher.publish(f"{stream}.a", b"1", stream="ELSEWHERE")
    with pytest.raises(APIError) as theirs:
        await js.publish(f"{stream}.a", b"1", stream="ELSEWHERE")
    assert ours.value.err_code is not None
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


async def test_a_subject_no_stream_stores_raises_no_stream_response(
    publisher: JsPublisher, js: JetStreamContext
) -> None:
    with pytest.raises(NoStreamResponseError):
        await publisher.publish("nowhere.at.all", b"1")
    with pytest.raises(NoStreamResponseError):
        await js.publish("nowhere.at.all", b"1")
    assert publisher.pending == 0


async def test_an_unanswered_publish_times_out_as_nats_py_does_and_is_forgotten(
    publisher: JsPublisher, silent: None
) -> None:
    with pytest.raises(nats.errors.TimeoutError):
        await publisher.publish(SILENT, b"1", timeout=0.2)
    assert publisher.pending == 0


async def test_a_cancelled_wait_is_forgotten(publisher: JsPublisher, silent: None) -> None:
    waiting = asyncio.create_task(publisher.publish(SILENT, b"1", timeout=30))
    await eventually(lambda: publisher.pending == 1, message="the publish never started waiting")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert publisher.pending == 0


async def test_many_concurrent_publishes_are_each_acked(publisher: JsPublisher, stream: str) -> None:
    acks = await asyncio.gather(*(publisher.publish(f"{stream}.{i % 7}", b"x") for i in range(500)))
    assert sorted(ack.seq for ack in acks) == list(range(1, 501))
    assert publisher.pending == 0


async def test_closing_fails_the_waiting_publishes_and_later_ones(nc: NATS, silent: None) -> None:
    publisher = JsPublisher(nc)
    waiting = asyncio.create_task(publisher.publish(SILENT, b"1", timeout=30))
    await eventually(lambda: publisher.pending == 1, message="the publish never started waiting")
    await publisher.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await waiting
    with pytest.raises(nats.errors.ConnectionClosedError):
        await publisher.publish(SILENT, b"2")
    assert publisher.pending == 0


async def test_publishes_go_on_after_the_server_restarts(
    publisher: JsPublisher, nc: NATS, stream: str, nats_server: LocalNatsServer
) -> None:
    await publisher.publish(f"{stream}.a", b"1")
    await nats_server.arestart()

    async def published() -> Ack:
        return await publisher.publish(f"{stream}.a", b"2", {MSG_ID: "after-restart"}, timeout=1)

    ack = await eventually(published, timeout=30, message="no publish went through after the restart")
    assert (ack.seq, nc.stats["reconnects"]) == (2, 1)


@pytest.fixture
async def kv(js: JetStreamContext) -> KeyValue:
    return await js.create_key_value(bucket=f"pub_{uuid.uuid4().hex[:8]}")


async def test_a_key_is_created_once(publisher: JsPublisher, kv: KeyValue) -> None:
    revision = await publisher.create_key(kv, "k.1", b"first")
    with pytest.raises(KeyWrongLastSequenceError):
        await publisher.create_key(kv, "k.1", b"second")
    entry = await kv.get("k.1")
    assert (entry.value, entry.revision) == (b"first", revision)


@pytest.mark.parametrize("remove", ["delete", "purge"])
async def test_a_removed_key_is_created_again(publisher: JsPublisher, kv: KeyValue, remove: str) -> None:
    await publisher.create_key(kv, "k", b"old")
    await getattr(kv, remove)("k")
    revision = await publisher.create_key(kv, "k", b"new")
    entry = await kv.get("k")
    assert (entry.value, entry.revision) == (b"new", revision)


async def test_an_invalid_key_is_refused_before_it_is_sent(publisher: JsPublisher, kv: KeyValue) -> None:
    with pytest.raises(InvalidKeyError):
        await publisher.create_key(kv, "no spaces", b"")
    assert publisher.pending == 0
