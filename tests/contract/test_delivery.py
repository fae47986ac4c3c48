"""A delivery's counters read from its ack subject agree with nats-py's metadata."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError
from nats.js import JetStreamContext

from jamjet_common.delivery import Delivery, delivery


def _from_metadata(msg: Msg) -> Delivery:
    meta = msg.metadata
    return Delivery(meta.sequence.stream, meta.num_delivered, meta.num_pending)


async def test_a_real_delivery_and_its_redelivery_read_as_nats_py_reads_them(js: JetStreamContext) -> None:
    await js.add_stream(name="DELIVERY", subjects=["delivery.>"])
    for n in range(3):
        await js.publish("delivery.x", str(n).encode())
    psub = await js.pull_subscribe("delivery.x", durable="d")
    first = (await psub.fetch(1, timeout=5))[0]
    assert delivery(first) == _from_metadata(first) == (1, 1, 2)
    await first.nak()
    rest: list[Msg] = []
    while len(rest) < 3:  # the nak'ed message comes back after the others or among them
        rest += await psub.fetch(3 - len(rest), timeout=5)
    assert [delivery(m) for m in rest] == [_from_metadata(m) for m in rest]
    assert (1, 2) in [(d.stream_seq, d.num_delivered) for d in map(delivery, rest)]


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.EVENTS.store.3.41.17.1765000000000000000.5",
        "$JS.ACK.hub.ACCHASH.EVENTS.store.3.41.17.1765000000000000000.5.rand0m",
        "$JS.ACK._.ACCHASH.EVENTS.store.3.41.17.1765000000000000000.5",
    ],
)
def test_both_ack_subject_forms_give_the_counters(reply: str) -> None:
    msg = Msg(NATS(), subject="s", reply=reply)
    assert delivery(msg) == _from_metadata(msg) == (41, 3, 5)


@pytest.mark.parametrize("reply", ["", "_INBOX.abc", "$JS.ACK.too.short", "$JS.API.CONSUMER.INFO.A.B.C.D.E"])
def test_a_message_not_delivered_by_a_consumer_is_refused_as_nats_py_refuses_it(reply: str) -> None:
    msg = Msg(NATS(), subject="s", reply=reply)
    with pytest.raises(NotJSMessageError):
        delivery(msg)
    with pytest.raises(NotJSMessageError):
        msg.metadata  # noqa: B018
