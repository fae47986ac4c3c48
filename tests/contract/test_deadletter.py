"""The ``jamjet.dlq.decode`` record: one shape from every service, the old shapes still read (real NATS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import streams, subjects
from jamjet_common.codec import decode
from jamjet_common.deadletter import (
    DecodeDeadLetter,
    dead_letter_command,
    dead_letter_decode,
    error_body,
)
from jamjet_common.errors import ContractError, InvalidTokenError
from jamjet_common.messages import ErrorBody, WorkItem
from tests.helpers import eventually


@pytest.fixture
async def dead(nc: NATS) -> AsyncIterator[asyncio.Queue[DecodeDeadLetter]]:
    queue: asyncio.Queue[DecodeDeadLetter] = asyncio.Queue()

    async def collect(msg: Msg) -> None:
        await queue.put(decode(msg.data, DecodeDeadLetter))

    sub = await nc.subscribe(subjects.DLQ_DECODE, cb=collect)
    await nc.flush()
    yield queue
    await sub.unsubscribe()


async def one_message(nc: NATS, subject: str, data: bytes) -> Msg:
    """``data`` as a plain NATS subscriber receives it on ``subject``."""
    sub = await nc.subscribe(subject)
    await nc.publish(subject, data)
    try:
        return await sub.next_msg(timeout=5)
    finally:
        await sub.unsubscribe()


def test_the_shapes_published_before_the_shared_record_are_read() -> None:
    services = b'{"subject": "jamjet.work.gpu", "stream_seq": null, "error": "bad item", "payload": "{",'
    services += b' "service": "worker"}'
    store = b'{"subject": "jamjet.events.t.e", "stream": "JAMJET_EVENTS", "stream_seq": 4, "consumer": "c",'
    store += b' "num_delivered": 1, "error": {"code": "malformed_json", "message": "m"}, "payload": "x",'
    store += b' "payload_truncated": false}'
    old_services, old_store = decode(services, DecodeDeadLetter), decode(store, DecodeDeadLetter)
    assert (old_services.service, old_services.error_text) == ("worker", "bad item")
    assert old_store.error == ErrorBody(code="malformed_json", message="m")
    assert (old_store.service, old_store.stream_seq, old_store.error_text) == (None, 4, "malformed_json: m")


def test_errors_are_recorded_with_their_code() -> None:
    with pytest.raises(msgspec.ValidationError) as invalid:
        msgspec.json.decode(b'{"a": 1}', type=WorkItem)
    assert error_body(invalid.value).code == "invalid_request"
    with pytest.raises(msgspec.DecodeError) as malformed:
        msgspec.json.decode(b"{nope", type=WorkItem)
    assert error_body(malformed.value).code == "malformed_json"
    assert error_body(InvalidTokenError("bad tenant")) == ErrorBody(
        code="invalid_token", message="bad tenant"
    )
    assert error_body(KeyError("k")) == ErrorBody(code="internal_error", message="KeyError: 'k'")


async def test_a_stream_message_is_dead_lettered_with_its_position_and_terminated(
    nc: NATS, provisioned: JetStreamContext, dead: asyncio.Queue[DecodeDeadLetter]
) -> None:
    ack = await provisioned.publish(subjects.work("gpu"), b"{not a work item")
    psub = await provisioned.pull_subscribe(subjects.work("gpu"), durable="dlq-test", stream=streams.WORK)
    [msg] = await psub.fetch(1, timeout=5)
    with pytest.raises(ContractError) as refused:
        decode(msg.data, WorkItem, what="work item")
    await dead_letter_decode(nc, msg, refused.value, "worker")
    record = await asyncio.wait_for(dead.get(), 5)
    assert (record.subject, record.service, record.payload) == (
        "jamjet.work.gpu",
        "worker",
        "{not a work item",
    )
    assert isinstance(record.error, ErrorBody) and record.error.code == "malformed_json"
    assert (record.stream, record.stream_seq, record.num_delivered) == (streams.WORK, ack.seq, 1)
    assert not record.payload_truncated

    async def settled() -> bool:
        info = await provisioned.consumer_info(streams.WORK, "dlq-test")
        return info.num_ack_pending == 0 and info.num_redelivered == 0 and info.num_pending == 0

    await eventually(settled, message="the dead-lettered message was not terminated")


async def test_a_payload_of_any_bytes_fits_the_record_into_one_message(
    nc: NATS, dead: asyncio.Queue[DecodeDeadLetter]
) -> None:
    # Not UTF-8 at all: each byte becomes a four-character escape, four times the message's size.
    msg = await one_message(nc, "jamjet.cmd.garbage", b"\xff" * (nc.max_payload - 1024))
    await dead_letter_decode(nc, msg, msgspec.DecodeError("not JSON"), "scheduler")
    record = await asyncio.wait_for(dead.get(), 5)
    assert record.payload_truncated and record.payload.startswith("\\xff\\xff")
    assert record.stream is None and record.stream_seq is None


async def test_a_command_given_up_keeps_its_error_and_attempts_in_fields(
    nc: NATS, dead: asyncio.Queue[DecodeDeadLetter]
) -> None:
    msg = await one_message(nc, "jamjet.cmd.start", b'{"workflow_id": 5}')
    error = ErrorBody(code="unreadable_record", message="tenant 'x': limits")
    await dead_letter_command(nc, msg, error, "scheduler", attempts=5)
    record = await asyncio.wait_for(dead.get(), 5)
    assert (record.error, record.attempts) == (error, 5)
    assert (record.subject, record.payload, record.service) == (
        "jamjet.cmd.start",
        '{"workflow_id": 5}',
        "scheduler",
    )
    assert dead.empty()
