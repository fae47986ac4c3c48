"""Everything on the EVENTS stream, as seen by a durable consumer of the test's own.

A durable consumer (file storage) survives a nats-server restart; acks lost in a restart only cause
redeliveries, which are dropped by stream sequence. Whatever the consumer still missed at the end is
read back by direct gets, so the collected events are the whole stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from jamjet_common import streams, subjects

logger = logging.getLogger(__name__)

CONSUMER = "jamjet-faults-watch"
FETCH_BATCH = 256
FETCH_TIMEOUT = 0.5
TERMINAL_KINDS = {
    "workflow_completed": "completed",
    "workflow_failed": "failed",
    "workflow_cancelled": "cancelled",
}
OUTCOME_KINDS = {"node_completed", "node_failed", "node_cancelled"}

Event = dict[str, Any]


class Watcher:
    """Collects every event by stream sequence, and tracks what is terminal and what runs where."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.events: dict[int, Event] = {}
        self.terminal: dict[str, str] = {}
        self.running: dict[tuple[str, str], str] = {}
        """(execution_id, node_id) -> worker id of a NodeStarted with no outcome yet."""
        self.kinds: Counter[str] = Counter()
        self._psub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=CONSUMER,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.ALL,
            ack_wait=10.0,
            max_ack_pending=-1,
            filter_subject=subjects.EVENTS_ALL,
        )
        await self._js.add_consumer(streams.EVENTS, config=config)
        self._psub = await self._js.pull_subscribe_bind(CONSUMER, stream=streams.EVENTS)
        self._task = asyncio.create_task(self._loop(), name="faults-watch")

    async def stop(self) -> None:
        # A flag, not only cancel(): on Python 3.11 a cancellation can be lost inside nats-py's fetch
        # (asyncio.wait_for), and a test's teardown must never hang on it.
        self._closing = True
        if self._task is not None:
            _, pending = await asyncio.wait({self._task}, timeout=4 * FETCH_TIMEOUT)
            for task in pending:
                task.cancel()
        if self._psub is not None:
            with contextlib.suppress(Exception):
                await self._psub.unsubscribe()

    async def _loop(self) -> None:
        assert self._psub is not None
        while not self._closing:
            try:
                msgs = await self._psub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT)
            except TimeoutError:
                continue
            except Exception as exc:  # nats-server restarting; the client reconnects by itself
                logger.debug("watch fetch failed: %r", exc)
                await asyncio.sleep(0.2)
                continue
            self._take_all(msgs)

    def _take_all(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            self.take(msg.metadata.sequence.stream, msg.data)
        if msgs:
            task = asyncio.ensure_future(msgs[-1].ack())
            task.add_done_callback(_ignore_failure)

    def take(self, stream_seq: int, data: bytes) -> None:
        if stream_seq in self.events:
            return
        event: Event = json.loads(data)
        self.events[stream_seq] = event
        self._track(event)

    def _track(self, event: Event) -> None:
        kind = event["kind"]
        kind_type, execution_id = kind["type"], event["execution_id"]
        self.kinds[kind_type] += 1
        if kind_type in TERMINAL_KINDS:
            self.terminal.setdefault(execution_id, TERMINAL_KINDS[kind_type])
        elif kind_type == "node_started":
            self.running[(execution_id, kind["node_id"])] = kind["worker_id"]
        elif kind_type in OUTCOME_KINDS:
            self.running.pop((execution_id, kind["node_id"]), None)

    def in_flight(self, worker_id: str) -> int:
        return sum(1 for owner in self.running.values() if owner == worker_id)

    async def complete(self) -> str | None:
        """Read whatever the consumer missed; None if the stream is now fully collected, else why not."""
        info = await self._js.stream_info(streams.EVENTS)
        last_seq, messages = info.state.last_seq, info.state.messages
        for seq in range(1, last_seq + 1):
            if seq not in self.events:
                await self._backfill(seq)
        collected = sum(1 for seq in self.events if seq <= last_seq)
        if collected != messages:
            return f"collected {collected} events but the stream holds {messages} (last seq {last_seq})"
        return None

    async def _backfill(self, seq: int) -> None:
        with contextlib.suppress(NotFoundError):
            msg = await self._js.get_msg(streams.EVENTS, seq=seq, direct=True)
            assert msg.data is not None
            self.take(seq, msg.data)

    def by_execution(self) -> dict[str, list[Event]]:
        """Every collected event, per execution, in stream order."""
        out: dict[str, list[Event]] = {}
        for seq in sorted(self.events):
            event = self.events[seq]
            out.setdefault(event["execution_id"], []).append(event)
        return out


def _ignore_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
