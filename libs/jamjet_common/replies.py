"""Answering commands that arrive through the CMDS stream.

JetStream does not keep a message's reply subject, so every command handler also listens to the
command subjects on plain NATS and remembers who asked (by subject and body). When the stored copy is
processed, the answer goes to the remembered reply subject. A command published while no handler was
running has no remembered asker: it is executed, and nobody is waiting for the answer.

A sender that repeats a command while it is not answered (``jamjet_common.asking``) marks each attempt
with its own ``Jamjet-Request-Id`` header, which is part of the key: the copy of one attempt answers that
attempt's asker, never the asker of an earlier attempt whose copy was lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common.asking import REQUEST_ID_HEADER
from jamjet_common.publisher import JsPublisher

ENTRY_TTL_SECS = 60.0
RECENT_SECS = 5.0
"""A stored command younger than this may still have its plain-NATS twin in flight."""
WAIT_FOR_TWIN_SECS = 0.25


def _key(subject: str, data: bytes, headers: Mapping[str, str] | None = None) -> tuple[str, bytes]:
    digest = hashlib.blake2b(data, digest_size=16)
    request_id = (headers or {}).get(REQUEST_ID_HEADER)
    if request_id is not None:
        digest.update(request_id.encode())
    return subject, digest.digest()


class ReplyRegistry:
    """Who asked for which command, learned from a plain subscription to the command subjects."""

    def __init__(self, claims: KeyValue | None = None, publisher: JsPublisher | None = None) -> None:
        self.claims = claims
        """Shared with the other replicas: an asker is answered by the replica that claims it first."""
        self.publisher = publisher
        """Creates the claims; one of the claims' own connection if not given."""
        self._askers: dict[tuple[str, bytes], deque[tuple[float, str | None]]] = {}
        self._arrived = asyncio.Condition()
        self._subs: list[Subscription] = []
        self._pruned_at = 0.0

    async def listen(self, nc: Client, subject_list: str | list[str]) -> None:
        for subject in [subject_list] if isinstance(subject_list, str) else subject_list:
            self._subs.append(await nc.subscribe(subject, cb=self.heard))

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()

    async def heard(self, msg: Msg) -> None:
        """Remember the asker of a command heard on plain NATS (by :meth:`listen`, or by a caller's own
        subscription)."""
        now = time.monotonic()
        key = _key(msg.subject, msg.data, msg.headers)
        self._askers.setdefault(key, deque()).append((now, msg.reply or None))
        self._prune(now)
        async with self._arrived:
            self._arrived.notify_all()

    def _prune(self, now: float) -> None:
        # At most once a second: a scan per asker would be quadratic in a burst of thousands of askers.
        if len(self._askers) < 1024 or now - self._pruned_at < 1.0:
            return
        self._pruned_at = now
        for key in [k for k, q in self._askers.items() if now - q[-1][0] > ENTRY_TTL_SECS]:
            del self._askers[key]

    def _pop(self, key: tuple[str, bytes]) -> tuple[bool, str | None]:
        queue = self._askers.get(key)
        if not queue:
            return False, None
        # The newest asker first: a sender repeating an unanswered command waits on its latest try, and
        # the tries whose copies were lost (sent while the stream had no leader) wait on nothing.
        _, reply = queue.pop()
        if not queue:
            del self._askers[key]
        return True, reply

    async def reply_subject(
        self,
        subject: str,
        data: bytes,
        stored_at: datetime | None,
        headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """The reply subject of whoever sent this stored command, if anyone is waiting."""
        key = _key(subject, data, headers)
        waited = False
        while True:
            found, reply = self._pop(key)
            if not found:
                if waited or not _recent(stored_at) or not await self._twin(key):
                    return None
                waited = True
                continue
            # Every replica hears every asker; with identical commands in flight, the claim makes
            # sure each asker is answered once, by whichever replica claims it first. A command with a
            # request id is nobody else's: at worst its one asker hears the answer twice.
            if reply is None or _own_key(headers) or await self._claim(reply):
                return reply

    async def _twin(self, key: tuple[str, bytes]) -> bool:
        """Wait briefly for the plain-NATS copy of a command stored a moment ago."""
        try:
            async with self._arrived:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: key in self._askers), WAIT_FOR_TWIN_SECS
                )
        except TimeoutError:
            return False
        return True

    async def _claim(self, reply: str) -> bool:
        if self.claims is None:
            return True
        if self.publisher is None:
            self.publisher = JsPublisher.for_kv(self.claims)
        try:
            await self.publisher.create_key(self.claims, hashlib.sha1(reply.encode()).hexdigest(), b"")
        except KeyWrongLastSequenceError:
            return False
        except Exception:  # the bucket is unreachable: a second answer beats none
            return True
        return True


def _own_key(headers: Mapping[str, str] | None) -> bool:
    """Whether the command's key is its asker's alone: one attempt's request id, never reused."""
    return REQUEST_ID_HEADER in (headers or {})


def _recent(stored_at: datetime | None) -> bool:
    if stored_at is None:
        return True
    return (datetime.now(UTC) - stored_at).total_seconds() < RECENT_SECS
