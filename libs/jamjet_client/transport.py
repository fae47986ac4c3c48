"""One request/reply exchange with the runtime, its answer decoded into a typed reply or error."""

from __future__ import annotations

from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client

from jamjet_client.errors import Unavailable, error_for
from jamjet_common.codec import decoder, encode
from jamjet_common.messages import ErrorBody


class _Envelope(msgspec.Struct, frozen=True):
    ok: bool = False
    error: ErrorBody | None = None


async def ask[T](
    nc: Client,
    subject: str,
    body: Any,
    reply_type: type[T],
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> T:
    """Send ``body`` on ``subject`` and return the answer as ``reply_type``; raise the typed error."""
    try:
        msg = await nc.request(subject, encode(body), timeout=timeout, headers=headers)
    except nats.errors.NoRespondersError:
        raise Unavailable("unavailable", f"no service answers {subject}", subject=subject) from None
    except TimeoutError:
        raise Unavailable("timeout", f"no answer on {subject} within {timeout:g}s", subject=subject) from None
    return parse(msg.data, subject, reply_type)


def parse[T](data: bytes, subject: str, reply_type: type[T]) -> T:
    try:
        envelope = decoder(_Envelope).decode(data)
        if not envelope.ok:
            error = envelope.error or ErrorBody(code="internal_error", message="error reply without error")
            raise error_for(error.code, error.message, subject=subject)
        return decoder(reply_type).decode(data)
    except msgspec.DecodeError as exc:
        # A reply this client cannot read is the runtime's fault, not the caller's.
        raise Unavailable("internal_error", f"unreadable reply on {subject}: {exc}", subject=subject) from exc
