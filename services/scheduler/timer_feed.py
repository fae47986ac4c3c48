"""The scheduler's timer consumer: each due timer fires on the replica that owns its execution.

All replicas share the one durable consumer of JAMJET_TIMERS, so a timer is in one replica's hands at a
time and, acked once fired, fires once (a redelivery after a crash finds its hold ended: ``timers.due``).
A replica hands a due timer of a partition it does not own back to the consumer at once, for the owner:
a timer's event is planned on, and only the owner plans (conditional appends would keep the log right
anyway, but the planner stamp would name a replica without a lease).

A timer whose firing fails is retried with the commands' backoff; after ``max_attempts`` failures on
this replica it is dead-lettered (``jamjet.dlq.decode``, with the attempts) and terminated, instead of
coming back forever. Failures of the bus itself do not count: an outage must not cost a timer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common.deadletter import dead_letter_command, error_body
from jamjet_common.errors import bus_failure
from jamjet_common.router import retry_delay
from services.scheduler.timers import TimerExpiry

logger = logging.getLogger(__name__)
BUS_RETRY_SECS = 1.0
REMEMBERED = 10000
"""Timers whose failures are counted at most (the oldest count is forgotten first)."""


class TimerFiring:
    def __init__(self, nc: Client, expiry: TimerExpiry, max_attempts: int) -> None:
        self._nc = nc
        self._expiry = expiry
        self._max_attempts = max_attempts
        self._failures: OrderedDict[int, int] = OrderedDict()

    async def on_msg(self, msg: Msg) -> None:
        try:
            await self._expiry.on_msg(msg)
        except Exception as exc:
            await self._failed(msg, exc)
            return
        self._failures.pop(msg.metadata.sequence.stream, None)

    async def _failed(self, msg: Msg, exc: Exception) -> None:
        if bus_failure(exc):
            logger.warning("timer on %s: the bus failed (%r); it will be redelivered", msg.subject, exc)
            await msg.nak(delay=BUS_RETRY_SECS)
            return
        seq = msg.metadata.sequence.stream
        attempts = self._failures.pop(seq, 0) + 1
        if attempts >= self._max_attempts:
            logger.error("timer on %s: gave up after %d attempts: %r", msg.subject, attempts, exc)
            await dead_letter_command(self._nc, msg, error_body(exc), "scheduler", attempts=attempts)
            await msg.term()
            return
        logger.exception("timer on %s failed (attempt %d); it will be redelivered", msg.subject, attempts)
        self._failures[seq] = attempts
        if len(self._failures) > REMEMBERED:
            self._failures.popitem(last=False)
        await msg.nak(delay=retry_delay(attempts, None))
