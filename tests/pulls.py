"""Pull requests sent to a consumer, watched on a test's own connection."""

from __future__ import annotations

import json

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext


class PullRequests:
    """The batch of every pull request sent to one consumer from now on."""

    def __init__(self, nc: Client, sub: Subscription) -> None:
        self._nc = nc
        self._sub = sub
        self.batches: list[int] = []

    @classmethod
    async def watch(cls, nc: Client, stream: str, consumer: str) -> PullRequests:
        sub = await nc.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}")
        await nc.flush()
        return cls(nc, sub)

    async def seen(self) -> list[int]:
        """Batches so far. Complete for requests sent on ``nc`` before, or the server knew of before."""
        # The server passes a request on to this subscription before anything else happens to it,
        # and answers the flush's ping after that.
        await self._nc.flush()
        while self._sub.pending_msgs:
            self.batches.append(json.loads((await self._sub.next_msg()).data)["batch"])
        return self.batches


async def waiting(js: JetStreamContext, stream: str, consumer: str) -> int:
    """Pull requests the server holds for ``consumer``."""
    return (await js.consumer_info(stream, consumer)).num_waiting or 0
