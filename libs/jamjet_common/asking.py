"""Asking until answered: a command sent again, unchanged, while the runtime does not answer it.

On a NATS cluster, a command published while the command stream elects a new leader (a few seconds
after its leader died) is not stored; the stream is ``no_ack``, so its sender sees only silence. Silence
means "not known to be stored", so the sender asks again until it gets an answer: a leader election
then costs latency, never the command. That is safe for commands that are idempotent as sent, a start
with an ``execution_id`` above all (starting an id twice answers ``created: false``); a start without
one would start twice. The typed client's ``start`` and any plain client should do the same.

Each attempt carries its own ``Jamjet-Request-Id`` header, so that the stored copy of one attempt is
answered to that attempt's inbox (``jamjet_common.replies``), not to an earlier one nobody waits on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping

import nats.errors
from nats.aio.client import Client

from jamjet_common.errors import JamjetError

REQUEST_ID_HEADER = "Jamjet-Request-Id"
ATTEMPT_TIMEOUT_SECS = 5.0
PAUSE_SECS = 0.25
UNANSWERED = (TimeoutError, nats.errors.NoRespondersError, nats.errors.TimeoutError)


class NotAnsweredError(JamjetError):
    """No attempt was answered before the deadline: the command may or may not have been stored."""

    code = "not_answered"
    retryable = True


async def ask_until_answered(
    nc: Client,
    subject: str,
    data: bytes,
    *,
    deadline_secs: float = 60.0,
    attempt_timeout: float = ATTEMPT_TIMEOUT_SECS,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The answer to ``data`` on ``subject``, asking again after each silence until ``deadline_secs``."""
    give_up = time.monotonic() + deadline_secs
    while True:
        left = give_up - time.monotonic()
        sent = {**(headers or {}), REQUEST_ID_HEADER: uuid.uuid4().hex}
        try:
            msg = await nc.request(subject, data, timeout=max(min(attempt_timeout, left), 0.01), headers=sent)
        except UNANSWERED:
            if give_up - time.monotonic() <= PAUSE_SECS:
                raise NotAnsweredError(
                    f"{subject}: not answered within {deadline_secs:g}s; it may or may not be stored, "
                    "so send it again unchanged"
                ) from None
            await asyncio.sleep(PAUSE_SECS)
            continue
        return msg.data
