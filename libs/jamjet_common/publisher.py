"""JetStream publishes at a fraction of the client CPU of nats-py's ``js.publish``.

nats-py waits for each publish's ack through ``Client.request``: a random token, an ``asyncio.wait_for``
and a JSON parse into a dataclass, about a fifth of the scheduler's CPU under load. Here one wildcard
inbox serves every publish of a connection, a counter names each, one timer handle bounds each wait and
msgspec decodes the ack. Callers see what nats-py gives them: the same errors, the same timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import (
    APIError,
    InvalidKeyError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoStreamResponseError,
)
from nats.js.kv import KeyValue, _is_key_valid

WRONG_LAST_SEQUENCE = 10071
WRONG_LAST_SEQUENCE_CONSTANT = 10164
"""How a replicated (R3) stream reports the same race, from its leader's proposal check."""
CONFLICT_CODES = frozenset({WRONG_LAST_SEQUENCE, WRONG_LAST_SEQUENCE_CONSTANT})
EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_STREAM = "Nats-Expected-Stream"
MSG_ID = "Nats-Msg-Id"
STATUS = "Status"
NO_RESPONDERS = "503"
DEFAULT_TIMEOUT_SECS = 5.0
"""nats-py's default for a JetStream context's requests."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The stream's acknowledgement of a publish."""

    stream: str
    seq: int
    duplicate: bool = False
    """The stream already held a message with this ``Nats-Msg-Id``; ``seq`` is that message's."""


class _ApiError(msgspec.Struct, frozen=True):
    code: int
    err_code: int | None = None
    description: str | None = None


class _PubAck(msgspec.Struct, frozen=True):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    domain: str | None = None
    error: _ApiError | None = None


_ACK_DECODER = msgspec.json.Decoder(_PubAck)


class JsPublisher:
    """Publishes to JetStream streams over one client and waits for their acks; one per connection."""

    def __init__(self, nc: Client, *, timeout: float = DEFAULT_TIMEOUT_SECS) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = ""
        self._count = 0
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._sub: Subscription | None = None
        self._subscribing = asyncio.Lock()
        self._closed = False
        self.before_publish: Callable[[], Awaitable[None]] | None = None
        """Run before each publish, in the same turn of the loop: what it sends shares the publish's
        socket write (the scheduler's held acks, ``HeldAck.release``)."""

    @classmethod
    def for_js(cls, js: JetStreamContext) -> JsPublisher:
        """One on ``js``'s client that waits as long as ``js.publish`` would."""
        # nats-py keeps a context's client and its timeout private; they are read here alone.
        return cls(js._nc, timeout=js._timeout)

    @classmethod
    def for_kv(cls, kv: KeyValue) -> JsPublisher:
        return cls.for_js(kv._js)

    @property
    def pending(self) -> int:
        """Publishes waiting for their ack."""
        return len(self._waiting)

    async def publish(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        stream: str | None = None,
        timeout: float | None = None,
    ) -> Ack:
        """Publish and wait for the stream's ack, raising what ``js.publish`` raises.

        ``stream``: the stream that must store it (``Nats-Expected-Stream``).
        """
        if stream is not None:
            headers = {**(headers or {}), EXPECTED_STREAM: stream}
        reply = await self._request(subject, payload, headers, self._timeout if timeout is None else timeout)
        return _ack(reply)

    async def send(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> Coroutine[None, None, Ack]:
        """Publish, and once the message is on its way, the wait for its ack: a message published after
        this returns reaches the server after it (one connection keeps its order)."""
        waiting = await self._sent(subject, payload, headers, self._timeout)
        return _acked(waiting)

    async def send_unanswered(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Publish without asking for the stream's ack (none comes): for a message whose fate a later
        one's ack tells, a chain's links ahead of its last (``EventLog.append_chain``)."""
        await self._publish(subject, payload, headers)

    async def create_key(self, kv: KeyValue, key: str, value: bytes) -> int:
        """``kv.create``: put ``key`` only if it holds nothing; its revision.

        Raises ``KeyWrongLastSequenceError`` if the key holds a value.
        """
        if not _is_key_valid(key):
            raise InvalidKeyError(key)
        try:
            ack = await self.publish(f"{kv._pre}{key}", value, {EXPECTED_LAST_SUBJECT_SEQ: "0"})
        except APIError as exc:
            if exc.err_code not in CONFLICT_CODES:
                raise
            return await _recreate(kv, key, value, exc)
        return ack.seq

    async def close(self) -> None:
        """Fail the publishes still waiting and stop listening for acks."""
        self._closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(nats.errors.ConnectionClosedError())
        sub, self._sub = self._sub, None
        if sub is not None and not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _request(
        self, subject: str, payload: bytes, headers: dict[str, str] | None, timeout: float
    ) -> Msg:
        return await (await self._sent(subject, payload, headers, timeout))

    async def _sent(
        self, subject: str, payload: bytes, headers: dict[str, str] | None, timeout: float
    ) -> Coroutine[None, None, Msg]:
        """The message published; the wait for its reply (which must be awaited, or closed)."""
        if self._sub is None:
            await self._subscribe()
        self._count += 1
        inbox = f"{self._prefix}{self._count}"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._waiting[inbox] = future
        expiry = loop.call_later(timeout, _expire, future)
        try:
            await self._publish(subject, payload, headers, reply=inbox)
        except BaseException:
            self._forget(inbox, expiry)
            raise
        return self._reply(inbox, future, expiry)

    async def _publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None, reply: str = ""
    ) -> None:
        if self.before_publish is not None:
            await self.before_publish()
        await self._nc.publish(subject, payload, reply=reply, headers=headers)

    async def _reply(self, inbox: str, future: asyncio.Future[Msg], expiry: asyncio.TimerHandle) -> Msg:
        try:
            return await future
        finally:
            self._forget(inbox, expiry)

    def _forget(self, inbox: str, expiry: asyncio.TimerHandle) -> None:
        expiry.cancel()
        del self._waiting[inbox]

    async def _subscribe(self) -> None:
        async with self._subscribing:
            if self._closed:
                raise nats.errors.ConnectionClosedError
            if self._sub is None:
                prefix = f"{self._nc.new_inbox()}."
                self._sub = await self._nc.subscribe(f"{prefix}*", cb=self._on_reply)
                self._prefix = prefix

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.get(msg.subject)
        if future is not None and not future.done():
            future.set_result(msg)


def _expire(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(nats.errors.TimeoutError())


async def _acked(waiting: Coroutine[None, None, Msg]) -> Ack:
    return _ack(await waiting)


def _ack(reply: Msg) -> Ack:
    if reply.headers and reply.headers.get(STATUS) == NO_RESPONDERS:
        raise NoStreamResponseError
    ack = _ACK_DECODER.decode(reply.data)
    if ack.error is not None:
        APIError.from_error(msgspec.structs.asdict(ack.error))
    return Ack(ack.stream, ack.seq, ack.duplicate)


async def _recreate(kv: KeyValue, key: str, value: bytes, conflict: APIError) -> int:
    """What ``kv.create`` does when the key has a message: write over a delete or purge marker.

    A key deleted or purged keeps a marker as its last message, so the create's condition fails; the
    marker's revision lets the write through. A key that holds a value refuses it.
    """
    try:
        await kv.get(key)
    except KeyNotFoundError as missing:
        if missing.entry is None:  # nothing there at all any more: kv.create raises this too
            raise
        return await kv.update(key, value, last=missing.entry.revision)
    raise KeyWrongLastSequenceError(description=conflict.description)
