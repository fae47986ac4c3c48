"""Who commits a dispatch's outcome: the first to create the dispatch's key in KV ``jamjet_outcomes``.

JetStream's duplicate window makes a repeated append of one outcome a no-op only for a while, and two
workers racing one dispatch have different outcomes to append anyway. Creating a KV key succeeds once,
whenever the second try comes. The value is the claimed outcome itself, so that any worker can finish
the commit of a claimant that died between claiming and appending. Workers claim before committing an
outcome, the scheduler before recording a work item it withdrew as cancelled.
"""

from __future__ import annotations

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common.codec import ENCODER
from jamjet_common.dedup import DispatchKeys
from jamjet_common.errors import JamjetError
from jamjet_common.events import EventKind
from jamjet_common.publisher import JsPublisher

KIND_DECODER = msgspec.json.Decoder(EventKind)
CLAIM_TRIES = 3


class OutcomeClaims:
    def __init__(self, kv: KeyValue, publisher: JsPublisher | None = None) -> None:
        self._kv = kv
        self._publisher = publisher or JsPublisher.for_kv(kv)

    async def claim(self, keys: DispatchKeys, outcome: EventKind) -> EventKind | None:
        """Claim the dispatch for ``outcome``: None if won, else the outcome claimed first."""
        for _ in range(CLAIM_TRIES):
            try:
                await self._publisher.create_key(self._kv, keys.claim, ENCODER.encode(outcome))
                return None
            except KeyWrongLastSequenceError:
                claimed = await self.claimed(keys)
                if claimed is not None:
                    return claimed
            # The key expired between the create and the read: try again.
        raise JamjetError(f"could not claim dispatch {keys.work}: its claim keeps vanishing")

    async def claimed(self, keys: DispatchKeys) -> EventKind | None:
        """The outcome claimed for the dispatch, if any."""
        try:
            entry = await self._kv.get(keys.claim)
        except KeyNotFoundError:
            return None
        kind: EventKind = KIND_DECODER.decode(entry.value or b"")
        return kind
