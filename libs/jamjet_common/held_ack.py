"""Acknowledging a work-queue consumer's messages one behind, so that the stream does not empty.

On a work-queue stream an ack removes the message. When it was the last message of the stream's last
file block, nats-server's file store deletes that block's file and creates a new one, with the stream
locked: measured here, a publish-fetch-ack cycle costs nats-server 520-575 µs of CPU that way against
350-390 µs when the stream keeps one other message. A chain of steps, one message at a time, pays it
on every ack: in W1, four times a step (three events at the scheduler, one work item at the worker).

So the newest acknowledged message is held back until the next one is acknowledged, or for at most
``linger`` seconds (one timer, armed by the first ack it holds, not re-armed per ack). While messages
flow, the stream keeps one but for a moment each ``linger``. A held message is
done: if the process dies before its ack goes out, its redelivery finds it done (the scheduler's fold
skips an event it has, the worker finds the dispatch's outcome in the log), as after any lost ack.

With ``ride_along``, the acks behind the newest also wait: for the connection's next publish, whose
socket write they then share (``release``, which the scheduler's ``JsPublisher.before_publish`` calls),
for the linger, or until ``MAX_RIDING`` wait. A W1 step wrote the scheduler's socket twice, the chain
and then the acks of its own events; now 1.2 times.
"""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.msg import Msg

DEFAULT_LINGER_SECS = 0.2
MAX_RIDING = 64
"""Acks waiting for a ride at most: past it they go out at once (a consumer caps its unacked messages)."""


class HeldAck:
    """Acks messages one behind: the newest waits for the next ack, or at most ``linger`` seconds."""

    def __init__(self, linger: float = DEFAULT_LINGER_SECS, *, ride_along: bool = False) -> None:
        self._linger = linger
        self._ride_along = ride_along
        self._riding: list[Msg] = []
        """Acks that wait for the connection's next publish (``release``), to share its write."""
        self._held: Msg | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> Msg | None:
        return self._held

    async def ack(self, msg: Msg) -> None:
        """Acknowledge ``msg`` (later); the message held until now goes out at once."""
        if self._linger <= 0:
            await _ack(msg)
            return
        previous, self._held = self._held, msg
        self._arm()
        if previous is None:
            return
        if self._ride_along and len(self._riding) < MAX_RIDING:
            self._riding.append(previous)
        else:
            await _ack(previous)

    async def release(self) -> None:
        """Send the acks waiting for a ride: the connection is about to publish, and they share its write."""
        riding, self._riding = self._riding, []
        for msg in riding:
            await _ack(msg)

    async def flush(self) -> None:
        """Send every ack now (the linger passed, or the process is stopping)."""
        await self.release()
        held, self._held = self._held, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if held is not None:
            await _ack(held)

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._expired)

    def _expired(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)


async def _ack(msg: Msg) -> None:
    # A lost ack only means a redelivery, which finds the message's work done.
    with contextlib.suppress(Exception):
        await msg.ack()
