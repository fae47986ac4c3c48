"""Live progress of running nodes on ``jamjet.progress.<tenant>.<execution_id>``.

Progress is not part of the gapless event log: it is published best-effort with a plain NATS publish
(no ack round trip, so a subscriber sees a chunk as soon as the worker reads it). The JAMJET_PROGRESS
stream captures the subject, so a late subscriber can replay what it missed; the durable record is the
node's ``agent_tool_events`` state patch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
import nats.errors
from nats.aio.client import Client as NATS

from jamjet_common import subjects

logger = logging.getLogger(__name__)


class ProgressSink(Protocol):
    """Where executors publish progress events; publishing never fails the node."""

    async def publish(self, tenant: str, execution_id: str, event: dict[str, Any]) -> None: ...


class NullProgressSink:
    """Publishes nothing: for executors run without a bus."""

    async def publish(self, tenant: str, execution_id: str, event: dict[str, Any]) -> None:
        return None


class NatsProgressSink:
    """Publishes each event as one JSON message on the execution's progress subject.

    Takes the client, or a function returning it for executors built before the service connects
    (``NatsProgressSink(lambda: service.nc)``).
    """

    def __init__(self, nc: NATS | Callable[[], NATS]) -> None:
        self._nc = nc if callable(nc) else lambda: nc
        self._encoder = msgspec.json.Encoder()

    async def publish(self, tenant: str, execution_id: str, event: dict[str, Any]) -> None:
        subject = subjects.progress(tenant, execution_id)
        try:
            await self._nc().publish(subject, self._encoder.encode(event))
        except (nats.errors.Error, TypeError, ValueError) as exc:
            logger.warning(
                "%s/%s: progress event %s not published: %s",
                execution_id,
                event.get("node_id"),
                event.get("type"),
                exc,
            )
