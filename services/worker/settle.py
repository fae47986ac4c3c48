"""The one place where the fate of a work item becomes a JetStream ack, nak or term."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from nats.aio.msg import Msg

from jamjet_common.held_ack import HeldAck

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["ack", "redeliver", "term", "leave"]
    delay: float = 0.0
    """For ``redeliver``: seconds until JetStream delivers the item again."""

    @classmethod
    def redeliver(cls, delay: float = 0.0) -> Verdict:
        return cls("redeliver", delay)


DONE = Verdict("ack")
"""The dispatch has its outcome (or is held for approval): the item leaves the queue."""
DROP = Verdict("term")
"""The dispatch failed for good, or the item is unreadable: the item leaves the queue."""
RELEASE = Verdict.redeliver()
"""Not this worker's to finish (shutting down): let another worker take it at once."""
LEAVE = Verdict("leave")
"""Another worker holds the item now (it found this worker's lease lapsed): settling it is theirs."""


async def settle(msg: Msg, verdict: Verdict, acks: HeldAck | None = None) -> None:
    """Apply ``verdict``; a failure to do so only means JetStream redelivers after the lease.

    ``acks``: where an ack waits for the next one (``jamjet_common.held_ack``), if anywhere.
    """
    if verdict.action == "leave":
        return
    try:
        if verdict.action == "ack" and acks is not None:
            await acks.ack(msg)
        elif verdict.action == "ack":
            await msg.ack()
        elif verdict.action == "term":
            await msg.term()
        else:
            await msg.nak(delay=verdict.delay or None)
    except Exception as exc:
        logger.warning("could not %s work item %s: %s", verdict.action, msg.subject, exc)
