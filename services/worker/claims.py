"""Which worker commits a dispatch's outcome: the first to create the dispatch's key in the outcomes bucket.

JetStream's duplicate window makes a repeated append of one outcome a no-op only for a while, and two
workers racing one dispatch have different outcomes to append anyway. Creating a KV key succeeds once,
whenever the second try comes. The value is the claimed outcome itself, so that any worker can finish
the commit of a claimant that died between claiming and appending.
"""

from __future__ import annotations

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common.codec import ENCODER
from jamjet_common.errors import JamjetError
from jamjet_common.events import EventKind
from jamjet_common.messages import WorkItem

KIND_DECODER = msgspec.json.Decoder(EventKind)
CLAIM_TRIES = 3


def claim_key(item: WorkItem) -> str:
    return f"{item.execution_id}.{item.dispatch}"


class OutcomeClaims:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def claim(self, item: WorkItem, outcome: EventKind) -> EventKind | None:
        """Claim the dispatch for ``outcome``: None if won, else the outcome claimed first."""
        for _ in range(CLAIM_TRIES):
            try:
                await self._kv.create(claim_key(item), ENCODER.encode(outcome))
                return None
            except KeyWrongLastSequenceError:
                claimed = await self.claimed(item)
                if claimed is not None:
                    return claimed
            # The key expired between the create and the read: try again.
        raise JamjetError(f"could not claim dispatch {item.item_id}: its claim keeps vanishing")

    async def claimed(self, item: WorkItem) -> EventKind | None:
        """The outcome claimed for the dispatch, if any."""
        try:
            entry = await self._kv.get(claim_key(item))
        except KeyNotFoundError:
            return None
        kind: EventKind = KIND_DECODER.decode(entry.value or b"")
        return kind
