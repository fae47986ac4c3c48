"""Messages that cannot be decoded go to a dead-letter subject, never block their consumer."""

from __future__ import annotations

import logging

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common import subjects
from jamjet_common.codec import ENCODER

logger = logging.getLogger(__name__)


class DecodeDeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    stream_seq: int | None
    error: str
    payload: str
    service: str


async def dead_letter_decode(nc: Client, msg: Msg, error: str, service: str) -> None:
    """Publish ``msg`` with its decode error to the DLQ subject and terminate it if it is a JS message."""
    from_stream = msg.reply.startswith("$JS.ACK.")
    seq = msg.metadata.sequence.stream if from_stream else None
    record = DecodeDeadLetter(
        subject=msg.subject,
        stream_seq=seq,
        error=error,
        payload=msg.data.decode("utf-8", errors="replace"),
        service=service,
    )
    logger.error("undecodable message on %s (seq %s): %s", msg.subject, seq, error)
    await nc.publish(subjects.DLQ_DECODE, ENCODER.encode(record))
    if from_stream:
        await msg.term()


async def dead_letter_command(nc: Client, msg: Msg, reason: str, service: str) -> None:
    """Keep a command that was not carried out on the DLQ subject, with the reason (its sender got it too)."""
    record = DecodeDeadLetter(
        subject=msg.subject,
        stream_seq=msg.metadata.sequence.stream if msg.reply.startswith("$JS.ACK.") else None,
        error=reason,
        payload=msg.data.decode("utf-8", errors="replace"),
        service=service,
    )
    await nc.publish(subjects.DLQ_DECODE, ENCODER.encode(record))
