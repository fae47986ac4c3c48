"""A JetStream delivery's counters, read straight from its ack subject.

nats-py's ``Msg.metadata`` builds two dataclasses and a datetime per message; the hot paths need one or
two integers of it (a few percent of the event store's CPU went to it).
"""

from __future__ import annotations

from typing import NamedTuple

from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

V1_TOKENS = 9
"""``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``"""
V2_MIN_TOKENS = 11
"""``$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>...`` (and a random token)"""


class Delivery(NamedTuple):
    stream_seq: int
    num_delivered: int
    num_pending: int


def delivery(msg: Msg) -> Delivery:
    """What ``msg.metadata`` would say of these three; raises ``NotJSMessageError`` as it does."""
    tokens = (msg.reply or "").split(".")
    if tokens[0] != "$JS" or len(tokens) < 2 or tokens[1] != "ACK":
        raise NotJSMessageError
    if len(tokens) == V1_TOKENS:
        first = 4
    elif len(tokens) >= V2_MIN_TOKENS:
        first = 6
    else:
        raise NotJSMessageError
    return Delivery(int(tokens[first + 1]), int(tokens[first]), int(tokens[first + 4]))
