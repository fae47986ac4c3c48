"""Messages that cannot be decoded (or stored) go to ``jamjet.dlq.decode``, never block their consumer.

Every service publishes the one record below; the event store reads it into ``dead_letters``.
"""

from __future__ import annotations

import logging
from typing import Self

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common import subjects
from jamjet_common.codec import DECODE_ERRORS, ENCODER, decode_error
from jamjet_common.errors import JamjetError
from jamjet_common.messages import ErrorBody

logger = logging.getLogger(__name__)

JS_ACK_PREFIX = "$JS.ACK."
"""The reply subject of a message delivered by a JetStream consumer."""
ENVELOPE_BYTES = 4096
"""Room for the record's other fields: the payload is cut so that the record fits a NATS message."""
FLUSH_SECS = 5


class DecodeDeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A record of ``jamjet.dlq.decode``: the message, why it was refused, and where it came from.

    Records published before this shape was shared are read too: the services' had ``error`` as a plain
    string, the event store's had no ``service``.
    """

    subject: str
    error: ErrorBody | str
    payload: str
    """The message as text (bytes that are not UTF-8 backslash-escaped); cut when ``payload_truncated``."""
    service: str | None = None
    stream: str | None = None
    """Set when the message came from a JetStream consumer, as are ``stream_seq`` and ``num_delivered``."""
    stream_seq: int | None = None
    num_delivered: int | None = None
    consumer: str | None = None
    payload_truncated: bool = False
    attempts: int | None = None
    """A command given up after this many failed attempts (the poison-message policy)."""

    @classmethod
    def of(
        cls,
        msg: Msg,
        error: ErrorBody,
        service: str,
        *,
        max_payload: int,
        consumer: str | None = None,
        attempts: int | None = None,
    ) -> Self:
        payload, truncated = fitted_payload(msg.data, max(max_payload - ENVELOPE_BYTES, 1024))
        meta = msg.metadata if from_stream(msg) else None
        return cls(
            subject=msg.subject,
            error=error,
            payload=payload,
            service=service,
            stream=meta.stream if meta else None,
            stream_seq=meta.sequence.stream if meta else None,
            num_delivered=meta.num_delivered if meta else None,
            consumer=consumer,
            payload_truncated=truncated,
            attempts=attempts,
        )

    @property
    def error_text(self) -> str:
        """``<code>: <message>`` (an old record: its error string), for people and ``last_error``."""
        if isinstance(self.error, str):
            return self.error
        return f"{self.error.code}: {self.error.message}"


def from_stream(msg: Msg) -> bool:
    return bool(msg.reply) and msg.reply.startswith(JS_ACK_PREFIX)


def payload_text(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


def fitted_payload(data: bytes, limit: int) -> tuple[str, bool]:
    """``data`` as text whose JSON encoding takes at most ``limit`` bytes, and whether it was cut.

    Escapes make the text longer than the bytes (``\\xff`` for one byte that is not UTF-8).
    """
    text = payload_text(data[:limit])
    truncated = len(data) > limit
    while len(ENCODER.encode(text)) > limit:
        text, truncated = text[: len(text) // 2], True
    return text, truncated


def error_body(error: BaseException) -> ErrorBody:
    """The code and message a dead letter records for ``error``."""
    if isinstance(error, DECODE_ERRORS):
        error = decode_error(error)
    if isinstance(error, JamjetError):
        return ErrorBody(code=error.code, message=error.message)
    return ErrorBody(code=JamjetError.code, message=f"{type(error).__name__}: {error}")


async def publish_decode_dead_letter(nc: Client, record: DecodeDeadLetter) -> None:
    """Publish and flush: the message it keeps may be terminated once this returns."""
    await nc.publish(subjects.DLQ_DECODE, ENCODER.encode(record))
    await nc.flush(timeout=FLUSH_SECS)


async def dead_letter_decode(nc: Client, msg: Msg, error: BaseException, service: str) -> None:
    """Publish ``msg`` with the error it caused to the DLQ subject and terminate it if it is a JS message."""
    record = DecodeDeadLetter.of(msg, error_body(error), service, max_payload=nc.max_payload)
    logger.error("undecodable message on %s (seq %s): %s", msg.subject, record.stream_seq, record.error_text)
    await publish_decode_dead_letter(nc, record)
    if record.stream is not None:
        await msg.term()


async def dead_letter_command(
    nc: Client, msg: Msg, error: ErrorBody, service: str, *, attempts: int | None = None
) -> None:
    """Keep a command that was not carried out on the DLQ subject, with the reason (its sender got it too).

    ``attempts`` is set when the command was given up after that many failed attempts.
    """
    record = DecodeDeadLetter.of(msg, error, service, max_payload=nc.max_payload, attempts=attempts)
    await publish_decode_dead_letter(nc, record)
