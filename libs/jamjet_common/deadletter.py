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


UNDECODABLE = frozenset({"malformed_json", "invalid_request", "payload_too_large", "invalid_token"})
"""Error codes meaning the command itself could not be read: it is dead-lettered besides the answer."""


class _ReplyHead(msgspec.Struct, frozen=True):
    ok: bool = True
    error: dict[str, str] | None = None


_REPLY_HEAD = msgspec.json.Decoder(_ReplyHead)


async def dead_letter_unreadable_command(nc: Client, msg: Msg, reply: bytes, service: str) -> None:
    """Keep a command that could not be decoded on the DLQ subject (its sender also got the error)."""
    head = _REPLY_HEAD.decode(reply)
    code = (head.error or {}).get("code", "")
    if head.ok or code not in UNDECODABLE:
        return
    record = DecodeDeadLetter(
        subject=msg.subject,
        stream_seq=msg.metadata.sequence.stream if msg.reply.startswith("$JS.ACK.") else None,
        error=f"{code}: {(head.error or {}).get('message', '')}",
        payload=msg.data.decode("utf-8", errors="replace"),
        service=service,
    )
    await nc.publish(subjects.DLQ_DECODE, ENCODER.encode(record))
